"""Writing a large generated dask array as a tiled pyramid on a ``distributed`` LocalCluster.

``python -m benchmarks --distributed-write SIZE_GB`` (or ``python -m
benchmarks.bench_distributed SIZE_GB``, with more options) generates a uint16 image of about
``SIZE_GB`` gigabytes (10**9 bytes) with :func:`benchmarks.bench_write.source`'s
chunk function (a smooth pattern plus seeded noise, computed on the workers; no
stored data), ``--width`` columns wide, and writes it with ``tiffzarr.write`` as a
BigTIFF pyramid down to one tile (512x512 tiles, ZSTD + horizontal predictor) to
a temporary folder, on a LocalCluster of ``--workers`` worker processes with one
thread each and ``--memory-limit`` each. The client encodes nothing: tiles are
encoded on the workers and streamed to the file.

Measured: wall time, CPU time, MB/s of raw base-level pixels, each worker's peak
RSS during the write (its own high-water mark, ``VmHWM``, reset before the write,
and the largest of psutil samples every 0.2 s), the client's peak RSS (this
process, which also hosts the scheduler), bytes
spilled to disk by the workers, and how many chunks the workers computed (each
exactly once is expected). The first and last bands of the base level are
decoded with tifffile and compared to the generated pixels; the output is
deleted afterwards. The figures go to their own section of
``benchmarks/RESULTS-write.md`` (``--results``), which ``bench_write`` keeps.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import bench_write
from benchmarks._worker import peak_rss

HEADING = "## Distributed write"
TILE = 512


def _chunks_computed() -> int:
    return bench_write.COUNTER.count


def _reset_peak() -> None:
    """Start this process's RSS high-water mark afresh (Linux: ``clear_refs`` 5)."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")


def _spilled(dask_worker: Any) -> int:
    return int(dask_worker.data.spilled_total.disk)


