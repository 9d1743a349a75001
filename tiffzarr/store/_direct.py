"""Read an array of a :class:`~tiffzarr.store.TiffStore` (or a window of it) straight
into one numpy array, without zarr: :func:`read_array` (``tiffzarr.read_array``).

zarr reads a large selection chunk by chunk: a fixed number of chunk reads in
flight, each decoded chunk copied into the result. :func:`read_array` plans the
whole read at once instead: it locates every chunk the selection touches, merges
their byte ranges (and the checks of predicted pages or files) into blocks of at
most :data:`REMOTE_BLOCK` bytes (:data:`~tiffzarr.store._store.LOCAL_BLOCK` for
local files; one request each), reads them in file order with at most
:data:`WINDOW` blocks' worth of bytes (and :data:`MAX_BLOCKS` blocks) in flight,
and decodes each chunk, as soon as its bytes have arrived (over HTTP while the
rest of its block is still on its way), into its place in the output,
:data:`JOB_BYTES` of decoded chunks per job of tiffzarr's codec threads
(:mod:`tiffzarr.codecs._threads`). Memory: the output, plus the blocks in flight
and the chunks being decoded. Chunks are decoded as the zarr codecs decode them
(:func:`~tiffzarr.codecs.decode_chunk`, then the array's axis order); absent
chunks are the fill value; a predicted page or file is checked before its pixels
are decoded.

>>> import asyncio, numpy, tifffile, tempfile, os
>>> from tiffzarr.store import open_store
>>> path = os.path.join(tempfile.mkdtemp(), "a.tif")
>>> data = numpy.arange(96 * 80, dtype="uint16").reshape(96, 80)
>>> tifffile.imwrite(path, data, tile=(32, 32), compression="zlib")
>>> store = asyncio.run(open_store(path, series=0, level=0))
>>> bool((asyncio.run(read_array(store)) == data).all())
True
>>> asyncio.run(read_array(store, selection=(slice(40, 50), slice(70, None)))).shape
(10, 10)
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tiffzarr._check import check_arguments, describe
from tiffzarr._config import config
from tiffzarr.codecs import chunk_view, decode_chunk, frame_segments
from tiffzarr.codecs._threads import INLINE_BYTES, in_codec_threads
from tiffzarr.errors import (
    ChunkDecodeError,
    LimitError,
    NotFoundError,
    SourceChangedError,
    TiffZarrError,
)
from tiffzarr.io import ByteSource, LocalSource
from tiffzarr.model import ArrayModel, FileCheck, PageCheck
from tiffzarr.reader import forget_file
from tiffzarr.store._batch import _Pending, plan_blocks
from tiffzarr.store._metadata import chunk_key
from tiffzarr.store._store import LOCAL_BLOCK, TiffStore

__all__ = ["JOB_BYTES", "MAX_BLOCKS", "REMOTE_BLOCK", "WINDOW", "read_array"]

REMOTE_BLOCK = 64 * 2**20
"""Largest merged request to a remote file."""
WINDOW = 4
"""Bytes read (and being decoded) at once: this many blocks of the largest size."""
MAX_BLOCKS = 64
"""Blocks read at once, however small (the files of a sequence: one block each)."""
JOB_BYTES = 2**20
"""Decoded bytes of the chunks one job of the codec threads decodes (at least one chunk)."""

Box = tuple[tuple[int, int], ...]
"""``[start, stop)`` per dimension."""


@dataclass(slots=True, eq=False)
class _Chunk:
    """A present chunk: where it goes and its segments' bytes as they arrive."""

    key: str
    url: str
    framed: bool
    target: tuple[slice, ...]  # in the output
    within: tuple[slice, ...]  # in the decoded chunk
    parts: list[bytes | memoryview | None]  # sparse segments stay None
    waiting: int
    check: _Check | None

    def data(self) -> bytes | memoryview:
        if self.framed:
            return frame_segments([None if p is None else bytes(p) for p in self.parts])
        return self.parts[0] or b""


@dataclass(slots=True, eq=False)
class _Check:
    """The checks of one predicted page or file, and the chunks that wait for them."""

    checks: list[PageCheck | FileCheck]
    url: str
    key: str  # the first chunk that needs it, to name in errors
    blocks: list[bytes]  # the file's spans, then (when read) the first file's
    waiting: int
    chunks: list[_Chunk] = field(default_factory=list)
    done: bool = False

    def verify(self) -> None:
        count = len(self.checks[0].spans)
        spans, reference = self.blocks[:count], self.blocks[count:] or None
        try:
            for check in self.checks:
                check.verify(spans, reference, url=self.url)
        except TiffZarrError as exc:
            raise exc.located(key=self.key) from exc
        self.done = True


