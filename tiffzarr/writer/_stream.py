"""Stream one series' pixels: bands in, encoded segments out, levels built on the way.

For each page, sample plane and depth slab, bands of the base image are taken
from the source in order, cut into segments and handed to the :class:`Encoder`;
each band also feeds the :class:`LevelChain`, whose reduced bands are cut and
encoded the same way. Encoded segments arrive in submission order and are
written by an :class:`Output`, which says where each landed; offsets and byte
counts go to one :class:`SegmentTable` per level.

A dask array whose scheduler is a ``distributed`` Client is streamed by
:mod:`tiffzarr.writer._distributed` instead: the same bands, in the same order,
computed and encoded on the cluster's workers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np

from tiffzarr.codecs import SegmentSpec, encode_segment, stored_nbytes
from tiffzarr.errors import ChunkEncodeError, TiffZarrError
from tiffzarr.writer._downsample import LevelChain
from tiffzarr.writer._encode import Encoder, Job
from tiffzarr.writer._geometry import Band, Geometry
from tiffzarr.writer._ifds import SegmentTable
from tiffzarr.writer._plan import SeriesPlan
from tiffzarr.writer._source import BandSource, open_iterator_source, open_source

__all__ = ["Output", "plane_bands", "record_segment", "segment_jobs", "stream_series"]


class Output(Protocol):
    """Where encoded segments are written."""

    def write(self, level: int, data: bytes, /) -> int:
        """Write one segment of ``level``; return the offset of its first byte."""
        ...

    def reserve(self, level: int, nbytes: int, /) -> int:
        """Leave ``nbytes`` of zeros for ``level``; return where they start."""
        ...


def _encode_tile(
    band: np.ndarray, x0: int, spec: SegmentSpec, level: float | None, where: str
) -> bytes:
    shape = spec.shape
    part = band[:, :, x0 : x0 + shape[2]]
    if part.shape != shape:
        tile = np.zeros(shape, part.dtype)
        tile[: part.shape[0], : part.shape[1], : part.shape[2]] = part
        part = tile
    return _encode(part, spec, level, where)


def _encode(part: np.ndarray, spec: SegmentSpec, level: float | None, where: str) -> bytes:
    try:
        return encode_segment(part, spec, level=level)
    except TiffZarrError:
        raise
    except Exception as exc:
        raise ChunkEncodeError(
            f"{where} could not be encoded: {type(exc).__name__}: {exc}"
        ) from exc


class _Series:
    """The state of one series being streamed."""

    def __init__(
        self, plan: SeriesPlan, out: Output, tables: Sequence[SegmentTable], encoder: Encoder
    ) -> None:
        self.plan = plan
        self.out = out
        self.tables = tables
        self.encoder = encoder
        self.specs = [plan.spec(i) for i in range(len(plan.levels))]

    def record(self, level: int, frame: int, index: int, data: bytes | None) -> None:
        record_segment(self.out, self.tables[level], data, level=level, frame=frame, index=index)

    def emit(self, level: int, at: Band, band: np.ndarray) -> None:
        """Cut a band of ``level`` into segments and submit them for encoding."""
        geometry, spec, quality = self.plan.levels[level], self.specs[level], self.plan.codec.level
        jobs = segment_jobs(geometry, spec, at, band, level=level, quality=quality)
        for index, job, nbytes in jobs:
            done = functools.partial(self.record, level, at.frame, index)
            self.encoder.submit(job, done, nbytes=nbytes)

    def plane(self, source: BandSource, frame: int, s: int, z0: int, z1: int) -> None:
        """Stream one sample plane and depth slab of a page, with its reduced levels."""
        bands = plane_bands(self.plan, source.band, frame=frame, sample=s, z0=z0, z1=z1)
        for level, at, band in bands:
            self.emit(level, at, band)


def record_segment(
    out: Output, table: SegmentTable, data: bytes | None, /, *, level: int, frame: int, index: int
) -> None:
    """Write one encoded segment of ``level`` and note where it went (empty ones are skipped)."""
    if data:
        table.offsets[frame, index] = out.write(level, data)
        table.counts[frame, index] = len(data)


def segment_jobs(
    geometry: Geometry,
    spec: SegmentSpec,
    at: Band,
    band: np.ndarray,
    /,
    *,
    level: int,
    quality: float | None,
) -> Iterator[tuple[int, Job, int]]:
    """The segments of a band of ``level``: ``(index, encoding job, raw nbytes)`` in order."""
    frame = at.frame
    first = geometry.first_segment(at.sample, at.z0, at.y0)
    if geometry.tile is not None:
        width = geometry.tile[2]
        nbytes = band.nbytes // max(1, band.shape[2] // width)
        for k, x0 in enumerate(range(0, geometry.width, width)):
            label = f"segment {first + k} of page {frame} (level {level})"
            yield first + k, functools.partial(_encode_tile, band, x0, spec, quality, label), nbytes
        return
    rows = geometry.rowsperstrip
    for k, sy in enumerate(range(0, band.shape[1], rows)):
        strip = band[:, sy : sy + rows]
        part_spec = spec if strip.shape[1] == rows else replace(spec, shape=strip.shape)
        label = f"segment {first + k} of page {frame} (level {level})"
        yield first + k, functools.partial(_encode, strip, part_spec, quality, label), strip.nbytes


def plane_bands(
    plan: SeriesPlan,
    band_of: Callable[[Band], np.ndarray],
    /,
    *,
    frame: int,
    sample: int,
    z0: int,
    z1: int,
) -> Iterator[tuple[int, Band, np.ndarray]]:
    """The bands of every level of one sample plane and depth slab, in file order.

    Base bands come from ``band_of``; each feeds the :class:`LevelChain`, whose
    reduced bands follow as soon as they are complete.
    """
    levels = plan.levels
    chain = LevelChain(
        [g.length for g in levels[1:]],
        band_rows=[g.band_rows for g in levels[1:]],
        method=plan.downsample,
        nodata=plan.nodata,
    )
    for y0, y1 in levels[0].bands():
        at = Band(frame, sample, z0, z1, y0, y1)
        band = band_of(at)
        yield 0, at, band
        for level, ly0, reduced in chain.push(band):
            yield level, at._replace(y0=ly0, y1=ly0 + reduced.shape[1]), reduced
    for level, ly0, reduced in chain.finish():
        yield level, Band(frame, sample, z0, z1, ly0, ly0 + reduced.shape[1]), reduced


def _source(plan: SeriesPlan) -> BandSource:
    if plan.fill == "iterator":
        return open_iterator_source(plan.payload, plan.levels[0], plan.dtype)
    return open_source(plan.payload, plan.info, plan.levels[0])


def _zeros(plan: SeriesPlan, out: Output, tables: Sequence[SegmentTable]) -> None:
    """Uncompressed empty pages: segments of zeros, allocated but not written."""
    for level, geometry in enumerate(plan.levels):
        counts = _segment_nbytes(plan.spec(level), geometry)
        for frame in range(plan.frames):
            start = out.reserve(level, int(counts.sum()))
            tables[level].offsets[frame] = start + np.cumsum(counts) - counts
            tables[level].counts[frame] = counts


def _segment_nbytes(spec: SegmentSpec, geometry: Geometry) -> np.ndarray:
    """Uncompressed stored size of every segment of a page."""
    full = stored_nbytes(spec)
    counts = np.full(geometry.nsegments, full, np.uint64)
    if geometry.tile is None:
        last = geometry.strip_rows(geometry.grid[2] - 1)
        short = stored_nbytes(replace(spec, shape=(1, last, geometry.width, geometry.contig)))
        counts.reshape(-1, geometry.grid[2])[:, -1] = short
    return counts


def _encoded(plan: SeriesPlan, series: _Series) -> None:
    """Pre-encoded segments from an iterator, written as given."""
    items = plan.payload
    for frame in range(plan.frames):
        for index in range(plan.levels[0].nsegments):
            data = next(items, None)
            if data is not None and not isinstance(data, bytes | bytearray | memoryview):
                raise TypeError(f"the iterator gave {type(data).__name__}, not bytes")
            series.record(0, frame, index, bytes(data) if data is not None else None)


def stream_series(
    plan: SeriesPlan,
    out: Output,
    tables: Sequence[SegmentTable],
    /,
    *,
    encoder_factory: Callable[[], Encoder] | None = None,
) -> None:
    """Encode and write every segment of ``plan``, filling ``tables``."""
    if plan.fill == "sparse":
        return
    if plan.fill == "zeros":
        _zeros(plan, out, tables)
        return
    if plan.fill == "data" and encoder_factory is None:
        from tiffzarr.writer._distributed import cluster_client, stream_on_cluster  # a cycle

        client = cluster_client(plan)
        if client is not None:
            stream_on_cluster(plan, out, tables, client=client)
            return
    encoder = encoder_factory() if encoder_factory else Encoder(maxworkers=plan.maxworkers)
    with encoder:
        series = _Series(plan, out, tables, encoder)
        if plan.fill == "encoded":
            _encoded(plan, series)
            return
        source = _source(plan)
        try:
            for frame in range(plan.frames):
                for s, z0, z1 in plan.levels[0].planes():
                    series.plane(source, frame, s, z0, z1)
        finally:
            source.close()
