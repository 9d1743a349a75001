"""The floors of the report's rows, from the samples of :mod:`benchmarks.floors`.

A row's floor (:class:`Floor`): the cold GET for an open; over HTTP ``max(transfer,
decode on all CPUs)`` (the bytes of one segment can be decoded while others are
still arriving); from local paths ``page cache + decode on all CPUs`` (the decode
already takes every CPU, reading would take them from it). Each part is the median
of its runs.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections import defaultdict
from collections.abc import Iterable

from benchmarks.floors import FloorSample

__all__ = ["Floor", "FloorKey", "floor_cells"]

FloorKey = tuple[str, str, int | None]
"""``(dataset, phase, latency)``, as the report's rows."""
PHASE_OF = {("window", "transfer"): "window", ("full", "transfer"): "read"}


@dataclasses.dataclass(frozen=True, slots=True)
class Floor:
    """The floor of one row: its bound and the parts it is made of.

    >>> f = Floor("ok", 0.081, (("transfer", 0.052), ("decode", 0.081)), threads=2, single=0.16)
    >>> f.text, f.binding
    ('0.081 s (transfer 0.052 · decode 0.081, 1 thread 0.160)', 'decode (2 CPUs)')
    >>> Floor("ok", 0.5, (("page cache", 0.1), ("decode", 0.4)), "sum", 2).text
    '0.500 s (page cache 0.100 + decode 0.400)'
    >>> Floor("n/a", detail="not located").text
    'n/a (not located)'
    """

    status: str
    seconds: float | None = None
    parts: tuple[tuple[str, float], ...] = ()
    combine: str = "max"
    """``max`` (the parts overlap) or ``sum``."""
    threads: int = 1
    """The threads of the ``decode`` part."""
    single: float | None = None
    """The decode on one thread."""
    detail: str = ""

    @property
    def binding(self) -> str:
        """The largest part, named (the decode with its CPUs)."""
        name = max(self.parts, key=lambda part: part[1])[0]
        return f"decode ({self.threads} CPUs)" if name == "decode" else name

    @property
    def text(self) -> str:
        """The table cell."""
        if self.status != "ok" or self.seconds is None:
            return f"{self.status} ({self.detail})" if self.detail else self.status
        if len(self.parts) == 1:
            return f"{self.seconds:.3f} s ({self.parts[0][0]})"
        joined = (" · " if self.combine == "max" else " + ").join(
            f"{name} {seconds:.3f}" for name, seconds in self.parts
        )
        single = "" if self.single is None else f", 1 thread {self.single:.3f}"
        return f"{self.seconds:.3f} s ({joined}{single})"


Part = tuple[str, str, str, int | None, int]  # dataset, scope, part, latency, threads


Why = dict[Part, tuple[str, str]]
"""``(status, detail)`` of a part that failed or cannot be measured."""


def _medians(samples: Iterable[FloorSample]) -> tuple[dict[Part, float], Why]:
    """Median seconds of each part's runs; why a part has none."""
    runs: dict[Part, list[float]] = defaultdict(list)
    why: Why = {}
    for s in samples:
        part = (s.dataset, s.scope, s.part, s.latency, s.threads)
        if s.status == "ok" and s.seconds is not None:
            runs[part].append(s.seconds)
        else:
            why.setdefault(part, (s.status, s.detail))
    return {k: statistics.median(v) for k, v in runs.items()}, why


def floor_cells(samples: Iterable[FloorSample]) -> dict[FloorKey, Floor]:
    """The floor of every row the samples cover."""
    median, why = _medians(samples)
    parts = list(dict.fromkeys([*median, *why]))
    out: dict[FloorKey, Floor] = {}
    for dataset, scope, part, latency, _ in parts:
        if part == "decode":
            continue
        if part == "get":
            key = (dataset, "open", latency)
            seconds = median.get((dataset, scope, part, latency, 1))
            if seconds is None:
                out[key] = Floor(*why.get((dataset, scope, part, latency, 1), ("error", "")))
            else:
                out[key] = Floor("ok", seconds, (("cold GET", seconds),))
            continue
        floor = _read_floor(dataset, scope, part, latency, median=median, why=why)
        if part == "transfer":
            out[(dataset, PHASE_OF[(scope, part)], latency)] = floor
        elif scope == "window":
            out[(dataset, "window", None)] = floor
        else:
            out[(dataset, "read", None)] = out[(dataset, "local", None)] = floor
    return out


def _read_floor(
    dataset: str, scope: str, part: str, latency: int | None, *, median: dict[Part, float], why: Why
) -> Floor:
    """The floor of a window or a full read: the bytes' part and the decode."""
    bytes_part = (dataset, scope, part, latency, 1)
    decodes = [k for k in [*median, *why] if k[:3] == (dataset, scope, "decode")]
    threads = max((k[4] for k in decodes), default=1)
    decode = (dataset, scope, "decode", None, threads)
    if bytes_part not in median or decode not in median:
        status, detail = why.get(bytes_part) or why.get(decode) or ("n/a", "not measured")
        return Floor(status, detail=detail)
    name = "transfer" if part == "transfer" else "page cache"
    parts = ((name, median[bytes_part]), ("decode", median[decode]))
    single = median.get((dataset, scope, "decode", None, 1)) if threads > 1 else None
    if part == "transfer":
        return Floor("ok", max(p[1] for p in parts), parts, "max", threads, single)
    return Floor("ok", sum(p[1] for p in parts), parts, "sum", threads, single)
