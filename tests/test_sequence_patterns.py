"""File sequences whose names give their axes: ``open_sequence(files, pattern=...)``.

A glob pattern, a folder or a list of files becomes one N-D array, the grid the
file names give followed by each file's image, as tifffile's
``TiffSequence(files, pattern=...)`` reads it: the same shape, axes and pixels.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import fsspec
import numpy as np
import pytest
import tifffile
import zarr

import tiffzarr
from tiffzarr.errors import SequenceError, SequenceGapWarning, SourceNotFoundError
from tiffzarr.testing import serve

IMAGE = (6, 10)


def write(path: Path, seed: int, **options: object) -> np.ndarray:
    data = np.random.default_rng(seed).integers(0, 2**16, IMAGE, dtype=np.uint16)
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, data, **options)  # type: ignore[arg-type]
    return data


def write_grid(folder: Path, names: list[str], **options: object) -> list[Path]:
    paths = [folder / name for name in names]
    for seed, path in enumerate(paths):
        write(path, seed, **options)
    return paths


def tzc_names(t: int = 3, c: int = 2, z: int = 2) -> list[str]:
    return [
        f"img_t{i + 1:03d}_c{j + 1}_z{k + 1:02d}.tif"
        for i in range(t)
        for j in range(c)
        for k in range(z)
    ]


def array(store: tiffzarr.TiffStore) -> zarr.Array:
    return zarr.open_array(store, mode="r")


def assert_like_tifffile(z: zarr.Array, expected: tifffile.TiffSequence) -> None:
    """Shape, axes and pixels as tifffile gives them."""
    pixels = expected.asarray()
    assert z.shape == pixels.shape
    assert z.shape[: len(expected.shape)] == expected.shape
    assert "".join(z.metadata.dimension_names)[: len(expected.axes)] == expected.axes
    assert np.array_equal(z[...], pixels)


@pytest.mark.parametrize(
    "options", [{}, {"tile": (16, 16), "compression": "zlib"}], ids=["predicted", "parsed"]
)
def test_axes_pattern_makes_the_grid_tifffile_makes(tmp_path, options):
    names = tzc_names()
    write_grid(tmp_path, names[::-1], **options)  # written in another order than sorted
    glob = str(tmp_path / "img_*.tif")
    z = array(tiffzarr.open_sequence(glob, pattern="axes"))
    assert_like_tifffile(z, tifffile.TiffSequence(glob, pattern="axes"))
    assert z.metadata.dimension_names == ("T", "C", "Z", "Y", "X")
    assert z.chunks[:3] == (1, 1, 1)  # one file per chunk along the grid


def test_files_of_many_pages_and_tiles_keep_their_segments(tmp_path):
    rng = np.random.default_rng(1)
    for t in (1, 2):
        for c in (1, 2, 3):
            stack = rng.integers(0, 255, (4, 40, 36), dtype=np.uint8)
            tifffile.imwrite(
                tmp_path / f"s_t{t}_c{c}.tif", stack, tile=(16, 16), photometric="minisblack"
            )
    glob = str(tmp_path / "*.tif")
    store = tiffzarr.open_sequence(glob, pattern="axes")
    z = array(store)
    assert_like_tifffile(z, tifffile.TiffSequence(glob, pattern="axes"))
    assert z.shape == (2, 3, 4, 40, 36) and z.chunks == (1, 1, 1, 16, 16)
    manifest = store.hierarchy.arrays[""].manifest
    assert len(manifest.urls) == 6 and len(manifest.tables) == 6 * 4  # a table per page
    assert np.array_equal(
        z[1, 2, 1, 16:32, 16:32], tifffile.imread(tmp_path / "s_t2_c3.tif")[1, 16:32, 16:32]
    )


@pytest.mark.parametrize(
    ("names", "pattern"),
    [
        (["a/img_t001_c2_z03.tif", "a/img_t002_c1_z03.tif", "a/img_t001_c1_z04.tif"], "axes"),
        (["cell3_t001.tif", "cell3_t002.tif"], "axes"),  # "l3" is a label too
        (["s_1_2.tif", "s_2_3.tif", "s_1_3.tif"], r"_(\d)_(\d)"),  # unlabelled: Q
        (["c1001.ext", "c2002.ext"], r"([^\d])(\d)(?P<t>\d+)\.ext"),
        (["r/x/pos2/f7.tif", "r/x/pos1/f9.tif"], r"pos(?P<position>\d+)/f(?P<time>\d+)"),
    ],
)
def test_names_parse_as_tifffile_parses_them(names, pattern):
    from tiffzarr.format._filenames import parse_filenames

    grid = parse_filenames(names, pattern=pattern)
    labels, shape, indices, _ = tifffile.parse_filenames(names, pattern)
    expected = tifffile.TiffSequence(names, pattern=pattern)
    assert (grid.labels, grid.shape, list(grid.indices)) == (labels, shape, indices)
    assert grid.axes == expected.axes


def test_labels_spelled_otherwise_and_axesorder(tmp_path):
    names = [f"Scan_CH{c:02d}_TP{t}.tif" for c in (1, 2) for t in (5, 6, 7)]
    write_grid(tmp_path, names)
    files = [str(tmp_path / n) for n in names]
    for order in (None, [1, 0]):
        z = array(tiffzarr.open_sequence(files, pattern="axes", axesorder=order))
        expected = tifffile.TiffSequence(files, pattern="axes", axesorder=order)
        assert_like_tifffile(z, expected)
    assert expected.axes == "TC"  # CH is a channel, TP a time point, reordered


def test_named_groups_across_folders(tmp_path):
    names = [f"pos{p}/frame{t}.tif" for p in (1, 2) for t in (0, 1, 2, 3)]
    write_grid(tmp_path, names)
    pattern = r"pos(?P<p>\d+)/frame(?P<t>\d+)\.tif"
    glob = str(tmp_path / "pos*" / "frame*.tif")
    z = array(tiffzarr.open_sequence(glob, pattern=pattern))
    assert_like_tifffile(z, tifffile.TiffSequence(glob, pattern=pattern))
    assert z.shape[:2] == (2, 4)


def test_categories_turn_names_into_indices(tmp_path):
    channels = {"DAPI": 0, "GFP": 1, "RFP": 2}
    names = [f"well_c_{name}_t{t}.tif" for name in ("GFP", "DAPI", "RFP") for t in (1, 2)]
    write_grid(tmp_path, names)
    pattern = r"_c_(?P<c>[A-Za-z]+)_(t)(\d+)"
    glob = str(tmp_path / "*.tif")
    z = array(tiffzarr.open_sequence(glob, pattern=pattern, categories={"c": channels}))
    expected = tifffile.TiffSequence(glob, pattern=pattern, categories={"c": channels})
    assert_like_tifffile(z, expected)
    gfp = tifffile.imread(tmp_path / "well_c_GFP_t2.tif")
    assert np.array_equal(z[1, 1], gfp)
    with pytest.raises(SequenceError, match="'GFP' is none of the categories") as info:
        tiffzarr.open_sequence(glob, pattern=pattern, categories={"c": {"DAPI": 0}})
    assert "well_c_GFP_t1.tif" in str(info.value)


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_a_missing_file_reads_as_fill_with_a_warning(tmp_path, compression):
    names = tzc_names(3, 2, 1)
    paths = write_grid(tmp_path, names, compression=compression)
    paths[3].unlink()  # t002_c2: in the middle of the grid
    glob = str(tmp_path / "*.tif")
    with pytest.warns(SequenceGapWarning, match=r"1 of the 6 cells") as caught:
        z = array(tiffzarr.open_sequence(glob, pattern="axes"))
    message = str(caught[0].message)
    assert "index (1, 1, 0)" in message and "t=2, c=2, z=1" in message
    expected = tifffile.TiffSequence(glob, pattern="axes")
    pixels = expected.asarray()  # the missing cell: whatever numpy.empty held
    assert z.shape == pixels.shape and z.metadata.dimension_names[:3] == tuple(expected.axes)
    present = np.ones(expected.shape, bool)
    present[1, 1, 0] = False
    assert np.array_equal(z[...][present], pixels[present])
    assert (z[1, 1, 0] == 0).all()
    with pytest.warns(SequenceGapWarning):
        filled = array(tiffzarr.open_sequence(glob, pattern="axes", fill_value=7))
    assert (filled[1, 1] == 7).all()
    assert np.array_equal(filled[1, 0, 0], tifffile.imread(paths[2]))


def test_a_repeated_index_names_both_files(tmp_path):
    write_grid(tmp_path, ["img_t1_c1.tif", "img_t01_c1.tif", "img_t2_c1.tif"])
    with pytest.raises(SequenceError, match="same index") as info:
        tiffzarr.open_sequence(str(tmp_path / "*.tif"), pattern="axes")
    assert "img_t1_c1.tif" in str(info.value) and "img_t01_c1.tif" in str(info.value)


def test_names_that_do_not_fit_are_named(tmp_path):
    write_grid(tmp_path, ["img_t1_c1.tif", "img_t2.tif", "other.tif"])
    with pytest.raises(SequenceError, match="does not match") as info:
        tiffzarr.open_sequence(str(tmp_path / "*.tif"), pattern="axes")
    assert "other.tif" in str(info.value)
    with pytest.raises(SequenceError, match="gives axes") as info:
        tiffzarr.open_sequence(str(tmp_path / "img_*.tif"), pattern="axes")
    assert "img_t2.tif" in str(info.value)
    with pytest.raises(SequenceError, match="more than 16777216 cells"):  # timestamps
        tiffzarr.open_sequence(["shot_1.tif", "shot_99999999.tif"], pattern=r"_(?P<t>\d+)")
    with pytest.raises(SequenceError, match="axesorder"):
        tiffzarr.open_sequence(str(tmp_path / "img_t1*.tif"), pattern="axes", axesorder=[0])


def test_natural_order_without_pattern(tmp_path):
    names = ["img1.tif", "img10.tif", "img2.tif", "img9.tif"]
    write_grid(tmp_path, names)
    glob = str(tmp_path / "img*.tif")
    z = array(tiffzarr.open_sequence(glob))
    assert_like_tifffile(z, tifffile.TiffSequence(glob))
    assert np.array_equal(z[2], tifffile.imread(tmp_path / "img9.tif"))  # 1, 2, 9, 10
    assert z.metadata.dimension_names[0] == "I"
    listed = [str(tmp_path / n) for n in names]
    as_given = array(tiffzarr.open_sequence(listed, axis="T"))
    assert np.array_equal(as_given[...], tifffile.TiffSequence(listed).asarray())
    assert np.array_equal(as_given[1], tifffile.imread(listed[1]))  # a list keeps its order
    assert np.array_equal(array(tiffzarr.open_sequence(listed, sort=True))[...], z[...])
    unsorted = array(tiffzarr.open_sequence(glob, sort=False))
    assert sorted(unsorted[:, 0, 0].tolist()) == sorted(z[:, 0, 0].tolist())


def test_a_folder_holds_its_tiff_files(tmp_path):
    write_grid(tmp_path, ["b2.tif", "b10.TIFF", "b1.tiff"])
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    z = array(tiffzarr.open_sequence(tmp_path))
    files = [str(tmp_path / n) for n in ("b1.tiff", "b2.tif", "b10.TIFF")]
    assert_like_tifffile(z, tifffile.TiffSequence(files))
    with pytest.raises(SourceNotFoundError, match=r"no \.tif or \.tiff") as info:
        tiffzarr.open_sequence(tmp_path / "sub")
    assert str(tmp_path / "sub") in str(info.value)


def test_nothing_found_is_named(tmp_path):
    with pytest.raises(SourceNotFoundError, match="no file matches") as info:
        tiffzarr.open_sequence(str(tmp_path / "*.tif"))
    assert str(tmp_path) in str(info.value)
    with pytest.raises(SourceNotFoundError):
        tiffzarr.open_sequence(tmp_path / "absent")


def test_one_file_is_a_sequence_of_one(tmp_path):
    (path,) = write_grid(tmp_path, ["only_t4.tif"])
    z = array(tiffzarr.open_sequence(path, pattern="axes"))
    assert_like_tifffile(z, tifffile.TiffSequence([str(path)], pattern="axes"))


def test_arguments_are_checked(tmp_path):
    glob = str(tmp_path / "*.tif")
    write_grid(tmp_path, ["img_t1.tif", "img_t2.tif"])
    with pytest.raises(ValueError, match="with a pattern the file names give the axes"):
        tiffzarr.open_sequence(glob, pattern="axes", axis="T")
    with pytest.raises(ValueError, match="one letter"):
        tiffzarr.open_sequence(glob, axis="TC")
    with pytest.raises(ValueError, match="not a regular expression"):
        tiffzarr.open_sequence(glob, pattern="(unclosed")
    with pytest.raises(ValueError, match="apply to the axes a pattern finds"):
        tiffzarr.open_sequence(glob, categories={"c": {"a": 0}})
    with pytest.raises(TypeError, match="sort"):
        tiffzarr.open_sequence(glob, sort="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pattern"):
        tiffzarr.open_sequence(glob, pattern=3)  # type: ignore[arg-type]
    compiled = re.compile(r"_(t)(\d+)")
    z = array(tiffzarr.open_sequence(glob, pattern=compiled))
    assert_like_tifffile(z, tifffile.TiffSequence(glob, pattern=compiled))


def test_memory_filesystem_glob(tmp_path):
    names = tzc_names(2, 2, 1)
    paths = write_grid(tmp_path, names)
    for path in paths:
        with fsspec.open(f"memory://grid-seq/{path.name}", "wb") as f:
            f.write(path.read_bytes())
    z = array(tiffzarr.open_sequence("memory://grid-seq/*.tif", pattern="axes"))
    assert_like_tifffile(z, tifffile.TiffSequence(str(tmp_path / "*.tif"), pattern="axes"))


def test_zip_container_glob(tmp_path):
    names = tzc_names(2, 1, 2)
    paths = write_grid(tmp_path / "f", names)
    archive = tmp_path / "run.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        for path in paths:
            zf.write(path, f"run/{path.name}")
    url = f"zip://run/*.tif::{archive}"
    z = array(tiffzarr.open_sequence(url, pattern="axes"))
    expected = tifffile.TiffSequence("run/*.tif", container=str(archive), pattern="axes")
    assert_like_tifffile(z, expected)


def test_http_urls_are_parsed_by_name_one_request_per_file(tmp_path):
    names = tzc_names(2, 3, 1)
    paths = write_grid(tmp_path, names)
    with serve(tmp_path) as server:
        urls = [server.url_for(name) for name in reversed(names)]
        store = tiffzarr.open_sequence(urls, pattern="axes")
        assert server.stats.requests == 1  # the first file (its layout predicts the others)
        server.stats.reset()
        z = array(store)
        assert_like_tifffile(z, tifffile.TiffSequence([str(p) for p in paths], pattern="axes"))
        assert server.stats.requests == len(names)  # the layout checks ride with the pixels


def test_s3_glob_equals_tifffile(tmp_path):
    from tiffzarr.testing import moto_server

    names = tzc_names(2, 2, 1)
    paths = write_grid(tmp_path, names)
    with moto_server() as server:
        server.create_bucket("grid")
        for path in paths:
            server.put("grid", f"run/{path.name}", path.read_bytes())
        store = tiffzarr.open_sequence(
            "s3://grid/run/img_*.tif", pattern="axes", storage_options=server.storage_options
        )
        z = array(store)
        assert_like_tifffile(z, tifffile.TiffSequence(str(tmp_path / "*.tif"), pattern="axes"))
        assert os.path.basename(store.index.url) == names[0]


def test_references_of_a_grid_with_a_gap_read_as_the_store(tmp_path):
    from tiffzarr._sync import run_sync
    from tiffzarr.refs import store_references

    paths = write_grid(tmp_path, tzc_names(2, 2, 1), compression="zlib")
    paths[1].unlink()
    with pytest.warns(SequenceGapWarning):
        store = tiffzarr.open_sequence(str(tmp_path / "*.tif"), pattern="axes", zarr_format=2)
    refs = run_sync(store_references(store))
    assert "0.0.0.0.0" in refs["refs"] and "0.1.0.0.0" not in refs["refs"]  # a gap: fill
    again = array(tiffzarr.open_references(refs))
    assert np.array_equal(again[...], array(store)[...])
