"""What interpreters read off pages: virtual pages, and pixel sizes.

ImageJ hyperstacks, MetaMorph STK files and tifffile's truncated series store
many images one after another right after the first page's pixels and describe
them in the first page's metadata only. Such *virtual pages* have the first
page's layout and its segment table shifted by the size of one image.

The resolution tags give pixels per unit of length; their inverses are the
pixel sizes of plain TIFF files (and of formats that keep them there).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from tiffzarr.format import Compression, ResolutionUnit
from tiffzarr.model import AxisScale, Page, SegmentTable, TagArray
from tiffzarr.series._protocol import SeriesContext

__all__ = [
    "RESOLUTION_UNIT",
    "RESOLUTION_UNITS",
    "X_RESOLUTION",
    "Y_RESOLUTION",
    "MAX_CLAIMED_PAGES",
    "claimed_pages",
    "contiguous_end",
    "pixel_size",
    "resolution_scales",
    "virtual_pages",
]

X_RESOLUTION, Y_RESOLUTION, RESOLUTION_UNIT = 282, 283, 296
RESOLUTION_UNITS = {
    ResolutionUnit.INCH: "inch",
    ResolutionUnit.CENTIMETER: "centimeter",
    ResolutionUnit.MILLIMETER: "millimeter",
    ResolutionUnit.MICROMETER: "micrometer",
}
"""ResolutionUnit values that are lengths, as UDUNITS names."""


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
