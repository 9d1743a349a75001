"""The tags of written pages: layout, encoding, colour and resolution, user extras.

>>> codec = Codec(compression=50000, predictor=2, bitspersample=16, sampleformat=1)
>>> geometry = Geometry(separate=1, depth=1, length=64, width=64, contig=1, tile=(1, 32, 32))
>>> [t.code for t in image_tags(geometry, codec=codec, photometric=1)]
[256, 257, 258, 259, 262, 277, 317, 322, 323, 282, 283, 296]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tiffzarr.format._enums import Photometric
from tiffzarr.format._serialize import Tag
from tiffzarr.format._types import DATA_TYPES, ByteOrder
from tiffzarr.writer._geometry import Geometry

__all__ = ["MANAGED_TAGS", "Codec", "extra_tags", "image_tags", "sampleformat_code"]

MANAGED_TAGS = frozenset(
    {
        254,
        256,
        257,
        258,
        259,
        262,
        273,
        277,
        278,
        279,
        284,
        317,
        320,
        322,
        323,
        324,
        325,
        330,
        338,
        339,
        347,
        530,
        532,
        32997,
        32998,
        50674,
    }
)
"""Tags the writer derives from the data and options; ``extratags`` may not set them."""

_TYPE_NAMES = {t.name: t.code for t in DATA_TYPES.values()}


@dataclass(frozen=True, slots=True)
class Codec:
    """How segments are encoded, as tag values.

    ``subsampling`` is set for JPEG-compressed RGB stored as YCbCr.
    """

    compression: int
    predictor: int
    bitspersample: int
    sampleformat: int
    level: float | None = None
    subsampling: tuple[int, int] | None = None
    jpegtables: bytes | None = None


def sampleformat_code(dtype: np.dtype, /) -> int:
    """SampleFormat of a numpy dtype (1 unsigned/bool, 2 signed, 3 float, 6 complex float).

    >>> sampleformat_code(np.dtype("int16")), sampleformat_code(np.dtype("complex64"))
    (2, 6)
    """
    code = {"u": 1, "b": 1, "i": 2, "f": 3, "c": 6}.get(dtype.kind)
    if code is None:
        raise ValueError(f"cannot write data of dtype {dtype}")
    return code


def image_tags(
    geometry: Geometry,
    *,
    codec: Codec,
    photometric: int,
    extrasamples: Sequence[int] = (),
    subfiletype: int | None = None,
    resolution: tuple[tuple[int, int], tuple[int, int]] | None = None,
    resolutionunit: int = 1,
    colormap: np.ndarray | None = None,
    iccprofile: bytes | None = None,
) -> list[Tag]:
    """The tags every page of an image carries (offsets and byte counts excepted)."""
    samples = geometry.separate * geometry.contig
    tags = [
        Tag(256, 4, geometry.width),
        Tag(257, 4, geometry.length),
        Tag(258, 3, [codec.bitspersample] * samples),
        Tag(259, 3, codec.compression),
        Tag(262, 3, Photometric.YCBCR if codec.subsampling else photometric),
        Tag(277, 3, samples),
    ]
    if subfiletype:
        tags.append(Tag(254, 4, subfiletype))
    if samples > 1:
        tags.append(Tag(284, 3, 2 if geometry.separate > 1 else 1))
    if codec.predictor != 1:
        tags.append(Tag(317, 3, codec.predictor))
    if codec.sampleformat != 1:
        tags.append(Tag(339, 3, [codec.sampleformat] * samples))
    if extrasamples:
        tags.append(Tag(338, 3, list(extrasamples)))
    tags += _segment_tags(geometry)
    tags += _colour_tags(codec, colormap, iccprofile)
    (xres, yres) = resolution if resolution is not None else ((1, 1), (1, 1))
    tags += [Tag(282, 5, [xres]), Tag(283, 5, [yres]), Tag(296, 3, resolutionunit)]
    return tags


def _segment_tags(geometry: Geometry) -> list[Tag]:
    tags = []
    if geometry.tile is not None:
        depth, length, width = geometry.tile
        tags += [Tag(322, 4, width), Tag(323, 4, length)]
        if geometry.depth > 1 or depth > 1:
            tags += [Tag(32997, 4, geometry.depth), Tag(32998, 4, depth)]
    else:
        tags.append(Tag(278, 4, geometry.rowsperstrip))
        if geometry.depth > 1:
            tags.append(Tag(32997, 4, geometry.depth))
    return tags


def _colour_tags(codec: Codec, colormap: np.ndarray | None, icc: bytes | None) -> list[Tag]:
    tags = []
    if colormap is not None:
        tags.append(Tag(320, 3, np.asarray(colormap, np.uint16).reshape(-1)))
    if icc is not None:
        tags.append(Tag(34675, 7, bytes(icc)))
    if codec.jpegtables is not None:
        tags.append(Tag(347, 7, bytes(codec.jpegtables)))
    if codec.subsampling is not None:
        reference = [(0, 1), (255, 1), (128, 1), (255, 1), (128, 1), (255, 1)]
        tags += [Tag(530, 3, list(codec.subsampling)), Tag(532, 5, reference)]
    if codec.compression == 34887:  # LERC: version 4, no extra compression
        tags.append(Tag(50674, 4, [4, 0]))
    return tags


def extra_tags(
    extratags: Sequence[Sequence[Any]] | None, byteorder: ByteOrder, /
) -> tuple[list[Tag], list[Tag]]:
    """User tags as tifffile gives them: ``(code, type, count, value[, writeonce])``.

    Returns the tags for every page and those for the first page only. ``type``
    is a TIFF type code or name; a ``bytes`` value of a wider type holds
    ``count`` values packed in the file's byte order.

    >>> every, first = extra_tags([(65000, "ASCII", 0, "hello", True), (65001, 3, 2, (1, 2))], "<")
    >>> [t.code for t in every], [t.code for t in first]
    ([65001], [65000])
    """
    every: list[Tag] = []
    first: list[Tag] = []
    seen: set[int] = set()
    for item in extratags or ():
        if len(item) not in (4, 5):
            raise ValueError(f"extratag {item!r} is not (code, type, count, value[, writeonce])")
        code, dtype, count, value = (item[0], item[1], item[2], item[3])
        type_code = _TYPE_NAMES.get(dtype.upper(), 0) if isinstance(dtype, str) else int(dtype)
        if type_code not in DATA_TYPES or DATA_TYPES[type_code].is_offset:
            raise ValueError(f"extratag {code}: invalid type {dtype!r}")
        if code in MANAGED_TAGS or code in seen:
            raise ValueError(f"extratag {code} is set by the writer or given twice")
        seen.add(int(code))
        tag = Tag(int(code), type_code, _extra_value(type_code, count, value))
        (first if len(item) == 5 and item[4] else every).append(tag)
    return every, first


def _extra_value(type_code: int, count: int, value: Any) -> Any:
    if type_code == 2:
        return value.decode("ascii") if isinstance(value, bytes) else str(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    array: np.ndarray = np.asarray(value).reshape(-1)
    if type_code in (5, 10):
        array = array.reshape(-1, 2)
    elif count and array.size == 1 and count > 1:
        array = np.repeat(array, count)
    return array
