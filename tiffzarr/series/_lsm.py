"""Series of Zeiss LSM files: the image pages, and their thumbnails.

The first page's CZ_LSMINFO (see :mod:`tiffzarr.format._lsm`) gives the
dimensions and the scan type, hence the axes (``ZCYX``, ``TZCYX``...). As in
tifffile, the image series is every second page from the first, shaped by those
dimensions; when the second page is a reduced image, every second page from it
makes the thumbnail series. Offsets stored modulo 2**32 (files over 4 GiB) and
the uncompressed byte counts of compressed files are corrected in the pages'
own segment tables. Voxel sizes (meters) become micrometer scales,
``TimeIntervall`` the time scale, ChannelColors the channels; the structure and
the records it points to are summarised under ``attrs["lsm"]``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tiffzarr.errors import TiffFormatError
from tiffzarr.format import Compression
from tiffzarr.format._lsm import (
    CZ_LSMINFO,
    CZ_LSMINFO_TAG,
    DIMENSIONS,
    SUBRECORDS,
    compressed_bytecounts,
    decode_lsminfo,
    lsm_axes,
    unwrap_offsets,
    unwrap_order,
)
from tiffzarr.format._records import RecordTruncated, jsonable
from tiffzarr.model import (
    ArrayModel,
    AxisScale,
    Channel,
    Page,
    SegmentTable,
    Series,
    TiffIndex,
    array_from_pages,
)
from tiffzarr.series._pages import claimed_pages
from tiffzarr.series._protocol import Fallback, Interpretation, SeriesContext

__all__ = ["FALLBACK", "KIND", "detect", "series"]

KIND = "lsm"
FALLBACK: Fallback = "generic"

WRAP = 2**32
"""Files at least this large may store wrapped strip offsets."""
LSMINFO_SIZE = sum(np.dtype(kind).itemsize for _, kind in CZ_LSMINFO)
FIRST_RECORD_READ = 4096
MAX_RECORD = 16 * 2**20
"""Largest record read at an offset CZ_LSMINFO gives."""
LOAD_BATCH = 256
"""Segment tables loaded at once when all pages' offsets must be fixed."""
_METERS_PER_MICROMETER = 1e-6


def detect(index: TiffIndex, /) -> bool:
    """The first page has a CZ_LSMINFO tag."""
    return bool(index.pages) and CZ_LSMINFO_TAG in index.pages[0].ifd


async def series(context: SeriesContext, /) -> Interpretation:
    """The image series and the thumbnail series, or nothing when CZ_LSMINFO is unusable."""
    index = context.index
    first = index.pages[0]
    info = await _lsminfo(context)
    if info is None or first.layout is None:
        return Interpretation(())
    try:
        axes = lsm_axes(info, planar=first.layout.planar)
        shape = tuple(int(info[DIMENSIONS[a]]) for a in axes)
    except (TiffFormatError, KeyError) as exc:
        context.warn(f"LSM: CZ_LSMINFO has no usable dimensions ({exc}); read as generic")
        return Interpretation(())
    if min(shape) < 1:
        context.warn(f"LSM: CZ_LSMINFO gives dimensions {shape} {axes}; read as generic")
        return Interpretation(())
    pages = [_fix_predictor(p) for p in index.pages]
    main = _level(context, pages[0::2], shape, axes, "image")
    if main is None:
        return Interpretation(())
    records = await _records(context, info)
    found = [
        Series(
            name="",
            kind=KIND,
            levels=(main,),
            attrs={"lsm": _attrs(info, records)},
            scales=_scales(info, axes),
            channels=_channels(records, info) if "C" in axes else (),
        )
    ]
    thumbnails = _thumbnails(context, pages, shape, axes)
    if thumbnails is not None:
        found.append(Series(name="", kind=KIND, levels=(thumbnails,)))
    await _fix_tables(context, found[0])
    return Interpretation(tuple(found))


