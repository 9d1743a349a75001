"""References of many COGs at once: ``tiffzarr.write_many_references`` at scale.

``python -m benchmarks --many-refs 10000`` (or ``python -m benchmarks.bench_refs
--files 10000``) serves one small COG (2048x2048 uint16, 512x512 tiles, ZSTD +
predictor, two overviews: 21 tiles, written by ``tiffzarr.write(cog=True)``) under
N names (``many/000000.tif``, ...) from the loopback Range server, each request
delayed by ``--latency`` ms. The names share one file's bytes, so nothing is
generated per file, but every name is a URL of its own to the client: nothing is
cached across them.

For each format (one JSON file per COG; one parquet set with a group per COG) a
child process runs ``write_many_references`` on all N URLs (the server stays in
this process, so it never competes with the client for its interpreter lock);
with ``--workers W`` the child starts a ``LocalCluster`` of W processes and the
files are split among them. Measured: the wall time of the call, the requests
and bytes the server answered (per file, and the most for any one file; HEAD
requests), the most requests the server held at once (in flight), the child's
peak RSS (and the workers'), and the bytes of references written. Written to
``benchmarks/RESULTS-refs.md`` with the cost per file and what it comes to for
1 M files.

``--smoke`` runs 40 files at 0 ms and writes no report (for the test suite).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._worker import peak_rss
from tiffzarr.testing import RangeServer

RESULTS = Path(__file__).with_name("RESULTS-refs.md")
REPO = Path(__file__).resolve().parent.parent
FORMATS = ("json", "parquet")
EXTRAPOLATE = 1_000_000
_SERVED = "cog.tif"


class CountingServer(RangeServer):
    """A Range server that answers every name ``aliases`` matches with ``cog.tif``, and
    records the most requests it held at once (``peak``; waiting out the latency)."""

    def __init__(self, files: Mapping[str, bytes], /, *, aliases: str | None = None) -> None:
        self._aliases = re.compile(aliases) if aliases is not None else None
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0
        super().__init__(files)

    def lookup(self, name: str) -> Any:
        if self._aliases is not None and self._aliases.fullmatch(name):
            name = _SERVED
        return super().lookup(name)

    def wait(self, seconds: float) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            super().wait(seconds)
        finally:
            with self._lock:
                self.now -= 1

    def reset(self) -> None:
        """Forget the requests and the peak."""
        self.stats.reset()
        with self._lock:
            self.peak = self.now


def make_cog(size: int = 2048, tile: int = 512) -> bytes:
    """The served COG: a smooth pattern with seeded noise."""
    import io

    import tiffzarr

    y = np.arange(size, dtype=np.float32)[:, None]
    x = np.arange(size, dtype=np.float32)[None, :]
    pattern = 20000 + 8000 * np.sin(x / 300) * np.cos(y / 200)
    noise = np.random.default_rng(0).integers(0, 64, (size, size), dtype=np.uint16)
    image = pattern.astype(np.uint16) + noise
    buffer = io.BytesIO()
    tiffzarr.write(buffer, image, cog=True, tile=(tile, tile), compression="zstd", predictor=True)
    return buffer.getvalue()


def _folder_bytes(folder: str) -> tuple[int, int]:
    """Files and bytes below ``folder``."""
    count = total = 0
    for root, _, names in os.walk(folder):
        for name in names:
            count += 1
            total += os.path.getsize(os.path.join(root, name))
    return count, total


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """In the child: write the references of every URL; what it cost here."""
    import logging

    import tiffzarr

    urls = [f"{spec['base']}/many/{i:06d}.tif" for i in range(spec["files"])]
    cluster = client = None
    if spec["workers"]:
        from dask.distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=spec["workers"],
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    try:
        start = time.perf_counter()
        summary = tiffzarr.write_many_references(
            urls,
            spec["target"],
            format=spec["format"],
            concurrency=spec["concurrency"],
            client=client,
        )
        seconds = time.perf_counter() - start
        workers_rss = max(client.run(peak_rss).values()) if client is not None else None
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    files, size = _folder_bytes(spec["target"])
    metadata = os.path.join(spec["target"], ".zmetadata")
    return {
        "seconds": seconds,
        "written": len(summary.written),
        "errors": len(summary.errors),
        "first_error": next(iter(summary.errors.values()), None),
        "peak_rss": peak_rss(),
        "workers_rss": workers_rss,
        "ref_files": files,
        "ref_bytes": size,
        "zmetadata_bytes": os.path.getsize(metadata) if os.path.exists(metadata) else None,
    }


def measure(server: CountingServer, spec: dict[str, Any]) -> dict[str, Any]:
    """Run one child; its figures with the server's counts."""
    server.reset()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_refs", "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"},
    )
    if done.returncode:
        raise RuntimeError(f"{spec['format']} run failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    records = server.stats.records
    per_path: dict[str, int] = {}
    for record in records:
        per_path[record.path] = per_path.get(record.path, 0) + 1
    result.update(
        format=spec["format"],
        files=spec["files"],
        requests=len(records),
        head=sum(r.method == "HEAD" for r in records),
        max_per_file=max(per_path.values(), default=0),
        served_bytes=sum(r.bytes for r in records),
        in_flight=server.peak,
    )
    return result


def _size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.1f} s"


