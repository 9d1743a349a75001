"""Stream a dask array through a ``distributed`` cluster: tiles encoded on the workers.

The rule: a series whose pixels are a dask array is streamed by the cluster when
the scheduler that ``data.compute()`` would use is a :class:`distributed.Client`
(a client is active and ``dask.config`` names no other scheduler; inside
``dask.config.set(scheduler="threads")`` the local path is used). This module never
imports ``distributed``: a client exists only if the caller imported it.

The plan is the local writer's, band for band (:func:`plane_bands`, run on
one-column stand-ins to learn the order). The array is cut into chunk-aligned,
full-width *regions* (as the local band source reads them), each computed once
as a future on a worker. One task per base band cuts the band from its regions,
encodes its tiles and, when a reduced level follows, halves it; the reduced
level's tasks take those halves as inputs, and so on down the pyramid, so every
level is built from base pixels computed once and every tile is encoded on a
worker. The client receives only encoded bytes and writes them in the local
writer's order (the files are byte-identical), with at most a few bands per
worker thread in flight: a region is computed only when a band that needs it is
submitted, and released once the last such band has been. Regions and bands
span the full width, so the memory a worker needs grows with the image's width
and chunk height, not with its length or size.

Halving bands independently equals halving the whole page when every band but
the last has an even number of rows, which holds for tiles (multiples of 16);
strips of an odd band height with a pyramid are written locally.
"""

from __future__ import annotations

import logging
import operator
import sys
from collections import Counter, deque
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tiffzarr.codecs import SegmentSpec
from tiffzarr.writer._downsample import DownsampleMethod, halve
from tiffzarr.writer._geometry import Band, Geometry, ceildiv
from tiffzarr.writer._ifds import SegmentTable
from tiffzarr.writer._plan import SeriesPlan
from tiffzarr.writer._shape import ShapeInfo
from tiffzarr.writer._source import dask_bounds, is_dask, open_chunked
from tiffzarr.writer._stream import Output, plane_bands, record_segment, segment_jobs

__all__ = ["cluster_client", "encode_base", "encode_reduced", "stream_on_cluster"]

logger = logging.getLogger(__name__)

BANDS_PER_THREAD = 2
"""Bands in flight per worker thread (the client holds one band's bytes at a time)."""

Segments = list[tuple[int, bytes | None]]
Encoded = tuple[Segments, np.ndarray | None]
Spans = tuple[tuple[int | None, int | None], ...]


def cluster_client(plan: SeriesPlan, /) -> Any | None:
    """The distributed ``Client`` that computing ``plan``'s dask array would use, if any."""
    data = plan.payload
    distributed = sys.modules.get("distributed")
    if distributed is None or not is_dask(data):
        return None
    from dask.base import get_scheduler

    scheduler = get_scheduler(collections=[data])  # type: ignore[no-untyped-call]
    client = getattr(scheduler, "__self__", None)
    if not isinstance(client, distributed.Client):
        return None
    if any(g.band_rows % 2 for g in plan.levels[:-1]):
        logger.info("bands of an odd number of rows are halved locally: not using %s", client)
        return None
    return client


@dataclass(frozen=True, slots=True)
class LevelJob:
    """How a worker encodes the bands of one level, and halves them for the next."""

    level: int
    geometry: Geometry
    spec: SegmentSpec
    quality: float | None
    method: DownsampleMethod | None
    """``None`` for the last level: nothing is halved."""
    nodata: float | None


@dataclass(frozen=True, slots=True)
class RegionIndex:
    """What a worker needs to cut base bands from regions: chunk bounds and axis roles."""

    bounds: list[np.ndarray]
    info: ShapeInfo


@dataclass(frozen=True, slots=True)
class _Event:
    """One band of the plan: its level, place, inputs and (reduced levels) rows of each."""

    level: int
    at: Band
    needs: tuple[Hashable, ...]
    regions: tuple[tuple[slice, ...], ...] = ()
    cuts: tuple[tuple[int, int], ...] = ()


def _spans(region: Sequence[slice]) -> Spans:
    return tuple((s.start, s.stop) for s in region)


def _encode(job: LevelJob, at: Band, band: np.ndarray) -> Encoded:
    jobs = segment_jobs(job.geometry, job.spec, at, band, level=job.level, quality=job.quality)
    segments = [(index, work()) for index, work, _ in jobs]
    reduced = None if job.method is None else halve(band, job.method, nodata=job.nodata)
    return segments, reduced


def encode_base(
    job: LevelJob,
    index: RegionIndex,
    at: Band,
    regions: tuple[tuple[slice, ...], ...],
    /,
    *arrays: np.ndarray,
) -> Encoded:
    """On a worker: cut base band ``at`` from its computed regions and encode it."""
    lookup = {_spans(r): a for r, a in zip(regions, arrays, strict=True)}
    source = open_chunked(lambda r: lookup[_spans(r)], index.bounds, index.info, job.geometry)
    return _encode(job, at, source.band(at))


def encode_reduced(
    job: LevelJob, at: Band, cuts: tuple[tuple[int, int], ...], /, *halves: np.ndarray
) -> Encoded:
    """On a worker: join band ``at`` of a reduced level from the halves above, encode it."""
    parts = [h[:, lo:hi] for h, (lo, hi) in zip(halves, cuts, strict=True)]
    band = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
    return _encode(job, at, band)