class _Sampler(threading.Thread):
    """The largest RSS of each watched process, sampled; a progress line now and then."""

    def __init__(self, pids: dict[str, int], folder: str, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        import psutil

        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.gone = psutil.NoSuchProcess
        self.lost: list[str] = []
        self.peaks = dict.fromkeys(pids, 0)
        self.folder = folder
        self.every = every
        self.stop = threading.Event()

    def cpu(self) -> np.ndarray:
        """CPU seconds (user and system) each watched process has used so far."""
        times = [self.procs[name].cpu_times() for name in self.peaks]
        return np.array([t.user + t.system for t in times])

    def run(self) -> None:
        start = last = time.perf_counter()
        while not self.stop.wait(self.every):
            for name, proc in list(self.procs.items()):
                try:
                    self.peaks[name] = max(self.peaks[name], proc.memory_info().rss)
                except self.gone:  # a worker died; its replacement is not watched
                    self.lost.append(name)
                    del self.procs[name]
            if time.perf_counter() - last > 30:
                last = time.perf_counter()
                written = sum(e.stat().st_size for e in os.scandir(self.folder) if e.is_file())
                rss = ", ".join(f"{v / 2**20:.0f}" for v in self.peaks.values())
                print(
                    f"  {last - start:.0f} s: {written / 2**30:.2f} GiB in the folder, "
                    f"peak RSS MiB {rss}",
                    file=sys.stderr,
                    flush=True,
                )


def _check(path: str, data: Any) -> bool:
    """The first and last base bands decode to the generated pixels."""
    import dask
    import tifffile

    rows = data.shape[0]
    with tifffile.TiffFile(path) as tif, dask.config.set(scheduler="sync"):
        page = tif.pages[0]
        tiles_across = -(-data.shape[1] // TILE)
        for band in (0, -(-rows // TILE) - 1):
            y0 = band * TILE
            want = data[y0 : y0 + TILE].compute()
            got = np.zeros((TILE, tiles_across * TILE), np.uint16)
            fh = tif.filehandle
            for k in range(tiles_across):
                index = band * tiles_across + k
                fh.seek(page.dataoffsets[index])
                tile, _, _ = page.decode(fh.read(page.databytecounts[index]), index)
                got[:, k * TILE : (k + 1) * TILE] = tile.reshape(TILE, TILE)
            if not np.array_equal(got[: want.shape[0], : want.shape[1]], want):
                return False
    return True


def run(
    size_gb: float, *, width: int, chunk: tuple[int, int], workers: int, memory_limit: str
) -> dict[str, Any]:
    """Write the image once on a fresh LocalCluster; return the measurements."""
    import dask.array as da
    import distributed

    import tiffzarr

    rows = -(-int(size_gb * 1e9) // (2 * width * chunk[0])) * chunk[0]
    chunks = da.core.normalize_chunks(chunk, (rows, width))
    image = da.map_blocks(bench_write._chunk, dtype=np.uint16, chunks=chunks)
    folder = tempfile.mkdtemp(prefix="bench-distributed-", dir="/tmp")
    path = os.path.join(folder, "pyramid.tif")
    cluster = distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        memory_limit=memory_limit,
        dashboard_address=None,
        host="127.0.0.1",
    )
    try:
        with distributed.Client(cluster) as client:
            pids = {f"worker {i}": pid for i, pid in enumerate(client.run(os.getpid).values())}
            sampler = _Sampler({**pids, "client": os.getpid()}, folder)
            sampler.start()
            client.run(_reset_peak)
            _reset_peak()
            start, cpu = time.perf_counter(), sampler.cpu()
            tiffzarr.write(
                path,
                image,
                tile=(TILE, TILE),
                compression="zstd",
                predictor=True,
                pyramid=True,
                bigtiff=True,
            )
            seconds = time.perf_counter() - start
            client_hwm = peak_rss()
            sampler.stop.set()
            sampler.join()
            if sampler.lost or sorted(client.run(os.getpid).values()) != sorted(pids.values()):
                raise RuntimeError(f"workers died during the write: {sampler.lost}")
            cpu = sampler.cpu() - cpu
            hwm = list(client.run(peak_rss).values())
            computed = sum(client.run(_chunks_computed).values())
            spilled = sum(client.run(_spilled).values())
        file_bytes = os.path.getsize(path)
        levels = _levels(path)
        correct = _check(path, image)
    finally:
        cluster.close()
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "shape": (rows, width),
        "chunks": chunk,
        "nchunks": image.npartitions,
        "raw_bytes": rows * width * 2,
        "seconds": seconds,
        "cpu": cpu.tolist(),
        "file_bytes": file_bytes,
        "levels": levels,
        "worker_hwm": hwm,
        "worker_sampled": [sampler.peaks[name] for name in pids],
        "client_sampled": sampler.peaks["client"],
        "client_hwm": client_hwm,
        "computed": computed,
        "spilled": spilled,
        "correct": correct,
        "workers": workers,
        "memory_limit": memory_limit,
        "load": os.getloadavg()[0],
    }


def _levels(path: str) -> int:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        return len(tif.series[0].levels)


def section(r: dict[str, Any], command: str, load: float) -> str:
    mib = 2**20
    rows, width = r["shape"]
    workers = ", ".join(
        f"{h / mib:.0f} ({s / mib:.0f})"
        for h, s in zip(r["worker_hwm"], r["worker_sampled"], strict=True)
    )
    cpu = ", ".join(f"{c:.0f}" for c in r["cpu"])
    lines = [
        HEADING,
        "",
        f"Command: `{command}`",
        "",
        f"A generated {rows}x{width} uint16 dask array ({r['raw_bytes'] / 1e9:.1f} GB, chunks "
        f"{r['chunks'][0]}x{r['chunks'][1]}, the pattern-plus-noise function above, computed on "
        f"the workers) written by `tiffzarr.write` with a distributed Client active: a BigTIFF "
        f"pyramid down to one tile, {TILE}x{TILE} tiles, ZSTD + horizontal predictor, to /tmp "
        f"(deleted after). LocalCluster of {r['workers']} worker processes, 1 thread each, "
        f"memory limit {r['memory_limit']} each; the client process also hosts the scheduler. "
        f"Machine: {os.cpu_count()} CPUs, shared (load average {load:.1f} at the start, "
        f"{r['load']:.1f} at the end). Worker RSS: the process's own high-water mark (VmHWM), "
        "with the largest psutil sample (every 0.2 s) in brackets. The first and last base "
        "bands were decoded with tifffile and compared to the generated pixels. CPU s: user "
        "plus system time of the workers and the client during the write (the machine is "
        "shared, so wall time depends on the load; CPU time much less).",
        "",
        "| wall s | CPU s: workers, client | MB/s (raw base) | worker peak RSS MiB "
        "| client peak RSS MiB | file GiB "
        "| levels | chunks computed | spilled MiB | pixels checked |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        f"| {r['seconds']:.0f} | {cpu} | {r['raw_bytes'] / 1e6 / r['seconds']:.0f} "
        f"| {workers} "
        f"| {r['client_hwm'] / mib:.0f} ({r['client_sampled'] / mib:.0f}) "
        f"| {r['file_bytes'] / 2**30:.2f} | {r['levels']} | {r['computed']} of {r['nchunks']} "
        f"| {r['spilled'] / mib:.0f} | {'equal' if r['correct'] else 'DIFFERENT'} |",
    ]
    return "\n".join(lines) + "\n"


def replace_section(path: Path, heading: str, text: str) -> None:
    """Put ``text`` in place of the section of ``path`` under ``heading`` (or append it)."""
    old = path.read_text() if path.exists() else ""
    start = old.find(heading)
    if start < 0:
        path.write_text(old.rstrip("\n") + ("\n\n" if old else "") + text)
        return
    end = old.find("\n## ", start + len(heading))
    rest = old[end + 1 :] if end >= 0 else ""
    path.write_text(old[:start] + text + ("\n" + rest if rest else ""))


def main(argv: Sequence[str] | None = None, *, command: str | None = None) -> int:
    """Run the benchmark; ``command`` is how it was invoked (for the report)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_distributed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("size_gb", type=float, help="raw size of the image in GB (10**9 bytes)")
    parser.add_argument("--width", type=int, default=32768, help="columns (default 32768)")
    parser.add_argument(
        "--chunk", type=int, nargs=2, default=(1024, 4096), help="chunk rows and columns"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="1.5GiB", help="per worker (default 1.5GiB)")
    parser.add_argument("--results", type=Path, default=bench_write.RESULTS)
    parser.add_argument("--no-results", action="store_true", help="print only")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    result = run(
        args.size_gb,
        width=args.width,
        chunk=(args.chunk[0], args.chunk[1]),
        workers=args.workers,
        memory_limit=args.memory_limit,
    )
    if command is None:
        given = list(argv) if argv is not None else sys.argv[1:]
        command = " ".join(["python -m benchmarks.bench_distributed", *given])
    text = section(result, command, load)
    print(text)
    if not args.no_results:
        replace_section(args.results, HEADING, text)
        print(f"written {args.results}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
