"""A small TIFF writer for tests that need a byte layout no library writes.

Micro-Manager, NDTiff and ScanImage files put private blocks right after the
TIFF header and lay out IFDs, values and pixels in a fixed order; this writer
places a ``blob`` after the header and writes each page's IFD, out-of-line values
and pixels (uncompressed, one strip) in the order asked for, so tests can build
such files from the published descriptions.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

ASCII, SHORT, LONG, RATIONAL, LONG8, UNDEFINED = 2, 3, 4, 5, 16, 7
_SIZES = {1: 1, ASCII: 1, SHORT: 2, LONG: 4, RATIONAL: 8, UNDEFINED: 1, LONG8: 8}
_FORMATS = {SHORT: "H", LONG: "I", LONG8: "Q"}


@dataclass
class Tag:
    """An IFD entry: ``value`` is the packed bytes (or ints for SHORT/LONG/LONG8)."""

    code: int
    type: int
    count: int
    value: bytes | Sequence[int]

    @classmethod
    def text(cls, code: int, text: str) -> Tag:
        data = text.encode("utf-8") + b"\x00"
        return cls(code, ASCII, len(data), data)

    def packed(self, byteorder: str) -> bytes:
        if isinstance(self.value, bytes):
            return self.value
        return struct.pack(f"{byteorder}{len(self.value)}{_FORMATS[self.type]}", *self.value)


@dataclass
class Image:
    """One page: its pixels (2-D, or 3-D with samples last) and extra tags."""

    data: np.ndarray
    tags: list[Tag] = field(default_factory=list)


@dataclass
class Written:
    """The file's bytes and where each page's IFD and pixels are."""

    data: bytearray
    ifds: list[int]
    pixels: list[int]


def build(
    images: Sequence[Image],
    *,
    bigtiff: bool = False,
    byteorder: str = "<",
    blob: bytes = b"",
    order: tuple[str, str, str] = ("ifd", "data", "values"),
) -> Written:
    """A TIFF whose pages are ``images``, each stored as ``order`` says
    (``"ifd"``, ``"data"``, ``"values"``), after ``blob`` (which follows the
    8- or 16-byte header)."""
    fmt = byteorder + ("Q" if bigtiff else "I")
    out = bytearray(16 if bigtiff else 8) + bytearray(blob)
    ifds: list[int] = []
    pixels: list[int] = []
    pointers: list[int] = []  # where each IFD's next pointer is
    for image in images:
        start = len(out) + len(out) % 2
        block, ifd, data, pointer = _page(image, start, bigtiff, byteorder, order)
        out += bytes(start - len(out)) + block
        ifds.append(ifd)
        pixels.append(data)
        pointers.append(pointer)
    out[:4] = (b"II" if byteorder == "<" else b"MM") + struct.pack(
        byteorder + "H", 43 if bigtiff else 42
    )
    if bigtiff:
        out[4:16] = struct.pack(byteorder + "HH", 8, 0) + struct.pack(fmt, ifds[0])
    else:
        out[4:8] = struct.pack(fmt, ifds[0])
    for pointer, nxt in zip(pointers, [*ifds[1:], 0], strict=True):
        struct.pack_into(fmt, out, pointer, nxt)
    return Written(out, ifds, pixels)


def _page(
    image: Image, start: int, bigtiff: bool, bo: str, order: tuple[str, str, str]
) -> tuple[bytes, int, int, int]:
    """One page's bytes from ``start``: ``(block, IFD offset, pixel offset, next
    pointer position)``."""
    arr = np.ascontiguousarray(image.data)
    pixel_bytes = arr.astype(arr.dtype.newbyteorder(bo)).tobytes()
    samples = arr.shape[2] if arr.ndim == 3 else 1
    offset_type = LONG8 if bigtiff else LONG
    base = [
        Tag(256, LONG, 1, [arr.shape[1]]),
        Tag(257, LONG, 1, [arr.shape[0]]),
        Tag(258, SHORT, 1, [arr.dtype.itemsize * 8]),
        Tag(259, SHORT, 1, [1]),
        Tag(262, SHORT, 1, [2 if samples == 3 else 1]),
        Tag(273, offset_type, 1, [0]),
        Tag(277, SHORT, 1, [samples]),
        Tag(278, LONG, 1, [arr.shape[0]]),
        Tag(279, offset_type, 1, [len(pixel_bytes)]),
    ]
    tags = sorted(base + image.tags, key=lambda t: t.code)
    inline = 8 if bigtiff else 4
    values = [t.packed(bo) for t in tags]
    padded = [v + b"\x00" * (len(v) % 2) for v in values if len(v) > inline]
    sizes = {
        "ifd": (8 if bigtiff else 2) + len(tags) * (20 if bigtiff else 12) + inline,
        "data": len(pixel_bytes),
        "values": sum(map(len, padded)),
    }
    starts: dict[str, int] = {}
    pos = start
    for part in order:
        starts[part], pos = pos, pos + sizes[part]
    fmt = bo + ("Q" if bigtiff else "I")
    ifd = bytearray(struct.pack(bo + ("Q" if bigtiff else "H"), len(tags)))
    at = starts["values"]
    for tag, value in zip(tags, values, strict=True):
        packed = struct.pack(fmt, starts["data"]) if tag.code == 273 else value
        field_bytes = packed.ljust(inline, b"\x00")
        if len(packed) > inline:
            field_bytes = struct.pack(fmt, at)
            at += len(packed) + len(packed) % 2
        ifd += struct.pack(bo + "HH", tag.code, tag.type) + struct.pack(fmt, tag.count)
        ifd += field_bytes
    pointer = starts["ifd"] + len(ifd)
    ifd += bytes(inline)
    block = bytearray(pos - start)
    for part, data in (("ifd", ifd), ("data", pixel_bytes), ("values", b"".join(padded))):
        block[starts[part] - start : starts[part] - start + len(data)] = data
    return bytes(block), starts["ifd"], starts["data"], pointer