async def _lsminfo(context: SeriesContext) -> dict[str, Any] | None:
    """The decoded CZ_LSMINFO of the first page, or ``None`` (warned)."""
    index = context.index
    if index.header.byteorder != "<":
        context.warn("LSM: CZ_LSMINFO in a big-endian file is invalid; read as generic")
        return None
    entry = index.pages[0].ifd.entries[CZ_LSMINFO_TAG]
    if entry.value_offset is None:
        blob = entry.inline
    else:
        n = max(0, min(LSMINFO_SIZE, index.size - entry.value_offset))
        blob = await context.read(entry.value_offset, n) if n else b""
    try:
        info = decode_lsminfo(blob)
    except TiffFormatError as exc:
        context.warn(f"LSM: CZ_LSMINFO is invalid ({exc.message}); read as generic")
        return None
    start = entry.value_offset or 0
    if info["StructureSize"] > index.size - start:
        context.warn(
            f"LSM: CZ_LSMINFO says it has {info['StructureSize']} bytes, more than the file "
            "holds; its known fields are read"
        )
    return info


def _fix_predictor(page: Page) -> Page:
    """The page without the predictor LSM 510 software sets on uncompressed data."""
    layout = page.layout
    if layout is None or layout.compression != Compression.NONE or layout.predictor == 1:
        return page
    return dataclasses.replace(page, layout=dataclasses.replace(layout, predictor=1))


def _level(
    context: SeriesContext, pages: Sequence[Page], shape: tuple[int, ...], axes: str, what: str
) -> ArrayModel | None:
    """The pages as one array of ``shape`` (missing pages as fill), or ``None`` (warned)."""
    keyframe = pages[0].layout
    assert keyframe is not None
    per_page = math.prod(keyframe.shape)
    expected, rest = divmod(math.prod(shape), per_page) if per_page else (0, 1)
    held: list[Page | None] = [p if p.segments is not None else None for p in pages]
    if rest or not expected:
        context.warn(f"LSM: {what} pages of {keyframe.shape} do not make {shape}; not read")
        return None
    claimed = claimed_pages(context, held, expected, what=f"LSM {what} {shape} {axes}")
    if claimed is None:
        return None
    held = claimed
    if any(p is None for p in held[: len(pages)]):
        context.warn(f"LSM: some {what} pages are not readable; they are fill")
    try:
        return array_from_pages(
            held,
            urls=(context.index.url,),
            byteorder=context.index.header.byteorder,
            shape=shape,
            axes=axes,
        )
    except ValueError as exc:
        context.warn(f"LSM: the {what} pages do not make {shape} {axes} ({exc})")
        return None


def _thumbnails(
    context: SeriesContext, pages: list[Page], shape: tuple[int, ...], axes: str
) -> ArrayModel | None:
    """The thumbnail series when the second page is a reduced image: the leading
    dimensions of the image series that enumerate the thumbnails, then one page."""
    if len(pages) < 2 or not pages[1].subfiletype & 1 or pages[1].layout is None:
        return None
    thumbs = pages[1::2]
    layout = pages[1].layout
    count, lead = 1, 0
    while count < len(thumbs) and lead < len(shape) - 2:
        count *= shape[lead]
        lead += 1
    return _level(
        context, thumbs, shape[:lead] + layout.shape, axes[:lead] + layout.axes, "thumbnail"
    )


async def _record(
    context: SeriesContext, name: str, offset: int, decode: Callable[[bytes], Any]
) -> Any:
    """The record at ``offset``, read in growing windows; ``None`` (warned) if unreadable."""
    available = min(context.index.size - offset, MAX_RECORD)
    if available <= 0:
        context.warn(f"LSM: the {name} record at {offset} is past the end of the file")
        return None
    n = min(FIRST_RECORD_READ, available)
    while True:
        data = await context.read(offset, n)
        try:
            return decode(data)
        except RecordTruncated as exc:
            need = exc.need if exc.need is not None else 2 * n
            if n >= available or need > available:
                context.warn(f"LSM: the {name} record at {offset} runs past the end of the file")
                return None
            n = min(max(need, 2 * n), available)
        except TiffFormatError as exc:
            context.warn(f"LSM: the {name} record at {offset} is invalid ({exc.message})")
            return None


