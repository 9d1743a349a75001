"""Medians, ratios to the best peer (and to tifffile for the bioimaging series), and the
Markdown report (with its sections for the bioimaging series and for the whole slides;
the checks, :mod:`benchmarks._checks`, and the costs, :mod:`benchmarks._costs`, are
sections the caller adds)."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import itertools
import os
import platform
import statistics
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from benchmarks._bounds import Floor, FloorKey
from benchmarks._contenders import CONTENDERS, SLIDE_READERS, SLIDES
from benchmarks._data import Dataset
from benchmarks._runner import REPO, Sample
from benchmarks._slides import SLIDE_DATASETS

__all__ = [
    "Cell",
    "keep_sections",
    "long_section",
    "machine",
    "phase_table",
    "ratio",
    "render",
    "seconds_text",
    "series_section",
    "size_text",
    "slide_section",
    "source_digest",
    "summarise",
]

PHASE_TITLES = {
    "open": "Open (parse the structure)",
    "window": "64-segment window at full resolution (8 x 8 tiles, 64 strips, pages, planes"
    " or files)",
    "read": "Full read of the base level",
    "local": "Local full read (the 16k² zstd file from the page cache)",
}
SUBJECT = "tiffzarr"
OURS = (SUBJECT, "tiffzarr-direct")
"""tiffzarr's contenders: never a peer."""
REFERENCE = "tifffile"
"""The contender the bioimaging series section compares against."""
SERIES_DATASETS = ("ome", "imagej", "omeset")
"""The data sets of the bioimaging series section (issue #11): their open and window
cells are reported there, as ratios to tifffile, instead of in the general tables."""
SERIES_TITLE = "Bioimaging series (issue #11): OME pyramid, ImageJ hyperstack, OME file set"
SLIDE_TITLE = "Whole-slide and COG windows, issue #12"
LONG_TITLE = "Scale past one machine (issue #16): references of 10,000 COGs, a distributed write"
LONG_RUNS = (("RESULTS-refs.md", "# "), ("RESULTS-write.md", "## Distributed write"))
"""The long runs' reports (``--many-refs``, ``--distributed-write``) and the heading in each
whose command and first table :func:`long_section` copies."""
PACKAGES = (
    "tiffzarr",
    "zarr",
    "numcodecs",
    "imagecodecs",
    "numpy",
    "fsspec",
    "aiohttp",
    "tifffile",
    "rasterio",
    "async-tiff",
    "obstore",
    "tiffslide",
    "openslide-python",
    "openslide-bin",
    "pillow",
)


@dataclasses.dataclass(slots=True)
class Cell:
    """The medians of one contender on one data set, phase and latency."""

    contender: str
    status: str
    runs: int = 0
    seconds: float | None = None
    requests: float | None = None
    bytes: float | None = None
    rss: float | None = None
    requests_range: tuple[int, int] | None = None
    detail: str = ""
    crc32: set[int] = dataclasses.field(default_factory=set)
    mean: float | None = None
    minimum: float | None = None
    """The fastest run's seconds."""


Key = tuple[str, str, int | None]  # dataset, phase, latency


def summarise(samples: Iterable[Sample]) -> dict[Key, dict[str, Cell]]:
    """Group samples into cells (medians): by data set, phase and latency, then contender."""
    groups: dict[Key, dict[str, list[Sample]]] = defaultdict(lambda: defaultdict(list))
    for s in samples:
        if s.phase == "open" and s.task == "read":
            continue  # the open of a full-read run is not reported (window runs measure it)
        groups[(s.dataset, s.phase, s.latency)][s.contender].append(s)
    out: dict[Key, dict[str, Cell]] = {}
    for key, by_contender in groups.items():
        out[key] = {name: _cell(name, runs) for name, runs in by_contender.items()}
    return out