Taker = tuple[_Chunk | _Check, int]
"""Who receives a range's bytes, and in which slot."""


@dataclass(slots=True)
class _Plan:
    """The distinct ``(source, offset, length)`` ranges to read and who takes each."""

    ranges: list[tuple[int, int, int]] = field(default_factory=list)
    takers: list[list[Taker]] = field(default_factory=list)
    _seen: dict[tuple[int, int, int], int] = field(default_factory=dict)
    _checks: dict[tuple[object, ...], _Check] = field(default_factory=dict)

    def need(self, source: int, offset: int, length: int, taker: Taker) -> None:
        at = self._seen.setdefault((source, offset, length), len(self.ranges))
        if at == len(self.ranges):
            self.ranges.append((source, offset, length))
            self.takers.append([])
        self.takers[at].append(taker)

    def check(
        self, store: TiffStore, source: int, check: PageCheck | FileCheck, chunk: _Chunk
    ) -> None:
        """Make ``chunk`` wait for ``check`` (read with the pixels, once per page or file)."""
        ident = (source, check.spans, check.reference_url)
        found = self._checks.get(ident)
        if found is not None:
            found.checks.append(check)
        else:
            spans = [(source, *s) for s in check.spans]
            if check.reference_url is not None:
                reference = store.source_of[check.reference_url]
                spans += [(reference, *s) for s in check.spans]
            found = _Check([check], chunk.url, chunk.key, [b""] * len(spans), len(spans))
            self._checks[ident] = found
            for slot, span in enumerate(spans):
                self.need(*span, (found, slot))
        chunk.check = found


def _box(shape: tuple[int, ...], selection: Sequence[slice] | None) -> Box:
    """The ``[start, stop)`` a selection of slices (step 1) picks from each dimension.

    >>> _box((10, 20), None), _box((10, 20), (slice(2, None), slice(-5, 99)))
    (((0, 10), (0, 20)), ((2, 10), (15, 20)))
    """
    if selection is None:
        return tuple((0, n) for n in shape)
    if len(selection) != len(shape) or not all(isinstance(s, slice) for s in selection):
        raise IndexError(f"select {len(shape)} dimensions with slices, not {selection!r}")
    box = []
    for s, n in zip(selection, shape, strict=True):
        start, stop, step = s.indices(n)
        if step != 1:
            raise IndexError(f"slices with a step ({s}) are not supported")
        box.append((start, max(start, stop)))
    return tuple(box)


def _failed(store: TiffStore, exc: TiffZarrError, key: str) -> TiffZarrError:
    """``exc`` naming chunk ``key``, as the store's ``get`` raises it."""
    if isinstance(exc, SourceChangedError):  # later opens parse the file anew
        forget_file(store.index.url)
        forget_file(exc.url or store.index.url)
    return exc.located(key=key)


