"""IFD templates: predict the IFDs of uniform multi-page files from two of them.

Writers of image stacks (tifffile, ImageJ, many microscopes) lay out every page
the same way: an IFD and its values at a constant stride, and pixels at another
constant stride. Two consecutive pages then differ only in integer fields that
hold file offsets, each by its own fixed amount per page. An
:class:`IfdTemplate` records the *block* of a reference page (its IFD plus the
values stored next to it) and those fields with their increments, so the block
of any later page can be synthesised without reading it, and checked byte for
byte against the file when it is read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from tiffzarr.format._header import Header
from tiffzarr.format._ifd import RawIfd, TagEntry

__all__ = ["MAX_BLOCK", "IfdTemplate", "block_range", "derive_template"]

MAX_BLOCK = 64 * 1024
"""Largest block (IFD plus neighbouring values) a template covers."""
_CHILD_POINTERS = frozenset({330, 34665, 34853, 40965})

Patch = tuple[int, str, int]
"""``(position in the block, struct format, increment per page)``."""


@dataclass(frozen=True, slots=True)
class IfdTemplate:
    """The block of a reference page and how it changes from page to page.

    ``ifd_offset`` is the reference page's IFD offset, ``start`` the block's
    start relative to it (``<= 0`` when values precede the IFD), ``stride`` the
    distance between consecutive IFDs, ``patches`` the integer fields that grow
    by a fixed increment per page, and ``next_at`` the position of the next-IFD
    pointer in the block.
    """

    ifd_offset: int
    start: int
    block: bytes
    stride: int
    patches: tuple[Patch, ...]
    next_at: int
    next_format: str

    def ifd(self, delta: int, /) -> int:
        """IFD offset of the page ``delta`` pages after the reference."""
        return self.ifd_offset + delta * self.stride

    def span(self, delta: int, /) -> tuple[int, int]:
        """File range ``(offset, length)`` of that page's block."""
        return self.ifd(delta) + self.start, len(self.block)

    def expected(self, delta: int, /, *, next_offset: int | None = None) -> bytes:
        """The block of the page ``delta`` pages on; its next pointer is
        ``next_offset`` when given, else the pattern's (one stride on)."""
        out = bytearray(self.block)
        for pos, fmt, increment in self.patches:
            (value,) = struct.unpack_from(fmt, out, pos)
            value += delta * increment
            if not 0 <= value < 2 ** (8 * struct.calcsize(fmt)):
                return b""  # the pattern cannot continue that far
            struct.pack_into(fmt, out, pos, value)
        nxt = self.ifd(delta + 1) if next_offset is None else next_offset
        struct.pack_into(self.next_format, out, self.next_at, nxt)
        return bytes(out)

    def next_pointer(self, block: bytes, /) -> int:
        """The next-IFD pointer stored in a block read from the file."""
        value: int = struct.unpack_from(self.next_format, block, self.next_at)[0]
        return value


def _local_values(a: RawIfd, b: RawIfd) -> list[tuple[TagEntry, TagEntry]]:
    """Out-of-line values stored next to their IFD in both (they move with it)."""
    out = []
    for ea, eb in zip(a.entries.values(), b.entries.values(), strict=True):
        if ea.value_offset is None or eb.value_offset is None:
            continue
        rel = ea.value_offset - a.offset
        if rel == eb.value_offset - b.offset and -MAX_BLOCK < rel < MAX_BLOCK:
            out.append((ea, eb))
    return out


def block_range(header: Header, raw: RawIfd, /, *, like: RawIfd | None = None) -> tuple[int, int]:
    """File ``(offset, length)`` of an IFD's block: the IFD and its local values.

    Values are local when they sit at the same place relative to the IFD in
    ``raw`` and in ``like`` (the neighbouring page); without ``like``, every
    value within :data:`MAX_BLOCK` of the IFD counts.
    """
    start, stop = 0, header.layout.ifd_size(raw.ntags)
    pairs = _local_values(like, raw) if like is not None else [
        (e, e) for e in raw.entries.values() if e.value_offset is not None
        and -MAX_BLOCK < e.value_offset - raw.offset < MAX_BLOCK
    ]  # fmt: skip
    for _, entry in pairs:
        assert entry.value_offset is not None
        rel = entry.value_offset - raw.offset
        start, stop = min(start, rel), max(stop, rel + entry.nbytes)
    return raw.offset + start, stop - start