def _cell(name: str, runs: list[Sample]) -> Cell:
    ok = [s for s in runs if s.status == "ok"]
    if not ok:
        worst = next((s for s in runs if s.status == "error"), runs[0])
        return Cell(name, worst.status, detail=worst.detail)
    failed = [s for s in runs if s.status != "ok"]
    requests = [s.requests or 0 for s in ok]
    cell = Cell(
        name,
        "ok",
        runs=len(ok),
        seconds=statistics.median(s.seconds or 0.0 for s in ok),
        minimum=min(s.seconds or 0.0 for s in ok),
        requests=statistics.median(requests),
        bytes=statistics.median(s.bytes or 0 for s in ok),
        rss=statistics.median(s.rss or 0 for s in ok),
        requests_range=(min(requests), max(requests)),
        crc32={s.crc32 for s in ok if s.crc32 is not None},
        mean=ok[0].mean,
    )
    if failed:
        cell.detail = f"{len(failed)} of {len(runs)} runs failed: {failed[0].detail}"
    return cell


def _best_peer(cells: dict[str, Cell]) -> Cell | None:
    peers = [c for n, c in cells.items() if n not in OURS and c.seconds is not None]
    return min(peers, key=lambda c: c.seconds or 0.0) if peers else None


def ratio(cells: dict[str, Cell], name: str, *, reference: bool = False) -> float | None:
    """``name``'s median time over the fastest peer's among ``cells`` (``reference``: over
    tifffile's, :data:`REFERENCE`); None when either is missing.

    >>> cells = {"tiffzarr": Cell("tiffzarr", "ok", seconds=0.2),
    ...          "gdal": Cell("gdal", "ok", seconds=0.4), "tifffile": Cell("tifffile", "n/a")}
    >>> ratio(cells, "tiffzarr"), ratio(cells, "gdal"), ratio(cells, "tiffzarr", reference=True)
    (0.5, 1.0, None)
    """
    cell = cells.get(name)
    base = cells.get(REFERENCE) if reference else _best_peer(cells)
    if cell is None or cell.seconds is None or base is None or not base.seconds:
        return None
    return cell.seconds / base.seconds


# -- formatting ------------------------------------------------------------------------


def size_text(n: float | None) -> str:
    if n is None:
        return "-"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def seconds_text(s: float) -> str:
    return f"{s:.3f} s" if s < 10 else f"{s:.1f} s"


def _format(cell: Cell | None, value: float | None) -> str:
    """One cell, with its ratio ``value``."""
    if cell is None:
        return "-"
    if cell.status != "ok":
        return cell.status if cell.status == "n/a" else f"**{cell.status}**"
    assert cell.seconds is not None and cell.requests_range is not None
    shown = f" {value:.2f}x" if value is not None else ""
    low, high = cell.requests_range
    requests = f"{low}" if low == high else f"{cell.requests:g} ({low}-{high})"
    fastest = "" if cell.runs < 2 or cell.minimum is None else f" (min {cell.minimum:.3f})"
    rss = size_text(cell.rss)
    return (
        f"{seconds_text(cell.seconds)}{shown}{fastest} · {requests} req"
        f" · {size_text(cell.bytes)} · {rss}"
    )


def _contenders_in(
    summary: dict[Key, dict[str, Cell]], phase: str, datasets: list[str], *, slides: bool
) -> list[str]:
    """The contenders with cells in the phase's rows; the slide readers only if ``slides``."""
    seen = {
        n for (d, p, _), cells in summary.items() if p == phase and d in datasets for n in cells
    }
    return [n for n in CONTENDERS if n in seen and (slides or n not in SLIDE_READERS)]


def _where(latency: int | None) -> str:
    return "local" if latency is None else f"{latency} ms"


