"""The segments of one page: tiles or strips, their order and the bands they are cut from.

Pixels stream through the writer in *bands*: rows of one sample plane and one
depth slab, one tile row high (or a few strips). A band is cut into the
segments it holds, left to right. Segments are numbered as TIFF stores them:
separate sample plane, then depth, then rows, then columns.

>>> g = Geometry(separate=1, depth=1, length=100, width=70, contig=3, tile=(1, 32, 32))
>>> g.grid, g.nsegments, g.segment_shape
((1, 1, 4, 3), 12, (1, 32, 32, 3))
>>> [b for b in g.bands()][-1]
(96, 100)
>>> g.half().length, g.half().width
(50, 35)
>>> s = Geometry(separate=1, depth=1, length=10, width=8, contig=1, rowsperstrip=4)
>>> s.nsegments, s.strip_rows(2), s.band_rows
(3, 2, 10)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import NamedTuple

__all__ = ["Band", "Geometry", "ceildiv"]

_BAND_ROWS = 64
"""Strips are streamed in bands of at least this many rows."""


def ceildiv(a: int, b: int) -> int:
    return -(-a // b)


class Band(NamedTuple):
    """Where a band lies: page, sample plane, depth slab ``[z0, z1)`` and rows ``[y0, y1)``."""

    frame: int
    sample: int
    z0: int
    z1: int
    y0: int
    y1: int

    @property
    def position(self) -> tuple[int, int, int, int]:
        """Its place in file order: ``(frame, sample, z0, y0)``."""
        return (self.frame, self.sample, self.z0, self.y0)


@dataclass(frozen=True, slots=True)
class Geometry:
    """One page's samples ``(separate, depth, length, width, contig)`` and segmentation.

    ``tile`` is ``(depth, length, width)`` for tiled pages; otherwise pages are
    stored in strips of ``rowsperstrip`` rows, one set per depth slice and plane.
    """

    separate: int
    depth: int
    length: int
    width: int
    contig: int
    tile: tuple[int, int, int] | None = None
    rowsperstrip: int = 0

    def __post_init__(self) -> None:
        if self.tile is None and not 1 <= self.rowsperstrip <= self.length:
            object.__setattr__(self, "rowsperstrip", self.length)

    @property
    def tiled(self) -> bool:
        return self.tile is not None

    @property
    def slab(self) -> int:
        """Depth of one band: the tile depth, or 1 for strips."""
        return self.tile[0] if self.tile is not None else 1

    @property
    def segment_rows(self) -> int:
        return self.tile[1] if self.tile is not None else self.rowsperstrip

    @property
    def segment_shape(self) -> tuple[int, int, int, int]:
        """Decoded shape of a full segment ``(depth, length, width, samples)``."""
        if self.tile is not None:
            return (*self.tile, self.contig)
        return (1, self.rowsperstrip, self.width, self.contig)

    @property
    def grid(self) -> tuple[int, int, int, int]:
        """Segments along (separate samples, depth, length, width)."""
        rows = self.segment_rows
        cols = self.tile[2] if self.tile is not None else self.width
        return (
            self.separate,
            ceildiv(self.depth, self.slab),
            ceildiv(self.length, rows),
            ceildiv(self.width, cols),
        )

    @property
    def nsegments(self) -> int:
        return math.prod(self.grid)

    @property
    def band_rows(self) -> int:
        """Rows per band: one tile row, or whole strips of at least 64 rows."""
        if self.tile is not None:
            return self.tile[1]
        rows = self.rowsperstrip
        return min(rows * ceildiv(_BAND_ROWS, rows), max(rows, self.length))

    def planes(self) -> Iterator[tuple[int, int, int]]:
        """``(sample plane, first depth, last depth + 1)`` of each slab, in file order."""
        for s in range(self.separate):
            for z0 in range(0, self.depth, self.slab):
                yield s, z0, min(z0 + self.slab, self.depth)

    def bands(self) -> Iterator[tuple[int, int]]:
        """``(first row, last row + 1)`` of each band of a slab."""
        step = self.band_rows
        for y0 in range(0, self.length, step):
            yield y0, min(y0 + step, self.length)

    def strip_rows(self, index: int) -> int:
        """Rows of strip ``index`` within a slab (the last strip is short)."""
        return min(self.rowsperstrip, self.length - index * self.rowsperstrip)

    def first_segment(self, s: int, z0: int, y0: int) -> int:
        """Index of the first segment of the band starting at row ``y0``."""
        _, nz, ny, nx = self.grid
        return ((s * nz + z0 // self.slab) * ny + y0 // self.segment_rows) * nx

    def half(self) -> Geometry:
        """The next pyramid level: length and width halved (rounded up)."""
        length, width = ceildiv(self.length, 2), ceildiv(self.width, 2)
        rows = min(self.rowsperstrip, length) if self.tile is None else 0
        return replace(self, length=length, width=width, rowsperstrip=rows)
