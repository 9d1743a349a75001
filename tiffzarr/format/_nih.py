"""NIH Image's header (tag 43314, NIHImageHeader): fields and spatial calibration.

NIH Image (the Macintosh predecessor of ImageJ) stored its image header in a
private tag: a record of fixed fields in the file's byte order (normally
big-endian). The table below gives the fields as tifffile and ImageJ read them;
ImageJ's decoder also documents the calibration: ``XScale`` pixels per unit
(version > 1.06), the unit from ``UnitsID`` (numbered from 5 for versions after
1.53) and the pixel aspect ratio (version > 1.40).

>>> import struct
>>> data = bytearray(HEADER_SIZE)
>>> struct.pack_into(">h", data, 12, 160); struct.pack_into(">d", data, 160, 2.0)
>>> struct.pack_into(">h", data, 172, 6)
>>> header = parse_nih_header(bytes(data), ">")
>>> header["Version"], header["XScale"], nih_scales(header)
(160, 2.0, {'X': (0.5, 'micrometer'), 'Y': (0.5, 'micrometer')})
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tiffzarr.format._axes import udunits

__all__ = ["HEADER_FIELDS", "HEADER_SIZE", "nih_scales", "parse_nih_header"]

HEADER_FIELDS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("FileID", "S8", ()),
    ("nLines", "i2", ()),
    ("PixelsPerLine", "i2", ()),
    ("Version", "i2", ()),
    ("OldLutMode", "i2", ()),
    ("OldnColors", "i2", ()),
    ("Colors", "u1", (3, 32)),
    ("OldColorStart", "i2", ()),
    ("ColorWidth", "i2", ()),
    ("ExtraColors", "u2", (6, 3)),
    ("nExtraColors", "i2", ()),
    ("ForegroundIndex", "i2", ()),
    ("BackgroundIndex", "i2", ()),
    ("XScale", "f8", ()),
    ("Unused2", "i2", ()),
    ("Unused3", "i2", ()),
    ("UnitsID", "i2", ()),
    ("p1", "i2", (2,)),
    ("p2", "i2", (2,)),
    ("CurveFitType", "i2", ()),
    ("nCoefficients", "i2", ()),
    ("Coeff", "f8", (6,)),
    ("UMsize", "u1", ()),
    ("UM", "S15", ()),
    ("UnusedBoolean", "u1", ()),
    ("BinaryPic", "?", ()),
    ("SliceStart", "i2", ()),
    ("SliceEnd", "i2", ()),
    ("ScaleMagnification", "f4", ()),
    ("nSlices", "i2", ()),
    ("SliceSpacing", "f4", ()),
    ("CurrentSlice", "i2", ()),
    ("FrameInterval", "f4", ()),
    ("PixelAspectRatio", "f4", ()),
    ("ColorStart", "i2", ()),
    ("ColorEnd", "i2", ()),
    ("nColors", "i2", ()),
    ("Fill1", "u2", (3,)),
    ("Fill2", "u2", (3,)),
    ("Table", "u1", ()),
    ("LutMode", "u1", ()),
    ("InvertedTable", "?", ()),
    ("ZeroClip", "?", ()),
    ("XUnitSize", "u1", ()),
    ("XUnit", "S11", ()),
    ("StackType", "i2", ()),
)
"""The header's fields in order: name, numpy type (without byte order), shape.
``p1``/``p2`` are points ``(x, y)``."""
HEADER_SIZE = 312
"""Bytes of the record (tifffile reads this many at the tag's value offset)."""

_UNITS = {
    5: "nanometer",
    6: "micrometer",
    7: "millimeter",
    8: "centimeter",
    9: "meter",
    10: "kilometer",
    11: "inch",
    12: "foot",
    13: "mile",
}
"""UnitsID (numbered as in versions after 1.53) → NGFF unit."""


def _dtype(byteorder: str) -> np.dtype:
    """The header record in ``byteorder``."""
    return np.dtype(
        [
            (name, kind if kind[0] in "S?" or kind[-1] == "1" else byteorder + kind, shape)
            for name, kind, shape in HEADER_FIELDS
        ]
    )


def parse_nih_header(data: bytes, byteorder: str, /) -> dict[str, Any]:
    """The fields of an NIH Image header (those that ``data`` holds in full), as
    plain values: numbers, strings (``XUnit`` and ``UM`` cut to their stored
    lengths) and lists."""
    dtype = _dtype(byteorder)
    padded = data[:HEADER_SIZE].ljust(dtype.itemsize, b"\x00")
    record = np.frombuffer(padded, dtype, 1)[0]
    out: dict[str, Any] = {}
    for name in dtype.names or ():
        offset = dtype.fields[name][1] if dtype.fields else 0
        if offset + dtype[name].itemsize > len(data):
            break
        value = record[name]
        if isinstance(value, bytes):
            out[name] = value.split(b"\x00", 1)[0].decode("latin-1")
        else:
            item = np.asarray(value).tolist()
            out[name] = item if not isinstance(item, float) or math.isfinite(item) else str(item)
    if "XUnit" in out and "XUnitSize" in out:
        out["XUnit"] = out["XUnit"][: out["XUnitSize"]]
    if "UM" in out and "UMsize" in out:
        out["UM"] = out["UM"][: out["UMsize"]]
    return out


def nih_scales(header: dict[str, Any], /) -> dict[str, tuple[float, str | None]]:
    """Pixel width and height with their unit, as ImageJ calibrates NIH Image files
    (nothing when the header gives no scale)."""
    version, scale = header.get("Version"), header.get("XScale")
    if not isinstance(version, int) or not isinstance(scale, float):
        return {}
    if version <= 106 or not math.isfinite(scale) or scale <= 0:
        return {}
    units = header.get("UnitsID")
    if isinstance(units, int) and version <= 153:
        units += 5
    unit = _UNITS.get(units) if isinstance(units, int) else None
    if unit is None and units == 15:  # OtherUnits: the header names them
        unit = udunits(header.get("XUnit"))
    width = 1.0 / scale
    height = width
    aspect = header.get("PixelAspectRatio")
    if version > 140 and isinstance(aspect, float) and math.isfinite(aspect) and aspect > 0:
        height = width / aspect
    return {"X": (width, unit), "Y": (height, unit)}
