"""Cost per chunk and per file, measured on the full reads, extrapolated to 10 TB of
such data and (sequences) to 1 M files.

Measured: each HTTP full read's median seconds and requests (tiffzarr and
tiffzarr-direct) and the base level's segments (chunks), located by
:mod:`benchmarks.floors`. Extrapolated: the same per chunk (per file) times the
chunks (files) of 10 TB of files like these (by their size on disk) or of 1 M files,
read by one client like this machine at the measured throughput, one file after
another as here; the GET price is an assumption (:data:`GET_PRICE`).
"""

from __future__ import annotations

import dataclasses

from benchmarks._data import Dataset
from benchmarks._report import OURS, Cell, Key, size_text
from benchmarks.floors import FloorMeter, Unhandled

__all__ = ["COSTS_TITLE", "GET_PRICE", "Chunks", "chunks_of", "cost_section", "count_text"]

COSTS_TITLE = "Cost per chunk and per file, extrapolated from this run"
GET_PRICE = 0.0004 / 1000
"""Dollars per GET request (assumed: $0.0004 per 1,000, S3 Standard's list price)."""
TARGET_BYTES = 10e12
TARGET_FILES = 1_000_000


@dataclasses.dataclass(frozen=True, slots=True)
class Chunks:
    """The base level's segments (chunks), their stored bytes and the files holding them."""

    segments: int
    nbytes: int
    files: int


def chunks_of(meter: FloorMeter, names: list[str]) -> dict[str, Chunks]:
    """The base levels' chunks of these data sets (none for a layout not located)."""
    out = {}
    for name in names:
        try:
            layout = meter.layout(name, "full")
        except Unhandled:
            continue
        out[name] = Chunks(len(layout.segments), layout.nbytes, layout.files)
    return out


def count_text(n: float) -> str:
    """A count, short.

    >>> [count_text(x) for x in (0.5, 12, 1234, 5.6e6, 7.8e9, 2e12)]
    ['0.5', '12', '1.23 k', '5.6 M', '7.8 bn', '2 tn']
    """
    for unit, scale in (("tn", 1e12), ("bn", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.3g}"


def _money(dollars: float) -> str:
    return f"${dollars:,.2f}" if dollars >= 0.01 else f"${dollars:.2g}"


def _reads(
    summary: dict[Key, dict[str, Cell]], chosen: list[Dataset]
) -> list[tuple[Dataset, int, str, Cell]]:
    """``(dataset, latency, reader, cell)`` of our measured HTTP full reads."""
    order = {ds.name: ds for ds in chosen}
    out = []
    for (name, phase, latency), cells in summary.items():
        if phase != "read" or latency is None or name not in order:
            continue
        for reader in OURS:
            cell = cells.get(reader)
            if cell is not None and cell.seconds and cell.requests is not None:
                out.append((order[name], latency, reader, cell))
    names = list(order)
    return sorted(out, key=lambda r: (names.index(r[0].name), r[1], OURS.index(r[2])))


def cost_section(
    summary: dict[Key, dict[str, Cell]],
    chosen: list[Dataset],
    *,
    sizes: dict[str, int],
    chunks: dict[str, Chunks],
) -> list[str]:
    """The section (none without a measured full read over HTTP)."""
    reads = [r for r in _reads(summary, chosen) if r[0].name in chunks and sizes.get(r[0].name)]
    if not reads:
        return []
    price = GET_PRICE * 1000
    lines = [
        f"## {COSTS_TITLE}",
        "",
        "**Measured** on the full reads over HTTP above: each run's median seconds and"
        " requests, per chunk (the base level's segments: tiles, strips, pages or files). **An"
        " extrapolation, not a measurement**: the same costs times the chunks of 10 TB of files"
        f" like these (by their size on disk), read by one client like this machine, at the"
        f" throughput measured here; the GET price is an assumption (${price:.4f} per 1,000"
        " requests, S3 Standard's list price; transfer and other charges left out).",
        "",
        "| data set | latency | reader | chunks | bytes/chunk | requests/chunk | ms/chunk"
        " | MB/s | 10 TB: chunks | 10 TB: requests | 10 TB: GETs | 10 TB: hours |",
        "|" + "---|" * 12,
    ]
    for ds, latency, reader, cell in reads:
        found, size = chunks[ds.name], sizes[ds.name]
        seconds, requests = cell.seconds or 0.0, cell.requests or 0.0
        scale = TARGET_BYTES / size
        lines.append(
            f"| {ds.name} | {latency} ms | {reader} | {found.segments:,}"
            f" | {size_text(found.nbytes / found.segments)} | {requests / found.segments:.3g}"
            f" | {1e3 * seconds / found.segments:.3g} | {size / seconds / 1e6:.0f}"
            f" | {count_text(found.segments * scale)} | {count_text(requests * scale)}"
            f" | {_money(requests * scale * GET_PRICE)} | {seconds * scale / 3600:,.0f} |"
        )
    lines.append("")
    sequences = [r for r in reads if r[0].kind == "sequence"]
    if sequences:
        lines += [
            "Per file of the sequences, extrapolated to 1 M such files (one client, as above):",
            "",
            "| data set | latency | reader | files | requests/file | ms/file"
            " | 1 M files: requests | 1 M files: GETs | 1 M files: hours |",
            "|" + "---|" * 9,
        ]
        for ds, latency, reader, cell in sequences:
            files = chunks[ds.name].files
            seconds, requests = cell.seconds or 0.0, cell.requests or 0.0
            scale = TARGET_FILES / files
            lines.append(
                f"| {ds.name} | {latency} ms | {reader} | {files:,} | {requests / files:.3g}"
                f" | {1e3 * seconds / files:.3g} | {count_text(requests * scale)}"
                f" | {_money(requests * scale * GET_PRICE)} | {seconds * scale / 3600:,.1f} |"
            )
        lines.append("")
    return lines