async def _plan(store: TiffStore, path: str, array: ArrayModel, box: Box) -> tuple[_Plan, bool]:
    """Every present chunk ``box`` touches, and whether any chunk there is absent."""
    plan = _Plan()
    absent = False
    spans = [range(a // c, -(-b // c)) for (a, b), c in zip(box, array.chunks, strict=True)]
    for coords in itertools.product(*spans):
        key = chunk_key(path, coords, store.zarr_format)
        try:
            located = await store._locate(key, array, coords)
        except TiffZarrError as exc:
            raise _failed(store, exc, key) from exc
        if located is None:
            absent = True
            continue
        target, within = [], []
        for i, ((a, b), c) in enumerate(zip(box, array.chunks, strict=True)):
            lo, hi = max(coords[i] * c, a), min((coords[i] + 1) * c, b)
            target.append(slice(lo - a, hi - a))
            within.append(slice(lo - coords[i] * c, hi - coords[i] * c))
        present = [p for p in located.parts if p is not None]
        chunk = _Chunk(
            key, located.url, located.framed, tuple(target), tuple(within),
            [None] * len(located.parts), len(present), None,
        )  # fmt: skip
        for slot, part in enumerate(located.parts):
            if part is not None:
                plan.need(located.source, *part, (chunk, slot))
        if located.check is not None and not located.check.verified:
            plan.check(store, located.source, located.check, chunk)
    return plan, absent


def _decode_into(out: np.ndarray, array: ArrayModel, chunks: list[_Chunk]) -> None:
    """Decode ``chunks`` as the array's zarr codecs do and write them into ``out``."""
    for chunk in chunks:
        try:
            data = chunk.data()
            decoded = chunk_view(data, array.codec)  # copied once, into ``out``
            if decoded is None:
                decoded = decode_chunk(data, array.codec)
            if decoded.size != math.prod(array.stored_chunks):
                raise ChunkDecodeError(
                    f"segment of shape {array.codec.chunk_shape} does not fill a chunk of "
                    f"{array.stored_chunks}"
                )
            if decoded.dtype != out.dtype:
                raise ChunkDecodeError(
                    f"segment dtype {decoded.dtype} is not the array's {out.dtype}"
                )
        except TiffZarrError as exc:
            raise exc.located(url=chunk.url, key=chunk.key) from exc
        chunk.parts.clear()  # the bytes are no longer needed
        stored = decoded.reshape(array.stored_chunks)
        served = stored.transpose(array.order) if array.order else stored
        out[chunk.target] = served[chunk.within]


class _Jobs:
    """Chunks handed to the codec threads, :data:`JOB_BYTES` of decoded chunks a job."""

    def __init__(self, out: np.ndarray, array: ArrayModel) -> None:
        self.out = out
        self.array = array
        self.batch: list[_Chunk] = []
        self.nbytes = 0
        self.running: list[asyncio.Future[None]] = []

    def add(self, chunks: list[_Chunk]) -> None:
        for chunk in chunks:
            self.batch.append(chunk)
            self.nbytes += self.array.codec.chunk_nbytes
            if self.nbytes >= JOB_BYTES:
                self._start()

    def _start(self) -> None:
        batch, self.batch, self.nbytes = self.batch, [], 0
        job = in_codec_threads(_decode_into, self.out, self.array, batch)
        self.running.append(asyncio.ensure_future(job))

    async def finish(self) -> None:
        """Decode what is left (on the loop when small) and wait for every job."""
        if self.nbytes and self.nbytes <= INLINE_BYTES and not self.running:
            _decode_into(self.out, self.array, self.batch)  # cheaper than a hop to the pool
        elif self.batch:
            self._start()
        done = await asyncio.gather(*self.running, return_exceptions=True)
        for result in done:
            if isinstance(result, BaseException):
                raise result


class _Reader:
    """Reads the blocks of one plan and decodes their chunks into ``out``."""

    def __init__(self, store: TiffStore, array: ArrayModel, plan: _Plan, out: np.ndarray) -> None:
        self.store = store
        self.array = array
        self.plan = plan
        self.out = out

    async def block(self, block: tuple[int, int, int, list[int]]) -> None:
        """Read one block; decode each chunk in it as soon as its bytes are in."""
        source, start, stop, members = block
        ranges = self.plan.ranges
        members = sorted(members, key=lambda r: ranges[r][1] + ranges[r][2])  # as they arrive
        src = self.store._source(source)
        jobs = _Jobs(self.out, self.array)
        if isinstance(src, LocalSource):  # one read; each range a view of it, not a copy
            try:
                view = memoryview(await src.read(start, stop - start))
            except TiffZarrError as exc:
                raise _failed(self.store, exc, self._key(members[0])) from exc
            for r in members:
                offset = ranges[r][1] - start
                jobs.add(self._deliver(r, view[offset : offset + ranges[r][2]]))
        else:
            await self._stream(src, block, members, jobs)
        await jobs.finish()

    async def _stream(
        self,
        src: ByteSource,
        block: tuple[int, int, int, list[int]],
        members: list[int],
        jobs: _Jobs,
    ) -> None:
        """Deliver the ranges of a remote block as its bytes arrive (``members``: by end)."""
        loop = asyncio.get_running_loop()
        pending = [_Pending(*self.plan.ranges[r], loop.create_future()) for r in members]
        split = self.store._batcher()._fetch_split(src, (block[1], block[2], pending))
        fetch = asyncio.ensure_future(split)
        try:
            for r, read in zip(members, pending, strict=True):
                try:
                    data = await read.future
                except TiffZarrError as exc:
                    raise _failed(self.store, exc, self._key(r)) from exc
                jobs.add(self._deliver(r, data))
        finally:
            fetch.cancel()

    def _key(self, r: int) -> str:
        """A chunk key to name for a failed read of range ``r``."""
        taker = self.plan.takers[r][0][0]
        return taker.key

    def _deliver(self, r: int, data: bytes | memoryview) -> list[_Chunk]:
        """Hand range ``r``'s bytes to its takers; the chunks now ready to decode."""
        ready: list[_Chunk] = []
        for taker, slot in self.plan.takers[r]:
            if isinstance(taker, _Check):
                taker.blocks[slot] = bytes(data)  # small; kept by the check, not the block
                taker.waiting -= 1
                if taker.waiting == 0:
                    taker.verify()
                    ready += taker.chunks
                    taker.chunks.clear()
                continue
            taker.parts[slot] = data
            taker.waiting -= 1
            if taker.waiting:
                continue
            if taker.check is None or taker.check.done:
                ready.append(taker)
            else:
                taker.check.chunks.append(taker)
        return ready


def _fill_value(store: TiffStore, array: ArrayModel) -> np.ndarray:
    """What absent chunks hold: the store's fill value, the array's, or 0 (as zarr v3)."""
    value = store.fill_value if store.fill_value is not None else array.fill_value
    return np.asarray(0 if value is None else value).astype(array.dtype)


async def read_array(
    store: TiffStore, path: str = "", /, *, selection: Sequence[slice] | None = None
) -> np.ndarray:
    """Read array ``path`` of ``store`` (``selection``: one slice per dimension, step 1)
    into memory, the reads planned for the whole of it.

    Pixels equal ``zarr.open_array(store, path=path)[selection]``; see
    :mod:`tiffzarr.store._direct` for how they are read: faster than zarr for
    large reads and windows, in fewer requests. Raises
    :class:`~tiffzarr.errors.LimitError` when the result would exceed
    ``tiffzarr.config.max_read_bytes``, :class:`~tiffzarr.errors.NotFoundError`
    when the store has no array at ``path``, and errors naming the file and chunk
    key as the store's ``get`` does.
    """
    if not isinstance(store, TiffStore):
        raise TypeError(f"store must be a TiffStore (tiffzarr.open_store), not {describe(store)}")
    check_arguments(selection=selection)
    array = store.hierarchy.arrays.get(path)
    if array is None:
        raise NotFoundError(f"the store has no array at {path!r}", url=store.index.url)
    box = _box(array.shape, selection)
    shape = tuple(b - a for a, b in box)
    nbytes = math.prod(shape) * array.dtype.itemsize
    if nbytes > config.max_read_bytes:
        raise LimitError(
            f"the array needs {nbytes} bytes, more than max_read_bytes ({config.max_read_bytes});"
            " read it in parts through open_store",
            url=store.index.url,
        )
    plan, absent = await _plan(store, path, array, box)
    if absent:
        out = np.full(shape, _fill_value(store, array), array.dtype)
    else:
        out = np.empty(shape, array.dtype)
    max_block = LOCAL_BLOCK if isinstance(store._source(0), LocalSource) else REMOTE_BLOCK
    blocks = plan_blocks(plan.ranges, gap=store._batcher().gap, max_block=max_block)
    await _read_blocks(_Reader(store, array, plan, out), blocks, budget=WINDOW * max_block)
    return out


async def _read_blocks(
    reader: _Reader, blocks: list[tuple[int, int, int, list[int]]], *, budget: int
) -> None:
    """Read ``blocks`` in order: at most ``budget`` bytes of them (always one) and
    :data:`MAX_BLOCKS` at a time."""
    running: dict[asyncio.Future[None], int] = {}
    try:
        for block in blocks:
            size = block[2] - block[1]
            while running and (len(running) >= MAX_BLOCKS or sum(running.values()) + size > budget):
                await _settle(running)
            running[asyncio.ensure_future(reader.block(block))] = size
        while running:
            await _settle(running)
    finally:
        for task in running:
            task.cancel()


async def _settle(running: dict[asyncio.Future[None], int]) -> None:
    """Wait for one of the ``running`` blocks to finish; raise the first failure."""
    done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
    # every failure retrieved; the first raised is that of the block started first (a
    # file's check precedes its pixels), whatever order the set of finished tasks has
    errors = [task.exception() for task in running if task in done]
    for task in done:
        del running[task]
    for error in errors:
        if error is not None:
            raise error
