"""What no reader can beat here: bare transfers and bare decoding, no parsing, no zarr.

The ``floors`` task of ``python -m benchmarks`` (and ``python -m benchmarks.floors``
on its own, with a server of its own) measures, on the same loopback server and
machine as the contenders, each measurement in a fresh child process
(``python -m benchmarks.floors --child``, the spec on stdin), median of
``min(runs, 5)``:

- **cold GET** (the open rows): one ``aiohttp`` request for the first 64 KiB of the
  (first) file with a new session and connection, as every contender's open starts:
  the least a one-request open costs (files whose open needs more still get this).
- **transfer** (window and full-read rows over HTTP): the byte ranges of the data
  set's segments (tiles, strips, pages, planes or files, located with tifffile),
  merged as tiffzarr merges them (windows: the store's batcher, ``REMOTE_GAP`` and
  the store's ``REMOTE_BLOCK``; full reads: the direct path's ``REMOTE_BLOCK``),
  requested all at once on a warm connection (at most the direct path's
  ``MAX_BLOCKS`` in flight), read and dropped.
- **decode**: those segments decoded from memory with tifffile's imagecodecs-based
  ``page.decode`` on 1 thread and on all usable CPUs (uncompressed: the copy into
  an output array).
- **page cache** (rows from local paths): reading the segments' bytes from the warm
  page cache, in the blocks tiffzarr reads locally (``LOCAL_GAP``, ``LOCAL_BLOCK``).

A row's floor is ``max(transfer, decode on all CPUs)`` over HTTP (the two can
overlap) and ``page cache + decode on all CPUs`` locally (the decode already takes
every CPU); an open's is the cold GET. :mod:`benchmarks._bounds` turns the samples
into these floors. The server shares the machine's CPUs with the client, as in the
benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import json
import os
import subprocess
import sys
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks._data import DATA_DIR, Dataset, datasets, ensure_all
from benchmarks._runner import LOCAL_DATASET, REPO, _environment, warm

__all__ = [
    "FloorMeter",
    "FloorRun",
    "FloorSample",
    "Layout",
    "Segment",
    "Unhandled",
    "locate",
    "merged_ranges",
    "plan",
]

MAX_REPS = 5
"""Floor measurements per cell at most (the contenders' ``--runs`` may be more)."""
OPEN_BYTES = 65536
"""The cold GET's range: the first 64 KiB."""
PHASES = ("open", "window", "read", "local")
SCOPES = {"open": "open", "window": "window", "read": "full", "local": "full"}
"""The segments each report phase reads: none (open), the window, the whole base level."""


class Unhandled(Exception):
    """The data set's layout is not located here (its floor is n/a, with this reason)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Segment:
    """One segment of the base level: file (relative path), page, segment index, bytes."""

    file: str
    page: int
    index: int
    offset: int
    nbytes: int


@dataclasses.dataclass(frozen=True, slots=True)
class Layout:
    """The segments a scope reads and the requests tiffzarr makes for them."""

    segments: tuple[Segment, ...]
    ranges: tuple[tuple[str, int, int], ...]
    """``(file, start, stop)`` of each merged request."""

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.segments)

    @property
    def files(self) -> int:
        return len({s.file for s in self.segments})


@dataclasses.dataclass(frozen=True, slots=True)
class FloorRun:
    """One child process: ``part`` (``get``, ``transfer``, ``decode``, ``cache``) of
    ``scope`` (``open``, ``window``, ``full``) of a data set, at ``latency`` ms (None:
    no HTTP), decoding on ``threads`` threads."""

    dataset: str
    scope: str
    part: str
    latency: int | None
    threads: int
    rep: int


@dataclasses.dataclass(frozen=True, slots=True)
class FloorSample(FloorRun):
    """One floor measurement of a :class:`FloorRun`, as taken (``status`` ``ok``,
    ``n/a`` or ``error``)."""

    status: str
    seconds: float | None = None
    requests: int | None = None
    bytes: int | None = None
    segments: int | None = None
    detail: str = ""

    def asdict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def cpus() -> int:
    """The CPUs this process may use."""
    return len(os.sched_getaffinity(0))


# -- where the segments are --------------------------------------------------------------


def _page_segments(relpath: str, page: Any, indices: Iterable[int]) -> list[Segment]:
    offsets, counts = page.dataoffsets, page.databytecounts
    return [
        Segment(relpath, page.index, i, offsets[i], counts[i]) for i in indices if counts[i] > 0
    ]


def _level_indices(ds: Dataset, page: Any, *, window: bool) -> range | list[int]:
    """Segment indices of the base level's page under the window (or all of them)."""
    if not window:
        return range(len(page.dataoffsets))
    (y0, y1), (x0, x1) = ds.window
    if page.is_tiled:
        th, tw = page.tilelength, page.tilewidth
        across = -(-page.imagewidth // tw)
        return [
            r * across + c
            for r in range(y0 // th, -(-y1 // th))
            for c in range(x0 // tw, -(-x1 // tw))
        ]
    rows = page.rowsperstrip
    return list(range(y0 // rows, -(-y1 // rows)))


def segments(ds: Dataset, root: Path, scope: str) -> list[Segment]:
    """The segments ``scope`` (``window`` or ``full``) reads, located with tifffile:
    the tiles or strips of the base level, or every segment of the window's (all)
    pages, planes or files."""
    import tifffile

    window = scope == "window"
    if ds.kind in ("stack", "sequence", "fileset"):
        pages: dict[str, list[int]] = defaultdict(list)
        for relpath, page in ds.planes(window=window):
            pages[relpath].append(page)
        out: list[Segment] = []
        for relpath, numbers in pages.items():
            with tifffile.TiffFile(root / relpath) as tif:
                for n in numbers:
                    page = tif.pages[n]
                    out += _page_segments(relpath, page, range(len(page.dataoffsets)))
        return out
    with tifffile.TiffFile(root / ds.path) as tif:
        if tif.is_ndpi:
            raise Unhandled("NDPI: one JPEG strip per level, read by restart intervals")
        page = tif.series[0].levels[0].keyframe
        if page.planarconfig != 1 and page.samplesperpixel > 1:
            raise Unhandled("separate sample planes")
        return _page_segments(ds.path, page, _level_indices(ds, page, window=window))


def merged_ranges(found: list[Segment], *, gap: int, max_block: int) -> list[tuple[str, int, int]]:
    """The requests tiffzarr makes for these segments (its batcher's merging), per file.

    >>> found = [Segment("a", 0, i, 100 * i, 50) for i in range(3)] + [Segment("b", 0, 0, 0, 8)]
    >>> merged_ranges(found, gap=50, max_block=1000)
    [('a', 0, 250), ('b', 0, 8)]
    >>> merged_ranges(found, gap=0, max_block=1000)[:2]
    [('a', 0, 50), ('a', 100, 150)]
    """
    from tiffzarr.store._batch import plan_blocks

    files = list(dict.fromkeys(s.file for s in found))
    number = {name: i for i, name in enumerate(files)}
    blocks = plan_blocks(
        [(number[s.file], s.offset, s.nbytes) for s in found], gap=gap, max_block=max_block
    )
    return [(files[source], start, stop) for source, start, stop, _ in blocks]


def locate(ds: Dataset, root: Path, scope: str, *, local: bool = False) -> Layout:
    """The segments of ``scope`` and tiffzarr's requests for them: a window's as its
    store batches them, a full read's as its direct path does; ``local``: the blocks
    tiffzarr reads from a local file."""
    from tiffzarr.store import _direct
    from tiffzarr.store._store import LOCAL_BLOCK, LOCAL_GAP, REMOTE_BLOCK, REMOTE_GAP

    found = segments(ds, root, scope)
    if local:
        gap, block = LOCAL_GAP, LOCAL_BLOCK
    else:
        gap, block = REMOTE_GAP, _direct.REMOTE_BLOCK if scope == "full" else REMOTE_BLOCK
    return Layout(tuple(found), tuple(merged_ranges(found, gap=gap, max_block=block)))


# -- the children ------------------------------------------------------------------------


async def _cold_get(url: str) -> float:
    import aiohttp

    start = time.perf_counter()
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={"Range": f"bytes=0-{OPEN_BYTES - 1}"}) as response,
    ):
        await response.read()
    return time.perf_counter() - start


async def _transfer(base: str, ranges: list[list[Any]]) -> float:
    """All ``ranges`` requested at once (at most ``MAX_BLOCKS`` in flight) on a warm
    connection, each body read and dropped."""
    import aiohttp

    from tiffzarr.store._direct import MAX_BLOCKS

    limit = asyncio.Semaphore(MAX_BLOCKS)

    async def get(session: aiohttp.ClientSession, relpath: str, start: int, stop: int) -> int:
        url = f"{base}/{urllib.parse.quote(relpath)}"
        async with limit, session.get(url, headers={"Range": f"bytes={start}-{stop - 1}"}) as r:
            got = 0
            async for chunk in r.content.iter_any():
                got += len(chunk)
            return got

    async with aiohttp.ClientSession() as session:
        await get(session, ranges[0][0], 0, 1)  # connected first: a read follows an open
        start = time.perf_counter()
        sizes = await asyncio.gather(*(get(session, *r) for r in ranges))
        elapsed = time.perf_counter() - start
    if sizes != [b - a for _, a, b in ranges]:
        raise RuntimeError("short reads")
    return elapsed


def _page_cache(root: Path, ranges: list[list[Any]]) -> float:
    """Read the blocks from the (warm) page cache into one reused buffer."""
    buffer = memoryview(bytearray(max(b - a for _, a, b in ranges)))
    handles = {name: os.open(root / name, os.O_RDONLY) for name in {r[0] for r in ranges}}
    try:
        start = time.perf_counter()
        for name, a, b in ranges:
            os.preadv(handles[name], [buffer[: b - a]], a)
        return time.perf_counter() - start
    finally:
        for fd in handles.values():
            os.close(fd)


def _decode(ds: Dataset, root: Path, scope: str, threads: int) -> float:
    """Decode the segments from memory on ``threads`` threads (uncompressed: copy them
    into one output array); their bytes are read first, untimed."""
    import numpy
    import tifffile

    jobs: list[tuple[Any, bytes, int]] = []  # (the page's decode or None, bytes, index)
    by_file: dict[str, list[Segment]] = defaultdict(list)
    for s in segments(ds, root, scope):
        by_file[s.file].append(s)
    for relpath, found in by_file.items():
        with tifffile.TiffFile(root / relpath) as tif:
            for s in found:
                page = tif.pages[s.page]
                keyframe = getattr(page, "keyframe", page)
                tif.filehandle.seek(s.offset)
                data = tif.filehandle.read(s.nbytes)
                decode = None if keyframe.compression == 1 else (keyframe.decode, keyframe)
                jobs.append((decode, data, s.index))
    out = numpy.empty(sum(len(data) for _, data, _ in jobs), numpy.uint8)
    places = numpy.cumsum([0] + [len(data) for _, data, _ in jobs]).tolist()

    def one(i: int) -> None:
        decode, data, index = jobs[i]
        if decode is None:
            out[places[i] : places[i + 1]] = numpy.frombuffer(data, numpy.uint8)
        else:
            decode[0](data, index, jpegtables=decode[1].jpegtables)

    one(0)  # the decoder's first use (its tables, its thread state), untimed
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(one, range(len(jobs))):
            pass
    return time.perf_counter() - start


def child(spec: dict[str, Any]) -> float:
    """One measurement (in a fresh process): seconds of ``spec['part']``."""
    part = spec["part"]
    if part == "get":
        return asyncio.run(_cold_get(spec["url"]))
    if part == "transfer":
        return asyncio.run(_transfer(spec["base"], spec["ranges"]))
    root = Path(spec["root"])
    if part == "cache":
        return _page_cache(root, spec["ranges"])
    ds = next(d for d in datasets(quick=spec["quick"]) if d.name == spec["dataset"])
    return _decode(ds, root, spec["scope"], spec["threads"])


# -- planning and running ----------------------------------------------------------------


def plan(
    chosen: list[Dataset],
    *,
    tasks: list[str],
    latencies: list[int | None],
    read_latencies: list[int | None],
    runs: int,
    local_dataset: str,
) -> list[FloorRun]:
    """The floor measurements behind the rows of the report's phases among ``tasks``
    (all phases when ``tasks`` names none), repetitions outermost.

    >>> from benchmarks._data import datasets
    >>> ds = [d for d in datasets(quick=True) if d.name == "lzw"]
    >>> runs = plan(ds, tasks=["window"], latencies=[None, 50], read_latencies=[0], runs=9,
    ...             local_dataset="zstd")
    >>> sorted({(r.scope, r.part, r.latency) for r in runs})[:3], max(r.rep for r in runs)
    ([('open', 'get', 50), ('window', 'cache', None), ('window', 'decode', None)], 4)
    """
    phases = [p for p in PHASES if p in tasks] or list(PHASES)
    many = cpus()
    cells: list[tuple[str, str, str, int | None, int]] = []
    for ds in chosen:
        if "open" in phases or "window" in phases:
            cells += [(ds.name, "open", "get", lat, 1) for lat in latencies if lat is not None]
        reads = []
        if "window" in phases:
            reads += [("window", lat) for lat in latencies]
        if "read" in phases:
            reads += [("full", lat) for lat in read_latencies]
        if "local" in phases and ds.name == local_dataset:
            reads.append(("full", None))
        for scope, lat in reads:
            cells.append((ds.name, scope, "cache" if lat is None else "transfer", lat, 1))
        for scope in dict.fromkeys(scope for scope, _ in reads):
            cells += [(ds.name, scope, "decode", None, n) for n in sorted({1, many})]
    cells = list(dict.fromkeys(cells))
    return [FloorRun(*cell, rep) for rep in range(min(runs, MAX_REPS)) for cell in cells]


class FloorMeter:
    """Runs :class:`FloorRun` s against a server of ``data_dir``, locating each data
    set's segments once."""

    def __init__(self, chosen: list[Dataset], *, data_dir: Path, quick: bool, timeout: float):
        self.by_name = {ds.name: ds for ds in chosen}
        self.data_dir = data_dir
        self.quick = quick
        self.timeout = timeout
        self._layouts: dict[tuple[str, str, bool], Layout | Unhandled] = {}

    def layout(self, name: str, scope: str, *, local: bool = False) -> Layout:
        """The data set's :class:`Layout` of ``scope``; raises :class:`Unhandled`."""
        key = (name, scope, local)
        if key not in self._layouts:
            try:
                self._layouts[key] = locate(self.by_name[name], self.data_dir, scope, local=local)
            except Unhandled as exc:
                self._layouts[key] = exc
        found = self._layouts[key]
        if isinstance(found, Unhandled):
            raise found
        return found

    def measure(self, run: FloorRun, *, server: Any) -> FloorSample:
        """Take one measurement in a fresh child process."""
        ds = self.by_name[run.dataset]
        taken = functools.partial(FloorSample, *dataclasses.astuple(run))
        spec: dict[str, Any] = {"part": run.part, "root": str(self.data_dir)}
        counts: dict[str, int | None]
        if run.part == "get":
            spec["url"] = server.url_for(ds.files[0] if ds.files else ds.path)
            counts = {"requests": 1, "bytes": OPEN_BYTES}
        else:
            try:
                layout = self.layout(ds.name, run.scope, local=run.part == "cache")
            except Unhandled as exc:
                return taken(status="n/a", detail=str(exc))
            ranges = [list(r) for r in layout.ranges]
            spec.update(base=server.url, ranges=ranges, dataset=ds.name, quick=self.quick)
            spec.update(scope=run.scope, threads=run.threads)
            counts = {"segments": len(layout.segments), "bytes": layout.nbytes}
            counts["requests"] = len(ranges) if run.part == "transfer" else None
        if run.latency is not None:
            server.latency = run.latency / 1000
        try:
            seconds = self._spawn(spec)
        except (subprocess.SubprocessError, ValueError) as exc:
            tail = getattr(exc, "stderr", "") or str(exc)
            return taken(status="error", detail=tail[-400:].strip(), **counts)
        return taken(status="ok", seconds=seconds, **counts)

    def _spawn(self, spec: dict[str, Any]) -> float:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.floors", "--child"],
            input=json.dumps(spec),
            cwd=REPO,
            env=_environment(),
            capture_output=True,
            text=True,
            check=True,
            timeout=self.timeout,
        )
        return float(json.loads(done.stdout))

    def measure_all(
        self,
        *,
        tasks: list[str],
        latencies: list[int | None],
        read_latencies: list[int | None],
        runs: int,
        progress: Callable[[str], None] | None = None,
    ) -> list[FloorSample]:
        """The floors behind the rows of ``tasks`` (:func:`plan`), against a loopback
        server of the data directory (its files read once first, as the contenders')."""
        from tiffzarr.testing import serve

        planned = plan(
            list(self.by_name.values()),
            tasks=tasks,
            latencies=latencies,
            read_latencies=read_latencies,
            runs=runs,
            local_dataset=LOCAL_DATASET,
        )
        warm(self.data_dir, list(self.by_name.values()))
        out = []
        with serve(self.data_dir) as server:
            for run in planned:
                sample = self.measure(run, server=server)
                if progress is not None:
                    progress(progress_line(sample))
                out.append(sample)
        return out


def progress_line(s: FloorSample) -> str:
    """One line of progress for a floor measurement."""
    where = "local" if s.latency is None else f"{s.latency} ms"
    what = f"{s.part}{f' x{s.threads}' if s.part == 'decode' else ''}"
    head = f"[floor rep {s.rep}] {s.scope:6} {s.dataset:6} {where:6} {what:11}"
    if s.status != "ok":
        return f"{head} {s.status}: {s.detail}"
    return f"{head} {s.seconds:.3f} s"


# -- on its own ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.floors``: the floors of some data sets, as a Markdown table."""
    from benchmarks._bounds import floor_cells

    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--child"]:
        print(json.dumps(child(json.loads(sys.stdin.read()))))
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floors", description=__doc__)
    parser.add_argument("--runs", type=int, default=MAX_REPS)
    parser.add_argument("--datasets", default="cog,zstd,lzw")
    parser.add_argument("--phases", default="open,window", help=", ".join(PHASES))
    parser.add_argument("--latency", default="20,50", help="ms per request ('local': none)")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="the small data sets")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per process")
    args = parser.parse_args(argv)
    root = args.data_dir or (DATA_DIR / "quick" if args.quick else DATA_DIR)
    chosen = [d for d in datasets(quick=args.quick) if d.name in args.datasets.split(",")]
    ensure_all(chosen, root)
    latencies = [None if t == "local" else int(t) for t in args.latency.split(",")]
    meter = FloorMeter(chosen, data_dir=root, quick=args.quick, timeout=args.timeout)
    samples = meter.measure_all(
        tasks=args.phases.split(","), latencies=latencies, read_latencies=latencies, runs=args.runs
    )
    print("| data set | phase | latency | floor |")
    print("|---|---|---|---|")
    for (name, phase, latency), cell in floor_cells(samples).items():
        where = "local" if latency is None else f"{latency} ms"
        print(f"| {name} | {phase} | {where} | {cell.text} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
