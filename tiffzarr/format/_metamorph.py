"""MetaMorph STK: the UIC tags of Universal Imaging Corporation, as data.

An STK file is one TIFF page whose pixels are followed by the other planes of
the stack; four private tags describe them (little-endian only):

- ``UIC1tag`` (33628, LONG, count *n*): *n* pairs ``(tag id, value)``; for most
  ids the value is the file offset of the data (a fraction, a date, a string).
- ``UIC2tag`` (33629, RATIONAL, count = number of planes): six LONGs per plane,
  the Z distance as a fraction, then creation and modification date (Julian
  day) and time (milliseconds since midnight).
- ``UIC3tag`` (33630, RATIONAL, count = planes): the wavelength of each plane.
- ``UIC4tag`` (33631, LONG, count = planes): ``(u2 tag id, value)`` records with
  their data inline, ended by id 0.

The ids name the same fields in UIC1 and UIC4 (:data:`UIC_TAGS`, index = id).
Decoders here take the bytes of a tag (or of the data an offset points to) and
return plain dicts; they never read past those bytes.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tiffzarr.errors import TiffFormatError
from tiffzarr.format._records import Cursor, RecordTruncated, decode_text

__all__ = [
    "MAX_UIC_STRING",
    "PLANE_PROPERTY",
    "UIC1TAG",
    "UIC2TAG",
    "UIC3TAG",
    "UIC4TAG",
    "UIC_TAGS",
    "UicKind",
    "UicReference",
    "decode_reference",
    "decode_uic2",
    "decode_uic3",
    "decode_uic4",
    "julian_datetime",
    "plan_uic1",
    "stack_axis",
    "uic1_pairs",
    "uic_size",
]

UIC1TAG, UIC2TAG, UIC3TAG, UIC4TAG = 33628, 33629, 33630, 33631

UicKind = Literal[
    "int",  # a LONG, inline
    "skip",  # a LONG of no documented meaning, inline
    "fraction",  # two LONGs: numerator, denominator
    "datetime",  # two LONGs: Julian day, milliseconds since midnight
    "string",  # LONG length, then that many bytes (the last one dropped)
    "strings",  # one "string" per plane
    "property",  # BYTE name length, name, LONG flags, BYTE type, fraction or short string
    "long",  # one LONG, behind an offset in UIC1
    "long2",  # two LONGs
    "xy-fractions",  # per plane: x and y fractions
    "fractions",  # per plane: one fraction
    "longs",  # per plane: one LONG
    "lut",  # 256 RGB triples of bytes
]

UIC_TAGS: tuple[tuple[str, UicKind], ...] = (
    ("AutoScale", "int"),
    ("MinScale", "int"),
    ("MaxScale", "int"),
    ("SpatialCalibration", "int"),
    ("XCalibration", "fraction"),
    ("YCalibration", "fraction"),
    ("CalibrationUnits", "string"),
    ("Name", "string"),
    ("ThreshState", "int"),
    ("ThreshStateRed", "int"),
    ("tagid_10", "skip"),
    ("ThreshStateGreen", "int"),
    ("ThreshStateBlue", "int"),
    ("ThreshStateLo", "int"),
    ("ThreshStateHi", "int"),
    ("Zoom", "int"),
    ("CreateTime", "datetime"),
    ("LastSavedTime", "datetime"),
    ("currentBuffer", "int"),
    ("grayFit", "skip"),
    ("grayPointCount", "skip"),
    ("grayX", "fraction"),
    ("grayY", "fraction"),
    ("grayMin", "fraction"),
    ("grayMax", "fraction"),
    ("grayUnitName", "string"),
    ("StandardLUT", "int"),
    ("wavelength", "int"),
    ("StagePosition", "xy-fractions"),
    ("CameraChipOffset", "xy-fractions"),
    ("OverlayMask", "skip"),
    ("OverlayCompress", "skip"),
    ("Overlay", "skip"),
    ("SpecialOverlayMask", "skip"),
    ("SpecialOverlayCompress", "skip"),
    ("SpecialOverlay", "skip"),
    ("ImageProperty", "property"),
    ("StageLabel", "strings"),
    ("AutoScaleLoInfo", "fraction"),
    ("AutoScaleHiInfo", "fraction"),
    ("AbsoluteZ", "fractions"),
    ("AbsoluteZValid", "longs"),
    ("Gamma", "long"),
    ("GammaRed", "long"),
    ("GammaGreen", "long"),
    ("GammaBlue", "long"),
    ("CameraBin", "long2"),
    ("NewLUT", "int"),
    ("ImagePropertyEx", "skip"),
    ("PlaneProperty", "int"),
    ("UserLutTable", "lut"),
    ("RedAutoScaleInfo", "int"),
    ("RedAutoScaleLoInfo", "fraction"),
    ("RedAutoScaleHiInfo", "fraction"),
    ("RedMinScaleInfo", "int"),
    ("RedMaxScaleInfo", "int"),
    ("GreenAutoScaleInfo", "int"),
    ("GreenAutoScaleLoInfo", "fraction"),
    ("GreenAutoScaleHiInfo", "fraction"),
    ("GreenMinScaleInfo", "int"),
    ("GreenMaxScaleInfo", "int"),
    ("BlueAutoScaleInfo", "int"),
    ("BlueAutoScaleLoInfo", "fraction"),
    ("BlueAutoScaleHiInfo", "fraction"),
    ("BlueMinScaleInfo", "int"),
    ("BlueMaxScaleInfo", "int"),
)
"""UIC tag id → (name, kind)."""

PLANE_PROPERTY = 49
"""The UIC1 id whose value points 4 bytes before one property record of a plane."""
PER_PLANE_IDS = frozenset({28, 29, 37, 40, 41})
"""Per-plane ids that UIC1 cannot hold for more than one plane (they are skipped there)."""
MAX_UIC_STRING = 1024
"""Strings are at most this long (longer lengths are invalid)."""
MAX_PLANE_PROPERTIES = 256
"""Plane property records kept from UIC1 (files repeat them for every plane)."""
_INLINE_KINDS = frozenset({"int", "skip"})
_JULIAN_ORDINAL = 1721424
"""Julian day number of 0001-01-01 (proleptic Gregorian ordinal 1) minus one."""


def uic_tag(tagid: int, /) -> tuple[str, UicKind]:
    """The name and kind of UIC id ``tagid`` (unknown ids are plain LONGs)."""
    if 0 <= tagid < len(UIC_TAGS):
        return UIC_TAGS[tagid]
    return f"_TagId{tagid}", "int"


def julian_datetime(day: int, milliseconds: int = 0, /) -> datetime.datetime | None:
    """A MetaMorph date (Julian day number, milliseconds since midnight), or ``None``
    when it is out of range.

    >>> julian_datetime(2451576, 54362783)
    datetime.datetime(2000, 2, 2, 15, 6, 2, 783000)
    >>> julian_datetime(0) is None
    True
    """
    ordinal = int(day) - _JULIAN_ORDINAL
    if not 1 <= ordinal <= datetime.date.max.toordinal() or not 0 <= milliseconds < 86_400_000:
        return None
    date = datetime.datetime.fromordinal(ordinal)
    return date + datetime.timedelta(milliseconds=int(milliseconds))


def uic_size(kind: UicKind, planes: int, /) -> int:
    """The most bytes a value of ``kind`` takes (what to read at its offset)."""
    fixed = {"int": 4, "skip": 4, "long": 4, "fraction": 8, "datetime": 8, "long2": 8, "lut": 768}
    if kind in fixed:
        return fixed[kind]
    per_plane = {"xy-fractions": 16, "fractions": 8, "longs": 4, "strings": 4 + MAX_UIC_STRING}
    if kind in per_plane:
        return per_plane[kind] * planes
    if kind == "string":
        return 4 + MAX_UIC_STRING
    return 1 + 255 + 5 + 1 + 255  # property


def _fraction(num: int, den: int) -> float | None:
    return num / den if den else None


def _fractions(values: np.ndarray) -> np.ndarray:
    num, den = values[..., 0].astype("f8"), values[..., 1].astype("f8")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, num / np.where(den != 0, den, 1), np.nan)


def _string(cursor: Cursor, notes: list[str], name: str, *, lenient: bool) -> str:
    size = cursor.u4()
    if size >= MAX_UIC_STRING:
        if not lenient:
            raise TiffFormatError(f"UIC {name}: a string of {size} bytes")
        notes.append(f"UIC {name}: a string of {size} bytes is invalid")
        return ""
    return decode_text(cursor.take(size)[:-1])


def _property(cursor: Cursor) -> dict[str, Any]:
    name = decode_text(cursor.take(cursor.u1()))
    flags, kind = cursor.unpack("IB")
    if kind == 1:
        value: Any = _fraction(*cursor.unpack("II"))
    else:
        value = decode_text(cursor.take(cursor.u1()))
    return {"name": name, "flags": int(flags), "value": value}


def read_value(
    cursor: Cursor, kind: UicKind, planes: int, notes: list[str], name: str, *, lenient: bool
) -> Any:
    """One value of ``kind`` at the cursor (``lenient``: bad strings become ``None``)."""
    if kind in ("int", "skip", "long"):
        return cursor.u4()
    if kind == "fraction":
        return _fraction(*cursor.unpack("II"))
    if kind == "datetime":
        moment = julian_datetime(*cursor.unpack("II"))
        if moment is None:
            notes.append(f"UIC {name}: the date is out of range")
        return moment
    if kind == "long2":
        return tuple(int(v) for v in cursor.unpack("II"))
    if kind == "lut":
        return cursor.array("u1", 768).reshape(256, 3)
    if kind == "property":
        return _property(cursor)
    if kind == "string":
        return _string(cursor, notes, name, lenient=lenient)
    if planes <= 0:
        return None
    if kind == "strings":
        return [_string(cursor, notes, name, lenient=lenient) for _ in range(planes)]
    if kind == "longs":
        return cursor.array("u4", planes)
    pairs = 2 if kind == "xy-fractions" else 1
    raw = cursor.array("u4", planes * pairs * 2).reshape(planes, pairs, 2)
    values = _fractions(raw)
    return values if pairs == 2 else values[:, 0]


@dataclass(frozen=True, slots=True)
class UicReference:
    """A UIC1 value stored elsewhere in the file: ``size`` bytes (at most) at ``offset``."""

    name: str
    kind: UicKind
    offset: int
    size: int

    @property
    def appends(self) -> bool:
        """Plane properties accumulate in a list; other values replace."""
        return self.kind == "property" and self.name == "PlaneProperty"


def uic1_pairs(blob: bytes, count: int, /) -> list[tuple[int, int]]:
    """The ``(id, value)`` pairs of a UIC1tag of ``count`` entries (``blob``: its bytes).

    >>> uic1_pairs(bytes([1, 0, 0, 0, 9, 0, 0, 0]), 1)
    [(1, 9)]
    """
    if len(blob) < 8 * count:
        raise RecordTruncated(f"UIC1tag of {count} entries needs {8 * count} bytes")
    values = np.frombuffer(blob, "<u4", 2 * count).reshape(count, 2)
    return [(int(a), int(b)) for a, b in values]


def plan_uic1(
    pairs: list[tuple[int, int]], planes: int, notes: list[str], /
) -> tuple[dict[str, Any], list[UicReference]]:
    """The UIC1 values stored inline, and those to read at their offsets.

    Offsets below 8 are kept as numbers (strings as ``""``), as MetaMorph writes
    them for fields it leaves empty.

    >>> values, refs = plan_uic1([(0, 1), (7, 100), (6, 0)], 1, [])
    >>> values, refs
    ({'AutoScale': 1, 'CalibrationUnits': ''}, [UicReference(name='Name', kind='string', \
offset=100, size=1028)])
    """
    values: dict[str, Any] = {}
    refs: dict[str, UicReference] = {}
    properties: list[UicReference] = []
    for tagid, raw in pairs:
        if planes > 1 and tagid in PER_PLANE_IDS:
            continue
        name, kind = uic_tag(tagid)
        if tagid == PLANE_PROPERTY:
            if len(properties) < MAX_PLANE_PROPERTIES:
                properties.append(UicReference(name, "property", raw + 4, uic_size("property", 1)))
            continue
        if kind in _INLINE_KINDS:
            values["_" + name if kind == "skip" else name] = raw
            refs.pop(name, None)
            continue
        if raw < 8:
            values[name] = "" if kind == "string" else raw
            refs.pop(name, None)
            if kind != "string" and tagid != 41:
                notes.append(f"UIC1 {name}: invalid offset {raw}")
            continue
        values.pop(name, None)
        refs[name] = UicReference(name, kind, raw, uic_size(kind, planes))
    return values, [*refs.values(), *properties]


def decode_reference(ref: UicReference, data: bytes, planes: int, notes: list[str], /) -> Any:
    """The value ``ref`` points to, from the bytes at its offset (``None`` if they are
    too few)."""
    try:
        return read_value(Cursor(data), ref.kind, planes, notes, ref.name, lenient=True)
    except RecordTruncated:
        notes.append(f"UIC1 {ref.name}: the value at offset {ref.offset} is cut short")
        return None


def decode_uic2(blob: bytes, planes: int, /) -> dict[str, np.ndarray]:
    """Per-plane Z distance, creation and modification dates and times.

    >>> decode_uic2(bytes([1, 0, 0, 0, 2, 0, 0, 0]) + bytes(16), 1)["ZDistance"]
    array([0.5])
    """
    values = Cursor(blob).array("u4", 6 * planes).reshape(planes, 6)
    return {
        "ZDistance": _fractions(values[:, 0:2]),
        "DateCreated": values[:, 2],
        "TimeCreated": values[:, 3],
        "DateModified": values[:, 4],
        "TimeModified": values[:, 5],
    }


def decode_uic3(blob: bytes, planes: int, /) -> dict[str, np.ndarray]:
    """Per-plane wavelengths."""
    values = Cursor(blob).array("u4", 2 * planes).reshape(planes, 2)
    return {"Wavelengths": _fractions(values)}


def decode_uic4(blob: bytes, planes: int, notes: list[str], /) -> tuple[dict[str, Any], int | None]:
    """The records of a UIC4tag, and ``None`` when ``blob`` held them all (up to id 0),
    else the number of bytes the next record needs (at least).

    >>> decode_uic4(bytes([1, 0, 5, 0, 0, 0, 0, 0]), 1, [])
    ({'MinScale': 5}, None)
    >>> decode_uic4(bytes([28, 0, 1, 0]), 2, [])
    ({}, 34)
    """
    out: dict[str, Any] = {}
    cursor = Cursor(blob)
    try:
        while True:
            tagid = cursor.u2()
            if tagid == 0:
                return out, None
            name, kind = uic_tag(tagid)
            value = read_value(cursor, kind, planes, notes, name, lenient=False)
            out["_" + name if kind == "skip" else name] = value
    except RecordTruncated as exc:
        return out, exc.need if exc.need is not None else len(blob) + 1
    except TiffFormatError as exc:
        notes.append(f"UIC4tag: {exc.message}; the records after it are ignored")
        return out, None


def stack_axis(planes: int, zdistance: np.ndarray | None, times: np.ndarray | None, /) -> str:
    """The axis the planes of an STK make: ``Z`` when every Z distance is set, ``T``
    when every plane was made at another time, else ``I``.

    >>> stack_axis(3, np.array([1.0, 1, 1]), None), stack_axis(2, np.zeros(2), np.array([5, 9]))
    ('Z', 'T')
    """
    if planes > 1 and zdistance is not None and len(zdistance) and np.all(zdistance != 0):
        return "Z"
    if planes > 1 and times is not None and np.all(np.diff(times.astype("i8")) != 0):
        return "T"
    return "I"