def _unread(region: tuple[slice, ...]) -> np.ndarray:
    raise RuntimeError("regions are computed on the cluster, not read by the client")


def _key(level: int, at: Band) -> Hashable:
    return ("band", level, at.frame, at.sample, at.z0, at.y0)


def _parents(above: Geometry, level: int, at: Band) -> tuple[list[Hashable], list[tuple[int, int]]]:
    """The bands of the level above whose halves hold rows ``[y0, y1)``, and which rows."""
    rows = above.band_rows
    keys, cuts = [], []
    for first in range(2 * at.y0 // rows * rows, min(2 * at.y1, above.length), rows):
        start = first // 2
        stop = ceildiv(min(first + rows, above.length), 2)
        keys.append(_key(level - 1, at._replace(y0=first)))
        cuts.append((max(at.y0, start) - start, min(at.y1, stop) - start))
    return keys, cuts


def _events(plan: SeriesPlan, bounds: list[np.ndarray]) -> Iterator[_Event]:
    """Every band of the series in the order the local writer writes them."""
    base = plan.levels[0]
    index = open_chunked(_unread, bounds, plan.info, base)

    def stand_in(at: Band) -> np.ndarray:
        return np.zeros((at.z1 - at.z0, at.y1 - at.y0, 1, 1), plan.dtype)

    for frame in range(plan.frames):
        for s, z0, z1 in base.planes():
            bands = plane_bands(plan, stand_in, frame=frame, sample=s, z0=z0, z1=z1)
            for level, at, _ in bands:
                if level == 0:
                    regions = tuple(index.regions(at))
                    yield _Event(0, at, tuple(_spans(r) for r in regions), regions=regions)
                    continue
                keys, cuts = _parents(plan.levels[level - 1], level, at)
                yield _Event(level, at, tuple(keys), cuts=tuple(cuts))


def _jobs(plan: SeriesPlan) -> list[LevelJob]:
    last = len(plan.levels) - 1
    return [
        LevelJob(
            level=i,
            geometry=g,
            spec=plan.spec(i),
            quality=plan.codec.level,
            method=plan.downsample if i < last else None,
            nodata=plan.nodata,
        )
        for i, g in enumerate(plan.levels)
    ]


class _Pump:
    """Submits bands in plan order, at most ``window`` ahead of the one being written."""

    def __init__(
        self,
        client: Any,
        plan: SeriesPlan,
        out: Output,
        tables: Sequence[SegmentTable],
        /,
        *,
        events: list[_Event],
        bounds: list[np.ndarray],
    ) -> None:
        self.client = client
        self.data = plan.payload
        self.out = out
        self.tables = tables
        self.jobs = _jobs(plan)
        self.index = RegionIndex(bounds, plan.info)
        self.uses = Counter(need for event in events for need in event.needs)
        self.futures: dict[Hashable, Any] = {}
        self.pending: deque[tuple[_Event, Any]] = deque()

    def submit(self, event: _Event) -> None:
        client, job = self.client, self.jobs[event.level]
        inputs = [self._input(need, event) for need in event.needs]
        if event.level == 0:
            args: tuple[Any, ...] = (encode_base, job, self.index, event.at, event.regions)
        else:
            args = (encode_reduced, job, event.at, event.cuts)
        done = client.submit(*args, *inputs, pure=False)
        self.pending.append((event, client.submit(operator.getitem, done, 0, pure=False)))
        if job.method is not None:
            half = client.submit(operator.getitem, done, 1, pure=False)
            self.futures[_key(event.level, event.at)] = half
        for need in event.needs:
            self.uses[need] -= 1
            if not self.uses[need]:
                del self.futures[need]

    def _input(self, need: Hashable, event: _Event) -> Any:
        future = self.futures.get(need)
        if future is None:  # a region, computed when the first band that needs it is submitted
            region = event.regions[event.needs.index(need)]
            future = self.futures[need] = self.client.compute(self.data[region])
        return future

    def write_oldest(self) -> None:
        """Wait for the oldest band in flight and write its segments."""
        event, future = self.pending.popleft()
        level, table = event.level, self.tables[event.level]
        for index, data in future.result():
            record_segment(self.out, table, data, level=level, frame=event.at.frame, index=index)

    def cancel(self) -> None:
        futures = [f for _, f in self.pending] + list(self.futures.values())
        self.pending.clear()
        self.futures.clear()
        if futures:
            self.client.cancel(futures)


def stream_on_cluster(
    plan: SeriesPlan,
    out: Output,
    tables: Sequence[SegmentTable],
    /,
    *,
    client: Any,
    window: int | None = None,
) -> None:
    """Encode ``plan``'s dask array on ``client``'s workers and write it in plan order.

    ``window`` bounds the bands in flight (default: :data:`BANDS_PER_THREAD` per
    worker thread, at least 2); ``plan.maxworkers`` does not apply.
    """
    bounds = dask_bounds(plan.payload)
    events = list(_events(plan, bounds))
    if window is None:
        window = max(2, BANDS_PER_THREAD * sum(client.nthreads().values()))
    pump = _Pump(client, plan, out, tables, events=events, bounds=bounds)
    try:
        for event in events:
            while len(pump.pending) >= window:
                pump.write_oldest()
            pump.submit(event)
        while pump.pending:
            pump.write_oldest()
    finally:
        pump.cancel()
