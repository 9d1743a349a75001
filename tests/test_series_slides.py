"""Aperio SVS and Hamamatsu NDPI series: names, shapes, axes, levels and pixels as
tifffile reads them; the slide properties as openslide gives them; NDPI levels in
restart-interval chunks (a window reads only its intervals, strips wider than a JPEG
frame decode); remote opens in two requests, associated images read when asked."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import openslide
import pytest
import tifffile
import zarr

import tiffzarr
from tests._slide_tiff import (
    SLONG,
    NdpiLevel,
    downsampled,
    entry,
    ifds_first,
    mcu_starts,
    ndpi_file,
    ndpi_page,
    restart_jpeg,
    slide_pixels,
    wide_strip,
    write_pages,
    write_svs,
)
from tests.conftest import CORPUS, manifest, require
from tiffzarr.errors import TiffFormatWarning
from tiffzarr.model import AxisScale
from tiffzarr.testing import serve

RNG = np.random.default_rng(17)
SLIDES = [
    r["relpath"]
    for r in manifest(CORPUS)
    if r["reference_reader"] == "tifffile" and {"svs", "ndpi"} & set(r["features"].split(";"))
]
OPENSLIDE_OWN = ("openslide.level", "openslide.associated", "openslide.quickhash")
"""Properties of openslide's own making (levels, associated images, hash), not the file's."""


def level_array(path: str | Path, series: int, level: int) -> np.ndarray:
    store = tiffzarr.open_store(str(path), series=series, level=level)
    return np.asarray(zarr.open_array(store, mode="r")[...])


def assert_series_like_tifffile(path: Path, *, pixels: bool = True) -> tiffzarr.TiffIndex:
    """Series names, kinds, shapes (squeezed and full), axes and levels equal tifffile's,
    and (with ``pixels``) every level's pixels."""
    index = tiffzarr.open_tiff(str(path))
    with tifffile.TiffFile(path) as tf:
        want = [
            (s.name, s.kind, s.shape, s.get_shape(False), s.axes, [lv.shape for lv in s.levels])
            for s in tf.series
        ]
        got = [
            (s.name, s.kind, s.shape, s.get_shape(False), s.axes, [a.shape for a in s.arrays()])
            for s in index.series
        ]
        assert got == want
        if pixels:
            for i, s in enumerate(tf.series):
                for j, lv in enumerate(s.levels):
                    assert np.array_equal(level_array(path, i, j), lv.asarray()), (i, j)
    return index


def assert_properties_like_openslide(path: Path, series: tiffzarr.Series) -> None:
    """Every property we give is openslide's, and we give all of the file's own."""
    with openslide.OpenSlide(str(path)) as slide:
        theirs = dict(slide.properties)
    ours = series.attrs["openslide"]
    for key in ("openslide.mpp-x", "openslide.mpp-y", "openslide.objective-power"):
        assert ours[key] == theirs[key], key
    assert {k: v for k, v in ours.items() if theirs.get(k) != v} == {}
    assert [k for k in theirs if k not in ours and not k.startswith(OPENSLIDE_OWN)] == []
    mpp = float(theirs["openslide.mpp-x"])
    assert series.scales["X"] == series.scales["Y"] == AxisScale(mpp, "micrometer")
    json.dumps(dict(series.attrs))  # plain JSON


# -- corpus ------------------------------------------------------------------------


@pytest.mark.parametrize("relpath", SLIDES)
def test_corpus_slides_match_tifffile_and_openslide(relpath: str) -> None:
    path = require(CORPUS, "corpus") / relpath
    with open(require(CORPUS, "corpus") / "expected" / f"{relpath}.json") as f:
        expected = json.load(f)["expected"]["series"]
    index = assert_series_like_tifffile(path, pixels=False)
    for i, s in enumerate(expected):
        for j, level in enumerate(s["levels"]):
            data = np.ascontiguousarray(level_array(path, i, j))
            assert hashlib.sha256(data.tobytes()).hexdigest() == level["sha256"], (i, j)
    assert_properties_like_openslide(path, index.series[0])
    vendor = "aperio" if relpath.endswith(".svs") else "hamamatsu"
    assert index.series[0].attrs["openslide"]["openslide.vendor"] == vendor
    assert ("aperio" if vendor == "aperio" else "ndpi") in index.series[0].attrs


