"""The targets of issue #16 (which supersede issue #4's), evaluated on a run's medians.

Ours: the faster of ``tiffzarr`` and ``tiffzarr-direct`` in the row (only ``tiffzarr``
where the direct path was not measured); the best peer: the fastest other contender
in the row (the whole-slide readers included where they ran).

- local full read: ``tiffzarr-direct`` <= 1.0x the best peer, and ``tiffzarr`` (the zarr
  path) <= 1.1x ``tifffile-zarr`` (tifffile's ``aszarr`` store);
- every HTTP window and full read, at every latency measured: <= 1.0x the best peer;
- opens at 20 ms: <= 1.05x the best peer where some peer opens in exactly one request
  (its median; one round trip cannot be beaten), else <= 0.8x;
- fewer open requests than every peer (``=`` for a tie).

A line not met names the floor that binds (:mod:`benchmarks._bounds`): its largest
part, and ours and the best peer's times over it.
"""

from __future__ import annotations

from collections import defaultdict

from benchmarks._bounds import Floor, FloorKey
from benchmarks._report import OURS, SUBJECT, Cell, Key, seconds_text

__all__ = ["CHECKS_TITLE", "checks", "checks_section", "limit_text"]

CHECKS_TITLE = "Issue #16 checks, on these numbers"
DIRECT = "tiffzarr-direct"
TIFFFILE_ZARR = "tifffile-zarr"
OPEN_LATENCY = 20
NAMES = {"open": "open", "window": "window", "read": "full read", "local": "local full read"}

Named = tuple[str, Cell]


def limit_text(limit: float) -> str:
    """``limit`` as the checks print it.

    >>> [limit_text(x) for x in (1.0, 1.05, 0.8, 1.1)]
    ['1.0', '1.05', '0.8', '1.1']
    """
    text = f"{limit:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _fastest(cells: dict[str, Cell], names: list[str]) -> Named | None:
    timed = [(n, cells[n]) for n in names if n in cells and cells[n].seconds is not None]
    return min(timed, key=lambda nc: nc[1].seconds or 0.0) if timed else None


def _peers(cells: dict[str, Cell]) -> list[str]:
    return [n for n in cells if n not in OURS]


def _line(
    what: str, ours: Named | None, base: Named | None, limit: float, floor: Floor | None
) -> str:
    """One ✓/✗ line (? when either side was not measured)."""
    if ours is None or base is None or not base[1].seconds:
        return f"- ? {what}: no comparison"
    (name, cell), (peer, best) = ours, base
    mine, theirs = cell.seconds or 0.0, best.seconds or 0.0
    value = mine / theirs
    mark = "✓" if value <= limit else "✗"
    line = (
        f"- {mark} {what}: {name} {value:.2f}x {peer} ({seconds_text(mine)} vs"
        f" {seconds_text(theirs)}; needs <= {limit_text(limit)}x)"
    )
    if mark == "✓":
        return line
    if floor is None or floor.status != "ok" or not floor.seconds:
        return f"{line}; floor not measured"
    bound = floor.seconds
    return (
        f"{line}; floor {seconds_text(bound)} = {floor.binding};"
        f" {name} {mine / bound:.2f}x floor, {peer} {theirs / bound:.2f}x floor"
    )


def _one_request_peer(cells: dict[str, Cell]) -> bool:
    return any(cells[n].requests == 1 for n in _peers(cells))


def checks(
    summary: dict[Key, dict[str, Cell]], floors: dict[FloorKey, Floor] | None = None
) -> list[str]:
    """Issue #16's lines on these numbers: ✓ met, ✗ not met (with the binding floor),
    = a tie in requests, ? not measured."""
    floors = floors or {}
    rows = sorted(summary.items(), key=lambda kv: (kv[0][0], kv[0][2] or 0))
    lines = []
    for (dataset, phase, latency), cells in rows:
        if phase != "local":
            continue
        what = f"{NAMES[phase]}, {dataset}"
        floor = floors.get((dataset, phase, latency))
        direct = (DIRECT, cells[DIRECT]) if DIRECT in cells else None
        lines.append(_line(what, direct, _fastest(cells, _peers(cells)), 1.0, floor))
        ours = (SUBJECT, cells[SUBJECT]) if SUBJECT in cells else None
        base = _fastest(cells, [TIFFFILE_ZARR])
        lines.append(_line(f"{what} (zarr path)", ours, base, 1.1, floor))
    for phase in ("window", "read", "open"):
        for (dataset, p, latency), cells in rows:
            if p != phase or latency is None or (phase == "open" and latency != OPEN_LATENCY):
                continue
            limit = 1.0
            if phase == "open":
                limit = 1.05 if _one_request_peer(cells) else 0.8
            what = f"{NAMES[phase]}, {dataset} @ {latency} ms"
            ours = _fastest(cells, [n for n in OURS if n in cells])
            base = _fastest(cells, _peers(cells))
            lines.append(_line(what, ours, base, limit, floors.get((dataset, phase, latency))))
    return lines + _request_checks(summary)


def _request_checks(summary: dict[Key, dict[str, Cell]]) -> list[str]:
    """Fewer open requests than every peer: one line per data set, over all latencies."""
    counts: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for (dataset, phase, latency), cells in summary.items():
        if phase == "open" and latency is not None:  # local opens make no requests
            for name, cell in cells.items():
                if cell.requests is not None:
                    counts[dataset][name].append(cell.requests)
    lines = []
    for dataset, by_name in sorted(counts.items()):
        if SUBJECT not in by_name or not set(by_name) - set(OURS):
            continue
        worst = max(by_name[SUBJECT])
        fewest = min(min(v) for n, v in by_name.items() if n not in OURS)
        mark = "✓" if worst < fewest else "=" if worst == fewest else "✗"
        spans = []
        for name, values in sorted(by_name.items(), key=lambda kv: min(kv[1])):
            low, high = min(values), max(values)
            spans.append(f"{name} {low:g}" if low == high else f"{name} {low:g}-{high:g}")
        lines.append(
            f"- {mark} open requests, {dataset} (all HTTP latencies): {', '.join(spans)}"
            " (needs fewer than every peer)"
        )
    return lines


def checks_section(
    summary: dict[Key, dict[str, Cell]], floors: dict[FloorKey, Floor] | None = None
) -> list[str]:
    """The report's section of the checks."""
    return [
        f"## {CHECKS_TITLE}",
        "",
        "Targets of issue #16: local full read, `tiffzarr-direct` <= 1.0x the best peer and"
        " `tiffzarr` (zarr) <= 1.1x tifffile's zarr store; every HTTP window and full read"
        " <= 1.0x the best peer; opens at 20 ms <= 1.05x the best peer where a peer opens in"
        " one request, else <= 0.8x; fewer open requests than every peer. Ours is the faster"
        " of `tiffzarr` and `tiffzarr-direct` in the row, the best peer the fastest other"
        " contender (the slide readers included where they ran). ✓ met, ✗ not met (with the"
        " floor that binds: its largest part, and each side's time over it), = as few requests"
        " as the fewest peer (one request cannot be beaten), ? not measured.",
        "",
        *(checks(summary, floors) or ["- none run"]),
        "",
    ]