def phase_table(
    summary: dict[Key, dict[str, Cell]],
    phase: str,
    chosen: list[Dataset],
    *,
    reference: bool = False,
    slides: bool = False,
    floors: dict[FloorKey, Floor] | None = None,
) -> str:
    """One Markdown table: rows data set by latency (local first), a column per contender
    (the slide readers only if ``slides``); ratios to tifffile when ``reference``, else to
    the best peer among the columns; a last column of the rows' floors when ``floors``
    has any of them."""
    order = [d.name for d in chosen]
    names = _contenders_in(summary, phase, order, slides=slides)
    keys = sorted(
        (k for k in summary if k[1] == phase and k[0] in order),
        key=lambda k: (order.index(k[0]), -1 if k[2] is None else k[2]),
    )
    if not keys:
        return ""
    floors = {k: v for k, v in (floors or {}).items() if k in keys}
    head = ["data set", "latency", *(CONTENDERS[n].label for n in names)]
    head += ["floor"] if floors else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in keys:
        dataset, _, latency = key
        cells = {n: c for n, c in summary[key].items() if n in names}
        row = [
            dataset,
            _where(latency),
            *(_format(cells.get(n), ratio(cells, n, reference=reference)) for n in names),
        ]
        if floors:
            row.append(floors[key].text if key in floors else "-")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def anomalies(summary: dict[Key, dict[str, Cell]], chosen: list[Dataset]) -> list[str]:
    """Failures, pixel disagreements and varying request counts, found in the samples."""
    lossless = {d.name: d.lossless for d in chosen}
    notes = []
    for (dataset, phase, latency), cells in sorted(
        summary.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or 0)
    ):
        where = f"{dataset} {phase} @ {'local' if latency is None else f'{latency} ms'}"
        for name, cell in cells.items():
            if cell.status == "error" or (cell.status == "ok" and cell.detail):
                notes.append(f"- {where}, {name}: {cell.detail or cell.status}")
            if cell.requests_range and cell.requests_range[0] != cell.requests_range[1]:
                low, high = cell.requests_range
                notes.append(f"- {where}, {name}: requests varied between runs ({low}-{high})")
            if len(cell.crc32) > 1:
                notes.append(f"- {where}, {name}: pixels differed between its own runs")
        ok = {n: c for n, c in cells.items() if c.status == "ok" and c.crc32}
        if phase != "open" and len({frozenset(c.crc32) for c in ok.values()}) > 1:
            groups: dict[frozenset[int], list[str]] = defaultdict(list)
            for n, c in ok.items():
                groups[frozenset(c.crc32)].append(n)
            split = " | ".join(
                ", ".join(sorted(g)) + f" (mean {ok[g[0]].mean:.3f})" for g in groups.values()
            )
            kind = "lossless data, a real disagreement" if lossless[dataset] else "lossy JPEG"
            notes.append(f"- {where}: pixels differ ({kind}): {split}")
    return notes


# -- machine and versions ---------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(  # the reports themselves are rewritten by every run
            [
                "git",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":!benchmarks/RESULTS*.md",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head}{' with uncommitted changes' if dirty else ''}" if head else "unknown"


def source_digest() -> str:
    """A short hash of tiffzarr's sources, to notice them changing during a run."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "tiffzarr").rglob("*.py")):
        digest.update(str(path.relative_to(REPO)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def machine() -> dict[str, Any]:
    """Where the numbers were taken: CPU, cores, memory, Python, package versions."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    try:
        import rasterio

        versions["GDAL"] = rasterio.__gdal_version__
    except ImportError:
        pass
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory": memory,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": versions,
        "git": _git(),
        "sources": source_digest(),
    }


# -- the document -------------------------------------------------------------------------


def _load(info: dict[str, Any]) -> str:
    load = info.get("load")
    if not load:
        return ""
    start, end = (", ".join(f"{x:.1f}" for x in load[k]) for k in ("start", "end"))
    return f"; load average {start} at the start, {end} at the end (other work shares the machine)"


def _drift(info: dict[str, Any]) -> str:
    before = info.get("sources_at_start")
    if before is None or before == info["sources"]:
        return ""
    return f"; **the sources changed during the run** (they were {before} at its start)"


_HOW_TO_READ = """\
Each cell: median seconds over the runs, then (**x**) the ratio to the fastest *peer* (tifffile,
GDAL, async-tiff; tifffile's zarr store too for the local read) in that row, the fastest
run's seconds (min), then the median number of HTTP requests and body bytes the server
answered, and the peak resident memory of the process. The last column, where the run
measured it (`--tasks floors`), is the row's floor (`benchmarks/floors.py`): what no reader
can beat here, with its parts. Every run is a fresh process (cold caches), contenders interleaved.
Open is timed in the window runs (each starts by opening the file); the window and full-read
columns exclude that open. n/a: the library cannot do it (async-tiff reads tiled TIFFs only).
Latency `local`: the same open and window from local paths (no HTTP, warm page cache).
"""

