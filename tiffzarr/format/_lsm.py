"""Zeiss LSM: the CZ_LSMINFO structure and the records it points to, as data.

An LSM file is a little-endian TIFF whose first page holds the CZ_LSMINFO tag
(34412): a packed structure (:data:`CZ_LSMINFO`) with the dimensions of the
acquisition, the voxel sizes (in meters), the scan type and the file offsets of
further records (channel colours and names, time stamps, positions, the scan
information tree). Image pages alternate with their thumbnails; each image page
holds all channels of one plane (usually as separate planes).

Two quirks of the writer are undone by the reader (:func:`unwrap_offsets`,
:func:`compressed_bytecounts`): strip offsets are stored modulo 2**32 in files
larger than 4 GiB, and the strip byte counts of compressed files give the
uncompressed sizes.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from tiffzarr.errors import TiffFormatError
from tiffzarr.format._ifd import TagEntry
from tiffzarr.format._lsm_scaninfo import decode_scaninfo
from tiffzarr.format._records import Cursor, RecordTruncated, decode_text, truncated

__all__ = [
    "CZ_LSMINFO",
    "CZ_LSMINFO_TAG",
    "DIMENSIONS",
    "LSM_MAGIC",
    "SCAN_TYPES",
    "SUBRECORDS",
    "compressed_bytecounts",
    "decode_lsminfo",
    "lsm_axes",
    "misplaced_bitspersample",
    "unwrap_offsets",
    "unwrap_order",
]

CZ_LSMINFO_TAG = 34412
LSM_MAGIC = frozenset({0x0300494C, 0x0400494C})
"""MagicNumber of LSM 1.5/2.0 and of LSM 3.0 and later."""

CZ_LSMINFO: tuple[tuple[str, str], ...] = (
    ("MagicNumber", "u4"),
    ("StructureSize", "i4"),
    ("DimensionX", "i4"),
    ("DimensionY", "i4"),
    ("DimensionZ", "i4"),
    ("DimensionChannels", "i4"),
    ("DimensionTime", "i4"),
    ("DataType", "i4"),
    ("ThumbnailX", "i4"),
    ("ThumbnailY", "i4"),
    ("VoxelSizeX", "f8"),
    ("VoxelSizeY", "f8"),
    ("VoxelSizeZ", "f8"),
    ("OriginX", "f8"),
    ("OriginY", "f8"),
    ("OriginZ", "f8"),
    ("ScanType", "u2"),
    ("SpectralScan", "u2"),
    ("TypeOfData", "u4"),
    ("OffsetVectorOverlay", "u4"),
    ("OffsetInputLut", "u4"),
    ("OffsetOutputLut", "u4"),
    ("OffsetChannelColors", "u4"),
    ("TimeIntervall", "f8"),  # sic, as the specification spells it
    ("OffsetChannelDataTypes", "u4"),
    ("OffsetScanInformation", "u4"),
    ("OffsetKsData", "u4"),
    ("OffsetTimeStamps", "u4"),
    ("OffsetEventList", "u4"),
    ("OffsetRoi", "u4"),
    ("OffsetBleachRoi", "u4"),
    ("OffsetNextRecording", "u4"),
    # LSM 2.0 ends here
    ("DisplayAspectX", "f8"),
    ("DisplayAspectY", "f8"),
    ("DisplayAspectZ", "f8"),
    ("DisplayAspectTime", "f8"),
    ("OffsetMeanOfRoisOverlay", "u4"),
    ("OffsetTopoIsolineOverlay", "u4"),
    ("OffsetTopoProfileOverlay", "u4"),
    ("OffsetLinescanOverlay", "u4"),
    ("ToolbarFlags", "u4"),
    ("OffsetChannelWavelength", "u4"),
    ("OffsetChannelFactors", "u4"),
    ("ObjectiveSphereCorrection", "f8"),
    ("OffsetUnmixParameters", "u4"),
    # LSM 3.2 and 4.0 end here
    ("OffsetAcquisitionParameters", "u4"),
    ("OffsetCharacteristics", "u4"),
    ("OffsetPalette", "u4"),
    ("TimeDifferenceX", "f8"),
    ("TimeDifferenceY", "f8"),
    ("TimeDifferenceZ", "f8"),
    ("InternalUse1", "u4"),
    ("DimensionP", "i4"),
    ("DimensionM", "i4"),
    ("_DimensionsReserved", "16i4"),
    ("OffsetTilePositions", "u4"),
    ("_Reserved", "9u4"),
    ("OffsetPositions", "u4"),
)
"""The fields of CZ_LSMINFO in order (names with ``_`` are reserved)."""

SCAN_TYPES: dict[int, str] = {
    0: "ZCYX",  # stack: x-y planes along z
    1: "CZX",  # z-scan: one x-z plane
    2: "CTX",  # line, or time series of a line
    3: "TCYX",  # time series of x-y planes
    4: "TCZX",  # time series of x-z planes
    5: "CTX",  # time series of the means of regions
    6: "TZCYX",  # time series of stacks
    7: "TZCYX",  # spline scan
    8: "CZX",  # spline plane, x-z
    9: "TCZX",  # time series of spline planes
    10: "CTX",  # point, or time series of a point
}
"""ScanType → the order of the dimensions (tifffile's axes)."""

DIMENSIONS: dict[str, str] = {
    "X": "DimensionX",
    "Y": "DimensionY",
    "Z": "DimensionZ",
    "C": "DimensionChannels",
    "T": "DimensionTime",
    "P": "DimensionP",
    "M": "DimensionM",
}
"""Axis letter → the CZ_LSMINFO field that gives its length."""

MAX_NAMES = 4096
"""Channel names read from a ChannelColors record."""


def _dtype(fields: Sequence[tuple[str, str]]) -> np.dtype:
    return np.dtype([(name, "<" + kind if kind[0].isalpha() else kind) for name, kind in fields])


def decode_lsminfo(blob: bytes, /) -> dict[str, Any]:
    """The CZ_LSMINFO fields of ``blob`` (the structure's bytes, little-endian).

    Older structures are shorter (``StructureSize``); only the fields that fit in
    it are decoded. Reserved fields are left out.

    >>> info = decode_lsminfo((0x0400494C).to_bytes(4, "little") + (12).to_bytes(4, "little")
    ...                       + (512).to_bytes(4, "little"))
    >>> info
    {'MagicNumber': 67127628, 'StructureSize': 12, 'DimensionX': 512}
    """
    cursor = Cursor(blob)
    magic, size = cursor.unpack("Ii")
    if magic not in LSM_MAGIC:
        raise TiffFormatError(f"CZ_LSMINFO has magic number {magic:#x}", tag=CZ_LSMINFO_TAG)
    fields: list[tuple[str, str]] = []
    total = 0
    for name, kind in CZ_LSMINFO:
        total += np.dtype(kind).itemsize
        if total > size:
            break
        fields.append((name, kind))
    dtype = _dtype(fields)
    if len(blob) < dtype.itemsize:
        raise truncated(dtype.itemsize, f"CZ_LSMINFO of {dtype.itemsize} bytes is cut")
    record = np.frombuffer(blob, dtype, 1)[0]
    return {name: record[name].item() for name, _ in fields if not name.startswith("_")}


def misplaced_bitspersample(entry: TagEntry, byteorder: Literal["<", ">"], /) -> int | None:
    """Where an LSM writer put the two BitsPerSample values of a two-channel page, when
    it stored their offset in the entry's value field (where the values belong);
    ``None`` when the field holds two equal, plausible sizes.

    >>> field = (1000).to_bytes(4, "little")
    >>> misplaced_bitspersample(TagEntry.make(258, 3, 2, field, None), "<")
    1000
    >>> misplaced_bitspersample(TagEntry.make(258, 3, 2, bytes([16, 0, 16, 0]), None), "<")
    """
    if entry.code != 258 or entry.type != 3 or entry.count != 2 or entry.value_offset is not None:
        return None
    first, second = struct.unpack(byteorder + "2H", entry.inline[:4])
    if first == second and 1 <= first <= 64:
        return None
    return int(struct.unpack(byteorder + "I", entry.inline[:4])[0])


def lsm_axes(info: dict[str, Any], *, planar: int) -> str:
    """tifffile's axes of the image series: the scan type's order, channels last
    when the pages interleave them (``planar`` 1), mosaic ``M`` and position ``P``
    in front when the file has them.

    >>> lsm_axes({"ScanType": 6, "DimensionP": 0}, planar=2), lsm_axes({"ScanType": 0}, planar=1)
    ('TZCYX', 'ZYXC')
    """
    scantype = info.get("ScanType")
    if scantype not in SCAN_TYPES:
        raise TiffFormatError(f"CZ_LSMINFO has scan type {scantype}", tag=CZ_LSMINFO_TAG)
    axes = SCAN_TYPES[scantype]
    if planar == 1:
        axes = axes.replace("C", "").replace("X", "XC")
    if info.get("DimensionP", 0) > 0:
        axes = "P" + axes
    if info.get("DimensionM", 0) > 0:
        axes = "M" + axes
    return axes


def unwrap_order(
    npages: int, axes: str, shape: Sequence[int], *, thumbnails_first: bool
) -> np.ndarray:
    """The order in which an LSM writer stored the pages (for :func:`unwrap_offsets`):
    pairs of image and thumbnail, time outermost when there are several positions.

    ``axes`` and ``shape`` are the image series' squeezed ones.

    >>> unwrap_order(4, "ZYX", (2, 8, 8), thumbnails_first=True).tolist()
    [1, 0, 3, 2]
    """
    pairs: np.ndarray = np.arange(npages - npages % 2).reshape(-1, 2)
    positions = math.prod(shape[i] for i in range(min(2, len(axes))) if axes[i] in "PM")
    if positions > 1:
        times = next((shape[i] for i in (1, 2) if i < len(axes) and axes[i] == "T"), 0)
        if times:
            div, mod = divmod(npages, 2 * positions * times)
            if mod:
                raise TiffFormatError(
                    f"{npages} LSM pages do not make {positions} positions of {times} times"
                )
            pairs = np.moveaxis(pairs.reshape(positions, times, div, 2), 1, 0)
    if thumbnails_first:
        pairs = pairs[..., ::-1]
    order = pairs.reshape(-1)
    return np.append(order, npages - 1) if npages % 2 else order


def unwrap_offsets(offsets: Sequence[np.ndarray], /) -> list[np.ndarray]:
    """Strip offsets stored modulo 2**32, widened: the pages' offsets in the order
    they were written only grow, so every decrease is one more wrap.

    Stops before the first page without offsets (a file written incompletely).

    >>> [a.tolist() for a in unwrap_offsets([np.array([10, 2**32 - 8]), np.array([16])])]
    [[10, 4294967288], [4294967312]]
    """
    wrap, previous = 0, 0
    out = []
    for values in offsets:
        if not np.any(values > 0):
            break
        fixed = np.empty(len(values), "u8")
        for i, value in enumerate(values.tolist()):
            if value < previous:
                wrap += 2**32
            fixed[i] = value + wrap
            previous = value
        out.append(fixed)
    return out


def compressed_bytecounts(
    offsets: Sequence[np.ndarray], bytecounts: Sequence[np.ndarray], size: int, /
) -> dict[int, np.ndarray]:
    """The real sizes of the strips of a compressed LSM file's image pages (the even
    ones, by page number): each strip ends where the next one starts, the last one
    where the next page (by first offset) starts, or for the last page at most twice
    its stated size (within the file).

    >>> compressed_bytecounts([np.array([8, 20]), np.array([50])], [np.array([99, 99]),
    ...                        np.array([9])], 100)
    {0: array([12, 30], dtype=uint64)}
    """
    firsts = sorted((int(values[0]), k) for k, values in enumerate(offsets) if len(values))
    out: dict[int, np.ndarray] = {}
    for i, (_, k) in enumerate(firsts):
        if k % 2:
            continue
        values = offsets[k].astype("i8")
        if i + 1 < len(firsts):
            end = firsts[i + 1][0]
        else:
            end = min(int(values[-1]) + 2 * int(bytecounts[k][-1]), size)
        out[k] = np.append(np.diff(values), end - values[-1]).clip(0).astype("u8")
    return out


# -- records the structure points to -----------------------------------------------


def _channel_colors(data: bytes) -> dict[str, Any]:
    cursor = Cursor(data)
    size, ncolors, nnames, color_at, names_at, mono = cursor.unpack("6I")
    if len(data) < size:
        raise _short(size)
    if ncolors != nnames:
        raise TiffFormatError(f"ChannelColors has {ncolors} colours but {nnames} names")
    cursor.skip_to(color_at)
    colors = cursor.array("u1", 4 * ncolors).reshape(ncolors, 4)
    cursor.skip_to(names_at)
    names: list[str] = []
    while cursor.pos + 4 < size and len(names) < min(nnames, MAX_NAMES):
        length = cursor.u4()
        names.append(decode_text(cursor.take(min(length, size - cursor.pos))[:-1]))
    return {"Mono": bool(mono), "Colors": colors.tolist(), "ColorNames": names}


def _short(need: int) -> RecordTruncated:
    return truncated(need, f"a record of {need} bytes is cut")


def _counted(dtype: str, shape: tuple[int, ...] = ()) -> Callable[[bytes], np.ndarray]:
    """A record of a LONG count and that many values of ``dtype`` (each of ``shape``)."""

    def decode(data: bytes) -> np.ndarray:
        cursor = Cursor(data)
        count = cursor.i4()
        if count < 0:
            raise TiffFormatError(f"a record counts {count} values")
        per = math.prod(shape)
        need = 4 + count * per * np.dtype(dtype).itemsize
        if len(data) < need:
            raise _short(need)
        return cursor.array(dtype, count * per).reshape(count, *shape)

    return decode


def _timestamps(data: bytes) -> np.ndarray:
    cursor = Cursor(data)
    size, count = cursor.unpack("ii")
    if size != 8 + 8 * count or count < 0:
        raise TiffFormatError(f"TimeStamps of {size} bytes cannot hold {count} stamps")
    if len(data) < size:
        raise _short(size)
    return cursor.array("f8", count)


def _eventlist(data: bytes) -> list[dict[str, Any]]:
    cursor = Cursor(data)
    size, count = cursor.unpack("II")
    if len(data) < size:
        raise _short(size)
    events = []
    for _ in range(count):
        esize, etime, etype = cursor.unpack("IdI")
        text = decode_text(cursor.take(esize - 16)) if esize > 16 else ""
        events.append({"time": etime, "type": etype, "text": text})
    return events


SUBRECORDS: tuple[tuple[str, Callable[[bytes], Any]], ...] = (
    ("ScanInformation", decode_scaninfo),
    ("TimeStamps", _timestamps),
    ("EventList", _eventlist),
    ("ChannelColors", _channel_colors),
    ("Positions", _counted("f8", (3,))),
    ("TilePositions", _counted("f8", (3,))),
    ("ChannelDataTypes", _counted("u4")),
    ("ChannelWavelength", _counted("f8", (2,))),
)
"""Records read at ``Offset<name>``: each decoder takes the bytes from that offset
and raises :class:`RecordTruncated` (with the size needed, when known) if they are
too few."""
