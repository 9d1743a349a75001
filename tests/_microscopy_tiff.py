"""Hand-made classic TIFF files for the microscopy dialect tests (STK, LSM, FluoView).

Those formats point from their private tags to absolute file offsets, so the
tests lay files out themselves: :class:`TiffBuilder` appends blobs (pixels,
records) and IFDs in order and returns where each landed.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

BYTE, ASCII, SHORT, LONG, RATIONAL, UNDEFINED, DOUBLE = 1, 2, 3, 4, 5, 7, 12
_SIZES = {BYTE: 1, ASCII: 1, SHORT: 2, LONG: 4, RATIONAL: 8, UNDEFINED: 1, DOUBLE: 8}
_FORMATS = {SHORT: "H", LONG: "I", DOUBLE: "d"}

Entry = tuple[int, int, int, bytes]
"""``(code, type, count, value bytes)``."""
PlacedEntry = tuple[int, int, int, int]
"""``(code, type, count, offset of the value put before)``."""


def tag(
    code: int, type_: int, values: Sequence[float] | bytes | str, byteorder: str = "<"
) -> Entry:
    """An IFD entry whose count follows from its values."""
    if isinstance(values, str):
        values = values.encode() + b"\x00"
    if isinstance(values, bytes):
        return code, type_, len(values) // _SIZES[type_], values
    if type_ == RATIONAL:
        data = struct.pack(f"{byteorder}{2 * len(values)}I", *values)
        return code, type_, len(values) // 2, data
    return (
        code,
        type_,
        len(values),
        struct.pack(f"{byteorder}{len(values)}{_FORMATS[type_]}", *values),
    )


def image_tags(
    shape: tuple[int, int],
    offsets: Sequence[int],
    counts: Sequence[int],
    *,
    bits: int = 16,
    samples: int = 1,
    planar: int = 1,
    photometric: int = 1,
    subfiletype: int = 0,
    rowsperstrip: int | None = None,
    compression: int = 1,
    byteorder: str = "<",
) -> list[Entry]:
    """The baseline tags of a strip image."""
    length, width = shape
    out = [
        tag(254, LONG, [subfiletype], byteorder),
        tag(256, LONG, [width], byteorder),
        tag(257, LONG, [length], byteorder),
        tag(258, SHORT, [bits] * samples, byteorder),
        tag(259, SHORT, [compression], byteorder),
        tag(262, SHORT, [photometric], byteorder),
        tag(273, LONG, list(offsets), byteorder),
        tag(277, SHORT, [samples], byteorder),
        tag(279, LONG, list(counts), byteorder),
        tag(284, SHORT, [planar], byteorder),
    ]
    if rowsperstrip is not None:
        out.append(tag(278, LONG, [rowsperstrip], byteorder))
    return out


@dataclass
class TiffBuilder:
    """A classic TIFF assembled in order: header, then whatever is :meth:`put`."""

    byteorder: str = "<"
    buf: bytearray = field(default_factory=bytearray)
    _link: int = 4

    def __post_init__(self) -> None:
        magic = b"II*\x00" if self.byteorder == "<" else b"MM\x00*"
        self.buf += magic + bytes(4)

    def put(self, data: bytes) -> int:
        """Append ``data`` (word aligned); its offset."""
        if len(self.buf) % 2:
            self.buf += b"\x00"
        offset = len(self.buf)
        self.buf += data
        return offset

    def reserve(self, nentries: int) -> int:
        """Room for an IFD of ``nentries`` entries, to be written by :meth:`ifd` later."""
        return self.put(bytes(2 + 12 * nentries + 4))

    def ifd(self, entries: Sequence[Entry | PlacedEntry], *, at: int | None = None) -> int:
        """Write an IFD (at ``at``, reserved before, or appended) and chain it.

        Values that do not fit inline are appended first, unless an entry gives the
        offset where its value was already put.
        """
        bo = self.byteorder
        packed = []
        for code, type_, count, data in sorted(entries, key=lambda e: e[0]):
            if isinstance(data, int):
                field_ = struct.pack(bo + "I", data)
            elif len(data) <= 4:
                field_ = data.ljust(4, b"\x00")
            else:
                field_ = struct.pack(bo + "I", self.put(data))
            packed.append(struct.pack(bo + "HHI", code, type_, count) + field_)
        block = struct.pack(bo + "H", len(packed)) + b"".join(packed) + bytes(4)
        if at is None:
            at = self.put(block)
        else:
            assert len(block) == 2 + 12 * len(packed) + 4
            self.buf[at : at + len(block)] = block
        struct.pack_into(bo + "I", self.buf, self._link, at)
        self._link = at + len(block) - 4
        return at

    def bytes(self) -> bytes:
        return bytes(self.buf)


def fraction_pairs(values: Sequence[float], denominator: int = 1000) -> list[int]:
    """``values`` as LONG numerator/denominator pairs."""
    out: list[int] = []
    for v in values:
        out += [round(v * denominator), denominator]
    return out


def planes_bytes(data: np.ndarray, byteorder: str = "<") -> bytes:
    return np.ascontiguousarray(data, dtype=data.dtype.newbyteorder(byteorder)).tobytes()
