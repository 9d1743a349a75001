"""Series of Olympus SIS files, as tifffile reads them.

Files with the OlympusSIS (33560) or OlympusINI (33471) tag, but for Olympus VSI
files, are one series of all their pages (each taken as laid out like the
first): shaped by the INI's ``[Dimension]`` section when it has one (axes longer
than one, ``Band`` as ``C``), else the pages along ``I``. Their metadata (see
:mod:`tiffzarr.format._sis`) go into the ``sis`` attributes and the pixel size
into the X/Y scales. Without readable metadata the file has its generic series,
as in tifffile.
"""

from __future__ import annotations

import math
from typing import Any

from tiffzarr.format._records import bounded_json
from tiffzarr.format._sis import (
    GENERAL_DATA,
    GENERAL_SIZE,
    HEAD_SIZE,
    SIS_ENTRY,
    parse_olympus_ini,
    parse_sis_entries,
    parse_sis_general,
    parse_sis_head,
)
from tiffzarr.model import AxisScale, Series, TiffIndex, array_from_pages
from tiffzarr.series import _generic
from tiffzarr.series._nih import value_field_offset
from tiffzarr.series._pages import one_layout
from tiffzarr.series._protocol import Fallback, Interpretation, SeriesContext

__all__ = ["FALLBACK", "KIND", "detect", "series"]

KIND = "sis"
FALLBACK: Fallback = "generic"
OLYMPUS_INI = 33471
OLYMPUS_SIS = 33560


def detect(index: TiffIndex, /) -> bool:
    """The first page has an Olympus SIS tag, and the file is no VSI file."""
    ifd = index.pages[0].ifd
    return (OLYMPUS_SIS in ifd or OLYMPUS_INI in ifd) and not index.url.lower().endswith(".vsi")


async def series(context: SeriesContext, /) -> Interpretation:
    """All pages as one series of kind ``sis``, shaped as the metadata say."""
    index = context.index
    meta = await _ini(context)
    meta.update(await _sis(context))
    if not meta:
        return Interpretation(())
    pages = list(index.pages)
    layout = one_layout(pages)
    if layout is None:
        context.warn("the pages of the SIS file differ; its generic series are served")
        return Interpretation(_generic.generic_series(index))
    shape = (len(pages), *layout.shape)
    axes = "I" + layout.axes
    if "shape" in meta and "axes" in meta:
        shape, axes = (*meta["shape"], *layout.shape), meta["axes"] + layout.axes
    try:
        level = array_from_pages(
            pages, urls=(index.url,), byteorder=index.header.byteorder, shape=shape, axes=axes
        )
    except ValueError as exc:
        context.warn(f"the SIS dimensions do not fit the pages ({exc}); they are stacked along I")
        level = array_from_pages(
            pages,
            urls=(index.url,),
            byteorder=index.header.byteorder,
            shape=(len(pages), *layout.shape),
            axes="I" + layout.axes,
        )
    result = Series(
        name="", kind=KIND, levels=(level,), attrs={KIND: bounded_json(meta)}, scales=_scales(meta)
    )
    return Interpretation((result,))


def _scales(meta: dict[str, Any]) -> dict[str, AxisScale]:
    out = {}
    for axis, key in (("X", "pixelsizex"), ("Y", "pixelsizey")):
        size = meta.get(key)
        if isinstance(size, float) and math.isfinite(size) and size > 0:
            out[axis] = AxisScale(size * 1e6, "micrometer")
    return out


async def _ini(context: SeriesContext) -> dict[str, Any]:
    """The OlympusINI metadata (empty, with a warning, when they do not parse)."""
    ifd = context.index.pages[0].ifd
    if OLYMPUS_INI not in ifd:
        return {}
    value = await context.value(ifd, OLYMPUS_INI)
    if isinstance(value, bytes):
        value = value.split(b"\x00", 1)[0].decode("cp1252", errors="replace")
    if not isinstance(value, str):
        context.warn("the OlympusINI tag holds no text")
        return {}
    try:
        return parse_olympus_ini(value)
    except ValueError as exc:
        context.warn(f"the OlympusINI metadata are not valid: {exc}")
        return {}


async def _sis(context: SeriesContext) -> dict[str, Any]:
    """The OlympusSIS structure's metadata (empty, with a warning, when it is not one)."""
    index = context.index
    offset = value_field_offset(index, OLYMPUS_SIS)
    if offset is None:
        return {}
    if not 8 <= offset < index.size:
        context.warn(f"the OlympusSIS structure at offset {offset} is outside the file")
        return {}

    async def read(start: int, length: int) -> bytes:
        length = min(length, index.size - start)
        return await context.read(start, length) if start >= 0 and length > 0 else b""

    try:
        out, count = parse_sis_head(await read(offset, HEAD_SIZE))
    except ValueError as exc:
        context.warn(f"at offset {offset}: {exc}")
        return {}
    entries = parse_sis_entries(await read(offset + HEAD_SIZE, count * SIS_ENTRY.size), count)
    for kind, _, at in entries:
        if kind != GENERAL_DATA:
            continue
        try:
            out.update(parse_sis_general(await read(at, GENERAL_SIZE)))
        except ValueError as exc:
            context.warn(f"at offset {at}: {exc}")
    return out
