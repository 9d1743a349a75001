"""Series of MetaMorph STK files: one page, and the planes stored after its pixels.

The first page holds the UIC tags (see :mod:`tiffzarr.format._metamorph`); the
UIC2tag has one entry per plane, and the planes follow the first page's
(uncompressed, contiguous) pixels at one image's size apart. As tifffile does,
the series is ``(planes, *page.shape)`` along ``Z`` when every plane has a Z
distance, along ``T`` when the planes were made at distinct times, else ``I``;
its name is the UIC ``Name``. The UIC metadata is summarised under
``attrs["metamorph"]``; X/Y scales come from the spatial calibration, Z from the
Z distances.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tiffzarr.format import TagEntry
from tiffzarr.format._axes import udunits
from tiffzarr.format._metamorph import (
    UIC1TAG,
    UIC2TAG,
    UIC3TAG,
    UIC4TAG,
    decode_reference,
    decode_uic2,
    decode_uic3,
    decode_uic4,
    julian_datetime,
    plan_uic1,
    stack_axis,
    uic1_pairs,
)
from tiffzarr.format._records import LIST_LIMIT, RecordTruncated, jsonable
from tiffzarr.model import AxisScale, Page, Series, TiffIndex, array_from_pages
from tiffzarr.series._pages import contiguous_end, virtual_pages
from tiffzarr.series._protocol import Fallback, Interpretation, SeriesContext

__all__ = ["FALLBACK", "KIND", "detect", "series"]

KIND = "stk"
FALLBACK: Fallback = "generic"

LONG, RATIONAL = 4, 5
MAX_UIC1_ENTRIES = 2**16
"""UIC1 entries decoded (MetaMorph writes a few per plane)."""
MAX_UIC_BYTES = 64 * 2**20
"""Largest UIC2/UIC3/UIC4 value read."""
HULL_LIMIT = 4 * 2**20
"""UIC values within this span are read in one request."""
_VALUE_SIZE = {UIC1TAG: 8, UIC2TAG: 24, UIC3TAG: 8, UIC4TAG: 36}
"""Bytes a UIC tag's value takes per count (UIC1 and UIC2 take more than their
field type says; UIC4 has no fixed size: a guess, per plane)."""
UIC4_AHEAD = 4096
"""Bytes read after a UIC4tag's guessed size, for its records that do not depend
on the plane count."""
DESCRIPTION_LIMIT = 64 * 1024
"""Characters of the first plane's description kept in the attributes."""
_PER_PLANE = ("ZDistance", "Wavelengths", "TimeCreated", "TimeModified")


def detect(index: TiffIndex, /) -> bool:
    """The first page has a UIC1tag."""
    return bool(index.pages) and UIC1TAG in index.pages[0].ifd


async def series(context: SeriesContext, /) -> Interpretation:
    """The stack of planes, or nothing (then the generic series) when it cannot be read."""
    index = context.index
    page = index.pages[0]
    if page.layout is None or page.segments is None:
        context.warn(f"STK: the first page is not a readable image ({page.error})")
        return Interpretation(())
    notes: list[str] = []
    meta = await _metadata(context, page, notes)
    for note in notes:
        context.warn(f"STK: {note}")
    pages = await _planes(context, page, int(meta["NumberPlanes"]))
    if pages is None:
        return Interpretation(())
    layout = page.layout
    axis = stack_axis(int(meta["NumberPlanes"]), meta.get("ZDistance"), meta.get("TimeCreated"))
    level = array_from_pages(
        pages,
        urls=(index.url,),
        byteorder=index.header.byteorder,
        shape=(len(pages), *layout.shape),
        axes=axis + layout.axes,
    )
    name = meta.get("Name")
    found = Series(
        name=name if isinstance(name, str) else "",
        kind=KIND,
        levels=(level,),
        attrs={"metamorph": _attrs(meta)},
        scales=_scales(meta, axis),
    )
    return Interpretation((found,))


async def _planes(context: SeriesContext, page: Page, planes: int) -> list[Page] | None:
    """The first page and the planes after it (as many as the file holds)."""
    if planes <= 1:
        if planes < 1:
            context.warn("STK: the UIC2tag counts no planes; the first page is read alone")
        return [page]
    layout, table = page.require_layout()
    await context.load_table(table)
    end = contiguous_end(page)
    if end is None:
        context.warn(
            f"STK: {planes} planes, but the first page's pixels are not uncompressed "
            "contiguous strips; the planes after it cannot be located"
        )
        return None
    stride = layout.page_nbytes
    fit = 1 + max(0, context.index.size - end) // stride if stride else planes
    if fit < planes:
        context.warn(f"STK: the file holds {fit} of its {planes} planes; the series is cut")
        planes = fit
    return virtual_pages(page, planes, stride=stride)


