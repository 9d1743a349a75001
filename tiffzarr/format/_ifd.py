"""Parse one IFD (image file directory) from its bytes, and decode tag values.

Parsing is pure: the caller hands in the bytes of the IFD (count, entries and
next pointer) and, for out-of-line values, the bytes at the value offset.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple, TypeAlias

import numpy as np

from tiffzarr.errors import TiffFormatError
from tiffzarr.format._header import Header
from tiffzarr.format._types import DATA_TYPES, DataType

__all__ = [
    "RawIfd",
    "TagEntry",
    "TagValue",
    "decode_value",
    "parse_ifd",
    "parse_ifd_count",
]

TagValue: TypeAlias = int | float | str | bytes | tuple[int, int] | np.ndarray


class TagEntry(NamedTuple):
    """One 12- or 20-byte IFD entry; its value is inline or at ``value_offset``.

    (A named tuple rather than a dataclass: files can hold millions of entries.)
    """

    code: int
    type: int
    count: int  # type: ignore[assignment]  # shadows tuple.count; the TIFF name wins
    inline: bytes
    value_offset: int | None
    datatype: DataType | None = None
    """The field type, or ``None`` for a type code TIFF does not define."""

    @classmethod
    def make(
        cls, code: int, type: int, count: int, inline: bytes, value_offset: int | None
    ) -> TagEntry:
        return cls(code, type, count, inline, value_offset, DATA_TYPES.get(type))

    @property
    def nbytes(self) -> int:
        dt = self.datatype
        return self.count * dt.itemsize if dt is not None else 0


@dataclass(frozen=True, slots=True)
class RawIfd:
    """The entries of one IFD as stored, before any value is decoded."""

    offset: int
    entries: dict[int, TagEntry]
    next_offset: int
    ntags: int


def parse_ifd_count(header: Header, data: bytes | memoryview, /) -> int:
    """Return the number of entries from the first bytes of an IFD."""
    fmt = header.byteorder + header.layout.count_format
    ntags: int = struct.unpack_from(fmt, data, 0)[0]
    return ntags


def parse_ifd(
    header: Header,
    data: bytes | memoryview,
    /,
    *,
    offset: int,
    url: str | None = None,
    ifd: int | str | None = None,
    next_offset_size: int | None = None,
) -> RawIfd:
    """Parse the IFD whose bytes (starting at its count) are ``data``.

    ``next_offset_size`` overrides the size of the next-IFD pointer (NDPI files
    store it as 8 bytes in classic TIFF). Duplicate tags keep their first entry.
    Any number of tags is accepted whose entries ``data`` holds (the caller reads
    no more than the file has).
    """
    layout = header.layout
    ntags = parse_ifd_count(header, data)
    next_size = next_offset_size or layout.offset_size
    need = layout.count_size + ntags * layout.entry_size + next_size
    if len(data) < need:
        raise TiffFormatError(
            f"IFD with {ntags} tags needs {need} bytes but only {len(data)} are in the file",
            url=url,
            ifd=ifd,
            offset=offset,
        )
    offset_fmt = layout.offset_format
    inline_size = layout.inline_size
    entry_fmt = f"{header.byteorder}HH{offset_fmt}{inline_size}s"  # value counts are offset-sized
    value_fmt = header.byteorder + offset_fmt
    start = layout.count_size
    stop = start + ntags * layout.entry_size
    entries: dict[int, TagEntry] = {}
    for code, typ, count, field in struct.iter_unpack(entry_fmt, data[start:stop]):
        if code in entries:
            continue
        dt = DATA_TYPES.get(typ)
        value_offset = None
        if dt is not None and count * dt.itemsize > inline_size:
            value_offset = struct.unpack(value_fmt, field)[0]
        entries[code] = TagEntry(code, typ, count, field, value_offset, dt)
    pos = stop
    next_fmt = header.byteorder + ("Q" if next_size == 8 else "I")
    next_offset: int = struct.unpack_from(next_fmt, data, pos)[0]
    return RawIfd(offset, entries, next_offset, ntags)


def decode_value(
    header: Header, entry: TagEntry, data: bytes | memoryview | None = None, /
) -> TagValue:
    """Decode an entry's value from its inline field or from ``data``.

    ``data`` holds the out-of-line bytes (exactly ``entry.nbytes``) when the value
    does not fit inline. Single numbers come back as Python scalars, ASCII as
    ``str``, BYTE and UNDEFINED as ``bytes``, rationals as ``(num, den)`` pairs
    (an ``(n, 2)`` array when several), and other arrays as read-only numpy arrays.

    >>> from tiffzarr.format._header import parse_header
    >>> h = parse_header(b"II*\\x00\\x08\\x00\\x00\\x00", size=64)
    >>> decode_value(h, TagEntry.make(256, 3, 1, b"\\x00\\x02\\x00\\x00", None))
    512
    """
    dt = entry.datatype
    if dt is None:
        raise TiffFormatError(f"unknown field type {entry.type}", tag=entry.code)
    if (
        entry.value_offset is None
        and entry.count == 1
        and dt.per_value == 1
        and dt.name not in _BYTES_TYPES
    ):
        # the common case: one inline number
        value: int | float = struct.unpack_from(
            header.byteorder + _STRUCT[dt.format], entry.inline
        )[0]
        return value
    raw = entry.inline[: entry.nbytes] if entry.value_offset is None else data
    if raw is None or len(raw) < entry.nbytes:
        raise TiffFormatError(
            "tag value bytes are missing", tag=entry.code, offset=entry.value_offset
        )
    raw = bytes(raw[: entry.nbytes])
    if dt.name == "ASCII":
        return _decode_ascii(raw)
    if dt.name in ("BYTE", "UNDEFINED"):
        return raw
    arr = np.frombuffer(raw, dtype=dt.numpy_dtype(header.byteorder))
    if dt.per_value == 2:
        pairs = arr.reshape(-1, 2)
        if len(pairs) == 1:
            return (int(pairs[0, 0]), int(pairs[0, 1]))
        return pairs
    if entry.count == 1:
        single: int | float = arr[0].item()
        return single
    return arr


_BYTES_TYPES = frozenset({"ASCII", "BYTE", "UNDEFINED"})
_STRUCT = {"u1": "B", "i1": "b", "u2": "H", "i2": "h", "u4": "I", "i4": "i", "u8": "Q", "i8": "q",
           "f4": "f", "f8": "d"}  # fmt: skip


def _decode_ascii(raw: bytes) -> str:
    text = raw.rstrip(b"\x00")
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError:
        return text.decode("latin-1")
