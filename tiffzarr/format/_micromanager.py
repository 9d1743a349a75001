"""Micro-Manager's own structures: the header block of MMStack and NDTiff files,
the index map, the ``NDTiff.index`` file and the summary metadata.

Micro-Manager writes a block of 32-bit integers (in the file's byte order)
right after the 8-byte TIFF header:

- *MMStack* (multipage TIFF): index-map header ``54773648`` and the index map's
  offset, display-settings header and offset, comments header ``99384722`` (or
  ``483729`` and a major version for NDTiff v1) and offset, summary header
  ``2355492`` and the summary's length; the summary (UTF-8 JSON) follows at 40.
  The index map is ``3453623``, a count, then one record of five integers per
  image: channel, slice, frame, position and the image's IFD offset.
- *NDTiff* v2 and later: ``483729``, the major version, then either ``2355492``
  and the summary's length (v2) or the minor version, ``2355492`` and the length
  (v3); the summary follows. The images are listed in ``NDTiff.index`` beside
  the TIFF files (little-endian): per image the length and text of a JSON object
  of axis coordinates, the length and text of a file name, then eight integers
  (data offset, width, height, pixel type, compression, metadata offset, metadata
  length, metadata compression).

>>> import struct
>>> head = struct.pack("<8I", 54773648, 4096, 0, 0, 0, 0, 2355492, 17)
>>> parse_header(head, "<")
MicroManagerHeader(major_version=0, minor_version=None, summary=(40, 17), index_map=4096)
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "HEADER_SPAN",
    "INDEX_RECORD",
    "MAX_PLANES",
    "NDTIFF_PIXEL_TYPES",
    "MicroManagerHeader",
    "NdtiffEntry",
    "NdtiffGrid",
    "member_names",
    "mmstack_axes",
    "mmstack_shape",
    "ndtiff_grid",
    "parse_header",
    "parse_index_map",
    "parse_index_map_count",
    "parse_ndtiff_index",
    "parse_summary",
    "plane_pixel_size",
    "summary_channels",
    "summary_scales",
]

HEADER_SPAN = (8, 32)
"""``(offset, length)`` of Micro-Manager's header block in a TIFF file."""
INDEX_MAP_HEADER = 54773648
INDEX_MAP_BLOCK = 3453623
SUMMARY_HEADER = 2355492
NDTIFF_MAGIC = 483729
INDEX_RECORD = 20
"""Bytes per image in an index map (five 32-bit integers)."""
MAX_PLANES = 2**22
"""Most images a Micro-Manager series may enumerate (full shape without the image)."""
MAX_NAME_BYTES = 4096
"""Longest axis-coordinate text or file name of an NDTiff.index record."""
NDTIFF_FIELDS = struct.Struct("<IiiiiIii")

NDTIFF_PIXEL_TYPES: dict[int, tuple[str, int]] = {
    0: ("uint8", 8),
    1: ("uint16", 16),
    2: ("uint8", 8),
    3: ("uint16", 10),
    4: ("uint16", 12),
    5: ("uint16", 14),
    6: ("uint16", 11),
}
"""NDTiff pixel type → (dtype, significant bits): 8- and 16-bit grey, 8-bit RGB,
10-, 12-, 14- and 11-bit grey."""

MMSTACK_KEYS = {"C": "Channels", "Z": "Slices", "T": "Frames", "R": "Positions"}
"""Index-map axes → the summary key that gives their length."""
INDEX_COLUMNS = {"C": 0, "Z": 1, "T": 2, "R": 3}
"""Index-map axes → their column in the index map."""


@dataclass(frozen=True, slots=True)
class MicroManagerHeader:
    """What Micro-Manager's header block says: the major (0: MMStack) and minor
    versions, where the summary JSON is ``(offset, length)`` and where the index
    map starts (MMStack only); ``None`` where the block does not say."""

    major_version: int
    minor_version: int | None
    summary: tuple[int, int] | None
    index_map: int | None