class _Ranges:
    """The bytes of a few ranges of the file, fetched together: in one read when they
    lie within :data:`HULL_LIMIT` of each other."""

    def __init__(self, context: SeriesContext) -> None:
        self.context = context
        self.blocks: list[tuple[int, bytes]] = []

    def _find(self, offset: int, length: int) -> bytes | None:
        for start, block in self.blocks:
            if start <= offset and offset + length <= start + len(block):
                return block[offset - start : offset - start + length]
        return None

    def clip(self, offset: int, length: int) -> int:
        """``length``, or less at the end of the file (and at most :data:`MAX_UIC_BYTES`)."""
        return max(0, min(length, self.context.index.size - offset, MAX_UIC_BYTES))

    async def load(self, spans: list[tuple[int, int]]) -> None:
        wanted = [(o, self.clip(o, n)) for o, n in spans]
        wanted = [(o, n) for o, n in wanted if n and self._find(o, n) is None]
        if not wanted:
            return
        low, high = min(o for o, _ in wanted), max(o + n for o, n in wanted)
        if high - low <= HULL_LIMIT:
            wanted = [(low, high - low)]
        reads = await asyncio.gather(*(self.context.read(o, n) for o, n in wanted))
        self.blocks.extend((o, data) for (o, _), data in zip(wanted, reads, strict=True))

    def get(self, offset: int, length: int) -> bytes:
        """The loaded bytes at ``offset`` (fewer at the end of the file, none if not loaded)."""
        return self._find(offset, self.clip(offset, length)) or b""

    def value(self, entry: TagEntry, length: int) -> bytes:
        """``length`` bytes at the value of ``entry`` (its inline field if it has no offset)."""
        if entry.value_offset is None:
            return entry.inline[:length]
        return self.get(entry.value_offset, length)


async def _metadata(context: SeriesContext, page: Page, notes: list[str]) -> dict[str, Any]:
    """The STK metadata as tifffile assembles it: descriptions, plane count, UIC1,
    UIC3, UIC4 (which overrides UIC1) and the per-plane UIC2 values."""
    ifd = page.ifd
    uic2 = ifd.entries.get(UIC2TAG)
    planes = 1 if uic2 is None else uic2.count
    meta: dict[str, Any] = {}
    description = ifd.get(270)
    if isinstance(description, str) and description:
        meta["PlaneDescriptions"] = description.rstrip("\x00").split("\x00")
    meta["NumberPlanes"] = planes
    if context.index.header.byteorder != "<":
        notes.append("the UIC tags of a big-endian file are not MetaMorph's; ignored")
        return meta
    entries = {code: ifd.entries.get(code) for code in _VALUE_SIZE}
    ranges = _Ranges(context)
    await ranges.load(
        [
            (e.value_offset, _VALUE_SIZE[code] * e.count + (UIC4_AHEAD if code == UIC4TAG else 0))
            for code, e in entries.items()
            if e is not None and e.value_offset is not None
        ]
    )
    meta.update(await _uic1(ranges, ifd.entries[UIC1TAG], planes, notes))
    meta.update(_fixed(ranges, entries[UIC3TAG], "UIC3tag", decode_uic3, notes))
    meta.update(await _uic4(ranges, entries[UIC4TAG], notes))
    values = _fixed(ranges, entries[UIC2TAG], "UIC2tag", decode_uic2, notes)
    if values:
        meta.update({k: values[k] for k in ("ZDistance", "TimeCreated", "TimeModified")})
        for key in ("Created", "Modified"):
            dates = zip(values["Date" + key].tolist(), values["Time" + key].tolist(), strict=True)
            meta["Datetime" + key] = [julian_datetime(d, t) for d, t in dates]
    return meta


def _fixed(
    ranges: _Ranges,
    entry: TagEntry | None,
    name: str,
    decode: Callable[[bytes, int], dict[str, np.ndarray]],
    notes: list[str],
) -> dict[str, np.ndarray]:
    """A RATIONAL UIC tag with a fixed size per plane (UIC2, UIC3), decoded."""
    if entry is None:
        return {}
    if entry.type != RATIONAL:
        notes.append(f"{name} has field type {entry.type}, not RATIONAL; ignored")
        return {}
    size = _VALUE_SIZE[entry.code] * entry.count
    try:
        return decode(ranges.value(entry, size), entry.count)
    except RecordTruncated:
        notes.append(f"{name} needs {size} bytes, the file holds fewer; ignored")
        return {}


