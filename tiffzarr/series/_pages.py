"""What interpreters read off pages: virtual pages, and pixel sizes.

ImageJ hyperstacks, MetaMorph STK files and tifffile's truncated and shaped
series store many images one after another right after the first page's
pixels and describe them in the first page's metadata only: *final* pages, as
tifffile calls them (uncompressed, unpredicted, 8- to 64-bit samples, strips
back to back). Where the file has IFDs for those images too, its own pages are
used (so that the coverage check sees them held); else *virtual pages* stand in
for them: the first page's layout and its segment table shifted by the size of
one image.

The resolution tags give pixels per unit of length; their inverses are the
pixel sizes of plain TIFF files (and of formats that keep them there).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tiffzarr.format import Compression, PageLayout, ResolutionUnit, SampleFormat
from tiffzarr.model import AxisScale, Page, SegmentTable, TagArray
from tiffzarr.series._protocol import SeriesContext

__all__ = [
    "RESOLUTION_UNIT",
    "RESOLUTION_UNITS",
    "X_RESOLUTION",
    "Y_RESOLUTION",
    "MAX_CLAIMED_PAGES",
    "MAX_VIRTUAL_PAGES",
    "claimed_pages",
    "contiguous_end",
    "final_end",
    "one_layout",
    "pixel_size",
    "resolution_scales",
    "stacked_pages",
    "strips_start",
    "virtual_pages",
]

MAX_VIRTUAL_PAGES = 2**18
"""Most images a first page may describe for virtual pages (each costs a page object)."""
FINAL_BITS = (8, 16, 32, 64)
"""Sample sizes that ImageJ and tifffile read as raw arrays."""
X_RESOLUTION, Y_RESOLUTION, RESOLUTION_UNIT = 282, 283, 296
RESOLUTION_UNITS = {
    ResolutionUnit.INCH: "inch",
    ResolutionUnit.CENTIMETER: "centimeter",
    ResolutionUnit.MILLIMETER: "millimeter",
    ResolutionUnit.MICROMETER: "micrometer",
}
"""ResolutionUnit values that are lengths, as UDUNITS names."""


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


def contiguous_end(page: Page, /) -> int | None:
    """Where the pixels of ``page`` end when they are stored in final form (see
    :func:`strips_start`), so that more images can follow them; else ``None``.

    The page's segment table must be loaded.
    """
    layout, table = page.require_layout()
    if not table.loaded(0, table.count):
        return None
    start = strips_start(layout, table.offsets.values(), table.bytecounts.values())
    return None if start is None else start + layout.page_nbytes


async def final_end(context: SeriesContext, page: Page, /) -> int | None:
    """:func:`contiguous_end`, once the page's segment table is loaded."""
    if page.layout is None or page.segments is None or not _final_layout(page.layout):
        return None
    if page.layout.nsegments == 0 or page.segments.count == 0:
        return None  # an empty image
    if not page.segments.loaded(0, page.segments.count):
        await context.load_table(page.segments)
    return contiguous_end(page)


def virtual_pages(page: Page, count: int, /, *, stride: int | None = None) -> list[Page]:
    """``page`` and the ``count - 1`` images stored after its pixels, ``stride``
    bytes apart (default: one image's size), as pages of the same layout.

    The page's segment table must be loaded.
    """
    layout, table = page.require_layout()
    if stride is None:
        stride = layout.page_nbytes
    offsets = table.offsets.values()[: layout.nsegments]
    counts = TagArray.from_values(table.bytecounts.values()[: layout.nsegments])
    pages = [page]
    for k in range(1, count):
        shifted = TagArray.from_values(offsets + np.uint64(k * stride))
        pages.append(dataclasses.replace(page, segments=SegmentTable(shifted, counts)))
    return pages


def pixel_size(resolution: Any, /) -> float | None:
    """The size of a pixel that a resolution value (a RATIONAL: pixels per unit)
    gives: its positive, finite inverse, else ``None``.

    >>> pixel_size((300, 1)), pixel_size((0, 1)), pixel_size("x")
    (0.0033333333333333335, None, None)
    """
    if not isinstance(resolution, tuple) or len(resolution) != 2:
        return None
    numerator, denominator = resolution
    if not isinstance(numerator, int | float) or not isinstance(denominator, int | float):
        return None
    if not numerator > 0 or not denominator > 0:
        return None
    size = denominator / numerator
    return float(size) if math.isfinite(size) and size > 0 else None


def resolution_scales(page: Page, /) -> dict[str, AxisScale]:
    """The X and Y pixel sizes of a plain TIFF page, from its resolution tags, when
    their unit is a length (ResolutionUnit "none" gives no physical size)."""
    unit = RESOLUTION_UNITS.get(page.ifd.get(RESOLUTION_UNIT, ResolutionUnit.INCH))
    if unit is None:
        return {}
    width = pixel_size(page.ifd.get(X_RESOLUTION))
    height = pixel_size(page.ifd.get(Y_RESOLUTION))
    scales = {}
    if width is not None:
        scales["X"] = AxisScale(width, unit)
    if height is not None:
        scales["Y"] = AxisScale(height, unit)
    return scales


MAX_CLAIMED_PAGES = 2**22
"""Most pages a format's metadata may claim beyond those the file has."""


def claimed_pages(
    context: SeriesContext, held: list[Page | None], expected: int, /, *, what: str
) -> list[Page | None] | None:
    """``held`` trimmed, or padded with fill (``None``), to the ``expected`` pages the
    metadata claims, with a warning when they differ; ``None`` (warned) when it claims
    far more pages than the file has (bounded memory for hostile counts)."""
    if len(held) == expected:
        return held
    if expected > max(MAX_CLAIMED_PAGES, 2 * len(held)):
        context.warn(f"{what}: claims {expected} pages, the file has {len(held)}; not read")
        return None
    context.warn(
        f"{what}: {len(held)} pages for the {expected} it claims"
        + ("; the missing ones are fill" if len(held) < expected else "")
    )
    return (held + [None] * (expected - len(held)))[:expected]


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


def one_layout(pages: Sequence[Page], /) -> PageLayout | None:
    """The layout all ``pages`` share (formats that take every page as laid out like
    the first check it), else ``None``."""
    layout = pages[0].layout if pages else None
    if layout is None or any(p.layout != layout for p in pages):
        return None
    return layout
