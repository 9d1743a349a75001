"""What no reader can beat here: bare transfers and bare decoding, no parsing, no zarr.

``python -m benchmarks.floors`` serves the benchmark's tiled and strip data sets
from the same loopback server (in this process; the measurements run in fresh
child processes) and measures, median of ``--runs``:

- **cold GET**: one ``aiohttp`` request for the first 64 KiB at 20 ms, with a new
  session and connection, as every contender's open starts: the least a
  one-request open costs.
- **window bytes**: the ranges of the 64-segment window at 50 ms, merged as
  tiffzarr merges them and requested all at once on a warm connection, read and
  dropped: the transfer, without decoding.
- **window decode**: decoding the 64 segments from memory with tifffile's
  imagecodecs-based decoder, on one thread and on all usable CPUs.

The server shares the machine's CPUs with the client, as in the benchmark. The
report is a Markdown table on stdout; ``benchmarks/README.md`` explains it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks._data import DATA_DIR, Dataset, datasets, ensure

CHILD_GET = """
import asyncio, json, sys, time, aiohttp
async def main():
    start = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        async with session.get(sys.argv[1], headers={"Range": "bytes=0-65535"}) as response:
            await response.read()
        print(json.dumps(time.perf_counter() - start))
asyncio.run(main())
"""

CHILD_WINDOW = """
import asyncio, json, sys, time, aiohttp
url, ranges = sys.argv[1], json.loads(sys.argv[2])
async def get(session, start, stop):
    async with session.get(url, headers={"Range": f"bytes={start}-{stop - 1}"}) as response:
        return len(await response.read())
async def main():
    async with aiohttp.ClientSession() as session:
        await get(session, 0, 1)  # connected first: a window follows an open
        start = time.perf_counter()
        sizes = await asyncio.gather(*(get(session, a, b) for a, b in ranges))
        assert sizes == [b - a for a, b in ranges]
        print(json.dumps(time.perf_counter() - start))
asyncio.run(main())
"""


def _child(code: str, *args: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, timeout=120
    )
    return float(json.loads(done.stdout))


def window_segments(ds: Dataset, path: Path) -> list[tuple[int, int, int]]:
    """``(index, offset, nbytes)`` of the segments under the data set's window."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        (y0, y1), (x0, x1) = ds.window
        if page.is_tiled:
            th, tw = page.tilelength, page.tilewidth
            across = -(-page.imagewidth // tw)
            indices = [
                r * across + c
                for r in range(y0 // th, -(-y1 // th))
                for c in range(x0 // tw, -(-x1 // tw))
            ]
        else:
            rows = page.rowsperstrip
            indices = list(range(y0 // rows, -(-y1 // rows)))
        return [(i, page.dataoffsets[i], page.databytecounts[i]) for i in indices]


def merged_ranges(segments: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
    """The requests tiffzarr makes for these segments (its batcher's merging)."""
    from tiffzarr.store._batch import plan_blocks
    from tiffzarr.store._store import REMOTE_BLOCK, REMOTE_GAP

    blocks = plan_blocks(
        [(0, offset, n) for _, offset, n in segments], gap=REMOTE_GAP, max_block=REMOTE_BLOCK
    )
    return [(start, stop) for _, start, stop, _ in blocks]


def decode_seconds(path: Path, segments: list[tuple[int, int, int]], threads: int) -> float:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        raw = []
        for index, offset, nbytes in segments:
            tif.filehandle.seek(offset)
            raw.append((tif.filehandle.read(nbytes), index))
        decode = page.decode
        decode(*raw[0], jpegtables=page.jpegtables)  # warm the decoder
        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda item: decode(*item, jpegtables=page.jpegtables), raw))
        return time.perf_counter() - start


def _median(values: list[float]) -> str:
    return f"{1e3 * statistics.median(values):.0f} ms"


def main(argv: list[str] | None = None) -> int:
    from tiffzarr.testing import serve

    parser = argparse.ArgumentParser(prog="python -m benchmarks.floors", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--datasets", default="cog,zstd,lzw")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="the small data sets")
    args = parser.parse_args(argv)
    root = args.data_dir or (DATA_DIR / "quick" if args.quick else DATA_DIR)
    chosen = [d for d in datasets(quick=args.quick) if d.name in args.datasets.split(",")]
    cpus = len(os.sched_getaffinity(0))
    print(
        "| data set | cold GET @ 20 ms | window bytes @ 50 ms | window decode, 1 thread | "
        f"window decode, {cpus} threads |"
    )
    print("|---|---|---|---|---|")
    for ds in chosen:
        path = ensure(ds, root)
        segments = window_segments(ds, path)
        ranges = merged_ranges(segments)
        with serve(path.parent) as server:
            url = server.url_for(path.name)
            server.latency = 0.020
            get = [_child(CHILD_GET, url) for _ in range(args.runs)]
            server.latency = 0.050
            window = [_child(CHILD_WINDOW, url, json.dumps(ranges)) for _ in range(args.runs)]
        one = [decode_seconds(path, segments, 1) for _ in range(args.runs)]
        many = [decode_seconds(path, segments, cpus) for _ in range(args.runs)]
        nbytes = sum(n for _, _, n in segments)
        print(
            f"| {ds.name} | {_median(get)} | {_median(window)} ({len(ranges)} req, "
            f"{nbytes / 1e6:.1f} MB) | {_median(one)} | {_median(many)} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
