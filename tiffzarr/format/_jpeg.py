"""What a reader needs from a JPEG stream's own headers: the frame size."""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["JpegFrame", "jpeg_frame"]

# Start-of-frame markers: every SOFn except DHT (C4), JPG (C8) and DAC (CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})


@dataclass(frozen=True, slots=True)
class JpegFrame:
    """Size and sample layout from a JPEG start-of-frame segment."""

    height: int
    width: int
    components: int
    precision: int


def jpeg_frame(data: bytes, /) -> JpegFrame | None:
    """The frame header of a JPEG stream, or ``None`` when ``data`` has none.

    >>> sof = b"\\xff\\xc0\\x00\\x11\\x08\\x00\\x14\\x00\\x1e\\x03" + bytes(9)
    >>> jpeg_frame(b"\\xff\\xd8" + sof)
    JpegFrame(height=20, width=30, components=3, precision=8)
    """
    if data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker == 0xDA:  # start of scan before any frame
            return None
        length = struct.unpack_from(">H", data, pos + 2)[0]
        if marker in _SOF:
            if pos + 10 > len(data):
                return None
            precision, height, width, components = struct.unpack_from(">BHHB", data, pos + 4)
            return JpegFrame(height, width, components, precision)
        pos += 2 + length
    return None