_SERIES_INTRO = """\
Open and 64-plane (or 8 x 8-tile) window of the OME pyramid (`ome`), the ImageJ hyperstack
(`imagej`: 4 T x 8 Z x 2 C whole planes) and the multi-file OME set (`omeset`: the whole
planes of 64 / (C x Z) consecutive files, opened through its first file), from local paths
and over HTTP. The ratio (**x**) here is to **tifffile**'s median in the same row
(tifffile + fsspec over HTTP, `TiffFile(path)` for `local`), none where tifffile is n/a:
over HTTP tifffile cannot open the other files of an OME set (its series keeps the set's
shape, the planes of all files but the first read as zeros), so its window there is n/a;
its open there is measured but reads the first file only. GDAL reads each plane as a
plain-TIFF subdataset (`GTIFF_DIR:n:`), a file set file by file; its and async-tiff's open of
the set opens the first file only (so against those, tiffzarr's open of the whole set is
compared with a one-file open). async-tiff reads tiled TIFFs only (its open of the strip
files is measured).
"""


_SLIDE_INTRO = """\
Open and window of the COG (`cog`: 8 x 8 tiles of 512², 4096²), the Aperio slide (`svs`:
8 x 8 tiles of 240² of level 0, 1920²) and the Hamamatsu slide (`ndpi`: a 2048² square
of level 0, 4 x 256 of its restart intervals of 8 x 512), from local paths and over HTTP,
against the whole-slide readers as well: **tiffslide** (`TiffSlide(url)`, fsspec over
HTTP; its open also reads its properties and level sizes, which it parses lazily) and
**openslide** (`OpenSlide(path)`, local paths only, so n/a over HTTP), both through
`read_region` of the same pixels at level 0 (openslide's RGBA compared as RGB).
tiffzarr reads series 0 level 0 through zarr slicing, tifffile through its zarr store
(`aszarr`), GDAL with `read(window=...)`. The ratio (**x**) is to the fastest peer in the
row, the slide readers included. The NDPI levels are single JPEG strips: GDAL decodes a
strip from its start, async-tiff reads tiled TIFFs only. JPEG decoders differ by ±1-2 in
rounding (see the anomalies).
"""


def _latencies(values: list[int | None]) -> str:
    return ", ".join(_where(v) for v in values)


def _section(title: str, intro: str, tables: list[tuple[str, str]]) -> list[str]:
    """A report section: its title, its introduction and its ``(heading, table)`` pairs."""
    if not any(table for _, table in tables):
        return []
    parts = [f"## {title}", "", intro]
    for heading, table in tables:
        if table:
            parts += [f"### {heading}", "", table, ""]
    return parts


