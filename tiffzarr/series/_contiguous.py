"""Images stored one after another from a first page's pixels (ImageJ, shaped).

ImageJ hyperstacks and tifffile's shaped series may describe many images in
the first page only and store their pixels contiguously right after the first
page's: *final* pages, as tifffile calls them (uncompressed, unpredicted,
8- to 64-bit samples, strips back to back). Where the file has IFDs for those
images too, its own pages are used (so that the coverage check sees them held);
else virtual pages stand in for them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tiffzarr.format import Compression, PageLayout, SampleFormat
from tiffzarr.model import Page
from tiffzarr.series._pages import contiguous_end, virtual_pages
from tiffzarr.series._protocol import SeriesContext

__all__ = ["MAX_VIRTUAL_PAGES", "final_end", "stacked_pages", "strips_start"]

MAX_VIRTUAL_PAGES = 2**18
"""Most images a first page may describe for virtual pages (each costs a page object)."""
FINAL_BITS = (8, 16, 32, 64)
"""Sample sizes that ImageJ and tifffile read as raw arrays."""


def _final_layout(layout: PageLayout) -> bool:
    return (
        layout.compression == Compression.NONE
        and not layout.tiled
        and layout.predictor == 1
        and layout.fillorder == 1
        and layout.subsampling == (1, 1)
        and layout.bitspersample in FINAL_BITS
        and layout.sampleformat != SampleFormat.COMPLEXINT
    )


async def final_end(context: SeriesContext, page: Page, /) -> int | None:
    """Where the pixels of ``page`` end when they are stored in final form (so
    that more images can follow them), else ``None``. Loads its segment table."""
    if page.layout is None or page.segments is None or not _final_layout(page.layout):
        return None
    if page.layout.nsegments == 0 or page.segments.count == 0:
        return None  # an empty image
    if not page.segments.loaded(0, page.segments.count):
        await context.load_table(page.segments)
    return contiguous_end(page)


def strips_start(layout: PageLayout, offsets: object, counts: object, /) -> int | None:
    """The first offset of a page of ``layout`` whose strips (tag values ``offsets``
    and ``counts``) hold its pixels in final form, back to back; else ``None``.

    >>> from tiffzarr.format import page_layout
    >>> layout = page_layout({256: 4, 257: 4, 258: 8, 278: 2})
    >>> strips_start(layout, [100, 108], [8, 8]), strips_start(layout, [100, 200], [8, 8])
    (100, None)
    """
    if offsets is None or counts is None or not _final_layout(layout):
        return None
    n = layout.nsegments
    starts = np.atleast_1d(np.asarray(offsets, dtype=np.int64)).reshape(-1)
    sizes = np.atleast_1d(np.asarray(counts, dtype=np.int64)).reshape(-1)
    if n == 0 or len(starts) < n or len(sizes) < n:
        return None
    starts, sizes = starts[:n], sizes[:n]
    if np.any(starts[1:] != starts[:-1] + sizes[:-1]) or int(sizes.sum()) != layout.page_nbytes:
        return None
    return int(starts[0])


async def _is_image(context: SeriesContext, page: Page, first: Page, k: int) -> bool:
    """Whether ``page`` is the ``k``-th image stored after ``first``'s pixels."""
    if page.layout != first.layout or page.segments is None or first.segments is None:
        return False
    layout, table = first.require_layout()
    if not page.segments.loaded(0, page.segments.count):
        await context.load_table(page.segments)
    n = layout.nsegments
    if page.segments.count < n:
        return False
    shift = np.uint64(k * layout.page_nbytes)
    return bool(
        np.array_equal(page.segments.offsets.values()[:n], table.offsets.values()[:n] + shift)
        and np.array_equal(page.segments.bytecounts.values()[:n], table.bytecounts.values()[:n])
    )


async def stacked_pages(
    context: SeriesContext, pages: Sequence[Page], start: int, count: int, /
) -> list[Page]:
    """The ``count`` images stored contiguously from the pixels of ``pages[start]``
    (a final page, see :func:`final_end`): the file's own pages ``pages[start:]``
    when they are those images, else virtual pages."""
    first = pages[start]
    own = list(pages[start : start + count])
    if len(own) == count:
        for k, page in enumerate(own):
            if not await _is_image(context, page, first, k):
                break
        else:
            return own
    return virtual_pages(first, count)
