"""``python -m benchmarks``: generate, serve, measure, report. ``--help`` for options."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

from benchmarks._bounds import floor_cells
from benchmarks._checks import checks_section
from benchmarks._contenders import CONTENDERS
from benchmarks._costs import chunks_of, cost_section
from benchmarks._data import DATA_DIR, datasets, ensure_all
from benchmarks._report import (
    keep_sections,
    long_section,
    machine,
    render,
    source_digest,
    summarise,
)
from benchmarks._runner import plan, run_all
from benchmarks.floors import FloorMeter

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
TASKS = ("open", "window", "read", "local", "floors")
"""``floors``: what no reader can beat, next to the rows of the other tasks
(:mod:`benchmarks.floors`; all phases when it is the only task)."""


def _names(text: str) -> list[str]:
    return [t for t in (part.strip() for part in text.split(",")) if t]


LOCAL = "local"
"""The latency that means "from local paths, no HTTP"."""


def _millis(text: str) -> list[int | None]:
    """Latencies in ms; ``local`` (None) reads local paths instead of the server."""
    return [None if t == LOCAL else int(t) for t in _names(text)]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="tiffzarr against tifffile + fsspec, GDAL /vsicurl/ and async-tiff (and"
        " tiffslide, openslide on the slides) on loopback HTTP with injected latency.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny data sets, 1 run, 0 ms")
    parser.add_argument("--runs", type=int, help="runs per cell (default 5; --quick 1)")
    parser.add_argument(
        "--latency",
        type=_millis,
        help="ms per request (default 0,20,50); 'local' = local paths, no HTTP",
    )
    parser.add_argument(
        "--read-latency",
        type=_millis,
        help="ms per request for full reads (default 0,20); 'local' as for --latency",
    )
    parser.add_argument("--datasets", type=_names, help="comma-separated (default: all)")
    parser.add_argument("--contenders", type=_names, help=f"of {', '.join(CONTENDERS)}")
    parser.add_argument("--tasks", type=_names, default=list(TASKS), help=", ".join(TASKS))
    parser.add_argument("--data-dir", type=Path, help="default benchmarks/data[/quick]")
    parser.add_argument(
        "--out", type=Path, help="Markdown report (default benchmarks/RESULTS.md; --quick: none)"
    )
    parser.add_argument("--json", type=Path, help="raw samples (default <data-dir>/results.json)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per process")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    parser.add_argument(
        "--many-refs",
        type=int,
        metavar="N",
        help="instead: write_many_references on N COGs (benchmarks/bench_refs.py; one"
        " --latency, default 50; --out default benchmarks/RESULTS-refs.md)",
    )
    parser.add_argument(
        "--distributed-write",
        type=float,
        metavar="SIZE_GB",
        help="instead: write a generated SIZE_GB image on a LocalCluster (benchmarks/"
        "bench_distributed.py; more options there; results in benchmarks/RESULTS-write.md)",
    )
    args = parser.parse_args(argv)
    if args.distributed_write is not None:
        return args
    if args.many_refs is not None:
        if args.latency is not None and (len(args.latency) != 1 or None in args.latency):
            parser.error("--many-refs takes one --latency in ms")
        return args
    quick = args.quick
    args.runs = args.runs or (1 if quick else 5)
    args.latency = args.latency if args.latency is not None else ([0] if quick else [0, 20, 50])
    if args.read_latency is None:
        args.read_latency = [0] if quick else [0, 20]
    args.data_dir = args.data_dir or (DATA_DIR / "quick" if quick else DATA_DIR)
    if args.out is None and not quick:
        args.out = RESULTS
    args.json = args.json or args.data_dir / "results.json"
    unknown = set(args.tasks) - set(TASKS) | set(args.contenders or ()) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown tasks or contenders: {sorted(unknown)}")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    if args.distributed_write is not None:
        from benchmarks import bench_distributed

        size = str(args.distributed_write)
        return bench_distributed.main([size], command=f"python -m benchmarks {shlex.join(argv)}")
    if args.many_refs is not None:
        from benchmarks import bench_refs

        latency = ["--latency", str(args.latency[0])] if args.latency else []
        out = ["--out", str(args.out)] if args.out else []
        return bench_refs.main(["--files", str(args.many_refs), *latency, *out])
    chosen = [d for d in datasets(quick=args.quick) if not args.datasets or d.name in args.datasets]
    say = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr))
    say(f"data sets in {args.data_dir} ...")
    sizes = ensure_all(chosen, args.data_dir)
    runs = plan(
        chosen,
        contenders=args.contenders or list(CONTENDERS),
        tasks=[t for t in args.tasks if t != "floors"],
        latencies=args.latency,
        read_latencies=args.read_latency,
        runs=args.runs,
    )
    say(f"{len(runs)} runs")
    start = time.perf_counter()
    sources, load = source_digest(), os.getloadavg()
    samples = list(
        run_all(
            runs,
            chosen,
            data_dir=args.data_dir,
            quick=args.quick,
            timeout=args.timeout,
            progress=say,
        )
    )
    meter = FloorMeter(chosen, data_dir=args.data_dir, quick=args.quick, timeout=args.timeout)
    floors = []
    if "floors" in args.tasks:
        floors = meter.measure_all(
            tasks=args.tasks,
            latencies=args.latency,
            read_latencies=args.read_latency,
            runs=args.runs,
            progress=say,
        )
    elapsed = time.perf_counter() - start
    info = machine()
    info["sources_at_start"] = sources
    info["load"] = {"start": load, "end": os.getloadavg()}
    command = "python -m benchmarks" + "".join(" " + shlex.quote(a) for a in argv)
    settings = {"runs": args.runs, "latencies": args.latency, "read_latencies": args.read_latency}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "command": command,
                "machine": info,
                "settings": settings,
                "sizes": sizes,
                "elapsed": elapsed,
                "samples": [s.asdict() for s in samples],
                "floors": [s.asdict() for s in floors],
            },
            indent=1,
        )
    )
    summary, bounds = summarise(samples), floor_cells(floors)
    read = sorted({d for d, phase, latency in summary if phase == "read" and latency is not None})
    sections = checks_section(summary, bounds) if samples else []
    sections += cost_section(summary, chosen, sizes=sizes, chunks=chunks_of(meter, read))
    sections += long_section()
    text = render(
        summary,
        chosen=chosen,
        sizes=sizes,
        info=info,
        command=command,
        settings=settings,
        elapsed=elapsed,
        floors=bounds,
        sections=sections,
    )
    print(text)
    if args.out is not None:
        previous = args.out.read_text() if args.out.exists() else ""
        args.out.write_text(keep_sections(previous, text))  # other runs' sections stay
        say(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
