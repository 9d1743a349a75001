"""Olympus FluoView: the MM_HEADER and MM_STAMP tags, as data.

FluoView writes every image of an acquisition as one page and describes the
whole stack in the first page's MM_HEADER (34361): a packed structure
(:data:`MM_HEADER`) with the image name and ten dimensions, each a name, a
length, an origin, a resolution (the size of one step) and a unit. The first
dimension is the fastest (X), so the stack's shape is the dimensions reversed;
dimension names map to axis letters through :data:`MM_DIMENSIONS`. MM_STAMP
(34362) holds eight doubles per page.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from tiffzarr.format._records import decode_text, truncated

__all__ = [
    "MM_DIMENSION",
    "MM_DIMENSIONS",
    "MM_HEADER",
    "MM_HEADER_SIZE",
    "MM_HEADER_TAG",
    "MM_STAMP_TAG",
    "decode_mm_header",
    "decode_mm_stamp",
    "fluoview_dimensions",
]

MM_HEADER_TAG, MM_STAMP_TAG = 34361, 34362

MM_DIMENSION: tuple[tuple[str, str], ...] = (
    ("Name", "S16"),
    ("Size", "i4"),
    ("Origin", "f8"),
    ("Resolution", "f8"),
    ("Unit", "S64"),
)
"""One dimension of the stack."""

MM_HEADER: tuple[tuple[str, Any], ...] = (
    ("HeaderFlag", "i2"),
    ("ImageType", "u1"),
    ("ImageName", "S257"),
    ("OffsetData", "u4"),
    ("PaletteSize", "i4"),
    ("OffsetPalette0", "u4"),
    ("OffsetPalette1", "u4"),
    ("CommentSize", "i4"),
    ("OffsetComment", "u4"),
    ("Dimensions", (MM_DIMENSION, 10)),
    ("OffsetPosition", "u4"),
    ("MapType", "i2"),
    ("MapMin", "f8"),
    ("MapMax", "f8"),
    ("MinValue", "f8"),
    ("MaxValue", "f8"),
    ("OffsetMap", "u4"),
    ("Gamma", "f8"),
    ("Offset", "f8"),
    ("GrayChannel", (MM_DIMENSION, 1)),
    ("OffsetThumbnail", "u4"),
    ("VoiceField", "i4"),
    ("OffsetVoiceField", "u4"),
)
"""The fields of MM_HEADER in order (packed, in the file's byte order)."""

MM_DIMENSIONS: dict[str, str] = {
    "X": "X",
    "Y": "Y",
    "Z": "Z",
    "T": "T",
    "CH": "C",
    "WAVELENGTH": "C",
    "TIME": "T",
    "XY": "R",
    "EVENT": "V",
    "EXPOSURE": "L",
}
"""Dimension name (upper case) → axis letter; other names are ``Q``."""


def _dtype(fields: tuple[tuple[str, Any], ...], byteorder: str) -> np.dtype:
    out: list[Any] = []
    for name, kind in fields:
        if isinstance(kind, tuple):
            sub, count = kind
            out.append((name, _dtype(sub, byteorder), (count,)))
        else:
            out.append((name, kind if kind[0] == "S" else byteorder + kind))
    return np.dtype(out)


MM_HEADER_SIZE = _dtype(MM_HEADER, "<").itemsize


def _dimension(record: np.void) -> dict[str, Any]:
    return {
        "Name": decode_text(bytes(record["Name"])).strip(),
        "Size": int(record["Size"]),
        "Origin": float(record["Origin"]),
        "Resolution": float(record["Resolution"]),
        "Unit": decode_text(bytes(record["Unit"])).strip(),
    }


def decode_mm_header(blob: bytes, byteorder: Literal["<", ">"], /) -> dict[str, Any]:
    """The MM_HEADER fields of ``blob``; dimensions as dicts (their texts stripped),
    texts as ``str`` (up to the first NUL).

    >>> blob = bytearray(MM_HEADER_SIZE)
    >>> blob[3:7] = b"cell"
    >>> blob[284:285], blob[300:304] = b"X", (512).to_bytes(4, "little")
    >>> header = decode_mm_header(bytes(blob), "<")
    >>> header["ImageName"], header["Dimensions"][0]["Name"], header["Dimensions"][0]["Size"]
    ('cell', 'X', 512)
    """
    if len(blob) < MM_HEADER_SIZE:
        raise truncated(MM_HEADER_SIZE, f"MM_HEADER of {MM_HEADER_SIZE} bytes is cut")
    record = np.frombuffer(blob, _dtype(MM_HEADER, byteorder), 1)[0]
    out: dict[str, Any] = {}
    for name, kind in MM_HEADER:
        value = record[name]
        if name == "Dimensions":
            out[name] = [_dimension(d) for d in value]
        elif name == "GrayChannel":
            out[name] = _dimension(value[0])
        elif kind[0] == "S":
            out[name] = decode_text(bytes(value))
        else:
            out[name] = value.item()
    return out


def decode_mm_stamp(blob: bytes, byteorder: Literal["<", ">"], /) -> list[float]:
    """The eight doubles of an MM_STAMP."""
    if len(blob) < 64:
        raise truncated(64, "MM_STAMP of 64 bytes is cut")
    return [float(v) for v in np.frombuffer(blob, byteorder + "f8", 8)]


def fluoview_dimensions(header: dict[str, Any], /) -> tuple[tuple[int, ...], str]:
    """The shape and axes of the stack: the ten dimensions, slowest first. Unused
    dimensions (length 0) have length 1 (tifffile keeps the 0 in its unsqueezed shape,
    which then holds no data).

    >>> dims = [{"Name": n, "Size": s} for n, s in [("X", 4), ("Y", 3), ("Ch", 2), ("", 0)]]
    >>> fluoview_dimensions({"Dimensions": dims})
    ((1, 2, 3, 4), 'QCYX')
    """
    dimensions = header["Dimensions"][::-1]
    axes = "".join(MM_DIMENSIONS.get(d["Name"].upper(), "Q") for d in dimensions)
    return tuple(int(d["Size"]) or 1 for d in dimensions), axes
