"""Series of Olympus FluoView files: all pages, shaped by the MM_HEADER dimensions.

As tifffile does, the one series holds every page, with the shape and axes of
the ten MM_HEADER dimensions (slowest first, see
:mod:`tiffzarr.format._fluoview`) and the header's ``ImageName``. Dimension
resolutions give the physical scales; the header and the first page's MM_STAMP
are kept under ``attrs["fluoview"]``.
"""

from __future__ import annotations

import math
from typing import Any

from tiffzarr.errors import TiffFormatError
from tiffzarr.format._axes import udunits
from tiffzarr.format._fluoview import (
    MM_HEADER_SIZE,
    MM_HEADER_TAG,
    MM_STAMP_TAG,
    decode_mm_header,
    decode_mm_stamp,
    fluoview_dimensions,
)
from tiffzarr.format._records import jsonable
from tiffzarr.model import AxisScale, Ifd, Page, Series, TiffIndex, array_from_pages
from tiffzarr.series._pages import claimed_pages
from tiffzarr.series._protocol import Fallback, Interpretation, SeriesContext

__all__ = ["FALLBACK", "KIND", "detect", "series"]

KIND = "fluoview"
FALLBACK: Fallback = "generic"

_SCALED = "XYZT"
"""Axes whose dimension resolution is a physical scale."""


def detect(index: TiffIndex, /) -> bool:
    """The first page has an MM_STAMP tag (as tifffile tests)."""
    return bool(index.pages) and MM_STAMP_TAG in index.pages[0].ifd


async def series(context: SeriesContext, /) -> Interpretation:
    """The stack of all pages, or nothing when the MM_HEADER is missing or unusable."""
    index = context.index
    first = index.pages[0]
    header = await _header(context, first.ifd)
    if header is None or first.layout is None:
        return Interpretation(())
    shape, axes = fluoview_dimensions(header)
    if min(shape) < 1:
        context.warn(f"FluoView: MM_HEADER gives dimensions {shape} {axes}; read as generic")
        return Interpretation(())
    pages = _pages(context, list(index.pages), shape)
    if pages is None:
        return Interpretation(())
    try:
        level = array_from_pages(
            pages, urls=(index.url,), byteorder=index.header.byteorder, shape=shape, axes=axes
        )
    except ValueError as exc:
        context.warn(f"FluoView: the pages do not make {shape} {axes} ({exc}); read as generic")
        return Interpretation(())
    stamp = await _stamp(context, first.ifd)
    attrs = {k: v for k, v in header.items() if not k.startswith("Offset")}
    if stamp is not None:
        attrs["Stamp"] = stamp
    found = Series(
        name=header["ImageName"],
        kind=KIND,
        levels=(level,),
        attrs={"fluoview": jsonable(attrs)},
        scales=_scales(header),
    )
    return Interpretation((found,))


async def _bytes(context: SeriesContext, ifd: Ifd, code: int, size: int) -> bytes:
    """Up to ``size`` bytes at the value of tag ``code`` (its inline field if it has
    no offset)."""
    entry = ifd.entries[code]
    if entry.value_offset is None:
        return entry.inline
    n = max(0, min(size, context.index.size - entry.value_offset))
    return await context.read(entry.value_offset, n) if n else b""


async def _header(context: SeriesContext, ifd: Ifd) -> dict[str, Any] | None:
    """The decoded MM_HEADER, or ``None`` (warned)."""
    if MM_HEADER_TAG not in ifd:
        context.warn("FluoView: the file has an MM_STAMP but no MM_HEADER; read as generic")
        return None
    blob = await _bytes(context, ifd, MM_HEADER_TAG, MM_HEADER_SIZE)
    try:
        return decode_mm_header(blob, context.index.header.byteorder)
    except TiffFormatError as exc:
        context.warn(f"FluoView: MM_HEADER is invalid ({exc.message}); read as generic")
        return None


async def _stamp(context: SeriesContext, ifd: Ifd) -> list[float] | None:
    blob = await _bytes(context, ifd, MM_STAMP_TAG, 64)
    try:
        return decode_mm_stamp(blob, context.index.header.byteorder)
    except TiffFormatError as exc:
        context.warn(f"FluoView: MM_STAMP is invalid ({exc.message})")
        return None


def _pages(
    context: SeriesContext, pages: list[Page], shape: tuple[int, ...]
) -> list[Page | None] | None:
    """The pages for ``shape`` (missing ones as fill), or ``None`` (warned)."""
    layout = pages[0].layout
    assert layout is not None
    per_page = math.prod(layout.shape)
    expected, rest = divmod(math.prod(shape), per_page)
    if rest or not expected:
        context.warn(f"FluoView: pages of {layout.shape} do not make {shape}; read as generic")
        return None
    held: list[Page | None] = [p if p.segments is not None else None for p in pages]
    return claimed_pages(context, held, expected, what=f"FluoView {shape}")


def _scales(header: dict[str, Any]) -> dict[str, AxisScale]:
    """The resolution of each spatial or time dimension, in its unit."""
    _, axes = fluoview_dimensions(header)
    scales: dict[str, AxisScale] = {}
    for axis, dimension in zip(axes, header["Dimensions"][::-1], strict=True):
        size = dimension["Resolution"]
        if axis in _SCALED and axis not in scales and math.isfinite(size) and size > 0:
            scales[axis] = AxisScale(size, udunits(dimension["Unit"] or None))
    return scales
