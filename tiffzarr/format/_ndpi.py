"""Hamamatsu NDPI: the private tags, restart-interval tiles and openslide's names.

No specification is published; the layout is the one tifffile and openslide
read. An NDPI file is a classic TIFF whose next-IFD pointers are 64-bit and
whose offsets beyond 4 GiB keep only their low 32 bits (the reader widens them,
see :mod:`tiffzarr.reader._pages`). Tag 65420 marks the file; 65421 is the
magnification of each page (-1 for the macro image, -2 for the map).

Each pyramid level is **one JPEG strip** whose entropy-coded data restart every
``DRI`` MCUs (restart markers). ``McuStarts`` (65426, high 32 bits in 65432)
lists where each restart interval starts, relative to the strip. When a
restart interval covers whole MCUs of one MCU row, the level is a grid of tiles
one MCU row high and ``DRI`` MCUs wide, each decoded as the strip's JPEG header
(with the frame size patched to one tile) followed by the interval's bytes.

>>> header = bytes.fromhex(
...     "ffd8" "ffc00011080040006003011100021101031101" "ffdd00040004"
...     "ffda000c03010002110311003f00")  # 96x64, 4:4:4, restart every 4 MCUs
>>> from tiffzarr.format._jpeg import jpeg_frame
>>> tile = restart_tile(header)
>>> tile.length, tile.width, jpeg_frame(tile.header)
(8, 32, JpegFrame(height=8, width=32, components=3, precision=8))
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "MACRO_LENS",
    "MAP_LENS",
    "MAX_JPEG_HEADER",
    "NDPI_FOCAL_PLANE",
    "NDPI_FORMAT_FLAG",
    "NDPI_MCU_STARTS",
    "NDPI_MCU_STARTS_HIGH",
    "NDPI_PROPERTY_MAP",
    "NDPI_REFERENCE",
    "NDPI_SOURCELENS",
    "NDPI_TAG_NAMES",
    "NDPI_XOFFSET",
    "NDPI_YOFFSET",
    "RestartTile",
    "interval_segments",
    "mcu_starts",
    "ndpi_tags",
    "property_map",
    "restart_tile",
]

NDPI_FORMAT_FLAG = 65420
NDPI_SOURCELENS = 65421
NDPI_XOFFSET = 65422
NDPI_YOFFSET = 65423
NDPI_FOCAL_PLANE = 65424
NDPI_MCU_STARTS = 65426
NDPI_REFERENCE = 65427
NDPI_MCU_STARTS_HIGH = 65432
NDPI_PROPERTY_MAP = 65449
MACRO_LENS = -1.0
"""The magnification of the macro image (a photograph of the whole slide)."""
MAP_LENS = -2.0
"""The magnification of the map (where the scanner found tissue)."""
MAX_JPEG_HEADER = 2**20
"""Largest JPEG header (tables, frame and scan headers) taken from a strip."""

NDPI_TAG_NAMES: dict[int, str] = {
    271: "Make",
    272: "Model",
    305: "Software",
    65420: "FileFormat",
    65421: "Magnification",
    65422: "XOffsetFromSlideCenter",
    65423: "YOffsetFromSlideCenter",
    65424: "ZOffsetFromSlideCenter",
    65425: "TissueIndex",
    65427: "SlideLabel",
    65428: "AuthCode",
    65433: "65433",
    65434: "Fluorescence",
    65435: "ExposureRatio",
    65436: "RedMultiplier",
    65437: "GreenMultiplier",
    65438: "BlueMultiplier",
    65439: "FocusPoints",
    65440: "FocusPointRegions",
    65441: "CaptureMode",
    65442: "ScannerSerialNumber",
    65443: "65443",
    65444: "JpegQuality",
    65445: "RefocusInterval",
    65446: "FocusOffset",
    65447: "BlankLines",
    65448: "FirmwareVersion",
    65449: "Comments",
    65450: "LabelObscured",
    65451: "Wavelength",
    65453: "LampAge",
    65454: "ExposureTime",
    65455: "FocusTime",
    65456: "ScanTime",
    65457: "WriteTime",
    65458: "FullyAutoFocus",
}
"""The NDPI metadata as tifffile names them (``TiffPage.ndpi_tags``), but for the
MCU starts (segment offsets, not metadata)."""

# JPEG markers the restart-tile header is made of.
_SOI, _EOI, _SOS, _DRI = 0xD8, 0xD9, 0xDA, 0xDD
_SEQUENTIAL_SOF = (0xC0, 0xC1)  # baseline and extended sequential, Huffman coded
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


@dataclass(frozen=True, slots=True)
class RestartTile:
    """The tile one restart interval of a JPEG strip covers, and the JPEG header
    (through the scan header, frame size patched to the tile) that its bytes continue."""

    length: int
    width: int
    header: bytes


def restart_tile(header: bytes, /) -> RestartTile:
    """The restart-interval tile of a JPEG stream whose header is ``header`` (the
    bytes before the first interval's entropy-coded data).

    An interval of ``DRI`` MCUs is one MCU high and ``DRI`` MCUs wide (an MCU is
    8x8 pixels for one component, else 8 times the largest sampling factors).
    Raises :class:`ValueError` when the header has no sequential frame, no
    restart interval or no scan header, or when the tile cannot be a JPEG frame.
    """
    frame = restart = None
    pos = 2 if header[:2] == b"\xff\xd8" else -1
    while pos >= 0 and pos + 4 <= len(header):
        if header[pos] != 0xFF:
            break
        marker = header[pos + 1]
        if marker == 0xFF or marker in _STANDALONE:
            pos += 1 if marker == 0xFF else 2
            continue
        length = struct.unpack_from(">H", header, pos + 2)[0]
        end = pos + 2 + length
        if length < 2 or end > len(header):
            break
        if marker in _SEQUENTIAL_SOF:
            frame = pos
        elif marker == _DRI and length == 4:
            restart = struct.unpack_from(">H", header, pos + 4)[0]
        elif marker == _SOS:
            return _patched(header[:end], frame, restart)
        pos = end
    raise ValueError("the JPEG header has no scan header (SOS) where its markers end")


def _patched(header: bytes, frame: int | None, restart: int | None) -> RestartTile:
    if frame is None or not restart:
        what = "restart interval (DRI)" if frame is not None else "sequential frame (SOF0/SOF1)"
        raise ValueError(f"the JPEG header has no {what}")
    components = header[frame + 9]
    factors = header[frame + 11 : frame + 10 + 3 * components : 3]
    if len(factors) != components or components == 0:
        raise ValueError("the JPEG frame header is cut short")
    if components == 1:
        mcu = (8, 8)  # a scan of one component has one block per MCU
    else:
        mcu = (8 * max(f & 15 for f in factors), 8 * max(f >> 4 for f in factors))
    length, width = mcu[0], mcu[1] * restart
    if min(mcu) == 0 or width > 0xFFFF:
        raise ValueError(f"a restart interval of {restart} MCUs of {mcu} is no JPEG frame")
    patched = header[: frame + 5] + struct.pack(">HH", length, width) + header[frame + 9 :]
    return RestartTile(length, width, patched)


def mcu_starts(low: Any, high: Any = None, /) -> np.ndarray:
    """The MCU starts (``uint64``) from tag 65426 and, when present, its high 32 bits
    (tag 65432).

    >>> mcu_starts([16, 32], [0, 1]).tolist()
    [16, 4294967328]
    """
    starts = np.asarray(low, dtype=np.uint64).reshape(-1)
    if high is not None:
        upper = np.asarray(high, dtype=np.uint64).reshape(-1)
        if len(upper) != len(starts):
            raise ValueError(f"{len(upper)} high bytes for {len(starts)} MCU starts")
        starts = starts | (upper << np.uint64(32))
    return starts


def interval_segments(
    tile: RestartTile,
    starts: np.ndarray,
    /,
    *,
    width: int,
    length: int,
    strip: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """File offsets and byte counts of the restart intervals of a strip ``(offset,
    byte count)`` of ``width`` x ``length`` pixels, in the tile grid's (C) order.

    Raises :class:`ValueError` when the intervals do not tile the image: a row of
    MCUs that is not a whole number of intervals, another count of intervals, or
    starts that do not increase within the strip.

    >>> tile = RestartTile(8, 32, b"")
    >>> offsets, counts = interval_segments(tile, np.array([600, 700, 810, 900], "u8"),
    ...                                     width=64, length=16, strip=(1000, 1000))
    >>> offsets.tolist(), counts.tolist()
    ([1600, 1700, 1810, 1900], [100, 110, 90, 100])
    """
    offset, nbytes = strip
    across, down = math.ceil(width / tile.width), math.ceil(length / tile.length)
    if len(starts) != across * down:
        raise ValueError(
            f"{len(starts)} MCU starts for {down}x{across} restart intervals of "
            f"{tile.length}x{tile.width} pixels"
        )
    bounds = np.append(starts.astype(np.uint64), np.uint64(nbytes))
    if len(starts) == 0 or not np.all(bounds[1:] > bounds[:-1]) or starts[0] == 0:
        raise ValueError("the MCU starts do not increase within the strip")
    return starts + np.uint64(offset), np.diff(bounds)


def property_map(text: str, /) -> dict[str, str]:
    """The ``key=value`` records of the NDPI property map (tag 65449), as openslide
    reads them: records end with CRLF, and both key and value must be non-empty.

    >>> property_map("Objective.Lens.Magnificant=35.16\\r\\nx=\\r\\nPSHV=179\\r\\n")
    {'Objective.Lens.Magnificant': '35.16', 'PSHV': '179'}
    """
    out = {}
    for record in text.split("\r\n"):
        key, sep, value = record.partition("=")
        if sep and key and value:
            out[key] = value
    return out


def ndpi_tags(values: Mapping[int, Any], /) -> dict[str, Any]:
    """The NDPI metadata of a page (tag values by code) under tifffile's names.

    >>> ndpi_tags({271: "Hamamatsu", 65421: 40.0, 65426: [660, 2492]})
    {'Make': 'Hamamatsu', 'Magnification': 40.0}
    """
    return {name: values[code] for code, name in NDPI_TAG_NAMES.items() if code in values}
