"""A read-only zarr store over the model of a TIFF file; chunks are raw segments."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import weakref
from collections.abc import AsyncIterator, Iterable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from zarr.abc.store import (
    ByteRequest,
    OffsetByteRequest,
    RangeByteRequest,
    Store,
    SuffixByteRequest,
)
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype

from tiffzarr._config import config
from tiffzarr.codecs import CHUNK_ORIGIN, frame_segments
from tiffzarr.errors import (
    LimitError,
    ReadOnlyError,
    SourceChangedError,
    SourceError,
    TiffFormatError,
    TiffZarrError,
    UnsupportedError,
)
from tiffzarr.format import Compression, PageLayout
from tiffzarr.io import (
    ByteSource,
    LocalSource,
    SourceStats,
    is_file_object_url,
    open_source,
    refuse_file_objects,
)
from tiffzarr.model import (
    WINDOW,
    ArrayModel,
    FileCheck,
    PageCheck,
    SegmentTable,
    TiffIndex,
    load_segments,
)
from tiffzarr.reader import forget_file
from tiffzarr.store._batch import ReadBatcher
from tiffzarr.store._hierarchy import Hierarchy
from tiffzarr.store._metadata import (
    ZarrFormat,
    chunk_key,
    chunk_keys,
    metadata_documents,
    parse_chunk_key,
)
from tiffzarr.store._readahead import Readahead, chunk_coords, chunk_index, readahead_count
from tiffzarr.store._write import check_writable

__all__ = ["TiffStore"]

REMOTE_GAP = 2**20
"""Reads of remote files closer than this are merged into one request."""
REMOTE_BLOCK = 16 * 2**20
LOCAL_GAP = 0
LOCAL_BLOCK = 8 * 2**20


class _Located(NamedTuple):
    """A present chunk: its segments' ``(offset, nbytes)`` (``None`` when sparse)."""

    source: int
    parts: tuple[tuple[int, int] | None, ...]
    framed: bool
    check: PageCheck | FileCheck | None
    url: str

    @property
    def nbytes(self) -> int:
        """Bytes the store returns for the chunk."""
        sizes = [0 if p is None else p[1] for p in self.parts]
        return 4 + 8 * len(sizes) + sum(sizes) if self.framed else sizes[0]


def _segment_range(
    table: SegmentTable, segment: int, layout: PageLayout, size: int, *, url: str, key: str
) -> tuple[int, int] | None:
    """``(offset, nbytes)`` to read for one segment, ``None`` when sparse.

    Uncompressed segments are read at their stored size; a byte count past the
    end of the file is an error except where libtiff repairs it.
    """
    found = table.locate(segment)
    if found is None:
        return None
    offset, claimed = found
    nbytes = claimed
    if layout.compression == Compression.NONE:
        if offset + nbytes > size and layout.repairs_byte_count:
            nbytes = layout.stored_nbytes  # the one strip's count is known to lie
        nbytes = min(nbytes, layout.stored_nbytes)
    elif nbytes > 2 * layout.stored_nbytes + 2**16:
        raise LimitError(
            f"a segment of {nbytes} bytes cannot encode {layout.stored_nbytes} bytes",
            url=url,
            key=key,
            offset=offset,
        )
    if offset + nbytes > size or (offset + claimed > size and not layout.repairs_byte_count):
        raise TiffFormatError(
            f"segment [{offset}, {offset + claimed}) is outside the file ({size} bytes)",
            url=url,
            key=key,
            offset=offset,
        )
    return offset, nbytes


