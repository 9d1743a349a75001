"""Olympus SIS metadata: the OlympusSIS structure (tag 33560) and the OlympusINI text (tag 33471).

No specification is published; the layouts are those tifffile reads. The
OlympusSIS structure (little-endian) starts with the magic ``SIS0``, the
acquisition time (minute, hour, day, month from 0, year from 1900), a 32-byte
name and the count of 8-byte entries that follow: ``(type, count, offset)``.
Type 1 points to the general data: a power of ten and the X/Y calibration (the
pixel size in metres is ``calibration * 10**power``), the magnification, the
camera name and the picture type. The OlympusINI text is INI-style: its
``[Dimension]`` section gives the length of each dimension, from which tifffile
takes the axes longer than one (``Band`` is the channel axis ``C``, any other
its initial).

>>> parse_olympus_ini("[Dimension]\\nBand=3\\nZ=1\\nTime=4\\n[Image]\\nName=x")
{'Dimension': {'Band': 3, 'Z': 1, 'Time': 4}, 'Image': {'Name': 'x'}, 'axes': 'CT', 'shape': [3, 4]}
"""

from __future__ import annotations

import contextlib
import math
import struct
from datetime import datetime
from typing import Any

from tiffzarr.format._records import decode_text

__all__ = [
    "GENERAL_SIZE",
    "HEAD_SIZE",
    "SIS_ENTRY",
    "parse_olympus_ini",
    "parse_sis_entries",
    "parse_sis_general",
    "parse_sis_head",
]

HEAD = struct.Struct("<4s6xhhhhh6x32sH")
HEAD_SIZE = HEAD.size
SIS_ENTRY = struct.Struct("<hhI")
GENERAL = struct.Struct("<10xhdd8xd2x34s32s")
GENERAL_SIZE = GENERAL.size
GENERAL_DATA = 1
"""Entry type of the general data (calibration, magnification, camera)."""
MAX_ENTRIES = 4096
SIS_AXES = {"Band": "C"}
"""INI dimension names whose axis letter is not their initial."""


def parse_sis_head(data: bytes, /) -> tuple[dict[str, Any], int]:
    """The name and date of an OlympusSIS structure and its number of entries;
    :class:`ValueError` if ``data`` is not one.

    >>> import struct
    >>> head = struct.pack("<4s6xhhhhh6x32sH", b"SIS0", 30, 12, 5, 2, 120, b"img", 0)
    >>> parse_sis_head(head)
    ({'name': 'img', 'datetime': '2020-03-05T12:30:00'}, 0)
    """
    if len(data) < HEAD_SIZE:
        raise ValueError("the OlympusSIS structure is cut by the end of the file")
    magic, minute, hour, day, month, year, name, count = HEAD.unpack_from(data)
    if magic != b"SIS0":
        raise ValueError(f"no OlympusSIS structure (magic {magic!r})")
    out: dict[str, Any] = {"name": decode_text(name)}
    with contextlib.suppress(ValueError):  # not a date: left out, as tifffile does
        out["datetime"] = datetime(1900 + year, month + 1, day, hour, minute).isoformat()
    return out, min(count, MAX_ENTRIES) if count >= 0 else 0


def parse_sis_entries(data: bytes, count: int, /) -> list[tuple[int, int, int]]:
    """The ``(type, count, offset)`` entries that ``data`` holds in full."""
    n = min(count, len(data) // SIS_ENTRY.size)
    return [SIS_ENTRY.unpack_from(data, i * SIS_ENTRY.size) for i in range(n)]


def parse_sis_general(data: bytes, /) -> dict[str, Any]:
    """The general data: pixel size (metres), magnification, camera and picture type.

    >>> import struct
    >>> data = struct.pack("<10xhdd8xd2x34s32s", -6, 0.5, 0.5, 20.0, b"cam", b"gray")
    >>> parse_sis_general(data)["pixelsizex"]
    5e-07
    """
    if len(data) < GENERAL_SIZE:
        raise ValueError("the OlympusSIS general data are cut by the end of the file")
    power, xcal, ycal, magnification, camera, picture = GENERAL.unpack_from(data)
    scale = 10.0**power if -300 < power < 300 else math.nan
    out = {
        "pixelsizex": xcal * scale,
        "pixelsizey": ycal * scale,
        "magnification": magnification,
        "cameraname": decode_text(camera),
        "picturetype": decode_text(picture),
    }
    return {
        k: v if not isinstance(v, float) or math.isfinite(v) else str(v) for k, v in out.items()
    }


def _value(text: str) -> Any:
    """An INI value as tifffile types it: nothing, a tuple of values, an int, a
    float, a boolean or the text."""
    if text.strip() == "":
        return None
    if "," in text:
        return [_value(part) for part in text.split(",")]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text


def parse_olympus_ini(text: str, /, *, limit: int = 100_000) -> dict[str, Any]:
    """The sections of OlympusINI text as dicts of typed values, with the ``axes``
    and ``shape`` of its ``[Dimension]`` section (dimensions longer than one);
    :class:`ValueError` where tifffile's reading fails (a line that is not
    ``key=value``, a dimension that is not a number)."""
    out: dict[str, Any] = {}
    section: dict[str, Any] = {}
    for count, raw in enumerate(text.splitlines()):
        if count >= limit:
            break
        line = raw.strip()
        if not line or line[0] == ";":
            continue
        if line[0] == "[" and line[-1] == "]":
            section = out.setdefault(line[1:-1], {})
            continue
        if "=" not in line:
            raise ValueError(f"OlympusINI line {count + 1} is not key=value: {line[:64]!r}")
        key, value = line.split("=", 1)
        section[key.strip()] = _value(value)
    dims = out.get("Dimension")
    if isinstance(dims, dict):
        axes, shape = [], []
        for name, length in dims.items():
            if isinstance(length, bool) or not isinstance(length, int | float):
                raise ValueError(f"OlympusINI dimension {name} is {length!r}")
            if length > 1:
                if not isinstance(length, int) or not name:
                    raise ValueError(f"OlympusINI dimension {name} is {length!r}")
                axes.append(SIS_AXES.get(name, name[0].upper()))
                shape.append(length)
        out["axes"] = "".join(axes)
        out["shape"] = shape
    return out
