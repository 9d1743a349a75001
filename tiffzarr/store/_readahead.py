"""Read ahead when zarr walks an array's chunk grid.

zarr keeps a fixed number of chunk reads in flight (``async.concurrency``): the
first batch of a large read arrives in one event-loop tick and is merged into
one request, but after it each finished chunk lets one more read start, alone
in its tick, so a full level costs about one request per chunk beyond the
first batch. A :class:`Readahead` watches the chunk indices (in C order of the
chunk grid) each array is asked for. When reads arriving in later ticks keep
following the walk seen so far -- consecutive chunks, or runs of consecutive
chunks separated by one constant jump (a window narrower than the grid) -- it
predicts the next chunks of that walk and the store fetches them together, in
one merged request, before zarr asks.

Nothing is read ahead for reads that all arrive at once (a window that fits in
zarr's first batch), nor for a walk that has not yet followed its pattern
across two ticks. Prefetched chunks wait until asked; a read that breaks the
walk drops them. What waits is bounded by ``1.5 * count`` chunks per array.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

__all__ = ["READAHEAD_BYTES", "Readahead", "chunk_coords", "chunk_index", "readahead_count"]

READAHEAD_BYTES = 32 * 2**20
"""Decoded bytes of the chunks one prediction covers (at most 64 chunks, zarr's reads in flight)."""


def readahead_count(chunk_nbytes: int, /) -> int:
    """How many chunks one prediction covers for chunks of ``chunk_nbytes``.

    >>> readahead_count(256 * 256 * 2), readahead_count(2**30)
    (64, 1)
    """
    return max(1, min(64, READAHEAD_BYTES // max(chunk_nbytes, 1)))


@dataclass(slots=True)
class _Walk:
    """What one array's reads have shown so far."""

    prev: int = -1
    pos: int = 0  # place of ``prev`` in its run of consecutive chunks
    tick: int = -1
    row: int = 0  # length of a run, once one has ended (0: none has)
    jump: int = 0  # step from a run's last chunk to the next run's first
    streak: int = 0  # steps that followed the walk in a later tick than the step before
    frontier: tuple[int, int] | None = None  # last predicted chunk and its place in its run
    keys: list[str] = field(default_factory=list)

    def after(self, index: int, pos: int) -> tuple[int, int]:
        """The chunk the walk reads after ``index`` (at ``pos`` in its run)."""
        if self.row and pos + 1 >= self.row:
            return index + self.jump, 0
        return index + 1, pos + 1

    def step(self, index: int, tick: int) -> None:
        """Learn from a read of chunk ``index`` in ``tick``."""
        followed = self.prev >= 0 and self.after(self.prev, self.pos)[0] == index
        later = tick != self.tick
        if index == self.prev + 1 and (not self.row or self.pos + 1 < self.row):
            pos = self.pos + 1
        else:
            if self.prev >= 0 and index > self.prev and self.pos > 0 and not followed:
                self.row, self.jump = self.pos + 1, index - self.prev
            pos = 0
        self.streak = (self.streak + 1 if later else self.streak) if followed else 0
        self.prev, self.pos, self.tick = index, pos, tick


class Readahead:
    """The prefetched chunks of one store in one event loop; see the module docstring."""

    def __init__(self) -> None:
        self._walks: dict[str, _Walk] = {}
        self._ahead: dict[str, asyncio.Future[Any]] = {}

    def take(self, key: str, /) -> asyncio.Future[Any] | None:
        """The prefetched read of ``key``, removed, or ``None``."""
        return self._ahead.pop(key, None)

    def plan(
        self, path: str, index: int, *, tick: int, hit: bool, count: int, size: int
    ) -> list[int]:
        """The chunks of array ``path`` to fetch now, given a read of chunk ``index``.

        ``hit``: the read was prefetched. ``count``: chunks per prediction;
        ``size``: chunks in the grid. A miss that starts a prediction includes
        ``index`` itself, so that it shares the merged request.
        """
        walk = self._walks.setdefault(path, _Walk())
        walk.step(index, tick)
        if not hit and walk.streak == 0:
            self._drop(walk)
        if not hit and walk.streak < 2:
            return []
        if walk.frontier is not None and walk.frontier[0] > index:
            if _distance(walk, index, walk.pos, walk.frontier[0]) >= count // 2:
                return []
            planned, current = [], walk.after(*walk.frontier)
        else:
            planned, current = ([] if hit else [index]), walk.after(index, walk.pos)
        for _ in range(count):
            if current[0] >= size:
                break
            walk.frontier = current
            planned.append(current[0])
            current = walk.after(*current)
        return planned

    def put(self, path: str, key: str, future: asyncio.Future[Any], /) -> None:
        """Keep a prefetched read of ``key`` (array ``path``) until asked."""
        future.add_done_callback(_retrieve)
        self._ahead[key] = future
        self._walks[path].keys.append(key)

    def _drop(self, walk: _Walk) -> None:
        for key in walk.keys:
            self._ahead.pop(key, None)
        walk.keys.clear()
        walk.frontier = None


def _distance(walk: _Walk, index: int, pos: int, stop: int) -> int:
    """Chunks the walk reads after ``index`` up to ``stop``."""
    steps = 0
    while index < stop:
        index, pos = walk.after(index, pos)
        steps += 1
    return steps


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a failed prefetch as seen: it raises again when (if) it is asked for."""
    if not future.cancelled():
        future.exception()


def chunk_index(coords: tuple[int, ...], grid: tuple[int, ...]) -> int:
    """The C-order index of chunk ``coords`` in ``grid``.

    >>> chunk_index((1, 2), (3, 4)), chunk_coords(6, (3, 4))
    (6, (1, 2))
    """
    index = 0
    for c, n in zip(coords, grid, strict=True):
        index = index * n + c
    return index


def chunk_coords(index: int, grid: tuple[int, ...]) -> tuple[int, ...]:
    """The chunk coordinates of C-order ``index`` in ``grid`` (see :func:`chunk_index`)."""
    coords = []
    for n in reversed(grid):
        index, c = divmod(index, n)
        coords.append(c)
    return tuple(reversed(coords))
