"""One measurement in a fresh process: ``python -m benchmarks._worker SPEC``.

``SPEC`` is JSON: ``contender``, ``task`` (``open``, ``window``, ``read`` or
``local``), ``dataset``, ``quick`` and ``base`` (the server's URL or the data
directory). The worker imports the contender's modules (untimed), then runs the
phases: ``open`` and the task, or just ``local``. After each phase it prints one
line ``@@bench {json}`` (seconds, peak RSS, what was read) and, when ``handshake``
is set, waits for a line on stdin: the runner counts the server's requests
between these marks.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import time
import traceback
import zlib
from collections.abc import Callable
from typing import Any

import numpy

from benchmarks._contenders import CONTENDERS, Job, NotApplicable
from benchmarks._data import datasets

MARK = "@@bench "


def peak_rss() -> int:
    """This process's peak resident memory so far, in bytes.

    On Linux the high-water mark of this program's own memory (``VmHWM``):
    ``ru_maxrss`` survives ``exec``, so a worker spawned by the runner would report
    at least the runner's resident size (which hosts the server).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def describe(result: Any) -> dict[str, Any]:
    """Shape, dtype, CRC-32 and mean of a result (to compare contenders; untimed)."""
    if not isinstance(result, numpy.ndarray):
        return {}
    data = numpy.ascontiguousarray(result)
    return {
        "shape": list(data.shape),
        "dtype": data.dtype.name,
        "crc32": zlib.crc32(memoryview(data).cast("B")),
        "mean": float(data.mean(dtype=numpy.float64)) if data.size else 0.0,
    }


class Phases:
    """Runs and reports the phases of one measurement."""

    def __init__(self, *, handshake: bool) -> None:
        self.handshake = handshake

    def mark(self, record: dict[str, Any]) -> None:
        print(MARK + json.dumps(record), flush=True)
        if self.handshake:
            sys.stdin.readline()

    def run(self, phase: str, call: Callable[[], Any]) -> tuple[bool, Any]:
        """Time ``call``; report it; return ``(succeeded, result)``."""
        record: dict[str, Any] = {"phase": phase}
        start = time.perf_counter()
        try:
            result = call()
        except NotApplicable as exc:
            record.update(status="n/a", detail=str(exc))
            self.mark(record)
            return False, None
        except Exception as exc:  # reported as this cell's result; the run goes on
            traceback.print_exc()
            record.update(status="error", detail=f"{type(exc).__name__}: {exc}"[:300])
            self.mark(record)
            return False, None
        record.update(status="ok", seconds=time.perf_counter() - start, rss=peak_rss())
        record.update(describe(result))
        self.mark(record)
        return True, result


def measure(spec: dict[str, Any]) -> None:
    """Run the phases ``spec`` asks for."""
    contender = CONTENDERS[spec["contender"]]
    ds = {d.name: d for d in datasets(quick=spec["quick"])}[spec["dataset"]]
    job = Job(ds, spec["base"])
    phases = Phases(handshake=spec.get("handshake", True))
    start = time.perf_counter()
    for module in contender.modules:
        importlib.import_module(module)
    phases.mark(
        {"phase": "ready", "import_seconds": time.perf_counter() - start, "rss": peak_rss()}
    )
    task = spec["task"]
    if task == "local":
        assert contender.local is not None
        phases.run("local", lambda: contender.local(job))  # type: ignore[misc]
        return
    assert contender.open is not None
    ok, handle = phases.run("open", lambda: contender.open(job))  # type: ignore[misc]
    if ok and task != "open":
        function = getattr(contender, task)
        if function is None:
            phases.mark(
                {"phase": task, "status": "n/a", "detail": f"{contender.name} has no {task} here"}
            )
        else:
            phases.run(task, lambda: function(handle, job))
    if handle is not None and hasattr(handle, "close"):
        handle.close()


if __name__ == "__main__":
    measure(json.loads(sys.argv[1]))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip interpreter shutdown: some native runtimes crash in it
