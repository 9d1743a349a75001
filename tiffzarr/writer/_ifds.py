"""IFD records: placed before the pixels, packed once every offset is known.

A record holds the tags of one IFD whose values do not depend on the pixels
(width, compression, description, ...) and points into a :class:`SegmentTable`
for the offsets and byte counts that encoding fills in. Its size depends only on
tag types and counts, so every IFD can be given its place in the file first and
packed at the end.

>>> from tiffzarr.format import CLASSIC
>>> table = SegmentTable.empty(pages=1, nsegments=4)
>>> record = IfdRecord([Tag(256, 4, 64), Tag(257, 4, 64)], tiled=True, table=table, row=0)
>>> end = place([record], CLASSIC, 8)
>>> record.offset, end, len(record.pack("<", CLASSIC)) == end - 8
(8, 94, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tiffzarr.format._header import BIGTIFF, IfdLayout
from tiffzarr.format._serialize import Tag, ifd_nbytes, pack_ifd
from tiffzarr.format._types import ByteOrder

__all__ = ["IfdRecord", "SegmentTable", "pack_records", "place"]


@dataclass(eq=False, slots=True)
class SegmentTable:
    """Offsets and byte counts of the segments of some pages (one row per page)."""

    offsets: np.ndarray
    counts: np.ndarray

    @classmethod
    def empty(cls, *, pages: int, nsegments: int) -> SegmentTable:
        shape = (pages, nsegments)
        return cls(np.zeros(shape, np.uint64), np.zeros(shape, np.uint64))


@dataclass(eq=False, slots=True)
class IfdRecord:
    """One IFD to write; ``children`` are its SubIFDs (``nsubifds`` of them)."""

    tags: list[Tag]
    tiled: bool
    table: SegmentTable
    row: int
    nsubifds: int = 0
    children: list[IfdRecord] = field(default_factory=list)
    offset: int = 0
    next_offset: int = 0
    rows: int = 1
    """Pages of the table this IFD lists (more than one for truncated series)."""

    def _dynamic(self, layout: IfdLayout, *, final: bool) -> list[Tag]:
        offset_type = 16 if layout is BIGTIFF else 4
        table = self.table
        rows = slice(self.row, self.row + self.rows)
        offsets = table.offsets[rows].reshape(-1)
        counts = table.counts[rows].reshape(-1)
        if not final:
            offsets, counts = np.zeros_like(offsets), np.zeros_like(counts)
        codes = (324, 325) if self.tiled else (273, 279)
        tags = [Tag(codes[0], offset_type, offsets), Tag(codes[1], 4, counts)]
        if self.nsubifds:
            subifds = [c.offset for c in self.children] if final else []
            if final and len(subifds) != self.nsubifds:
                raise ValueError(f"{len(subifds)} SubIFDs written of {self.nsubifds} announced")
            subifds = subifds or [0] * self.nsubifds
            tags.append(Tag(330, 18 if layout is BIGTIFF else 13, subifds))
        return tags

    def nbytes(self, layout: IfdLayout) -> int:
        return ifd_nbytes([*self.tags, *self._dynamic(layout, final=False)], layout)

    def pack(self, byteorder: ByteOrder, layout: IfdLayout) -> bytes:
        if layout is not BIGTIFF and self.table.counts.size and self.table.offsets.max() >= 2**32:
            raise ValueError("segment offsets exceed 4 GiB; write a BigTIFF (bigtiff=True)")
        tags = [*self.tags, *self._dynamic(layout, final=True)]
        return pack_ifd(
            tags,
            byteorder=byteorder,
            layout=layout,
            offset=self.offset,
            next_offset=self.next_offset,
        )


def place(records: Sequence[IfdRecord], layout: IfdLayout, start: int, /) -> int:
    """Give each record its offset, one after the other from ``start``; return the end."""
    pos = start + (start & 1)
    for record in records:
        record.offset = pos
        pos += record.nbytes(layout)
    return pos


def pack_records(records: Sequence[IfdRecord], byteorder: ByteOrder, layout: IfdLayout) -> bytes:
    """The bytes of consecutive placed records (their offsets must follow each other)."""
    return b"".join(r.pack(byteorder, layout) for r in records)
