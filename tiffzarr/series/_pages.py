"""Pages that formats describe without IFDs of their own.

ImageJ hyperstacks, MetaMorph STK files and tifffile's truncated series store
many images one after another right after the first page's pixels and describe
them in the first page's metadata only. Such *virtual pages* have the first
page's layout and its segment table shifted by the size of one image.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tiffzarr.format import Compression
from tiffzarr.model import Page, SegmentTable, TagArray

__all__ = ["contiguous_end", "virtual_pages"]


def contiguous_end(page: Page, /) -> int | None:
    """Where the pixels of ``page`` end when they are stored uncompressed in strips,
    one right after another (so that more images can follow them); else ``None``.

    The page's segment table must be loaded.
    """
    layout, table = page.require_layout()
    if (
        layout.compression != Compression.NONE
        or layout.tiled
        or layout.predictor != 1
        or layout.fillorder != 1
        or layout.subsampling != (1, 1)
        or not table.loaded(0, table.count)
        or table.count < layout.nsegments
    ):
        return None
    offsets = table.offsets.values()[: layout.nsegments].astype("i8")
    counts = table.bytecounts.values()[: layout.nsegments].astype("i8")
    if np.any(offsets[1:] != offsets[:-1] + counts[:-1]):
        return None
    if int(counts.sum()) != layout.page_nbytes:
        return None
    return int(offsets[0]) + layout.page_nbytes


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
