"""Series of Hamamatsu NDPI whole-slide images, as tifffile reads them.

An NDPI file (tag 65420 and a Make tag on its first page) has the generic
series of its pages, of kind ``ndpi``: the pyramid levels of the scan are one
series named ``Baseline`` (or the slide label, tag 65427), the pages of
magnification -1 and -2 are the ``Macro`` and the ``Map``; a series of several
pages stacks them along ``Z`` (focal planes).

Each pyramid level is one JPEG strip with restart markers. Where its
``McuStarts`` place every restart interval on a grid (see
:mod:`tiffzarr.format._ndpi`), the level is served in chunks of one restart
interval, decoded with the strip's JPEG header patched to that size, as
tifffile's ``aszarr`` does: a window reads only its intervals, and levels too
wide for one JPEG frame (over 65,535 pixels) decode.

The NDPI tags are the ``ndpi`` attribute of each series (under tifffile's
names); the first series also has the slide's properties as openslide names
them (``openslide``), and every series its pixel size (from the resolution
tags) as X/Y scales in micrometres.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from typing import Any

from tiffzarr.format import Compression, page_layout
from tiffzarr.format._ndpi import (
    MACRO_LENS,
    MAP_LENS,
    MAX_JPEG_HEADER,
    NDPI_FORMAT_FLAG,
    NDPI_MCU_STARTS,
    NDPI_MCU_STARTS_HIGH,
    NDPI_PROPERTY_MAP,
    NDPI_REFERENCE,
    NDPI_SOURCELENS,
    NDPI_XOFFSET,
    NDPI_YOFFSET,
    interval_segments,
    mcu_starts,
    ndpi_tags,
    property_map,
    restart_tile,
)
from tiffzarr.format._records import bounded_json, jsonable
from tiffzarr.model import (
    ArrayModel,
    AxisScale,
    Page,
    SegmentTable,
    TagArray,
    TiffIndex,
    squeeze_array,
)
from tiffzarr.series import _generic
from tiffzarr.series._protocol import Fallback, Interpretation, SeriesContext
from tiffzarr.series._slides import (
    mpp_scales,
    openslide_double,
    resolution_mpp,
    slide_metadata,
    tiff_properties,
)

__all__ = ["FALLBACK", "KIND", "detect", "series"]

KIND = "ndpi"
FALLBACK: Fallback = "generic"
MAKE = 271
NAMES = {MACRO_LENS: "Macro", MAP_LENS: "Map"}
"""Names of the series that are no pyramid, by magnification."""

HEADER_GUESS = 4096
"""Bytes read from the start of each level's strip with its MCU starts: its JPEG header
(some 600 bytes: tables, frame and scan headers) when it is no longer."""
Cut = tuple[Page, bytes]
"""A level cut into restart intervals, and the JPEG header its intervals continue."""


def detect(index: TiffIndex, /) -> bool:
    """The first page has the NDPI format tag (65420) and a Make tag."""
    ifd = index.pages[0].ifd
    return NDPI_FORMAT_FLAG in ifd and MAKE in ifd


async def series(context: SeriesContext, /) -> Interpretation:
    """The generic series of the file's pages (levels cut into restart intervals),
    named and described as NDPI series."""
    index = context.index
    pages = list(index.pages)
    cuts = await _cuts(context, pages)
    used = [cuts[i][0] if i in cuts else page for i, page in enumerate(pages)]
    headers = {id(page.segments): header for page, header in cuts.values()}
    keyframes = {id(page.segments): page for page in used if page.segments is not None}
    found = _generic.generic_series(dataclasses.replace(index, pages=used))
    out = []
    for s in found:
        keyframe = keyframes[id(s.levels[0].manifest.tables[0])]
        levels = _z_stacked(tuple(_with_header(level, headers) for level in s.levels))
        out.append(
            dataclasses.replace(
                s,
                name=_name(keyframe, len(levels)),
                kind=KIND,
                levels=levels,
                attrs={KIND: bounded_json(jsonable(ndpi_tags(keyframe.ifd.values)))},
                scales=mpp_scales(keyframe),
            )
        )
    if out:
        attrs, scales = await _slide(context, pages[0])
        out[0] = dataclasses.replace(out[0], attrs={**out[0].attrs, **attrs}, scales=scales)
    return Interpretation(tuple(out))


def _name(keyframe: Page, levels: int) -> str:
    """``Baseline`` (or the slide label) for a pyramid, else ``Macro``, ``Map`` or ``""``."""
    if levels > 1:
        label = keyframe.ifd.get(NDPI_REFERENCE)
        return label if isinstance(label, str) and label else "Baseline"
    return NAMES.get(keyframe.ifd.get(NDPI_SOURCELENS), "")


def _with_header(array: ArrayModel, headers: dict[int, bytes]) -> ArrayModel:
    """The level decoding its segments after their JPEG header, when it is cut."""
    header = headers.get(id(array.manifest.tables[0]))
    if header is None:
        return array
    return dataclasses.replace(array, codec=dataclasses.replace(array.codec, jpegheader=header))


def _z_stacked(levels: tuple[ArrayModel, ...]) -> tuple[ArrayModel, ...]:
    """As tifffile: a series whose squeezed axes start with ``I`` (several pages) has
    those squeezed shapes, with the pages along ``Z``."""
    if not squeeze_array(levels[0]).axes.startswith("I"):
        return levels
    squeezed = [squeeze_array(level) for level in levels]
    return tuple(dataclasses.replace(a, axes="Z" + a.axes[1:]) for a in squeezed)


async def _slide(context: SeriesContext, page: Page) -> tuple[dict[str, Any], dict[str, AxisScale]]:
    """The slide's openslide properties (from the first page) and pixel size."""
    ifd = page.ifd
    properties: dict[str, str] = {}
    text = await context.value(ifd, NDPI_PROPERTY_MAP)
    if isinstance(text, str):
        properties.update(property_map(text))
    lens = ifd.get(NDPI_SOURCELENS)
    if isinstance(lens, float | int):
        properties["SourceLens"] = openslide_double(lens)
    for code, name in (
        (NDPI_XOFFSET, "XOffsetFromSlideCentre"),
        (NDPI_YOFFSET, "YOffsetFromSlideCentre"),
    ):
        value = ifd.get(code)
        if isinstance(value, int):
            properties[name] = str(value)
    label = ifd.get(NDPI_REFERENCE)
    if isinstance(label, str):
        properties["Reference"] = label
    return slide_metadata(
        "hamamatsu",
        properties,
        mpp=resolution_mpp(page),
        objective_power=lens if isinstance(lens, float | int) else None,
        extra=tiff_properties(page),
    )