async def _records(context: SeriesContext, info: dict[str, Any]) -> dict[str, Any]:
    """The records CZ_LSMINFO points to (offsets below 8 mean none)."""
    wanted = [
        (name, info["Offset" + name], decode)
        for name, decode in SUBRECORDS
        if isinstance(info.get("Offset" + name), int) and info["Offset" + name] >= 8
    ]
    values = await asyncio.gather(*(_record(context, *item) for item in wanted))
    return {name: v for (name, _, _), v in zip(wanted, values, strict=True) if v is not None}


def _attrs(info: dict[str, Any], records: dict[str, Any]) -> dict[str, Any]:
    """CZ_LSMINFO without its offsets, and the records, as bounded JSON."""
    fields = {k: v for k, v in info.items() if not k.startswith("Offset")}
    out: dict[str, Any] = jsonable({**fields, **records})
    return out


def _scales(info: dict[str, Any], axes: str) -> dict[str, AxisScale]:
    scales: dict[str, AxisScale] = {}
    for axis in "XYZ":
        size = info.get("VoxelSize" + axis)
        if axis in axes and isinstance(size, float) and math.isfinite(size) and size > 0:
            scales[axis] = AxisScale(size / _METERS_PER_MICROMETER, "micrometer")
    interval = info.get("TimeIntervall")
    if "T" in axes and isinstance(interval, float) and math.isfinite(interval) and interval > 0:
        scales["T"] = AxisScale(interval, "second")
    return scales


def _channels(records: dict[str, Any], info: dict[str, Any]) -> tuple[Channel, ...]:
    """Names and colours of the channels, from the ChannelColors record."""
    colors = records.get("ChannelColors")
    if not colors:
        return ()
    n = int(info.get("DimensionChannels", 0))
    names, rgba = colors["ColorNames"], colors["Colors"]
    return tuple(
        Channel(
            name=names[i] if i < len(names) else None,
            color="{:02X}{:02X}{:02X}".format(*rgba[i][:3]) if i < len(rgba) else None,
        )
        for i in range(min(n, max(len(names), len(rgba))))
    )


async def _fix_tables(context: SeriesContext, main: Series) -> None:
    """Correct the pages' segment tables in place: offsets wrapped at 4 GiB, and the
    byte counts of compressed image pages."""
    index = context.index
    first = index.pages[0].layout
    compressed = first is not None and first.compression != Compression.NONE
    if index.size < WRAP and not compressed:
        return
    tables = [p.segments for p in index.pages]
    loaded = [t for t in tables if t is not None]
    for start in range(0, len(loaded), LOAD_BATCH):
        batch = loaded[start : start + LOAD_BATCH]
        await asyncio.gather(*(context.load_table(t) for t in batch))
    if index.size >= WRAP:
        _unwrap(context, tables, main)
    if compressed and all(t is not None for t in tables):
        offsets = [t.offsets.values() for t in tables if t is not None]
        counts = [t.bytecounts.values() for t in tables if t is not None]
        for k, values in compressed_bytecounts(offsets, counts, index.size).items():
            table = tables[k]
            assert table is not None
            table.bytecounts.correct(values[: table.bytecounts.count])


def _unwrap(context: SeriesContext, tables: list[SegmentTable | None], main: Series) -> None:
    """Widen the offsets of every page, following the order the writer stored them in."""
    firsts = [int(t.offsets[0]) for t in tables[:2] if t is not None and t.offsets.count]
    thumbs_first = len(firsts) == 2 and firsts[0] > firsts[1]
    try:
        order = unwrap_order(len(tables), main.axes, main.shape, thumbnails_first=thumbs_first)
    except TiffFormatError as exc:
        context.warn(f"LSM: {exc.message}; offsets are unwrapped in page order")
        order = np.arange(len(tables))
    ordered: list[SegmentTable] = []
    for k in order.tolist():
        table = tables[k]
        if table is None:
            break
        ordered.append(table)
    fixed = unwrap_offsets([t.offsets.values() for t in ordered])
    if len(fixed) < len(tables):
        context.warn(
            f"LSM: the file was written incompletely; the offsets of {len(tables) - len(fixed)} "
            "pages are not unwrapped"
        )
    for table, values in zip(ordered, fixed, strict=False):
        table.offsets.correct(values)
