"""Serialise headers and IFDs: the pure half of writing a TIFF.

A writer plans first: :func:`ifd_nbytes` gives the size of an IFD with its
out-of-line values from the tag types and counts alone, so every offset can be
assigned before any value (such as TileOffsets) is final. :func:`pack_ifd` then
lays out one IFD at its offset, followed by its out-of-line values.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tiffzarr.format._header import BIGTIFF, IfdLayout
from tiffzarr.format._types import DATA_TYPES, ByteOrder

__all__ = ["Tag", "ifd_nbytes", "pack_header", "pack_ifd"]


@dataclass(frozen=True, slots=True)
class Tag:
    """A tag to write: code, field type code and value.

    ``value`` is a ``str`` for ASCII, ``bytes`` for BYTE/UNDEFINED (or values of
    any type already packed in the file's byte order), else numbers (rationals as
    ``(numerator, denominator)`` pairs).

    >>> Tag(256, 3, 512).count, Tag(270, 2, "hi").count, Tag(282, 5, [(72, 1)]).count
    (1, 3, 1)
    >>> Tag(324, 4, bytes(12)).count
    3
    """

    code: int
    type: int
    value: (
        int
        | float
        | str
        | bytes
        | Sequence[int]
        | Sequence[float]
        | Sequence[tuple[int, int]]
        | np.ndarray
    )

    @property
    def count(self) -> int:
        if isinstance(self.value, str):
            return len(self.value.encode()) + 1
        if isinstance(self.value, bytes):
            return len(self.value) // DATA_TYPES[self.type].itemsize
        n = int(np.asarray(self.value).size)
        return n // DATA_TYPES[self.type].per_value

    @property
    def nbytes(self) -> int:
        return self.count * DATA_TYPES[self.type].itemsize

    def pack(self, byteorder: ByteOrder) -> bytes:
        if isinstance(self.value, str):
            return self.value.encode() + b"\0"
        if isinstance(self.value, bytes):
            return self.value
        dt = DATA_TYPES[self.type]
        return np.asarray(self.value).astype(dt.numpy_dtype(byteorder)).reshape(-1).tobytes()


def _outside(tag: Tag, layout: IfdLayout) -> int:
    """Bytes a tag needs after the IFD (word-aligned), 0 when inline."""
    n = tag.nbytes
    return 0 if n <= layout.inline_size else n + (n & 1)


def ifd_nbytes(tags: Sequence[Tag], layout: IfdLayout, /) -> int:
    """Size of an IFD and its out-of-line values, from types and counts only."""
    return layout.ifd_size(len(tags)) + sum(_outside(t, layout) for t in tags)


def pack_header(byteorder: ByteOrder, layout: IfdLayout, first_ifd: int, /) -> bytes:
    """The 8- or 16-byte file header.

    >>> pack_header("<", BIGTIFF, 16)
    b'II+\\x00\\x08\\x00\\x00\\x00\\x10\\x00\\x00\\x00\\x00\\x00\\x00\\x00'
    """
    mark = b"II" if byteorder == "<" else b"MM"
    if layout is BIGTIFF:
        return mark + struct.pack(byteorder + "HHHQ", 43, 8, 0, first_ifd)
    return mark + struct.pack(byteorder + "HI", 42, first_ifd)


def pack_ifd(
    tags: Sequence[Tag],
    /,
    *,
    byteorder: ByteOrder,
    layout: IfdLayout,
    offset: int,
    next_offset: int = 0,
) -> bytes:
    """The bytes of an IFD written at ``offset``, its out-of-line values after it.

    Tags are sorted by code, as TIFF requires. The result is exactly
    :func:`ifd_nbytes` long.
    """
    tags = sorted(tags, key=lambda t: t.code)
    entry_fmt = byteorder + "HH" + layout.offset_format
    value_fmt = byteorder + layout.offset_format
    head = struct.pack(byteorder + layout.count_format, len(tags))
    values = b""
    extra_at = offset + layout.ifd_size(len(tags))
    entries = []
    for tag in tags:
        data = tag.pack(byteorder)
        entry = struct.pack(entry_fmt, tag.code, tag.type, tag.count)
        if len(data) <= layout.inline_size:
            entry += data.ljust(layout.inline_size, b"\0")
        else:
            entry += struct.pack(value_fmt, extra_at + len(values))
            values += data + b"\0" * (len(data) & 1)
        entries.append(entry)
    tail = struct.pack(value_fmt, next_offset)
    return head + b"".join(entries) + tail + values
