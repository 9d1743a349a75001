"""Series of Ventana/Roche BIF slides, as tifffile reads them.

Each page is a series of kind ``bif`` by its description (see
:mod:`tiffzarr.format._ventana`): ``Label…`` is a ``Label``, ``Thumbnail`` and
``Probability…`` are a ``Thumbnail``, a description without ``level`` is
``Unknown``; the first page whose description has ``level`` is the
``Baseline`` (the first series) and the next such pages are its levels. The
tiles of the levels are served as stored: BIF scanners overlap neighbouring
tiles, and neither tifffile nor tiffzarr stitches them (the overlaps are in the
first level's ``EncodeInfo``, kept in the ``ventana`` attributes).

The iScan attributes of the first page's XMP become OpenSlide's ``ventana.*``
properties, with ``ScanRes`` as the pixel size of the Baseline and
``Magnification`` as the objective power.
"""

from __future__ import annotations

from typing import Any

from tiffzarr.errors import TiffFormatError
from tiffzarr.format._records import decode_text
from tiffzarr.format._ventana import encode_info, is_bif, iscan_attributes, level_fields
from tiffzarr.model import ArrayModel, Page, Series, TiffIndex, array_from_pages
from tiffzarr.series._protocol import Fallback, Interpretation, SeriesContext
from tiffzarr.series._slides import openslide_int, slide_metadata

__all__ = ["FALLBACK", "KIND", "detect", "series"]

KIND = "bif"
FALLBACK: Fallback = "generic"
DESCRIPTION, SOFTWARE, XMP = 270, 305, 700
VENDOR = "ventana"


def _text(page: Page, code: int) -> str:
    value = page.ifd.get(code)
    return value if isinstance(value, str) else ""


def detect(index: TiffIndex, /) -> bool:
    """The first page has an XMP packet and Ventana's Software or description."""
    first = index.pages[0]
    return is_bif(_text(first, SOFTWARE), _text(first, DESCRIPTION), XMP in first.ifd)


def _role(description: str) -> str:
    if description.startswith("Label"):
        return "Label"
    if description == "Thumbnail" or description.startswith("Probability"):
        return "Thumbnail"
    return "level" if "level" in description else "Unknown"


async def series(context: SeriesContext, /) -> Interpretation:
    """A series per page: Label, Thumbnail, Unknown, and the Baseline with its levels."""
    index = context.index
    levels: list[Page] = []
    others: list[tuple[str, Page]] = []
    for page in index.pages:
        if page.layout is None:
            continue
        role = _role(_text(page, DESCRIPTION))
        if role == "level":
            levels.append(page)
        else:
            others.append((role, page))
    found = []
    if levels:
        found.append(await _baseline(context, levels))
    for name, page in others:
        found.append(Series(name=name, kind=KIND, levels=(_array(index, page),)))
    return Interpretation(tuple(found))


def _array(index: TiffIndex, page: Page) -> ArrayModel:
    return array_from_pages([page], urls=(index.url,), byteorder=index.header.byteorder)


async def _baseline(context: SeriesContext, levels: list[Page]) -> Series:
    index = context.index
    iscan = await _xmp(context, index.pages[0], iscan_attributes)
    scan_res = iscan.get("ScanRes") if isinstance(iscan, dict) else None
    try:
        mpp = float(scan_res) if scan_res is not None else None
    except ValueError:
        mpp = None
    attrs, scales = slide_metadata(
        VENDOR,
        iscan if isinstance(iscan, dict) else {},
        mpp=(mpp, mpp),
        objective_power=openslide_int(iscan.get("Magnification") if iscan else None),
    )
    meta: dict[str, Any] = {
        "iScan": iscan,
        "levels": [level_fields(_text(page, DESCRIPTION)) for page in levels],
    }
    if XMP in levels[0].ifd:
        meta["EncodeInfo"] = await _xmp(context, levels[0], encode_info)
    return Series(
        name="Baseline",
        kind=KIND,
        levels=tuple(_array(index, page) for page in levels),
        attrs={VENDOR: meta, **attrs},
        scales=scales,
    )


async def _xmp(context: SeriesContext, page: Page, parse: Any) -> Any:
    """A page's XMP packet read by ``parse`` (``None``, warned, when it cannot be)."""
    value = await context.value(page.ifd, XMP)
    if isinstance(value, bytes):
        value = decode_text(value)
    if not isinstance(value, str):
        return None
    try:
        return parse(value)
    except TiffFormatError as exc:
        context.warn(f"page {page.path[0]}: {exc}")
        return None