@pytest.mark.parametrize("name", ["test3-TRITC 2 (560).ndpi", "test3-DAPI-2-(387).ndpi"])
def test_corpus_ndpi_levels_are_chunked_by_restart_interval(name: str) -> None:
    path = require(CORPUS, "corpus") / "files" / "slideio-tutorial" / name
    index = tiffzarr.open_tiff(str(path))
    with tifffile.TiffFile(path) as tf:
        tiles = [(p.tilelength, p.tilewidth, len(p.dataoffsets)) for p in tf.pages]
        levels = index.series[0].arrays()
        for j, (array, (length, width, count)) in enumerate(zip(levels, tiles, strict=False)):
            assert array.chunks[:2] == (length, width)
            assert array.manifest.layout.nsegments == count  # 608 for level 0
            store = tiffzarr.open_store(str(path), series=0, level=j)
            assert zarr.open_array(store, mode="r").nchunks == count


# -- generated SVS -----------------------------------------------------------------


def test_generated_svs_matches_tifffile_and_openslide(tmp_path: Path) -> None:
    path = tmp_path / "slide.svs"
    images = write_svs(path, RNG)
    index = assert_series_like_tifffile(path)
    names = [s.name for s in index.series]
    assert names == ["Baseline", "Thumbnail", "Label", "Macro"]
    baseline = index.series[0]
    assert len(baseline.levels) == 3 and baseline.get_axes(False) == "ZYXS"
    assert baseline.attrs["aperio"]["AppMag"] == 20 and baseline.attrs["aperio"]["MPP"] == 0.499
    assert index.series[2].attrs["aperio"]["Header"].endswith("label 100x120")
    assert np.array_equal(level_array(path, 2, 0), images["Label"])  # lossless (LZW)
    assert_properties_like_openslide(path, baseline)
    group = zarr.open_group(tiffzarr.open_store(str(path)), mode="r")
    datasets = group["0"].attrs["ome"]["multiscales"][0]["datasets"]
    assert [d["coordinateTransformations"][0]["scale"][1:] for d in datasets] == [
        [0.499, 0.499],
        [0.998, 0.998],
        [1.996, 1.996],
    ]


def test_svs_with_an_untiled_first_page_has_generic_series(tmp_path: Path) -> None:
    path = tmp_path / "strips.svs"
    tifffile.imwrite(
        path, slide_pixels(RNG, 64, 64), description="Aperio Image|MPP = 1", metadata=None
    )
    index = assert_series_like_tifffile(path)
    assert [s.kind for s in index.series] == ["generic"]


# -- generated NDPI ----------------------------------------------------------------


def write_ndpi(path: Path) -> np.ndarray:
    """Three levels of 8x256-pixel restart intervals, a macro and a map; returns level 0."""
    base = slide_pixels(RNG, 1024, 2048)
    levels = [NdpiLevel(downsampled(base, 2**k), 40.0 / 2**k, blocks=32) for k in range(3)]
    macro, map_ = slide_pixels(RNG, 100, 300), slide_pixels(RNG, 50, 150, gray=True)
    path.write_bytes(ndpi_file(levels, macro, map_))
    return base


def test_generated_ndpi_matches_tifffile_and_openslide(tmp_path: Path) -> None:
    path = tmp_path / "slide.ndpi"
    write_ndpi(path)
    index = assert_series_like_tifffile(path)
    assert [s.name for s in index.series] == ["Baseline", "Macro", "Map"]
    baseline = index.series[0]
    assert [a.chunks for a in baseline.arrays()] == [(8, 256, 3)] * 3
    assert [a.manifest.layout.nsegments for a in baseline.arrays()] == [1024, 256, 64]
    assert baseline.attrs["ndpi"]["Magnification"] == 40.0
    assert index.series[1].attrs["ndpi"]["Magnification"] == -1.0
    openslide_props = baseline.attrs["openslide"]
    assert openslide_props["hamamatsu.SourceLens"] == "40"
    assert openslide_props["hamamatsu.XOffsetFromSlideCentre"] == "1234567"
    assert "hamamatsu.Empty" not in openslide_props  # openslide drops empty values
    assert_properties_like_openslide(path, baseline)
    with tifffile.TiffFile(path) as tf:  # the same chunks as tifffile's zarr store
        store = tf.series[0].aszarr(level=0)
        theirs = zarr.open_array(store, mode="r")
        ours = zarr.open_array(tiffzarr.open_store(str(path), series=0, level=0), mode="r")
        assert theirs.chunks == ours.chunks and np.array_equal(theirs[...], ours[...])


def test_ndpi_focal_planes_stack_along_z(tmp_path: Path) -> None:
    planes = [slide_pixels(RNG, 128, 512) for _ in range(2)]
    pages = []
    for k in range(2):  # two levels, each with two focal planes
        for z, plane in enumerate(planes):
            image = downsampled(plane, 2**k)
            jpeg = restart_jpeg(image, blocks=16)
            focus = entry(65424, SLONG, [z * 1000])
            pages.append(
                ndpi_page(image, 20.0 / 2**k, jpeg, starts=mcu_starts(jpeg), extra=[focus])
            )
    path = tmp_path / "planes.ndpi"
    path.write_bytes(write_pages(pages, next_size=8))
    index = assert_series_like_tifffile(path)
    assert index.series[0].get_axes(False) == "ZYXS"
    assert [a.shape for a in index.series[0].levels] == [(2, 128, 512, 3), (2, 64, 256, 3)]
    assert [a.chunks for a in index.series[0].levels] == [(1, 8, 128, 3)] * 2


