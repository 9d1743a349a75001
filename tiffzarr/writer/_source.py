"""Pixel sources: numpy, zarr and dask arrays, iterators of tiles or pages, read band by band.

The writer asks a source for *bands* in file order: ``band(Band(frame, sample,
z0, z1, y0, y1))`` returns ``(z1 - z0, y1 - y0, width, samples)`` pixels. A chunked
source (dask, zarr, anything with ``chunks``) reads whole *regions*: the chunks
that one band touches, across the full width, so every chunk is computed or
read exactly once whatever the tile size. A region stays cached until the
bands have moved past it, and the next region is read in a background thread
while the current one is encoded, so at most a few rows of chunks are in memory.

>>> import numpy as np
>>> from tiffzarr.writer._shape import normalize_shape
>>> from tiffzarr.writer._geometry import Band, Geometry
>>> data = np.arange(2 * 6 * 4, dtype="uint8").reshape(2, 6, 4)
>>> info = normalize_shape(data.shape, data.dtype, photometric="minisblack")
>>> geometry = Geometry(1, 1, 6, 4, 1, rowsperstrip=2)
>>> source = open_source(data, info, geometry)
>>> source.band(Band(1, 0, 0, 1, 2, 4))[0, :, :, 0].tolist()
[[32, 33, 34, 35], [36, 37, 38, 39]]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np

from tiffzarr.writer._geometry import Band, Geometry
from tiffzarr.writer._shape import ShapeInfo

__all__ = [
    "BandSource",
    "dask_bounds",
    "is_dask",
    "open_chunked",
    "open_iterator_source",
    "open_source",
]

Position = tuple[int, int, int, int]
Key = tuple[int, ...]


class BandSource(Protocol):
    """Bands of pixels requested in file order."""

    def band(self, at: Band, /) -> np.ndarray: ...

    def close(self) -> None: ...


def open_source(
    data: Any, info: ShapeInfo, geometry: Geometry, /, *, prefetch: int = 1
) -> BandSource:
    """A band source over an array: numpy (views), or chunked (dask, zarr, h5py, ...).

    Zarr arrays are read in whole shards when sharded; other array-likes without
    chunks are read one band at a time.
    """
    if isinstance(data, np.ndarray):
        return _NumpySource(data, info.roles)
    shape = tuple(int(n) for n in data.shape)
    if is_dask(data):
        reader = _dask_reader(data)
        return _ChunkedSource(reader, dask_bounds(data), info, geometry, prefetch=prefetch)
    chunks = getattr(data, "shards", None) or getattr(data, "chunks", None)
    if not (isinstance(chunks, tuple) and len(chunks) == len(shape)):
        chunks = _band_chunks(shape, info.roles, geometry)
    bounds = [np.append(np.arange(0, n, c), n) for n, c in zip(shape, chunks, strict=True)]
    return _ChunkedSource(_array_reader(data), bounds, info, geometry, prefetch=prefetch)


def _band_chunks(shape: tuple[int, ...], roles: str, geometry: Geometry) -> tuple[int, ...]:
    """Chunks for an array-like without any: one band (every sample, full width)."""
    sizes = {"Y": geometry.band_rows, "Z": geometry.slab, "X": 0, "s": 0}
    return tuple(max(1, sizes.get(r, 1) or n) for n, r in zip(shape, roles, strict=True))


def is_dask(data: Any) -> bool:
    """Whether ``data`` is a dask array (duck-typed: dask is not imported)."""
    return hasattr(data, "dask") and hasattr(data, "compute") and hasattr(data, "chunks")


def dask_bounds(data: Any) -> list[np.ndarray]:
    """The chunk boundaries of a dask array along each axis."""
    if any(np.isnan(n) for c in data.chunks for n in c):
        raise ValueError("the dask array has unknown chunk sizes; call compute_chunk_sizes()")
    return [np.cumsum((0, *c)).astype(np.int64) for c in data.chunks]


def open_chunked(
    reader: Callable[[tuple[slice, ...]], np.ndarray],
    bounds: list[np.ndarray],
    info: ShapeInfo,
    geometry: Geometry,
    /,
) -> _ChunkedSource:
    """A source of chunk-aligned regions that ``reader`` returns, without prefetching."""
    return _ChunkedSource(reader, bounds, info, geometry, prefetch=0)


def _array_reader(data: Any) -> Callable[[tuple[slice, ...]], np.ndarray]:
    def read(region: tuple[slice, ...]) -> np.ndarray:
        return np.asarray(data[region])

    return read


def _dask_reader(data: Any) -> Callable[[tuple[slice, ...]], np.ndarray]:
    def read(region: tuple[slice, ...]) -> np.ndarray:
        return np.asarray(data[region].compute())

    return read


class _Axes:
    """Translate band requests into indices of the source array (one role per axis)."""

    def __init__(self, shape: tuple[int, ...], roles: str) -> None:
        self.shape = shape
        self.roles = roles
        self.lead_shape = tuple(n for n, r in zip(shape, roles, strict=True) if r == "F")

    def lead_index(self, frame: int) -> tuple[int, ...]:
        if not self.lead_shape:
            return ()
        return tuple(int(i) for i in np.unravel_index(frame, self.lead_shape))

    def index(self, at: Band) -> tuple[Any, ...]:
        lead = iter(self.lead_index(at.frame))
        picks = {"S": at.sample, "Z": slice(at.z0, at.z1), "Y": slice(at.y0, at.y1), "-": 0}
        return tuple(next(lead) if r == "F" else picks.get(r, slice(None)) for r in self.roles)


class _NumpySource:
    def __init__(self, data: np.ndarray, roles: str) -> None:
        self._data = data
        self._axes = _Axes(data.shape, roles)
        self._contig = "s" in roles

    def band(self, at: Band, /) -> np.ndarray:
        part: np.ndarray = self._data[self._axes.index(at)]
        width = part.shape[-2 if self._contig else -1]
        return part.reshape(at.z1 - at.z0, at.y1 - at.y0, width, -1)

    def close(self) -> None:
        self._data = np.empty(0)


class _ChunkedSource:
    """Reads chunk-aligned, full-width regions, each once; caches and prefetches them."""

    def __init__(
        self,
        reader: Callable[[tuple[slice, ...]], np.ndarray],
        bounds: list[np.ndarray],
        info: ShapeInfo,
        geometry: Geometry,
        *,
        prefetch: int,
    ) -> None:
        self._reader = reader
        self._bounds = bounds
        self._axes = _Axes(tuple(int(b[-1]) for b in bounds), info.roles)
        self._frames = info.stored.frames
        self._geometry = geometry
        self._cache: dict[Key, tuple[np.ndarray, Position]] = {}
        self._futures: dict[Key, Future[np.ndarray]] = {}
        self._prefetch = prefetch
        self._pool = ThreadPoolExecutor(1, "tiffzarr-read") if prefetch > 0 else None
        self._order = self._region_order()
        self._contig = "s" in info.roles

    # -- regions -------------------------------------------------------------
    def _spans(self, axis: int, lo: int, hi: int) -> list[tuple[int, int, int]]:
        """``(chunk, start, stop)`` of the chunks of ``axis`` that rows [lo, hi) touch."""
        bounds = self._bounds[axis]
        first = int(np.searchsorted(bounds, lo, side="right")) - 1
        spans = []
        for c in range(first, len(bounds) - 1):
            if bounds[c] >= hi:
                break
            spans.append((c, int(bounds[c]), int(bounds[c + 1])))
        return spans

    def _pieces(self, at: Band) -> list[list[Any]]:
        """Per axis: the chunk spans a band needs (``None`` for whole axes)."""
        lead = iter(self._axes.lead_index(at.frame))
        per_axis: list[list[Any]] = []
        for axis, role in enumerate(self._axes.roles):
            if role in "Xs":
                per_axis.append([None])
            elif role in "ZY":
                lo, hi = (at.z0, at.z1) if role == "Z" else (at.y0, at.y1)
                per_axis.append(self._spans(axis, lo, hi))
            else:
                index = next(lead) if role == "F" else (at.sample if role == "S" else 0)
                per_axis.append(self._spans(axis, index, index + 1))
        return per_axis

    def _region(self, key: Key) -> tuple[slice, ...]:
        return tuple(
            slice(None) if c < 0 else slice(int(b[c]), int(b[c + 1]))
            for c, b in zip(key, self._bounds, strict=True)
        )

    def _last_use(self, key: Key) -> Position:
        """The last band position (frame, sample, z0, y0) that needs region ``key``."""
        last = {}
        lead = []
        for c, role, bounds in zip(key, self._axes.roles, self._bounds, strict=True):
            end = int(bounds[c + 1]) - 1 if c >= 0 else 0
            if role == "F":
                lead.append(end)
            last[role] = end
        frame = int(np.ravel_multi_index(lead, self._axes.lead_shape)) if lead else 0
        slab, rows = self._geometry.slab, self._geometry.band_rows
        return (frame, last.get("S", 0), last.get("Z", 0) // slab * slab, last["Y"] // rows * rows)

    def _region_order(self) -> Iterator[Key]:
        seen: set[Key] = set()
        for frame in range(self._frames):
            for s, z0, z1 in self._geometry.planes():
                for y0, y1 in self._geometry.bands():
                    for key in self._key_list(self._pieces(Band(frame, s, z0, z1, y0, y1))):
                        if key not in seen:
                            seen.add(key)
                            yield key

    def _key_list(self, per_axis: list[list[Any]]) -> list[Key]:
        options = [[-1 if p is None else p[0] for p in spans] for spans in per_axis]
        return [
            tuple(opt[i] for opt, i in zip(options, index, strict=True))
            for index in np.ndindex(*map(len, options))
        ]

    def regions(self, at: Band, /) -> list[tuple[slice, ...]]:
        """The chunk-aligned regions that band ``at`` is cut from, in order."""
        return [self._region(key) for key in self._key_list(self._pieces(at))]

    def _read(self, key: Key) -> np.ndarray:
        return self._reader(self._region(key))

    def _schedule(self) -> None:
        if self._pool is None:
            return
        while len(self._futures) < self._prefetch:
            key = next(self._order, None)
            if key is None:
                return
            if key not in self._cache and key not in self._futures:
                self._futures[key] = self._pool.submit(self._read, key)

    def _get(self, key: Key) -> np.ndarray:
        if key in self._cache:
            return self._cache[key][0]
        self._schedule()
        future = self._futures.pop(key, None)
        array = future.result() if future is not None else self._read(key)
        self._cache[key] = (array, self._last_use(key))
        self._schedule()
        return array

    # -- bands ---------------------------------------------------------------
    def band(self, at: Band, /) -> np.ndarray:
        here = at.position
        for key in [k for k, (_, last) in self._cache.items() if here > last]:
            del self._cache[key]
        want = self._axes.index(at)
        keys = self._key_list(self._pieces(at))
        if len(keys) == 1:
            return self._cut(self._get(keys[0]), keys[0], want)
        out: np.ndarray | None = None
        for key in keys:
            part = self._cut(self._get(key), key, want)
            zlo, ylo = self._origin(key, at.z0, at.y0)
            if out is None:
                shape = (at.z1 - at.z0, at.y1 - at.y0, part.shape[2], part.shape[3])
                out = np.empty(shape, part.dtype)
            out[zlo : zlo + part.shape[0], ylo : ylo + part.shape[1]] = part
        assert out is not None
        return out

    def _origin(self, key: Key, z0: int, y0: int) -> tuple[int, int]:
        """Where a region's first row and slice fall within the band."""
        z = y = 0
        for c, role, bounds in zip(key, self._axes.roles, self._bounds, strict=True):
            if role == "Z":
                z = max(0, int(bounds[c]) - z0)
            elif role == "Y":
                y = max(0, int(bounds[c]) - y0)
        return z, y

    def _cut(self, region: np.ndarray, key: Key, want: tuple[Any, ...]) -> np.ndarray:
        """The part of a region inside the band, as ``(depth, rows, width, samples)``."""
        local = []
        for c, w, bounds in zip(key, want, self._bounds, strict=True):
            start = int(bounds[c]) if c >= 0 else 0
            if isinstance(w, slice):
                lo = 0 if w.start is None else max(0, w.start - start)
                hi = None if w.stop is None else max(0, w.stop - start)
                local.append(slice(lo, hi))
            else:
                local.append(w - start)
        part = region[tuple(local)]
        roles = [r for r, w in zip(self._axes.roles, want, strict=True) if isinstance(w, slice)]
        shape = [part.shape[roles.index(r)] if r in roles else 1 for r in "ZYXs"]
        return part.reshape(shape)

    def close(self) -> None:
        for future in self._futures.values():
            future.cancel()
        self._futures.clear()
        self._cache.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def open_iterator_source(
    items: Iterator[Any], geometry: Geometry, dtype: np.dtype, /
) -> BandSource:
    """Bands from an iterator of tiles (tiled pages) or of whole pages (strips)."""
    if geometry.tiled:
        return _TileIterSource(items, geometry, dtype)
    return _PageIterSource(items, geometry, dtype)