def report(results: list[dict[str, Any]], args: argparse.Namespace, command: str) -> str:
    where = f"{args.workers} LocalCluster worker processes" if args.workers else "one process"
    lines = [
        "# References of many COGs",
        "",
        f"Command: `{command}`",
        "",
        f"{args.files} COGs of {_size(args.cog_bytes)} (2048x2048 uint16, 512x512 tiles, ZSTD +"
        f" predictor, 2 overviews: 21 tiles) over loopback HTTP at {args.latency} ms per"
        f" request, `tiffzarr.write_many_references(urls, folder, concurrency={args.concurrency})`"
        f" in {where}. Machine: {os.cpu_count()} CPUs, shared (load average {args.load:.1f} at"
        " the start). Wall time of the call; requests as the server counted them; in flight: the"
        " most requests the server held at once; peak RSS of the calling process (and of the"
        " busiest worker).",
        "",
        "| format | files | wall | files/s | requests | req/file | max req/file | HEAD"
        " | in flight | served | peak RSS | references | per file |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rss = _size(r["peak_rss"]) + (
            f" (worker {_size(r['workers_rss'])})" if r["workers_rss"] else ""
        )
        per_file = r["requests"] / r["files"]
        lines.append(
            f"| {r['format']} | {r['written']} of {r['files']} | {r['seconds']:.1f} s"
            f" | {r['files'] / r['seconds']:.0f} | {r['requests']} | {per_file:.2f}"
            f" | {r['max_per_file']} | {r['head']} | {r['in_flight']} | {_size(r['served_bytes'])}"
            f" | {rss} | {_size(r['ref_bytes'])} in {r['ref_files']} files"
            f" | {_size(r['ref_bytes'] / r['files'])} |"
        )
    lines += [
        "",
        f"## Per file, and for {EXTRAPOLATE:,} files",
        "",
        "Linear in the number of files at the same concurrency (the time is the wall time per"
        " file here; the client's CPU, not the latency, bounds it once enough requests are in"
        " flight). The parquet set's `.zmetadata` holds every file's metadata documents, so it"
        " (and the memory to write it at the end) grows with the files.",
        "",
        "| format | time / file | requests / file | references / file | time for 1 M"
        " | requests for 1 M | references for 1 M | `.zmetadata` for 1 M |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        scale = EXTRAPOLATE / r["files"]
        meta = _size(r["zmetadata_bytes"] * scale) if r["zmetadata_bytes"] else "n/a"
        lines.append(
            f"| {r['format']} | {1000 * r['seconds'] / r['files']:.2f} ms"
            f" | {r['requests'] / r['files']:.2f} | {_size(r['ref_bytes'] / r['files'])}"
            f" | {_duration(r['seconds'] * scale)} | {r['requests'] * scale:,.0f}"
            f" | {_size(r['ref_bytes'] * scale)} | {meta} |"
        )
    failed = [r for r in results if r["errors"]]
    for r in failed:
        lines += ["", f"{r['format']}: {r['errors']} files failed, e.g. {r['first_error']}"]
    return "\n".join(lines) + "\n"


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_refs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--files", type=int, default=10_000, help="COGs (default 10000)")
    parser.add_argument("--latency", type=int, default=50, help="ms per request (default 50)")
    parser.add_argument("--concurrency", type=int, default=64, help="files at a time")
    parser.add_argument("--formats", default=",".join(FORMATS), help="json,parquet")
    parser.add_argument("--workers", type=int, default=0, help="dask workers (0: one process)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="Markdown report")
    parser.add_argument("--smoke", action="store_true", help="40 files at 0 ms, no report")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.files, args.latency, args.out = 40, 0, None
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.child:
        print(json.dumps(run_child(json.loads(args.child))))
        return 0
    args.load = os.getloadavg()[0]
    shown = list(sys.argv[1:] if argv is None else argv)
    command = "python -m benchmarks.bench_refs" + "".join(" " + shlex.quote(a) for a in shown)
    cog = make_cog()
    args.cog_bytes = len(cog)
    results = []
    with (
        CountingServer({_SERVED: cog}, aliases=r"many/\d{6}\.tif") as server,
        tempfile.TemporaryDirectory(prefix="bench-refs-") as folder,
    ):
        server.latency = args.latency / 1000
        for fmt in args.formats.split(","):
            spec = {
                "base": server.url,
                "files": args.files,
                "format": fmt,
                "concurrency": args.concurrency,
                "workers": args.workers,
                "target": os.path.join(folder, "refs.parq" if fmt == "parquet" else "json"),
            }
            result = measure(server, spec)
            print(
                f"{fmt}: {result['seconds']:.1f} s, {result['requests']} requests,"
                f" {result['in_flight']} in flight, {result['errors']} errors",
                file=sys.stderr,
                flush=True,
            )
            results.append(result)
    text = report(results, args, command)
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
