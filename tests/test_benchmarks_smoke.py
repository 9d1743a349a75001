"""The benchmark harness (``python -m benchmarks``) on tiny data: it runs, counts and agrees.

Times are never asserted; what is asserted is that every contender runs (or is
n/a where it should be), that the requests are counted per phase, that the
contenders return the same pixels, and that the report says what it measured.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import json
import zlib
from pathlib import Path

import numpy
import pytest

pytest.importorskip("rasterio")
pytest.importorskip("async_tiff")
pytest.importorskip("obstore")
tifffile = pytest.importorskip("tifffile")

from benchmarks import __main__ as cli  # noqa: E402
from benchmarks import floors  # noqa: E402
from benchmarks._bounds import Floor, floor_cells  # noqa: E402
from benchmarks._checks import checks  # noqa: E402
from benchmarks._contenders import (  # noqa: E402
    CONTENDERS,
    LOCAL_CONTENDERS,
    SLIDE_READERS,
    applicable,
)
from benchmarks._costs import Chunks, cost_section  # noqa: E402
from benchmarks._data import datasets, ensure_all  # noqa: E402
from benchmarks._report import (  # noqa: E402
    long_section,
    phase_table,
    ratio,
    render,
    series_section,
    slide_section,
    summarise,
)
from benchmarks._runner import Run, Sample, plan  # noqa: E402
from benchmarks._worker import MARK, measure  # noqa: E402

QUICK = {ds.name: ds for ds in datasets(quick=True)}
pytestmark = [
    pytest.mark.filterwarnings("ignore:Dataset has no geotransform"),
    pytest.mark.filterwarnings("ignore:Use `@` matmul"),
    pytest.mark.filterwarnings("ignore:hamamatsu-format metadata parsing"),  # tiffslide's
]


@pytest.fixture(scope="module")
def quick_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bench-data")
    ensure_all(list(QUICK.values()), root)
    return root


def _expected(root: Path, name: str, task: str) -> numpy.ndarray:
    """What a contender must return, read with tifffile from the local file(s)."""
    ds = QUICK[name]
    if ds.kind == "sequence":
        whole = numpy.stack([tifffile.imread(root / f) for f in ds.files])
    elif ds.kind == "fileset":  # tifffile resolves the OME set from its first file
        whole = tifffile.imread(root / ds.files[0], series=0)
    else:
        whole = tifffile.imread(root / ds.path, series=0, level=0)
    return whole[ds.window_slices] if task == "window" else whole


def _marks(text: str) -> dict[str, dict]:
    records = [json.loads(line[len(MARK) :]) for line in text.splitlines() if line.startswith(MARK)]
    return {r["phase"]: r for r in records}


@pytest.mark.parametrize("task", ["window", "read"])
@pytest.mark.parametrize("name", list(QUICK))
@pytest.mark.parametrize("contender", [c for c in CONTENDERS if CONTENDERS[c].open])
def test_contender_reads_local_copy(quick_data: Path, contender: str, name: str, task: str) -> None:
    """Every contender's window and full read (on local files, in this process) is right."""
    spec = {"contender": contender, "task": task, "dataset": name, "quick": True}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        measure({**spec, "base": str(quick_data), "handshake": False})
    marks = _marks(out.getvalue())
    reason = applicable(contender, QUICK[name], task, remote=False)
    if reason is not None:
        statuses = {m["status"] for phase, m in marks.items() if phase != "ready"}
        assert statuses in ({"n/a"}, {"ok", "n/a"}), marks
        return
    assert marks["open"]["status"] == "ok", marks["open"]
    result = marks[task]
    assert result["status"] == "ok", result
    expected = _expected(quick_data, name, task)
    assert result["shape"] == list(expected.shape)
    if QUICK[name].lossless:
        assert result["crc32"] == zlib.crc32(numpy.ascontiguousarray(expected).tobytes())
    else:  # JPEG: decoders differ in rounding, not in content
        assert abs(result["mean"] - float(expected.mean())) < 1.0


