"""Scheduling: one subprocess per contender run, interleaved, counted by the server.

The loopback Range server runs in this (the runner's) process, the contender in
a child started with ``python -m benchmarks._worker``; so the server never
competes with the contender for its interpreter lock, and every child starts
with cold caches (fsspec, GDAL's ``/vsicurl/`` cache, tiffzarr's). The child
marks the end of each phase and waits; the runner reads the server's request
and byte counters at each mark, so open and window are counted apart.

A latency of ``None`` means local paths: the worker reads the data directory, not
the server (the ``local`` full read, and open/window "at" latency ``local``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks._contenders import GDAL_ENV, applicable
from benchmarks._data import Dataset
from benchmarks._worker import MARK

__all__ = ["Run", "Sample", "execute", "plan", "run_all", "warm"]

REPO = Path(__file__).resolve().parent.parent
PHASES = {"open": ("open",), "window": ("open", "window"), "read": ("open", "read")}
PHASES["local"] = ("local",)
LOCAL_DATASET = "zstd"
"""The data set of the local full read."""


@dataclasses.dataclass(frozen=True, slots=True)
class Run:
    """One process to start: ``contender`` does ``task`` on ``dataset`` at ``latency`` ms
    (``None``: from local paths)."""

    contender: str
    dataset: str
    task: str
    latency: int | None
    rep: int


@dataclasses.dataclass(slots=True)
class Sample:
    """One phase of one run, as measured."""

    contender: str
    dataset: str
    task: str
    phase: str
    latency: int | None
    rep: int
    status: str
    seconds: float | None = None
    requests: int | None = None
    bytes: int | None = None
    rss: int | None = None
    detail: str = ""
    shape: list[int] | None = None
    crc32: int | None = None
    mean: float | None = None

    def asdict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def plan(
    chosen: list[Dataset],
    *,
    contenders: list[str],
    tasks: list[str],
    latencies: list[int | None],
    read_latencies: list[int | None],
    runs: int,
) -> list[Run]:
    """Every run, repetitions outermost, contenders rotated within each cell.

    The open phase is measured in the window runs (each starts with an open), so
    ``open`` runs are planned only when ``window`` is not.
    """
    cells: list[tuple[Dataset, str, int | None]] = []
    for ds in chosen:
        for task in tasks:
            if task == "open" and "window" in tasks:
                continue
            if task == "local":
                if ds.name == LOCAL_DATASET:
                    cells.append((ds, task, None))
                continue
            for latency in read_latencies if task == "read" else latencies:
                cells.append((ds, task, latency))
    out = []
    for rep in range(runs):
        for i, (ds, task, latency) in enumerate(cells):
            names = [c for c in contenders if task == "local" or c != "tifffile-zarr"]
            shift = (rep + i) % len(names) if names else 0
            for name in names[shift:] + names[:shift]:
                out.append(Run(name, ds.name, task, latency, rep))
    return out


def _skip(run: Run, ds: Dataset) -> list[Sample] | None:
    """n/a samples for a run that cannot measure anything, without starting it."""
    remote = run.latency is not None
    reasons = {
        phase: applicable(run.contender, ds, phase, remote=remote) for phase in PHASES[run.task]
    }
    first, last = PHASES[run.task][0], PHASES[run.task][-1]
    if reasons[first] is None and (reasons[last] is None or run.task == "window"):
        return None  # a window run that cannot read the window still measures the open
    return [
        Sample(run.contender, run.dataset, run.task, phase, run.latency, run.rep, "n/a", detail=r)
        for phase, r in reasons.items()
        if r is not None
    ]


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(GDAL_ENV)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def execute(
    run: Run,
    ds: Dataset,
    *,
    server: Any,
    data_dir: Path,
    quick: bool,
    timeout: float,
) -> list[Sample]:
    """Start the worker for ``run`` and collect one sample per phase."""
    skipped = _skip(run, ds)
    if skipped is not None:
        return skipped
    local = run.latency is None
    spec = {
        "contender": run.contender,
        "task": run.task,
        "dataset": run.dataset,
        "quick": quick,
        "base": str(data_dir) if local else server.url,
        "handshake": True,
    }
    if not local:
        server.latency = (run.latency or 0) / 1000
    server.stats.reset()
    samples: list[Sample] = []
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._worker", json.dumps(spec)],
            cwd=REPO,
            env=_environment(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            proc.kill()

        watchdog = threading.Timer(timeout, kill)
        watchdog.start()
        try:
            _follow(proc, run, server, samples)
        finally:
            watchdog.cancel()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()
        done = {s.phase for s in samples}
        missing = [phase for phase in PHASES[run.task] if phase not in done]
        if proc.returncode == 0:  # the open failed (reported), so the task did not run
            detail = "not run: the open failed"
        else:
            errors.seek(0)
            tail = errors.read()[-400:].strip().replace("\n", " | ")
            why = f"timed out after {timeout:.0f} s" if timed_out.is_set() else "crashed"
            detail = f"worker {why} (exit {proc.returncode}): {tail}"
        samples.extend(_sample(run, phase, "error", detail=detail) for phase in missing)
    return samples


def _sample(run: Run, phase: str, status: str, **fields: Any) -> Sample:
    return Sample(
        run.contender, run.dataset, run.task, phase, run.latency, run.rep, status, **fields
    )


def _follow(proc: subprocess.Popen[str], run: Run, server: Any, out: list[Sample]) -> None:
    """Read the worker's marks, counting the server's requests between them."""
    assert proc.stdout is not None and proc.stdin is not None
    last = (server.stats.requests, server.stats.bytes)
    for line in proc.stdout:
        if not line.startswith(MARK):
            continue
        record = json.loads(line[len(MARK) :])
        now = (server.stats.requests, server.stats.bytes)
        requests, nbytes = now[0] - last[0], now[1] - last[1]
        last = now
        phase = record.pop("phase")
        if phase != "ready":
            status = record.pop("status")
            record.pop("dtype", None)
            if status == "ok":
                record.update(requests=requests, bytes=nbytes)
            out.append(_sample(run, phase, status, **record))
        try:
            proc.stdin.write("\n")
            proc.stdin.flush()
        except BrokenPipeError:
            return


def warm(data_dir: Path, chosen: list[Dataset]) -> None:
    """Read every data file once, so that no contender pays for the disk."""
    for ds in chosen:
        for rel in ds.files or (ds.path,):
            with open(data_dir / rel, "rb") as f:
                while f.read(1 << 24):
                    pass


def run_all(
    runs: list[Run],
    chosen: list[Dataset],
    *,
    data_dir: Path,
    quick: bool,
    timeout: float,
    progress: Callable[[str], None] | None = None,
) -> Iterator[Sample]:
    """Serve ``data_dir`` on loopback and execute ``runs`` in order."""
    from tiffzarr.testing import serve

    by_name = {ds.name: ds for ds in chosen}
    warm(data_dir, chosen)
    start = time.perf_counter()
    with serve(data_dir) as server:
        for i, run in enumerate(runs, 1):
            samples = execute(
                run,
                by_name[run.dataset],
                server=server,
                data_dir=data_dir,
                quick=quick,
                timeout=timeout,
            )
            if progress is not None:
                progress(_progress_line(i, len(runs), run, samples, time.perf_counter() - start))
            yield from samples


def _progress_line(i: int, n: int, run: Run, samples: list[Sample], elapsed: float) -> str:
    latency = "local" if run.latency is None else f"{run.latency} ms"
    parts = []
    for s in samples:
        if s.status == "ok":
            parts.append(f"{s.phase} {s.seconds:.3f} s {s.requests} req")
        else:
            parts.append(f"{s.phase} {s.status}")
    head = f"[{i}/{n} {elapsed:6.0f} s] {run.task:6} {run.dataset:6} {latency:6} {run.contender:13}"
    return f"{head} {'; '.join(parts)}"