def test_ndpi_window_reads_only_its_restart_intervals(tmp_path: Path) -> None:
    path = tmp_path / "slide.ndpi"
    write_ndpi(path)
    store = tiffzarr.open_store(str(path), series=0, level=0)
    array = zarr.open_array(store, mode="r")
    table = store.index.series[0].levels[0].manifest.tables[0]
    counts = table.bytecounts.values().reshape(128, 8)  # 128 rows of 8 intervals
    before = store.stats.bytes
    with tifffile.TiffFile(path) as tf:
        want = tf.series[0].asarray()[256:512, 512:768]
    assert np.array_equal(array[256:512, 512:768], want)
    read = store.stats.bytes - before
    window = int(counts[32:64, 2].sum())  # the 32 intervals of 8x256 pixels it covers
    assert read == window
    assert read * 16 < int(counts.sum())  # not the strip: a 32nd of the level, in its bytes


def test_ndpi_strip_wider_than_a_jpeg_frame(tmp_path: Path) -> None:
    columns = [slide_pixels(RNG, 16, 256) for _ in range(258)]  # 66,048 pixels wide
    strip, starts = wide_strip(columns, blocks=32)
    image = np.concatenate(columns, axis=1)
    path = tmp_path / "wide.ndpi"
    path.write_bytes(write_pages([ndpi_page(image, 40.0, strip, starts=starts)], next_size=8))
    assert_series_like_tifffile(path)
    data = level_array(path, 0, 0)
    assert data.shape == (16, 66048, 3)
    assert np.abs(data.astype(int) - image).max() <= 8  # JPEG quality 90


def test_ndpi_mcu_starts_that_do_not_tile_keep_the_strip(tmp_path: Path) -> None:
    image = slide_pixels(RNG, 64, 256)
    jpeg = restart_jpeg(image, blocks=32)
    starts = mcu_starts(jpeg)[:-1]  # one interval short
    path = tmp_path / "short.ndpi"
    path.write_bytes(write_pages([ndpi_page(image, 40.0, jpeg, starts=starts)], next_size=8))
    with pytest.warns(TiffFormatWarning, match="restart intervals cannot be served"):
        index = tiffzarr.open_tiff(str(path))
    assert index.series[0].levels[0].chunks[-3:] == (64, 256, 3)  # the whole strip
    with tifffile.TiffFile(path) as tf:
        assert np.array_equal(level_array(path, 0, 0), tf.series[0].asarray())


# -- remote ------------------------------------------------------------------------


def requested(server: Any) -> list[tuple[int, int]]:
    """The byte ranges the server was asked for, ``[start, stop)``."""
    out = []
    for record in server.stats.records:
        for part in record.range.removeprefix("bytes=").split(","):
            start, end = part.split("-")
            out.append((int(start), int(end) + 1))
    return out


@pytest.mark.parametrize("name", ["slide.svs", "slide.ndpi"])
def test_remote_open_costs_two_requests_and_reads_no_associated_pixels(
    tmp_path: Path, name: str
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    if name.endswith(".svs"):
        write_svs(source / name, RNG)
        (tmp_path / name).write_bytes(ifds_first(source / name))
    else:
        write_ndpi(tmp_path / name)  # written with its IFDs first
    index = tiffzarr.open_tiff(str(tmp_path / name))
    associated = [s for s in index.series if s.name in ("Label", "Macro", "Map")]
    spans = []
    for s in associated:
        table = s.levels[0].manifest.tables[0]
        offsets, counts = table.offsets.values(), table.bytecounts.values()
        spans.append((int(offsets.min()), int((offsets + counts).max())))
    assert min(start for start, _ in spans) > 2**16  # beyond the first read
    with serve(tmp_path) as server:
        server.stats.reset()
        store = tiffzarr.open_store(server.url_for(name))
        assert server.stats.requests <= 2
        overlaps = [r for r in requested(server) for a, b in spans if r[0] < b and a < r[1]]
        assert overlaps == []
        group = zarr.open_group(store, mode="r")
        last = str(len(index.series) - 1)
        server.stats.reset()
        np.asarray(group[last]["0"][...])
        start, stop = spans[-1]
        assert any(a < stop and start < b for a, b in requested(server))
        assert server.stats.bytes < 2 * (stop - start) + 2**16