class _TileIterSource:
    def __init__(self, items: Iterator[Any], geometry: Geometry, dtype: np.dtype) -> None:
        self._items = items
        self._geometry = geometry
        self._dtype = dtype

    def _tile(self) -> np.ndarray:
        full = self._geometry.segment_shape
        try:
            item = next(self._items)
        except StopIteration:
            raise ValueError("the iterator ended before every tile was written") from None
        if item is None:
            return np.zeros(full, self._dtype)
        tile = np.asarray(item)
        if tile.dtype.newbyteorder("=") != self._dtype.newbyteorder("="):
            raise ValueError(f"iterator gave a tile of {tile.dtype}, not {self._dtype}")
        if tile.size == math.prod(full):
            return tile.reshape(full)
        if full[3] == 1 and tile.ndim >= 3 and tile.shape[-1] == 1:
            tile = tile[..., 0]
        if full[3] == 1:
            tile = tile[..., None]
        tile = tile.reshape((1,) * (4 - tile.ndim) + tile.shape)
        if any(n > m for n, m in zip(tile.shape, full, strict=True)):
            raise ValueError(f"iterator gave a tile of shape {tile.shape}, larger than {full}")
        padded = np.zeros(full, self._dtype)
        padded[tuple(slice(0, n) for n in tile.shape)] = tile
        return padded

    def band(self, at: Band, /) -> np.ndarray:
        tiles = [self._tile() for _ in range(self._geometry.grid[3])]
        row = np.concatenate(tiles, axis=2)
        return row[: at.z1 - at.z0, : at.y1 - at.y0, : self._geometry.width]

    def close(self) -> None:
        self._items = iter(())


class _PageIterSource:
    def __init__(self, items: Iterator[Any], geometry: Geometry, dtype: np.dtype) -> None:
        self._items = items
        self._geometry = geometry
        self._dtype = dtype
        self._frame = -1
        self._page = np.empty(0, dtype)

    def band(self, at: Band, /) -> np.ndarray:
        if at.frame != self._frame:
            g = self._geometry
            try:
                item = np.asarray(next(self._items))
            except StopIteration:
                raise ValueError("the iterator ended before every page was written") from None
            shape = (g.separate, g.depth, g.length, g.width, g.contig)
            if item.size != math.prod(shape):
                raise ValueError(f"iterator gave a page of shape {item.shape}, expected {shape}")
            self._page, self._frame = item.reshape(shape), at.frame
        return self._page[at.sample, at.z0 : at.z1, at.y0 : at.y1]

    def close(self) -> None:
        self._page = np.empty(0, self._dtype)
        self._items = iter(())
