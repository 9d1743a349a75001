"""Series of NIH Image files, as tifffile reads them.

A file with an NIH Image header (tag 43314) is one uniform series of kind
``nih``: its page, or its pages along ``I``, every page taken as laid out like
the first (a file whose pages differ gets its generic series, with a warning).
The header's fields go into the ``nih`` attributes and its spatial calibration
into the scales (see :mod:`tiffzarr.format._nih`).
"""

from __future__ import annotations

from typing import Any

from tiffzarr.format._nih import HEADER_SIZE, nih_scales, parse_nih_header
from tiffzarr.model import AxisScale, Series, TiffIndex, array_from_pages
from tiffzarr.series import _generic
from tiffzarr.series._pages import one_layout
from tiffzarr.series._protocol import Fallback, Interpretation, SeriesContext

__all__ = ["FALLBACK", "KIND", "NIH_IMAGE_HEADER", "detect", "series", "value_field_offset"]

KIND = "nih"
FALLBACK: Fallback = "generic"
NIH_IMAGE_HEADER = 43314


def detect(index: TiffIndex, /) -> bool:
    """The first page has an NIH Image header."""
    return NIH_IMAGE_HEADER in index.pages[0].ifd


def value_field_offset(index: TiffIndex, code: int, /) -> int | None:
    """The value field of tag ``code`` of the first page read as a file offset,
    as tifffile reads the private structures it decodes (``None`` without the tag)."""
    entry = index.pages[0].ifd.entries.get(code)
    if entry is None:
        return None
    if entry.value_offset is not None:
        return entry.value_offset
    size = index.header.layout.offset_size
    return int.from_bytes(entry.inline[:size], "little" if index.header.byteorder == "<" else "big")


async def series(context: SeriesContext, /) -> Interpretation:
    """All pages as one series of kind ``nih``, with the header's metadata."""
    index = context.index
    pages = list(index.pages)
    layout = one_layout(pages)
    if layout is None:
        context.warn("the pages of the NIH Image file differ; its generic series are served")
        return Interpretation(_generic.generic_series(index))
    if len(pages) == 1:
        shape, axes = layout.shape, layout.axes
    else:
        shape, axes = (len(pages), *layout.shape), "I" + layout.axes
    level = array_from_pages(
        pages, urls=(index.url,), byteorder=index.header.byteorder, shape=shape, axes=axes
    )
    header = await _header(context)
    scales = {axis: AxisScale(size, unit) for axis, (size, unit) in nih_scales(header).items()}
    result = Series(name="", kind=KIND, levels=(level,), attrs={KIND: header}, scales=scales)
    return Interpretation((result,))


async def _header(context: SeriesContext) -> dict[str, Any]:
    """The NIH Image header's fields (empty, with a warning, when it cannot be read)."""
    index = context.index
    offset = value_field_offset(index, NIH_IMAGE_HEADER)
    if offset is None or not 8 <= offset < index.size:
        context.warn(f"the NIH Image header at offset {offset} is outside the file")
        return {}
    data = await context.read(offset, min(HEADER_SIZE, index.size - offset))
    if len(data) < HEADER_SIZE:
        context.warn(f"the NIH Image header at offset {offset} is cut by the end of the file")
    return parse_nih_header(data, index.header.byteorder)
