"""Merge the byte reads that arrive in the same event-loop tick.

zarr issues concurrent single-chunk ``get`` calls; neighbouring tiles of a TIFF
usually sit next to each other in the file. A :class:`ReadBatcher` collects the
reads queued before the loop runs its next callback, merges those closer than
``gap`` (up to ``max_block`` bytes per request) and fetches each merged range
once. A merged block of at least :data:`SPLIT_BYTES` hands each read its bytes
as soon as they have arrived (:meth:`~tiffzarr.io.ByteSource.read_split`; over
HTTP while the rest is in transit), so zarr decodes the first chunks while the
rest of the block is still on its way.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable
from dataclasses import dataclass

from tiffzarr.io import ByteSource

__all__ = ["SPLIT_BYTES", "ReadBatcher", "plan_blocks"]

SPLIT_BYTES = 256 * 1024
"""Smallest merged block whose reads are delivered piece by piece."""

Block = tuple[int, int, list["_Pending"]]
"""``(start, stop, reads)`` of one merged range."""


@dataclass(slots=True)
class _Pending:
    source: int
    offset: int
    length: int
    future: asyncio.Future[bytes]


def plan_blocks(
    ranges: list[tuple[int, int, int]], *, gap: int, max_block: int
) -> list[tuple[int, int, int, list[int]]]:
    """Group ``(source, offset, length)`` reads into blocks.

    Returns ``(source, start, stop, members)`` with ``members`` indexing
    ``ranges``.

    >>> plan_blocks([(0, 0, 10), (0, 10, 10), (0, 100, 5), (1, 0, 4)], gap=0, max_block=100)
    [(0, 0, 20, [0, 1]), (0, 100, 105, [2]), (1, 0, 4, [3])]
    """
    order = sorted(range(len(ranges)), key=lambda i: (ranges[i][0], ranges[i][1]))
    blocks: list[tuple[int, int, int, list[int]]] = []
    for i in order:
        source, offset, length = ranges[i]
        end = offset + length
        if blocks:
            bsource, start, stop, members = blocks[-1]
            if bsource == source and offset - stop <= gap and max(stop, end) - start <= max_block:
                blocks[-1] = (bsource, start, max(stop, end), [*members, i])
                continue
        blocks.append((source, offset, end, [i]))
    return blocks


class ReadBatcher:
    """Per-event-loop collector of reads; see the module docstring."""

    def __init__(self, source: Callable[[int], ByteSource], *, gap: int, max_block: int) -> None:
        self._source = source
        self.gap = gap
        self.max_block = max_block
        self._pending: list[_Pending] = []
        self.ticks = 0
        """Batches flushed so far: reads that see the same value share a batch."""
        self._tasks: set[asyncio.Task[None]] = set()

    async def read(self, source: int, offset: int, length: int) -> bytes:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append(_Pending(source, offset, length, future))
        return await future

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        self.ticks += 1
        blocks = plan_blocks(
            [(p.source, p.offset, p.length) for p in pending],
            gap=self.gap,
            max_block=self.max_block,
        )
        by_source: dict[int, list[Block]] = {}
        for source, start, stop, members in blocks:
            by_source.setdefault(source, []).append((start, stop, [pending[i] for i in members]))
        for source, source_blocks in by_source.items():
            task = asyncio.ensure_future(self._fetch(source, source_blocks))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _fetch(self, source: int, blocks: list[Block]) -> None:
        """Read one source's blocks: together (one request where the source allows),
        or, when large, each piece by piece."""
        src = self._source(source)
        whole: list[Block] = []
        split: list[Block] = []
        for block in blocks:
            start, stop, members = block
            large = len(members) > 1 and stop - start >= SPLIT_BYTES
            (split if large else whole).append(block)
        await asyncio.gather(
            *([self._fetch_whole(src, whole)] if whole else []),
            *(self._fetch_split(src, block) for block in split),
        )

    async def _fetch_whole(self, source: ByteSource, blocks: list[Block]) -> None:
        try:
            datas = await source.read_many([(start, stop - start) for start, stop, _ in blocks])
        except BaseException as exc:
            _fail([p for _, _, members in blocks for p in members], exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (start, _, members), data in zip(blocks, datas, strict=True):
            _deliver(start, data, members)

    async def _fetch_split(self, source: ByteSource, block: Block) -> None:
        start, _, members = block
        waiting = sorted(members, key=lambda p: p.offset + p.length)
        pieces: list[tuple[int, bytes]] = []
        served = 0

        def arrived(at: int, piece: bytes) -> None:
            nonlocal served
            pieces.append((at, piece))
            reached = at + len(piece)
            while (
                served < len(waiting) and waiting[served].offset + waiting[served].length <= reached
            ):
                p = waiting[served]
                served += 1
                if not p.future.done():
                    p.future.set_result(_cut(pieces, p.offset, p.length))

        arrived(start, b"")  # empty reads at the start
        ends = sorted({p.offset + p.length for p in waiting[served:]})
        try:
            await source.read_split(start, ends, arrived)
        except BaseException as exc:
            _fail(waiting[served:], exc)
            if not isinstance(exc, Exception):
                raise


def _fail(members: list[_Pending], exc: BaseException) -> None:
    for p in members:
        if not p.future.done():
            p.future.set_exception(exc)


def _cut(pieces: list[tuple[int, bytes]], offset: int, length: int) -> bytes:
    """``[offset, offset + length)`` out of consecutive pieces that cover it.

    >>> _cut([(10, b"abc"), (13, b"defg")], 11, 4), _cut([(10, b"abc")], 10, 0)
    (b'bcde', b'')
    """
    stop = offset + length
    first = max(bisect.bisect_right(pieces, offset, key=lambda p: p[0]) - 1, 0)
    parts = []
    for i in range(first, len(pieces)):  # not islice: it would walk the pieces before
        at, piece = pieces[i]
        if at >= stop:
            break
        if at + len(piece) > offset:
            parts.append(piece[max(offset - at, 0) : stop - at])
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _deliver(start: int, data: bytes, members: list[_Pending]) -> None:
    """Hand each waiting read its slice of a block."""
    if len(members) == 1 and members[0].offset == start and members[0].length == len(data):
        if not members[0].future.done():
            members[0].future.set_result(data)
        return
    view = memoryview(data)
    for p in members:
        if not p.future.done():
            p.future.set_result(bytes(view[p.offset - start : p.offset - start + p.length]))