class TiffStore(Store):
    """A zarr store whose chunks are a TIFF file's own strips and tiles.

    Build it with :func:`tiffzarr.open_store`. The store is plain data (the
    parsed model, URLs and storage options): it pickles, and opens its byte
    sources, sessions and read batchers lazily, one per event loop. It is
    read-only unless ``writable`` (``mode="r+"``): then chunks of an uncompressed
    local file can be written in place (see :mod:`tiffzarr.store._write`).
    """

    def __init__(
        self,
        index: TiffIndex,
        /,
        *,
        hierarchy: Hierarchy,
        storage_options: dict[str, Any] | None = None,
        zarr_format: ZarrFormat = 3,
        fill_value: float | int | None = None,
        writable: bool = False,
    ) -> None:
        super().__init__(read_only=not writable)
        self._is_open = True
        self.index = index
        self.hierarchy = hierarchy
        self.storage_options = dict(storage_options or {})
        self.zarr_format: ZarrFormat = zarr_format
        self.fill_value = fill_value
        self._metadata: dict[str, bytes] = {}
        for path, attrs in hierarchy.groups.items():
            self._metadata.update(metadata_documents(path, attrs=attrs, zarr_format=zarr_format))
        for path, array in hierarchy.arrays.items():
            self._metadata.update(
                metadata_documents(
                    path, array=array, zarr_format=zarr_format, fill_value=fill_value
                )
            )
        self._metadata.update(hierarchy.files)
        self._paths = sorted(hierarchy.arrays, key=len, reverse=True)
        urls = {url for a in hierarchy.arrays.values() for url in a.manifest.urls}
        self._urls = tuple(sorted(urls, key=lambda u: (u != index.url, u)))
        self.source_of = {url: i for i, url in enumerate(self._urls)}
        """The number of each file's byte source, by URL."""
        self._sources: dict[int, ByteSource] = {}
        self._batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ReadBatcher] = (
            weakref.WeakKeyDictionary()
        )
        self._readaheads: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Readahead] = (
            weakref.WeakKeyDictionary()
        )
        self._loads: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[tuple[int, int], asyncio.Future[None]]
        ] = weakref.WeakKeyDictionary()
        self._writer: LocalSource | None = None
        if writable:
            source = self._source(0)
            if not isinstance(source, LocalSource):
                raise UnsupportedError("mode='r+' needs a local file", url=index.url)
            check_writable(hierarchy.arrays, source.url)
            self._writer = source
        for i, url in enumerate(self._urls):
            if is_file_object_url(url):  # the store holds the file objects it reads
                self._source(i)

    # -- plain data ----------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        why = "a store over it cannot be pickled (open the file by path or URL to pickle one)"
        refuse_file_objects(self._urls, why=why)
        return {
            "index": self.index,
            "hierarchy": self.hierarchy,
            "storage_options": self.storage_options,
            "zarr_format": self.zarr_format,
            "fill_value": self.fill_value,
            "writable": not self.read_only,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        index = state.pop("index")
        self.__init__(index, **state)  # type: ignore[misc]

    def _identity(self) -> tuple[Any, ...]:
        options = json.dumps(self.storage_options, sort_keys=True, default=repr)
        return (self._urls, options, self.zarr_format, sorted(self._metadata.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TiffStore) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash((self._urls, self.zarr_format))

    def __repr__(self) -> str:
        return f"TiffStore({self.index.url!r}, zarr_format={self.zarr_format})"

    @property
    def stats(self) -> SourceStats:
        """Requests and bytes of every source this store has opened (summed)."""
        total = SourceStats()
        for source in self._sources.values():
            total.requests += source.stats.requests
            total.bytes += source.stats.bytes
        return total

    # -- capabilities ----------------------------------------------------
    @property
    def supports_writes(self) -> bool:
        return not self.read_only

    @property
    def supports_deletes(self) -> bool:
        return False

    @property
    def supports_listing(self) -> bool:
        return True

    @property
    def supports_consolidated_metadata(self) -> bool:
        return False

    def with_read_only(self, read_only: bool = False) -> Store:
        if read_only == self.read_only:
            return self
        if not read_only:
            raise ReadOnlyError("open the file with mode='r+' to write", url=self.index.url)
        state = self.__getstate__()
        state["writable"] = False
        return TiffStore(state.pop("index"), **state)

    async def set(self, key: str, value: Buffer) -> None:
        """Write a chunk into its segment (``mode="r+"`` only); metadata cannot change."""
        if self._writer is None:
            raise ReadOnlyError("TIFF stores are read-only", url=self.index.url, key=key)
        doc = self._metadata.get(key)
        if doc is not None:
            if value.to_bytes() != doc:
                raise UnsupportedError("TIFF metadata cannot change", url=self.index.url, key=key)
            return
        resolved = self._resolve(key)
        located = None if resolved is None else await self._locate(key, resolved[1], resolved[2])
        if located is None or located.parts[0] is None:
            raise UnsupportedError(
                "the chunk has no segment in the file to write into", url=self.index.url, key=key
            )
        await self._read(located, 0, 0)  # a predicted page is checked before it is written
        offset, nbytes = located.parts[0]
        data = value.to_bytes()
        if len(data) < nbytes:
            raise UnsupportedError(
                f"{len(data)} encoded bytes do not fill the {nbytes}-byte segment",
                url=self.index.url,
                key=key,
            )
        await self._writer.write(offset, data[:nbytes])

    async def delete(self, key: str) -> None:
        raise ReadOnlyError("TIFF segments cannot be deleted", url=self.index.url, key=key)

    async def set_partial_values(self, key_start_values: Iterable[tuple[str, int, Any]]) -> None:
        raise ReadOnlyError("TIFF stores are read-only", url=self.index.url)

    # -- sources, batching, segment tables ------------------------------
    def _source(self, i: int) -> ByteSource:
        source = self._sources.get(i)
        if source is None:
            source = open_source(self._urls[i], storage_options=self.storage_options)
            if not self.read_only and i == 0 and isinstance(source, LocalSource):
                source = LocalSource(source.url, writable=True)
            known = {m.url: m for m in self.index.members}.get(self._urls[i])
            if self._urls[i] == self.index.url:
                source.expect(size=self.index.size, version=self.index.version)
            elif known is not None:
                source.expect(size=known.size, version=known.version)
            self._sources[i] = source
        return source

    def _batcher(self) -> ReadBatcher:
        loop = asyncio.get_running_loop()
        batcher = self._batchers.get(loop)
        if batcher is None:
            local = isinstance(self._source(0), LocalSource)
            batcher = ReadBatcher(
                self._source,
                gap=LOCAL_GAP if local else REMOTE_GAP,
                max_block=LOCAL_BLOCK if local else REMOTE_BLOCK,
            )
            self._batchers[loop] = batcher
        return batcher

    def _readahead(self) -> Readahead:
        loop = asyncio.get_running_loop()
        readahead = self._readaheads.get(loop)
        if readahead is None:
            readahead = self._readaheads[loop] = Readahead()
        return readahead

    async def _load_window(self, source: int, table: SegmentTable, segment: int) -> None:
        """Load the segment-table window holding ``segment``, once per loop."""
        loop = asyncio.get_running_loop()
        inflight = self._loads.setdefault(loop, {})
        key = (id(table), segment // WINDOW)
        future = inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(
                load_segments(self._source(source), [(table, segment, segment + 1)])
            )
            inflight[key] = future
            future.add_done_callback(lambda _: inflight.pop(key, None))
        await asyncio.shield(future)

    # -- keys --------------------------------------------------------------
    def _resolve(self, key: str) -> tuple[str, ArrayModel, tuple[int, ...]] | None:
        for path in self._paths:
            if path and not key.startswith(path + "/"):
                continue
            array = self.hierarchy.arrays[path]
            coords = parse_chunk_key(key[len(path) + 1 :] if path else key, array, self.zarr_format)
            if coords is not None:
                return path, array, coords
        return None

    async def _locate(
        self, key: str, array: ArrayModel, coords: tuple[int, ...]
    ) -> _Located | None:
        """Where a chunk's bytes are, ``None`` when it is absent (sparse or no page)."""
        manifest = array.manifest
        page, segment = manifest.split(coords)
        table = manifest.table(page)
        if table is None:
            return None
        url = manifest.urls[manifest.sources[page]]
        source = self.source_of[url]
        if array.codec.chunk_nbytes > config.max_chunk_bytes:
            raise LimitError(
                f"a chunk of {array.codec.chunk_nbytes} bytes exceeds max_chunk_bytes "
                f"({config.max_chunk_bytes}; see tiffzarr.set_config)",
                url=url,
                key=key,
            )
        layout = manifest.layout
        segments = range(layout.nsegments) if manifest.whole_pages else range(segment, segment + 1)
        if segments.stop > table.count:
            raise TiffFormatError(
                f"segment {segments.stop - 1} is missing (the page lists {table.count})",
                url=url,
                key=key,
            )
        for first in range(segments.start, segments.stop, WINDOW):
            if not table.loaded(first, min(first + WINDOW, segments.stop)):
                await self._load_window(source, table, first)
        if isinstance(table.check, FileCheck):
            # a file predicted to be laid out like the first: its size is not asked for
            # (a request); its segments are bounded by the first file's, and a read past
            # its end fails
            size = table.check.reference.size
        else:
            size = await self._source(source).size()
        parts = tuple(_segment_range(table, s, layout, size, url=url, key=key) for s in segments)
        if all(part is None for part in parts):
            return None
        return _Located(source, parts, manifest.whole_pages, table.check, url)

    async def _read(self, located: _Located, start: int, stop: int) -> bytes:
        """The chunk's bytes ``[start, stop)``; a predicted page or file is checked at
        the same time (all reads go out in the same tick, so neighbouring reads share
        requests)."""
        batcher = self._batcher()
        if located.framed:
            reads = [batcher.read(located.source, *p) for p in located.parts if p is not None]
        else:
            offset, _ = located.parts[0]  # type: ignore[misc]
            reads = [batcher.read(located.source, offset + start, stop - start)]
        check = located.check
        wanted = len(reads)
        if check is not None and not check.verified:
            reads += [batcher.read(located.source, *span) for span in check.spans]
            if check.reference_url is not None:  # the first file's bytes, read once
                reference = self.source_of[check.reference_url]
                reads += [batcher.read(reference, *span) for span in check.spans]
        data = await asyncio.gather(*reads)
        if check is not None and len(data) > wanted:
            blocks = data[wanted : wanted + len(check.spans)]
            check.verify(blocks, data[wanted + len(check.spans) :] or None, url=located.url)
            del data[wanted:]
        if not located.framed:
            return data[0]
        fetched = iter(data)
        framed = frame_segments([None if p is None else next(fetched) for p in located.parts])
        return framed[start:stop]

    # -- reading -------------------------------------------------------------
    async def get(
        self,
        key: str,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        prototype = prototype or default_buffer_prototype()
        doc = self._metadata.get(key)
        if doc is not None:
            start, stop = _clip(byte_range, len(doc))
            return prototype.buffer.from_bytes(doc[start:stop])
        resolved = self._resolve(key)
        if resolved is None:
            return None
        path, array, coords = resolved
        try:
            if byte_range is None:
                found = await self._walked(key, path, array, coords)
            else:
                found = await self._chunk(key, array, coords, byte_range)
        except SourceChangedError as exc:  # later opens parse the file anew
            forget_file(self.index.url)
            forget_file(exc.url or self.index.url)
            raise exc.located(key=key) from exc
        except TiffZarrError as exc:
            raise exc.located(key=key) from exc
        if found is None:
            return None
        data, url = found
        buffer = prototype.buffer.from_bytes(data)
        with contextlib.suppress(AttributeError):  # buffers that take no attributes
            setattr(buffer, CHUNK_ORIGIN, (url, key))
        return buffer

    async def _chunk(
        self, key: str, array: ArrayModel, coords: tuple[int, ...], byte_range: ByteRequest | None
    ) -> tuple[bytes, str] | None:
        """The chunk's bytes (``byte_range`` of them) and its file's URL; ``None`` if absent."""
        located = await self._locate(key, array, coords)
        if located is None:
            return None
        start, stop = _clip(byte_range, located.nbytes)
        return await self._read(located, start, stop), located.url

    async def _walked(
        self, key: str, path: str, array: ArrayModel, coords: tuple[int, ...]
    ) -> tuple[bytes, str] | None:
        """A whole chunk; when zarr walks the grid, fetched with the chunks that follow
        (see :mod:`tiffzarr.store._readahead`)."""
        readahead = self._readahead()
        pending = readahead.take(key)
        grid = array.grid
        planned = readahead.plan(
            path,
            chunk_index(coords, grid),
            tick=self._batcher().ticks,
            hit=pending is not None,
            count=readahead_count(array.codec.chunk_nbytes),
            size=math.prod(grid),
        )
        for index in planned:
            at = chunk_coords(index, grid)
            at_key = chunk_key(path, at, self.zarr_format)
            future = asyncio.ensure_future(self._chunk(at_key, array, at, None))
            if at_key == key:
                pending = future
            else:
                readahead.put(path, at_key, future)
        if pending is None:
            return await self._chunk(key, array, coords, None)
        found: tuple[bytes, str] | None = await pending
        return found

    async def get_partial_values(
        self,
        prototype: BufferPrototype,
        key_ranges: Iterable[tuple[str, ByteRequest | None]],
    ) -> list[Buffer | None]:
        return list(await asyncio.gather(*(self.get(k, prototype, r) for k, r in key_ranges)))

    async def exists(self, key: str) -> bool:
        if key in self._metadata:
            return True
        resolved = self._resolve(key)
        return (
            resolved is not None and await self._locate(key, resolved[1], resolved[2]) is not None
        )

    async def getsize(self, key: str) -> int:
        doc = self._metadata.get(key)
        if doc is not None:
            return len(doc)
        resolved = self._resolve(key)
        located = None if resolved is None else await self._locate(key, resolved[1], resolved[2])
        if located is None:
            raise FileNotFoundError(key)
        return located.nbytes

    # -- listing -------------------------------------------------------------
    @property
    def metadata(self) -> Mapping[str, bytes]:
        """The metadata documents of every node, by key."""
        return MappingProxyType(self._metadata)

    async def chunk_locations(self) -> AsyncIterator[tuple[str, str, int, int]]:
        """``(key, url, offset, nbytes)`` of every present chunk, array by array.

        Sparse segments are left out. Segment tables load window by window, so
        this costs a few requests per array, never one per chunk.
        """
        async for key, found in self._present_chunks():
            if found.framed:
                raise UnsupportedError(
                    "whole-page chunks have no single location", url=found.url, key=key
                )
            offset, nbytes = found.parts[0]  # type: ignore[misc]
            yield key, found.url, offset, nbytes

    async def _present_chunks(self) -> AsyncIterator[tuple[str, _Located]]:
        """Every present chunk (whole-page ones too) and where its bytes are."""
        for path in sorted(self.hierarchy.arrays):
            array = self.hierarchy.arrays[path]
            located = [
                (key, await self._locate(key, array, coords))
                for key, coords in chunk_keys(path, array, self.zarr_format)
            ]
            await self._verify_all(found for _, found in located if found is not None)
            for key, found in located:
                if found is not None:
                    yield key, found

    async def _verify_all(self, located: Iterable[_Located]) -> None:
        """Check every predicted page among ``located``, a batch of reads at a time."""
        todo = {id(f.check): f for f in located if f.check is not None and not f.check.verified}
        pending = list(todo.values())
        for i in range(0, len(pending), 256):
            await asyncio.gather(*(self._read(f, 0, 0) for f in pending[i : i + 256]))

    async def list(self) -> AsyncIterator[str]:
        for key in self._metadata:
            yield key
        async for key, _ in self._present_chunks():
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        async for key in self.list():
            if key.startswith(prefix):
                yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        prefix = prefix.rstrip("/")
        head = f"{prefix}/" if prefix else ""
        seen: set[str] = set()
        async for key in self.list_prefix(head):
            child = key[len(head) :].split("/", 1)[0]
            if child not in seen:
                seen.add(child)
                yield child


def _clip(byte_range: ByteRequest | None, size: int) -> tuple[int, int]:
    """The ``[start, stop)`` a byte request selects from ``size`` bytes."""
    if byte_range is None:
        return 0, size
    if isinstance(byte_range, RangeByteRequest):
        start, stop = byte_range.start, min(byte_range.end, size)
    elif isinstance(byte_range, OffsetByteRequest):
        start, stop = byte_range.offset, size
    elif isinstance(byte_range, SuffixByteRequest):
        start, stop = max(size - byte_range.suffix, 0), size
    else:
        raise TypeError(f"unexpected byte request {byte_range!r}")
    if start < 0 or start > stop:
        raise SourceError(f"invalid byte range {byte_range!r} for {size} bytes")
    return start, stop