def test_quick_run_end_to_end(quick_data: Path, tmp_path: Path) -> None:
    """``python -m benchmarks --quick``: subprocess workers, loopback server, report."""
    out, raw = tmp_path / "RESULTS.md", tmp_path / "results.json"
    argv = ["--quick", "--datasets", "zstd", "--tasks", "window,local,floors"]
    argv += ["--data-dir", str(quick_data), "--out", str(out), "--json", str(raw), "-q"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(argv) == 0
    samples = [Sample(**s) for s in json.loads(raw.read_text())["samples"]]
    got = {(s.dataset, s.phase, s.contender): s for s in samples}
    for contender in ("tiffzarr", "tifffile", "gdal", "async-tiff"):
        opened, window = got[("zstd", "open", contender)], got[("zstd", "window", contender)]
        assert opened.status == "ok" and window.status == "ok", (opened, window)
        assert opened.requests is not None and opened.requests >= 1, opened
        assert opened.bytes is not None and opened.bytes > 0
        assert window.requests is not None and window.rss is not None and window.rss > 0
        # fsspec's 5 MB blocks hold the whole tiny file after tifffile's open
        assert window.requests >= (0 if contender == "tifffile" else 1), window
    window = {got[("zstd", "window", c)].crc32 for c in ("tiffzarr", "tifffile", "gdal")}
    assert len(window) == 1  # lossless: the same pixels from every library
    for contender in LOCAL_CONTENDERS:
        sample = got[("zstd", "local", contender)]
        assert sample.status == "ok" and sample.requests == 0, sample
    text = out.read_text()
    assert "python -m benchmarks --quick --datasets zstd" in text
    for name, contender in CONTENDERS.items():
        assert (f" {contender.label} |" in text) == (name not in SLIDE_READERS), name
    assert "Whole-slide" not in text  # the slide readers only read the slides
    assert "| zstd | 0 ms |" in text and "| zstd | local |" in text
    floors_taken = json.loads(raw.read_text())["floors"]
    assert {(f["scope"], f["part"]) for f in floors_taken if f["status"] == "ok"} == {
        ("open", "get"),
        ("window", "transfer"),  # --quick: 0 ms only, no window from local paths
        ("window", "decode"),
        ("full", "cache"),
        ("full", "decode"),
    }
    assert text.count(" | floor |") == 3  # open, window, local full read
    section = text.split("## Issue #16 checks, on these numbers\n")[1].split("\n## ")[0]
    marks = [line[:3] for line in section.splitlines() if line.startswith("- ")]
    assert len(marks) == 4 and set(marks) <= {"- ✓", "- ✗", "- ="}, section  # times: any


def tifffile_cells(section: str) -> list[str]:
    """The ratio in tifffile's column of every table row of a report section."""
    ratios: list[str] = []
    column = None
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if "tifffile + fsspec" in cells:
            column = cells.index("tifffile + fsspec")
        elif column is not None and len(cells) > column and cells[0] and cells[0][0] != "-":
            ratios += [word for word in cells[column].split() if word.endswith("x")]
    return ratios


def test_quick_series_run_local_and_http(quick_data: Path, tmp_path: Path) -> None:
    """The bioimaging series cells: ImageJ hyperstack and OME file set, from local paths
    (``--latency local``: no requests) and over HTTP, in one run, reported against tifffile."""
    out, raw = tmp_path / "RESULTS.md", tmp_path / "results.json"
    argv = ["--quick", "--datasets", "imagej,omeset", "--tasks", "window", "--latency", "local,0"]
    argv += ["--data-dir", str(quick_data), "--out", str(out), "--json", str(raw), "-q"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(argv) == 0
    samples = [Sample(**s) for s in json.loads(raw.read_text())["samples"]]
    got = {(s.dataset, s.phase, s.latency, s.contender): s for s in samples}
    for name in ("imagej", "omeset"):
        expected = _expected(quick_data, name, "window")
        crc = zlib.crc32(numpy.ascontiguousarray(expected).tobytes())
        for latency in (None, 0):
            for contender in ("tiffzarr", "tifffile", "gdal", "async-tiff"):
                opened = got[(name, "open", latency, contender)]
                assert opened.status == "ok", opened
                assert (opened.requests == 0) == (latency is None), opened
            window = got[(name, "window", latency, "async-tiff")]
            assert window.status == "n/a", window  # strips: async-tiff reads tiles only
            readers = ["tiffzarr", "gdal"]
            if name == "omeset" and latency is not None:
                window = got[(name, "window", latency, "tifffile")]
                assert window.status == "n/a" and "local paths only" in window.detail
            else:
                readers.append("tifffile")
            for contender in readers:
                window = got[(name, "window", latency, contender)]
                assert window.status == "ok" and window.crc32 == crc, window
    # over HTTP tiffzarr opens every file of the set; the peers open only the first
    assert got[("omeset", "open", 0, "tiffzarr")].requests >= len(QUICK["omeset"].files)
    text = out.read_text()
    series = text.split("## Bioimaging series")[1]
    assert "| omeset | local |" in series and "| imagej | 0 ms |" in series
    assert tifffile_cells(series).count("1.00x") == 7  # against itself, all but its n/a window
    assert "| omeset | local |" not in text.split("## Bioimaging series")[0]
    assert "latencies local, 0 ms per request" in text


def test_quick_slide_run_local_and_http(quick_data: Path, tmp_path: Path) -> None:
    """The whole slides: tiffslide and openslide (local paths only) read the same level-0
    window as GDAL, locally and over HTTP; reported in their own section. (tiffzarr's slide
    windows are checked in-process above; a fourth contender would cost 4 more processes.)"""
    out, raw = tmp_path / "RESULTS.md", tmp_path / "results.json"
    argv = ["--quick", "--datasets", "svs,ndpi", "--tasks", "window", "--latency", "local,0"]
    argv += ["--contenders", "gdal,tiffslide,openslide"]
    argv += ["--data-dir", str(quick_data), "--out", str(out), "--json", str(raw), "-q"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(argv) == 0
    samples = [Sample(**s) for s in json.loads(raw.read_text())["samples"]]
    got = {(s.dataset, s.phase, s.latency, s.contender): s for s in samples}
    for name in ("svs", "ndpi"):
        expected = _expected(quick_data, name, "window")
        for latency in (None, 0):
            for contender in ("gdal", "tiffslide", "openslide"):
                opened = got[(name, "open", latency, contender)]
                window = got[(name, "window", latency, contender)]
                if contender == "openslide" and latency is not None:
                    assert opened.status == window.status == "n/a", (opened, window)
                    assert "local paths only" in opened.detail
                    continue
                assert opened.status == "ok" and window.status == "ok", (opened, window)
                assert (opened.requests == 0) == (latency is None), opened
                assert window.shape == list(expected.shape), window
                assert window.mean is not None
                assert abs(window.mean - float(expected.mean())) < 1.0, window  # JPEG rounding
    text = out.read_text()
    general, slides = text.split("## Whole-slide and COG windows, issue #12")
    assert "| svs | local |" not in general and "| ndpi | 0 ms |" not in general
    assert "| svs | local |" in slides and "| ndpi | 0 ms |" in slides
    assert " tiffslide | openslide (local) |" in slides and " openslide (local) |" not in general
    row = next(line for line in slides.splitlines() if line.startswith("| ndpi | 0 ms |"))
    assert row.endswith("| n/a |")  # openslide, over HTTP


def test_slides_are_what_openslide_and_tiffslide_detect(quick_data: Path) -> None:
    """The generated SVS and NDPI are recognised by vendor, with the layouts of the
    scanners: Aperio's pages and descriptions, Hamamatsu's restart-interval strips."""
    openslide = pytest.importorskip("openslide")
    tiffslide = pytest.importorskip("tiffslide")
    svs, ndpi = quick_data / QUICK["svs"].path, quick_data / QUICK["ndpi"].path
    for path, vendor in ((svs, "aperio"), (ndpi, "hamamatsu")):
        assert openslide.OpenSlide(path).properties["openslide.vendor"] == vendor
        assert tiffslide.TiffSlide(path).properties["tiffslide.vendor"] == vendor
    slide = openslide.OpenSlide(svs)
    assert set(slide.associated_images) == {"thumbnail", "label", "macro"}
    assert slide.properties["openslide.mpp-x"] == "0.25"
    with tifffile.TiffFile(svs) as tif:
        assert [s.name for s in tif.series] == ["Baseline", "Thumbnail", "Label", "Macro"]
        rows, cols = QUICK["svs"].shape[:2]
        assert [lv.shape[:2] for lv in tif.series[0].levels] == [
            (rows, cols),
            (rows // 4, cols // 4),
            (rows // 16, cols // 16),
        ]
        first = tif.pages.first
        assert first.description.startswith(f"Aperio Image Library v12.0.15 \r\n{cols}x{rows} [")
        assert "(240x240) JPEG/RGB Q=70|AppMag = 20|" in first.description
        assert (first.tilelength, first.compression, first.photometric) == (240, 7, 2)
        assert first.jpegtables is not None and b"\xff\xdb" in first.jpegtables
        assert b"\xff\xdb" not in _segment(tif, first, 0)  # abbreviated: the tables shared
        assert not tif.pages[1].is_tiled and tif.pages[1].compression == 7
        assert "label" in tif.pages[4].description and tif.pages[4].compression == 5
        assert "macro" in tif.pages[5].description and tif.pages[5].compression == 7
    with tifffile.TiffFile(ndpi) as tif:
        assert tif.is_ndpi and [s.name for s in tif.series] == ["Baseline", "Macro"]
        page = tif.pages.first
        assert len(tif.series[0].levels) == 3 and page.chunks == QUICK["ndpi"].segment
        assert page.tags[65421].value == 20.0  # NDPI_SOURCELENS


def _segment(tif, page, index: int) -> bytes:
    tif.filehandle.seek(page.dataoffsets[index])
    return tif.filehandle.read(page.databytecounts[index])


def test_dataset_planes_address_the_window() -> None:
    """GDAL's page-by-page reads: 64 window planes, in the right file and page."""
    imagej, omeset = QUICK["imagej"], QUICK["omeset"]
    for ds in (imagej, omeset, QUICK["stack"]):
        planes = ds.planes(window=True)
        assert len(planes) == 64 and len(set(planes)) == 64
        assert len(ds.planes(window=False)) == numpy.prod(ds.shape[:-2])
    (t0, _), (z0, _), _ = imagej.window
    _, z, c = imagej.shape[:3]
    assert imagej.planes(window=True)[0] == (imagej.path, (t0 * z + z0) * c)
    files = {name for name, _ in omeset.planes(window=True)}
    assert files == set(omeset.files[slice(*omeset.window[0])])
    assert omeset.pages_per_file == 16


def test_omeset_is_a_set_as_bio_formats_writes_it(quick_data: Path) -> None:
    """The first file's XML names every file by UUID; the others are BinaryOnly."""
    ds = QUICK["omeset"]
    with tifffile.TiffFile(quick_data / ds.files[0]) as tif:
        series = tif.series[0]
        assert (series.kind, series.axes, series.shape) == ("ome", "TCZYX", ds.shape)
        assert all(Path(f).name in tif.ome_metadata for f in ds.files)
    with tifffile.TiffFile(quick_data / ds.files[1]) as tif:
        assert "BinaryOnly" in tif.pages[0].description
        assert tif.series[0].kind == "generic"
    with tifffile.TiffFile(quick_data / QUICK["imagej"].path) as tif:
        assert tif.is_imagej and tif.series[0].axes == "TZCYX"
        assert tif.series[0].shape == QUICK["imagej"].shape


def test_plan_interleaves_and_rotates() -> None:
    chosen = [QUICK["zstd"], QUICK["seq"]]
    runs = plan(
        chosen,
        contenders=["tiffzarr", "tifffile", "gdal"],
        tasks=["open", "window", "read"],
        latencies=[None, 0, 50],
        read_latencies=[20],
        runs=2,
    )
    cells = {(r.dataset, r.task, r.latency) for r in runs}
    assert cells == {
        ("zstd", "window", None),  # local paths
        ("seq", "window", None),
        ("zstd", "window", 0),
        ("zstd", "window", 50),
        ("zstd", "read", 20),
        ("seq", "window", 0),
        ("seq", "window", 50),
        ("seq", "read", 20),
    }  # open is measured in the window runs
    assert [r.rep for r in runs] == sorted(r.rep for r in runs)  # repetitions outermost
    first = [r.contender for r in runs if r.rep == 0 and r.dataset == "zstd" and r.latency == 0]
    again = [r.contender for r in runs if r.rep == 1 and r.dataset == "zstd" and r.latency == 0]
    assert sorted(first) == sorted(again) and first != again  # rotated, all present


def _sample(
    contender: str, seconds: float | None = None, requests: int | None = None, **kw: object
) -> Sample:
    fields: dict = {"dataset": "cog", "task": "window", "phase": "window", "latency": 50}
    fields.update(rep=0, status="ok", seconds=seconds, requests=requests, bytes=1, rss=1, crc32=1)
    fields.update(kw)
    return Sample(contender, **fields)


def test_summary_medians_ratios_and_checks() -> None:
    samples = [
        _sample("tiffzarr", 0.10, 2),
        _sample("tiffzarr", 0.30, 2, rep=1),
        _sample("tiffzarr", 0.20, 3, rep=2),
        _sample("tifffile", 0.50, 9),
        _sample("gdal", 0.40, 8),
        _sample("async-tiff", status="n/a"),
        _sample("gdal", 0.01, 1, phase="open", task="read"),  # not an open measurement
    ]
    summary = summarise(samples)
    cells = summary[("cog", "window", 50)]
    assert cells["tiffzarr"].seconds == pytest.approx(0.2)
    assert cells["tiffzarr"].requests_range == (2, 3)
    assert ratio(cells, "tiffzarr") == pytest.approx(0.5)  # against GDAL, the best peer
    assert ratio(cells, "gdal") == pytest.approx(1.0)
    assert cells["async-tiff"].status == "n/a"
    assert ("cog", "open", 50) not in summary
    assert checks(summary) == [
        "- ✓ window, cog @ 50 ms: tiffzarr 0.50x gdal (0.200 s vs 0.400 s; needs <= 1.0x)"
    ]
    slow = summarise([_sample("tiffzarr", 1.1, 1), _sample("gdal", 1.0, 1)])
    assert checks(slow) == [
        "- ✗ window, cog @ 50 ms: tiffzarr 1.10x gdal (1.100 s vs 1.000 s; needs <= 1.0x);"
        " floor not measured"
    ]
    bound = Floor("ok", 0.5, (("transfer", 0.5), ("decode", 0.2)), threads=2, single=0.4)
    assert checks(slow, {("cog", "window", 50): bound})[0].endswith(
        "; floor 0.500 s = transfer; tiffzarr 2.20x floor, gdal 2.00x floor"
    )
    text = render(
        summary,
        chosen=[QUICK["cog"]],
        sizes={"cog": 10},
        info={
            "cpu": "x",
            "cores": 2,
            "memory": 1,
            "platform": "p",
            "python": "3",
            "versions": {},
            "git": "g",
            "sources": "s",
        },
        command="python -m benchmarks",
        settings={"runs": 3, "latencies": [50], "read_latencies": [0]},
        elapsed=60.0,
    )
    assert "0.200 s 0.50x (min 0.100) · 2 (2-3) req" in text
    assert "requests varied between runs (2-3)" in text
    assert "| floor |" not in text  # no floors measured


def test_series_section_ratios_to_tifffile() -> None:
    """The bioimaging data sets: ratios to tifffile (not the best peer), local rows first,
    out of the general tables; the checks hold them to the best peer, and local opens are
    no request check."""
    samples = []
    for latency in (None, 20):
        row = {"dataset": "imagej", "latency": latency}
        samples += [
            _sample("tiffzarr", 0.2, 0 if latency is None else 1, **row),
            _sample("tifffile", 0.4, 0 if latency is None else 2, **row),
            _sample("gdal", 0.1, 0 if latency is None else 4, **row),
        ]
    samples = [dataclasses.replace(s, phase="open") for s in samples]
    samples += [_sample("tiffzarr", 0.5, 3, latency=None, phase="open", dataset="zstd")]
    samples += [_sample("gdal", 0.5, 0, latency=None, phase="open", dataset="zstd")]
    summary = summarise(samples)
    cells = summary[("imagej", "open", 20)]
    assert ratio(cells, "tiffzarr", reference=True) == pytest.approx(0.5)
    assert ratio(cells, "tiffzarr") == pytest.approx(2.0)
    assert checks(summary) == [
        "- ✗ open, imagej @ 20 ms: tiffzarr 2.00x gdal (0.200 s vs 0.100 s; needs <= 0.8x);"
        " floor not measured",  # no peer opens in one request
        "- ✓ open requests, imagej (all HTTP latencies): tiffzarr 1, tifffile 2, gdal 4"
        " (needs fewer than every peer)",
    ]
    section = series_section(summary, [QUICK["imagej"]])
    table = "\n".join(section)
    assert table.index("| imagej | local |") < table.index("| imagej | 20 ms |")
    assert "0.200 s 0.50x" in table and "0.400 s 1.00x" in table and "0.100 s 0.25x" in table
    general = phase_table(summary, "open", [QUICK["zstd"]])
    assert "imagej" not in general and "| zstd | local |" in general


def test_long_section_copies_each_long_runs_command_and_table(tmp_path: Path) -> None:
    """RESULTS.md carries the long runs' figures from the reports they write: the command
    and the first table under the named heading, and nothing for a run never made."""
    table = ["| wall s | files |", "|---:|---:|", "| 18.5 | 10000 |"]
    (tmp_path / "RESULTS-write.md").write_text(
        "\n".join(
            [
                "# Writer benchmark",
                "Command: `bench_write`",
                "",
                "| not | this |",
                "## Distributed write",
                "",
                "Command: `bench_distributed 21.5`",
                "",
                "Some words.",
                "",
                *table,
                "",
                "| a later | table |",
            ]
        )
    )
    section = long_section(tmp_path)
    assert section[0].startswith("## Scale past one machine")
    assert (
        "Command: `bench_distributed 21.5`" in section and "Command: `bench_write`" not in section
    )
    start = section.index(table[0])
    assert section[start : start + 4] == [*table, ""]
    assert not any("RESULTS-refs.md" in line for line in section)
    assert long_section(tmp_path / "none") == []


def test_slide_section_ratios_include_the_slide_readers() -> None:
    """The slide readers' columns are in the whole-slide section only, where the ratios
    count them among the peers, as the checks do; the general tables leave them out."""
    samples = [
        _sample("tiffzarr", 0.2, 8),
        _sample("gdal", 0.4, 8),
        _sample("tiffslide", 0.3, 9),
        _sample("openslide", 0.1, 0),
        _sample("tiffzarr", 0.5, 3, dataset="svs"),
        _sample("openslide", 0.25, 0, dataset="svs"),
    ]
    summary = summarise(samples)
    general = phase_table(summary, "window", [QUICK["cog"]])
    assert "openslide" not in general and "tiffslide" not in general
    assert "0.200 s 0.50x" in general  # against GDAL
    section = "\n".join(slide_section(summary, [QUICK["cog"], QUICK["svs"]]))
    assert "| tiffslide | openslide (local) |" in section
    assert "0.200 s 2.00x" in section and "0.100 s 1.00x" in section  # against openslide
    assert "| svs | 50 ms | 0.500 s 2.00x" in section
    assert [line.split(" (")[0] for line in checks(summary)] == [
        "- ✗ window, cog @ 50 ms: tiffzarr 2.00x openslide",
        "- ✗ window, svs @ 50 ms: tiffzarr 2.00x openslide",
    ]
    assert slide_section(summarise(samples[:2]), [QUICK["cog"]]) == []  # the COG alone


def test_runs_are_skipped_when_nothing_applies() -> None:
    from benchmarks._runner import _skip

    seq, lzw = QUICK["seq"], QUICK["lzw"]
    skipped = _skip(Run("async-tiff", "seq", "window", 0, 0), seq)
    assert skipped is not None and {s.phase for s in skipped} == {"open", "window"}
    assert _skip(Run("async-tiff", "lzw", "window", 0, 0), lzw) is None  # its open still counts
    skipped = _skip(Run("async-tiff", "lzw", "read", 0, 0), lzw)
    assert skipped is not None and [s.phase for s in skipped] == ["read"]
    assert _skip(Run("gdal", "seq", "read", 0, 0), seq) is None


def test_floors_measure_what_tiffzarr_requests(quick_data: Path, capsys) -> None:
    """The floors' transfers are tiffzarr's own requests: a window's as its store batches
    them, a full read's as its direct path plans them; ``python -m benchmarks.floors``
    prints a floor for each row it measured."""
    import zarr

    import tiffzarr
    from tiffzarr.testing import serve

    def spans(records: list) -> list[tuple[int, int]]:
        return sorted(tuple(map(int, r.range[6:].split("-"))) for r in records)

    for name in ("zstd", "lzw", "stack"):
        ds = QUICK[name]
        window, full = (
            floors.locate(ds, quick_data, "window"),
            floors.locate(ds, quick_data, "full"),
        )
        assert len(window.segments) == 64 and full.nbytes >= window.nbytes
        with serve(quick_data) as server:
            store = tiffzarr.open_store(server.url_for(ds.path))
            level = min(store.hierarchy.arrays, key=len)
            array = zarr.open_array(store, path=level, mode="r")
            for layout in (window, full):
                server.stats.reset()
                if layout is window:
                    array[ds.window_slices]
                else:
                    tiffzarr.read_array(store, level)
                asked = spans(server.stats.records)
                planned = sorted((a, b - 1) for _, a, b in layout.ranges)
                if name == "stack":  # a predicted page's read checks its IFD, just before it
                    assert len(asked) == len(planned), name
                    pairs = zip(asked, planned, strict=True)
                    assert all(c - 4096 < a <= c <= d <= b for (a, b), (c, d) in pairs), asked
                else:
                    assert asked == planned, name
    argv = ["--quick", "--runs", "1", "--datasets", "lzw", "--phases", "open,window,read"]
    assert floors.main([*argv, "--latency", "local,20", "--data-dir", str(quick_data)]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    cells = {tuple(row.split(" | ")[1:3]): row.split(" | ")[3] for row in rows}
    assert set(cells) == {
        ("open", "20 ms"),
        ("window", "20 ms"),
        ("window", "local"),
        ("read", "20 ms"),
        ("read", "local"),
        ("local", "local"),
    }
    assert "(transfer " in cells[("window", "20 ms")] and "decode " in cells[("read", "20 ms")]
    assert "(page cache " in cells[("window", "local")] and cells[("open", "20 ms")].endswith(
        "s (cold GET) |"
    )


def test_floors_bind_and_costs_extrapolate() -> None:
    """Samples become floors (the parts' medians; HTTP the larger part, local the sum),
    and the costs scale the measured full reads."""
    sample = functools.partial(floors.FloorSample, "lzw", status="ok")
    samples = [
        sample("window", "transfer", 50, 1, 0, seconds=0.3),
        sample("window", "transfer", 50, 1, 1, seconds=0.1),
        sample("window", "decode", None, 1, 0, seconds=0.4),
        sample("window", "decode", None, 2, 0, seconds=0.25),
        sample("full", "cache", None, 1, 0, seconds=0.05),
        sample("full", "decode", None, 1, 0, seconds=0.2),
        sample("open", "get", 20, 1, 0, seconds=0.021),
    ]
    cells = floor_cells(samples)
    window = cells[("lzw", "window", 50)]
    assert window.seconds == pytest.approx(0.25) and window.binding == "decode (2 CPUs)"
    assert window.text == "0.250 s (transfer 0.200 · decode 0.250, 1 thread 0.400)"
    assert cells[("lzw", "local", None)].seconds == pytest.approx(0.25)  # page cache + decode
    assert cells[("lzw", "open", 20)].text == "0.021 s (cold GET)"
    read = summarise([_sample("tiffzarr", 2.0, 40, dataset="lzw", phase="read", task="read")])
    chunks = {"lzw": Chunks(segments=400, nbytes=1_000_000, files=1)}
    lines = cost_section(read, [QUICK["lzw"]], sizes={"lzw": 1_000_000}, chunks=chunks)
    row = next(line for line in lines if line.startswith("| lzw |"))
    # 10 TB = 1e7 files like this: 4e9 chunks, 4e8 requests ($160), 2e7 s of reading
    assert row == (
        "| lzw | 50 ms | tiffzarr | 400 | 2.5 KB | 0.1 | 5 | 0 | 4 bn | 400 M | $160.00 | 5,556 |"
    )


def test_benchmark_modules_doctests() -> None:
    import doctest

    from benchmarks import _bounds, _checks, _costs, _report

    for module in (_bounds, _checks, _costs, _report, floors):
        assert doctest.testmod(module).failed == 0, module.__name__


def test_a_partial_run_keeps_the_sections_of_earlier_runs() -> None:
    from benchmarks._report import keep_sections

    old = "# R\n\nmachine a\n\n## Open\nold open\n\n## Slides\nold slides\n\n## Sequences\nseq\n"
    new = "# R\n\nmachine b\n\n## Open\nnew open\n"
    merged = keep_sections(old, new)
    assert merged == new + "\n## Slides\nold slides\n\n## Sequences\nseq\n"
    assert keep_sections("", new) == new