def derive_template(
    header: Header, a: RawIfd, block_a: bytes, b: RawIfd, block_b: bytes, /
) -> IfdTemplate | None:
    """The template for pages after ``b``, if ``a`` → ``b`` is one step of a pattern.

    ``block_a``/``block_b`` are the bytes at ``block_range(header, x, like=other)``
    of each IFD. Returns ``None`` unless the IFDs have the same entries, ``b``'s
    next pointer is one more stride on, nothing points to child IFDs, and the
    blocks differ only in integer fields.
    """
    stride = b.offset - a.offset
    if stride <= 0 or b.next_offset - b.offset != stride or a.next_offset != b.offset:
        return None
    if [(e.code, e.type, e.count) for e in a.entries.values()] != [
        (e.code, e.type, e.count) for e in b.entries.values()
    ] or _CHILD_POINTERS & set(a.entries):
        return None
    if len(block_a) != len(block_b) or len(block_b) > MAX_BLOCK:
        return None
    layout = header.layout
    start = block_range(header, b, like=a)[0] - b.offset
    offset_fmt = header.byteorder + layout.offset_format
    local = {id(eb): ea for ea, eb in _local_values(a, b)}
    patches: list[Patch] = []
    pos = layout.count_size - start
    for ea, eb in zip(a.entries.values(), b.entries.values(), strict=True):
        field = pos + 4 + layout.offset_size
        pos += layout.entry_size
        if ea.value_offset is None:
            size = np.dtype(_INTEGER_FORMATS.get(ea.type, "B")).itemsize
            whole = (
                block_a[field : field + layout.offset_size],
                block_b[field : field + layout.offset_size],
            )
            found = _integer_patches(header, *whole, 0, ea.type, count=layout.offset_size // size)
            patches += [(field + pos, fmt, inc) for pos, fmt, inc in found]
        elif id(eb) in local:
            assert eb.value_offset is not None
            patches.append((field, offset_fmt, stride))
            rel = eb.value_offset - b.offset - start
            patches += _integer_patches(header, block_a, block_b, rel, eb.type, count=eb.count)
        elif ea.value_offset != eb.value_offset:
            patches.append((field, offset_fmt, eb.value_offset - ea.value_offset))  # type: ignore[operator]
    template = IfdTemplate(
        ifd_offset=b.offset,
        start=start,
        block=block_b,
        stride=stride,
        patches=tuple(patches),
        next_at=layout.count_size + a.ntags * layout.entry_size - start,
        next_format=offset_fmt,
    )
    # the proof: a's block must become b's by the patches alone
    rebuilt = IfdTemplate(
        a.offset, start, block_a, stride, template.patches, template.next_at, offset_fmt
    )
    return template if rebuilt.expected(1) == block_b else None


_INTEGER_FORMATS = {3: "H", 4: "I", 13: "I", 16: "Q", 18: "Q"}


def _integer_patches(
    header: Header, data_a: bytes, data_b: bytes, at: int, type_code: int, *, count: int
) -> list[Patch]:
    """Integers that differ between two pages' bytes, each a patch with its increment.

    ``count`` values of ``type_code`` at ``at`` in ``data_a``/``data_b``.
    """
    char = _INTEGER_FORMATS.get(type_code)
    if char is None:
        return []  # not integers: any difference makes the proof fail
    dtype = np.dtype(header.byteorder + char)
    va = np.frombuffer(data_a, dtype, count, at).astype("i8")
    vb = np.frombuffer(data_b, dtype, count, at).astype("i8")
    moved = np.flatnonzero(va != vb)
    return [
        (at + int(i) * dtype.itemsize, header.byteorder + char, int(vb[i] - va[i])) for i in moved
    ]