def _command_and_table(text: str, heading: str) -> list[str]:
    """The ``Command:`` line and the first table after the first line starting with
    ``heading``; nothing when the heading is absent."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(heading)), None)
    if start is None:
        return []
    rest = lines[start + 1 :]
    command = [line for line in rest if line.startswith("Command:")][:1]
    first = next((i for i, line in enumerate(rest) if line.startswith("|")), len(rest))
    table = list(itertools.takewhile(lambda line: line.startswith("|"), rest[first:]))
    return [*command, "", *table] if table else []


def long_section(folder: Path = REPO / "benchmarks") -> list[str]:
    """The long runs' figures, copied from the reports they write into ``folder`` (each
    run takes minutes to hours, so ``python -m benchmarks`` reports the latest ones
    instead of repeating them)."""
    parts: list[str] = []
    for name, heading in LONG_RUNS:
        path = folder / name
        found = _command_and_table(path.read_text(), heading) if path.exists() else []
        if found:
            parts += [f"From [`{name}`]({name}), which has the whole run:", "", *found, ""]
    return [f"## {LONG_TITLE}", "", *parts] if parts else []


def series_section(
    summary: dict[Key, dict[str, Cell]],
    chosen: list[Dataset],
    floors: dict[FloorKey, Floor] | None = None,
) -> list[str]:
    """The bioimaging series section: open and window tables, ratios to tifffile."""
    members = [d for d in chosen if d.name in SERIES_DATASETS]
    tables = [
        (
            PHASE_TITLES[p].split(" (")[0],
            phase_table(summary, p, members, reference=True, floors=floors),
        )
        for p in ("open", "window")
    ]
    return _section(SERIES_TITLE, _SERIES_INTRO, tables)


def slide_section(
    summary: dict[Key, dict[str, Cell]],
    chosen: list[Dataset],
    floors: dict[FloorKey, Floor] | None = None,
) -> list[str]:
    """The whole-slide section (the COG and the slides, with the slide readers): open and
    window tables, ratios to the best peer."""
    members = [d for d in chosen if d.name in SLIDES]
    names = {d.name for d in members}
    if not any(  # not the COG alone: the general tables show that
        dataset in SLIDE_DATASETS for (dataset, _, _) in summary if dataset in names
    ):
        return []
    tables = [
        ("Open", phase_table(summary, "open", members, slides=True, floors=floors)),
        ("Window of level 0", phase_table(summary, "window", members, slides=True, floors=floors)),
    ]
    return _section(SLIDE_TITLE, _SLIDE_INTRO, tables)


def render(
    summary: dict[Key, dict[str, Cell]],
    *,
    chosen: list[Dataset],
    sizes: dict[str, int],
    info: dict[str, Any],
    command: str,
    settings: dict[str, Any],
    elapsed: float,
    floors: dict[FloorKey, Floor] | None = None,
    sections: Sequence[str] = (),
) -> str:
    """The whole RESULTS.md: ``floors`` in the tables, ``sections`` (lines) before the
    anomalies."""
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    parts = [
        "# Benchmark results",
        "",
        "Generated by the harness in this folder (see `README.md`); do not edit by hand.",
        "",
        "```sh",
        command,
        "```",
        "",
        f"- Machine: {info['cpu']}, {info['cores']} cores, {size_text(info['memory'])} memory,"
        f" {info['platform']}{_load(info)}",
        f"- Python {info['python']}; {versions}",
        f"- tiffzarr at git {info['git']} (sources {info['sources']}){_drift(info)}",
        f"- Runs per cell: {settings['runs']}; latencies {_latencies(settings['latencies'])}"
        f" per request (full reads at {_latencies(settings['read_latencies'])});"
        f" whole run {elapsed / 60:.1f} min",
        "- Server: tiffzarr's loopback Range server (`tiffzarr.testing.serve`) in the"
        " runner's process, on 127.0.0.1, the latency slept before every answer.",
        "",
        "## Data sets",
        "",
        "| name | file | what | on disk | decoded |",
        "|---|---|---|---|---|",
    ]
    for ds in chosen:
        parts.append(
            f"| {ds.name} | `{ds.path}` | {ds.title} | {size_text(sizes.get(ds.name))}"
            f" | {size_text(ds.nbytes)} |"
        )
    parts += ["", "## How to read the tables", "", _HOW_TO_READ]
    general = [d for d in chosen if d.name not in (*SERIES_DATASETS, *SLIDE_DATASETS)]
    for phase, title in PHASE_TITLES.items():
        members = chosen if phase in ("read", "local") else general
        table = phase_table(summary, phase, members, floors=floors)
        if table:
            parts += [f"## {title}", "", table, ""]
    parts += series_section(summary, chosen, floors)
    parts += slide_section(summary, chosen, floors)
    parts += [
        *sections,
        "## Anomalies found in the samples",
        "",
        *(anomalies(summary, chosen) or ["- none"]),
    ]
    return "\n".join(parts) + "\n"


def keep_sections(old: str, new: str, /) -> str:
    r"""``new`` followed by the ``## `` sections of ``old`` that ``new`` lacks.

    A run that measures some data sets or tasks only must not erase the sections
    of earlier runs (each names its own command); a section the new report has
    replaces the old one.

    >>> old = "# R\n\n## A\nold a\n\n## B\nold b\n"
    >>> print(keep_sections(old, "# R\n\n## A\nnew a\n"))
    # R
    <BLANKLINE>
    ## A
    new a
    <BLANKLINE>
    ## B
    old b
    <BLANKLINE>
    """
    titles = {line for line in new.splitlines() if line.startswith("## ")}
    kept: list[str] = []
    keep = False
    for line in old.splitlines():
        if line.startswith("## "):
            keep = line not in titles
        if keep:
            kept.append(line)
    if not kept:
        return new
    return new.rstrip("\n") + "\n\n" + "\n".join(kept).rstrip("\n") + "\n"