def parse_header(data: bytes, byteorder: str, /) -> MicroManagerHeader:
    """Parse the 32 bytes at :data:`HEADER_SPAN`; :class:`ValueError` if they are
    not a Micro-Manager header."""
    if len(data) < 8:
        raise ValueError("the Micro-Manager header is cut by the end of the file")
    words = struct.unpack(f"{byteorder}{len(data) // 4}I", data[: len(data) // 4 * 4])
    words += (0,) * (8 - len(words))
    if words[0] == NDTIFF_MAGIC:
        if words[2] == SUMMARY_HEADER:
            return MicroManagerHeader(words[1], None, (24, words[3]), None)
        if words[3] != SUMMARY_HEADER:
            return MicroManagerHeader(words[1], words[2], None, None)
        return MicroManagerHeader(words[1], words[2], (28, words[4]), None)
    if words[0] != INDEX_MAP_HEADER and words[6] != SUMMARY_HEADER:
        raise ValueError("no Micro-Manager index map or summary header at offset 8")
    major = words[5] if words[4] == NDTIFF_MAGIC else 0
    return MicroManagerHeader(
        major,
        None,
        (40, words[7]) if words[6] == SUMMARY_HEADER else None,
        words[1] if words[0] == INDEX_MAP_HEADER else None,
    )


def parse_summary(data: bytes, /) -> dict[str, Any]:
    """The summary metadata (a JSON object); :class:`ValueError` if it is not one.

    >>> parse_summary(b'{"Frames": 3}')
    {'Frames': 3}
    """
    value = json.loads(data.rstrip(b"\x00").decode("utf-8"))
    if not isinstance(value, dict):
        raise ValueError("the summary metadata are not a JSON object")
    return value


def parse_index_map_count(data: bytes, byteorder: str, /) -> int:
    """The number of records of the index map whose first 8 bytes are ``data``."""
    if len(data) < 8:
        raise ValueError("the index map is cut by the end of the file")
    block, count = struct.unpack(byteorder + "II", data[:8])
    if block != INDEX_MAP_BLOCK:
        raise ValueError(f"no index map block ({block} instead of {INDEX_MAP_BLOCK})")
    return int(count)


def parse_index_map(data: bytes, byteorder: str, count: int, /) -> np.ndarray:
    """``count`` index-map records ``(channel, slice, frame, position, IFD offset)``
    as an int64 array, in file order (fewer when ``data`` is short)."""
    count = min(count, len(data) // INDEX_RECORD)
    records = np.frombuffer(data, byteorder + "u4", count * 5).reshape(-1, 5)
    return records.astype("i8")


def mmstack_axes(summary: Mapping[str, Any], /) -> str:
    """The index-map axes of an MMStack series, slowest first: time and position,
    then slice and channel, each pair in the order the summary says (``TRZC``).

    >>> mmstack_axes({}), mmstack_axes({"TimeFirst": False, "SlicesFirst": False})
    ('TRZC', 'RTCZ')
    """
    axes = "TR" if summary.get("TimeFirst", True) else "RT"
    return axes + ("ZC" if summary.get("SlicesFirst", True) else "CZ")


def mmstack_shape(
    summary: Mapping[str, Any], indexmap: np.ndarray, axes: str, /
) -> tuple[int, ...]:
    """The length of each index-map axis: what the summary says, or more when the
    index map holds more; :class:`ValueError` if the summary's values are not
    numbers or the series would be too large.

    >>> records = np.array([[0, 0, 0, 1, 8], [0, 0, 4, 0, 9]])
    >>> mmstack_shape({"Frames": 2, "Positions": 2}, records, "TRZC")
    (5, 2, 1, 1)
    """
    seen = indexmap[:, :4].max(axis=0) + 1 if len(indexmap) else np.ones(4, "i8")
    shape = []
    for axis in axes:
        said = summary.get(MMSTACK_KEYS[axis], 1)
        if isinstance(said, bool) or not isinstance(said, int | float | str):
            raise ValueError(f"summary {MMSTACK_KEYS[axis]} is {said!r}, not a number")
        try:
            number = int(said)
        except (ValueError, OverflowError) as exc:
            raise ValueError(f"summary {MMSTACK_KEYS[axis]} is {said!r}, not a number") from exc
        shape.append(max(int(seen[INDEX_COLUMNS[axis]]), number))
    if math.prod(shape) > MAX_PLANES or min(shape) < 0:
        raise ValueError(f"an MMStack series of {shape} images is too large")
    return tuple(shape)


def member_names(
    filename: str, summary: Mapping[str, Any], description: str | None, /
) -> Iterator[list[str]]:
    """Names the other files of an MMStack data set may have, in chains: each
    chain is a file and the continuation files that follow it (``_1``, ``_2``...);
    a chain stops at its first missing file.

    Micro-Manager names them ``<prefix>_MMStack[_<position>][_<n>].ome.tif`` (or
    ``.tif``); the OME-XML of the first file (when there is one) lists them all
    (each of its names is a chain of its own).

    >>> chains = member_names("a_MMStack_Pos0.ome.tif", {"Positions": 2}, None)
    >>> [chain[:2] for chain in chains]  # doctest: +NORMALIZE_WHITESPACE
    [['a_MMStack_Pos0.ome.tif', 'a_MMStack_Pos0_1.ome.tif'],
     ['a_MMStack_Pos1.ome.tif', 'a_MMStack_Pos1_1.ome.tif'],
     ['a_MMStack.ome.tif', 'a_MMStack_1.ome.tif']]
    """
    prefix = filename.split("_MMStack", maxsplit=1)[0]
    ext = ".ome.tif" if filename.lower().endswith(".ome.tif") else ".tif"
    if description and description.lstrip().startswith("<"):
        found = re.findall(r'FileName="([^"<>]{1,255})"', description[: 64 * 2**20])
        for name in list(dict.fromkeys(found))[:MAX_MEMBERS]:
            yield [name]
    for label in _position_labels(summary):
        base = f"{prefix}_MMStack_{label}"
        yield [base + ext, *(f"{base}_{k}{ext}" for k in range(1, MAX_CONTINUATIONS))]
    base = f"{prefix}_MMStack"
    yield [base + ext, *(f"{base}_{k}{ext}" for k in range(1, MAX_CONTINUATIONS))]


MAX_MEMBERS = 4096
"""Most files of an MMStack data set looked for."""
MAX_CONTINUATIONS = 64
"""Most continuation files looked for per position."""


def _position_labels(summary: Mapping[str, Any]) -> list[str]:
    """Position names from the summary (Micro-Manager 2 and 1.4), else ``Pos<i>``."""
    for key, label in (("StagePositions", "label"), ("InitialPositionList", "Label")):
        positions = summary.get(key)
        if isinstance(positions, list) and positions:
            labels = [p.get(label) for p in positions[:MAX_MEMBERS] if isinstance(p, dict)]
            names = [str(name) for name in labels if isinstance(name, str | int)]
            if names:
                return [n for n in names if "/" not in n and "\\" not in n]
    count = summary.get("Positions", 1)
    count = count if isinstance(count, int) and not isinstance(count, bool) else 1
    return [f"Pos{i}" for i in range(min(count, MAX_MEMBERS))] if count > 1 else []


def _positive(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = abs(float(value))
    return value if math.isfinite(value) and value > 0 else None


def plane_pixel_size(plane: str | None, /) -> float | None:
    """``PixelSize_um`` from the per-image metadata (a JSON object), if it has one."""
    if not plane:
        return None
    try:
        value = json.loads(plane)
    except ValueError:
        return None
    return _positive(value.get("PixelSize_um")) if isinstance(value, dict) else None


def summary_scales(
    summary: Mapping[str, Any], /, *, pixel_size: float | None = None
) -> dict[str, tuple[float, str]]:
    """Physical sizes per axis from the summary: ``PixelSize_um`` (or
    ``pixel_size``, from an image's metadata), ``z-step_um`` and the time interval
    (``Interval_ms``, else ``WaitInterval``, in milliseconds).

    >>> summary_scales({"PixelSize_um": 0.5, "z-step_um": 2, "Interval_ms": 1500})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'X': (0.5, 'micrometer'), 'Y': (0.5, 'micrometer'), 'Z': (2.0, 'micrometer'),
     'T': (1.5, 'second')}
    """
    out: dict[str, tuple[float, str]] = {}
    size = _positive(summary.get("PixelSize_um")) or pixel_size
    if size is not None:
        out["X"] = out["Y"] = (size, "micrometer")
    step = _positive(summary.get("z-step_um"))
    if step is not None:
        out["Z"] = (step, "micrometer")
    interval = _positive(summary.get("Interval_ms")) or _positive(summary.get("WaitInterval"))
    if interval is not None:
        out["T"] = (interval / 1000, "second")
    return out


def summary_channels(
    summary: Mapping[str, Any], count: int, /
) -> list[tuple[str | None, str | None, tuple[float, float] | None]]:
    """``(name, colour RRGGBB, window)`` of each of ``count`` channels from the
    summary's ``ChNames``, ``ChColors`` and ``ChContrastMin``/``Max`` (empty when
    the names do not match the count).

    >>> summary_channels({"ChNames": ["DAPI", "GFP"], "ChColors": [-16776961, -16711936]}, 2)
    [('DAPI', '0000FF', None), ('GFP', '00FF00', None)]
    """
    names = summary.get("ChNames")
    if not isinstance(names, list) or len(names) != count:
        return []

    def item(key: str, i: int) -> Any:
        values = summary.get(key)
        return values[i] if isinstance(values, list) and len(values) == count else None

    out: list[tuple[str | None, str | None, tuple[float, float] | None]] = []
    for i, name in enumerate(names):
        color = item("ChColors", i)
        low, high = item("ChContrastMin", i), item("ChContrastMax", i)
        window = None
        if _number(low) and _number(high):
            window = (float(low), float(high))
        out.append(
            (
                str(name)[:256],
                f"{color & 0xFFFFFF:06X}" if isinstance(color, int) else None,
                window,
            )
        )
    return out


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class NdtiffEntry:
    """One image listed in ``NDTiff.index``."""

    coords: dict[str, Any]
    filename: str
    offset: int
    width: int
    height: int
    pixel_type: int
    compression: int


def parse_ndtiff_index(data: bytes, /, *, limit: int = MAX_PLANES) -> tuple[list[NdtiffEntry], str]:
    """The images listed in an ``NDTiff.index`` file, and what is wrong with the
    file (``""`` when nothing): parsing stops at the first bad record.

    >>> import json, struct
    >>> coords, name = json.dumps({"time": 0}).encode(), b"a_NDTiffStack.tif"
    >>> record = struct.pack("<I", len(coords)) + coords + struct.pack("<I", len(name)) + name
    >>> record += struct.pack("<IiiiiIii", 8, 4, 2, 1, 0, 0, 0, 0)
    >>> entries, problem = parse_ndtiff_index(record)
    >>> entries[0].coords, entries[0].filename, entries[0].offset, problem
    ({'time': 0}, 'a_NDTiffStack.tif', 8, '')
    """
    entries: list[NdtiffEntry] = []
    pos = 0
    while pos < len(data):
        if len(entries) >= limit:
            return entries, f"more than {limit} images"
        try:
            coords, pos = _counted(data, pos)
            name, pos = _counted(data, pos)
            fields = NDTIFF_FIELDS.unpack_from(data, pos)
            pos += NDTIFF_FIELDS.size
            axes = json.loads(coords.decode("utf-8"))
        except (struct.error, ValueError) as exc:
            return entries, f"record {len(entries)} at byte {pos}: {exc}"
        if not isinstance(axes, dict):
            return entries, f"record {len(entries)}: the axes are not a JSON object"
        offset, width, height, pixel_type, compression = fields[:5]
        filename = name.decode("utf-8", errors="replace")
        entries.append(NdtiffEntry(axes, filename, offset, width, height, pixel_type, compression))
    return entries, ""


def _counted(data: bytes, pos: int) -> tuple[bytes, int]:
    """A length-prefixed byte string at ``pos``, and the position after it."""
    (n,) = struct.unpack_from("<I", data, pos)
    if n > MAX_NAME_BYTES or pos + 4 + n > len(data):
        raise ValueError(f"a field of {n} bytes does not fit")
    return data[pos + 4 : pos + 4 + n], pos + 4 + n


@dataclass(frozen=True, slots=True)
class NdtiffGrid:
    """Where the images of an NDTiff data set go: the axis names (slowest first,
    in the order they vary in the index), their lengths, the index entry of each
    image position (C order, ``-1`` where none), and the names along the axes
    whose coordinates are strings (channels)."""

    dims: tuple[str, ...]
    shape: tuple[int, ...]
    entries: tuple[int, ...]
    names: dict[str, list[str]]


def ndtiff_grid(coords: Sequence[Mapping[str, Any]], /) -> NdtiffGrid:
    """Lay out the images of an NDTiff index by their axis coordinates, as
    tifffile does: string coordinates are numbered in order of appearance, the
    shape spans the coordinates' range, and the axes are ordered by how much they
    vary from image to image. :class:`ValueError` when the coordinates do not fit.

    >>> grid = ndtiff_grid([{"channel": "A", "z": 0}, {"channel": "A", "z": 1},
    ...                     {"channel": "B", "z": 0}, {"channel": "B", "z": 1}])
    >>> grid.dims, grid.shape, grid.entries, grid.names
    (('channel', 'z'), (2, 2), (0, 1, 2, 3), {'channel': ['A', 'B']})
    """
    if not coords:
        raise ValueError("the index lists no images")
    dims = tuple(coords[0])
    categories: dict[str, dict[str, int]] = {
        k: {v: 0} for k, v in coords[0].items() if isinstance(v, str)
    }
    where: dict[tuple[int, ...], int] = {}
    for i, axes in enumerate(coords):
        try:
            key = tuple(_coordinate(axes[d], categories.get(d)) for d in dims)
        except KeyError as exc:
            raise ValueError(f"image {i} has no coordinate {exc}") from exc
        where[key] = i
    table = np.array(list(where), dtype="i8").reshape(len(where), len(dims))
    low, high = table.min(axis=0), table.max(axis=0)
    span = (high - low + 1).tolist()
    if math.prod(span) > MAX_PLANES:
        raise ValueError(f"an NDTiff series of {span} images is too large")
    variation = np.abs(np.diff(table, axis=0)).sum(axis=0)
    order = [int(i) for i in np.argsort(variation, kind="stable")]
    shape = tuple(int(span[i]) for i in order)
    entries = np.full(math.prod(shape), -1, "i8")
    if shape:
        flat = np.ravel_multi_index(tuple((table - low)[:, order].T), shape)
        entries[flat] = list(where.values())
    else:
        entries[0] = next(iter(where.values()))
    names = {d: sorted(c, key=c.__getitem__) for d, c in categories.items()}
    return NdtiffGrid(tuple(dims[i] for i in order), shape, tuple(entries.tolist()), names)


def _coordinate(value: Any, category: dict[str, int] | None) -> int:
    """An image's integer position along one axis (strings by their category)."""
    if category is not None:
        if not isinstance(value, str):
            raise ValueError(f"coordinate {value!r} is not a name like the first image's")
        return category.setdefault(value, max(category.values()) + 1)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"coordinate {value!r} is not an integer")
    if abs(value) > 2**31:
        raise ValueError(f"coordinate {value} is out of range")
    return value