def _strip(page: Page) -> tuple[int, int] | None:
    """The one JPEG strip of a level page that has MCU starts, else ``None``."""
    layout, table = page.layout, page.segments
    if NDPI_MCU_STARTS not in page.ifd or layout is None or table is None:
        return None
    if layout.compression != Compression.JPEG or layout.tiled or layout.nsegments != 1:
        return None
    if not table.loaded(0, 1):
        return None
    return table.locate(0)


async def _cuts(context: SeriesContext, pages: Sequence[Page]) -> dict[int, Cut]:
    """The pages (by position) that are served in restart intervals."""
    strips = {i: s for i, page in enumerate(pages) if (s := _strip(page)) is not None}
    size = context.index.size
    deferred = [
        (entry.value_offset, entry.nbytes)
        for i in strips
        for code in (NDPI_MCU_STARTS, NDPI_MCU_STARTS_HIGH)
        if (entry := pages[i].ifd.entries.get(code)) is not None
        and code not in pages[i].ifd.values
        and entry.value_offset is not None
        and entry.value_offset + entry.nbytes <= size
    ]
    heads = [
        (offset, min(nbytes, HEADER_GUESS, size - offset)) for offset, nbytes in strips.values()
    ]
    await context.read_many(deferred + heads)  # all levels' MCU starts and JPEG headers at once
    starts = {}
    for i, (offset, nbytes) in strips.items():
        ifd = pages[i].ifd
        try:
            found = mcu_starts(
                await context.value(ifd, NDPI_MCU_STARTS),
                await context.value(ifd, NDPI_MCU_STARTS_HIGH),
            )
            first = int(found[0])
            if not 0 < first <= min(nbytes, MAX_JPEG_HEADER, size - offset):
                raise ValueError(f"the first MCU starts at {first}, past the strip's header")
            starts[i] = found
        except (TypeError, ValueError, IndexError) as exc:
            context.warn(f"page {i}: the NDPI MCU starts are not used: {exc}")
    order = sorted(starts)
    blobs = await context.read_many([(strips[i][0], int(starts[i][0])) for i in order])
    cuts = {}
    for i, header in zip(order, blobs, strict=True):
        try:
            cuts[i] = _cut(pages[i], header, starts[i], strips[i])
        except ValueError as exc:
            context.warn(f"page {i}: its restart intervals cannot be served as tiles: {exc}")
    return _alike(context, cuts)


def _cut(page: Page, header: bytes, starts: Any, strip: tuple[int, int]) -> Cut:
    """``page`` as a grid of restart-interval tiles, and their JPEG header."""
    layout, table = page.require_layout()
    tile = restart_tile(header)
    offsets, counts = interval_segments(
        tile, starts, width=layout.width, length=layout.length, strip=strip
    )
    tags = {code: value for code, value in page.ifd.values.items() if code not in (273, 278, 279)}
    tags.update({322: tile.width, 323: tile.length})
    cut = page_layout(tags, nsegments=len(offsets))
    segments = SegmentTable(
        TagArray.from_values(offsets), TagArray.from_values(counts), cut_from=table
    )
    return dataclasses.replace(page, layout=cut, segments=segments), tile.header


def _alike(context: SeriesContext, cuts: dict[int, Cut]) -> dict[int, Cut]:
    """The cuts, but for pages of one layout whose JPEG headers differ (one array has
    one codec): those stay whole strips."""
    headers: dict[Hashable, set[bytes]] = {}
    for page, header in cuts.values():
        assert page.layout is not None
        headers.setdefault(_generic.layout_key(page.layout), set()).add(header)
    out = {}
    for i, (page, header) in cuts.items():
        assert page.layout is not None
        if len(headers[_generic.layout_key(page.layout)]) == 1:
            out[i] = (page, header)
        else:
            context.warn(f"page {i}: pages of its layout differ in JPEG tables; served whole")
    return out