async def _uic1(ranges: _Ranges, entry: TagEntry, planes: int, notes: list[str]) -> dict[str, Any]:
    """The UIC1 values: those inline, and those at the offsets it gives."""
    if entry.type == RATIONAL:  # before MetaMorph 2.5: Z distances
        old = _fixed(ranges, entry, "UIC1tag", decode_uic3, notes)
        return {"ZDistance": old["Wavelengths"]} if old else {}
    if entry.type != LONG:
        notes.append(f"UIC1tag has field type {entry.type}; ignored")
        return {}
    count = min(entry.count, MAX_UIC1_ENTRIES)
    blob = ranges.value(entry, 8 * count)
    if len(blob) < 8 * count:
        notes.append(f"UIC1tag holds {len(blob) // 8} of its {entry.count} entries")
        count = len(blob) // 8
    elif count < entry.count:
        notes.append(f"UIC1tag has {entry.count} entries; the first {count} are read")
    values, refs = plan_uic1(uic1_pairs(blob, count), planes, notes)
    await ranges.load([(r.offset, r.size) for r in refs])
    for ref in refs:
        data = ranges.get(ref.offset, ref.size)
        if not data:
            notes.append(f"UIC1 {ref.name}: offset {ref.offset} is outside the file")
        value = decode_reference(ref, data, planes, notes) if data else None
        if ref.appends:
            values.setdefault(ref.name, []).append(value)
        else:
            values[ref.name] = value
    return values


async def _uic4(ranges: _Ranges, entry: TagEntry | None, notes: list[str]) -> dict[str, Any]:
    """The UIC4 records, read in growing windows until the terminating id."""
    if entry is None:
        return {}
    if entry.type != LONG:
        notes.append(f"UIC4tag has field type {entry.type}, not LONG; ignored")
        return {}
    if entry.value_offset is None:
        return decode_uic4(entry.inline, entry.count, notes)[0]
    available = ranges.clip(entry.value_offset, MAX_UIC_BYTES)
    n = min(available, _VALUE_SIZE[UIC4TAG] * entry.count + UIC4_AHEAD)
    while True:
        await ranges.load([(entry.value_offset, n)])
        values, need = decode_uic4(ranges.get(entry.value_offset, n), entry.count, notes)
        if need is None:
            return values
        if need > available or n >= available:
            notes.append("UIC4tag runs past the end of the file; its last records are lost")
            return values
        n = min(max(need, 2 * n), available)


def _per_plane(values: list[Any]) -> Any:
    """Per-plane values (dates) listed, or their first and last when they are many."""
    items = jsonable(values, limit=len(values))
    if len(items) <= LIST_LIMIT:
        return items
    return {"count": len(items), "first": items[0], "last": items[-1]}


def _attrs(meta: dict[str, Any]) -> dict[str, Any]:
    """The metadata as bounded JSON: per-plane arrays summarised, the first plane's
    description only."""
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if key == "PlaneDescriptions":
            out["Description"] = value[0][:DESCRIPTION_LIMIT]
        elif key.startswith("Datetime"):
            out[key] = _per_plane(value)
        else:
            out[key] = jsonable(value)
    return out


def _positive(value: Any) -> float | None:
    if isinstance(value, int | float) and math.isfinite(value) and value > 0:
        return float(value)
    return None


def _scales(meta: dict[str, Any], axis: str) -> dict[str, AxisScale]:
    """X/Y from the spatial calibration, Z from the planes' Z distances."""
    units = meta.get("CalibrationUnits")
    unit = udunits(units) if isinstance(units, str) and units else None
    scales: dict[str, AxisScale] = {}
    if meta.get("SpatialCalibration", 1):
        for letter, key in (("X", "XCalibration"), ("Y", "YCalibration")):
            size = _positive(meta.get(key))
            if size is not None:
                scales[letter] = AxisScale(size, unit)
    zdistance = meta.get("ZDistance")
    if axis == "Z" and isinstance(zdistance, np.ndarray):
        steps = np.abs(zdistance[np.isfinite(zdistance) & (zdistance != 0)])
        if steps.size:
            scales["Z"] = AxisScale(float(np.median(steps)), unit)
    return scales
