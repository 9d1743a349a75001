"""References of a sequence: ``tiffzarr.references(open_sequence(...))``.

One reference set covers every file of the grid (a template per file, relative to
the reference file with ``target_url``; a ZIP's members are ranges of the one
archive), in JSON or parquet, and plain fsspec + zarr read it back as tifffile
reads the files. Predicted files are checked before their offsets are written.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import fsspec
import numpy as np
import pytest
import tifffile
import zarr
from fsspec.implementations.reference import LazyReferenceMapper
from zarr.storage import FsspecStore

import tiffzarr
from tiffzarr.errors import TiffFormatError, UnsupportedError

IMAGE = (48, 64)


def write_grid(folder: Path, t: int = 2, c: int = 3, **options: object) -> list[Path]:
    rng = np.random.default_rng(t * 10 + c)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(t):
        for j in range(c):
            path = folder / f"img_t{i + 1}_c{j + 1}.tif"
            data = rng.integers(0, 2**16, IMAGE, dtype=np.uint16)
            tifffile.imwrite(path, data, **options)  # type: ignore[arg-type]
            paths.append(path)
    return paths


def plain(fo: object, **options: object) -> zarr.Array | zarr.Group:
    """fsspec's reference filesystem and zarr only: no tiffzarr."""
    fs = fsspec.filesystem("reference", fo=fo, remote_protocol="file", asynchronous=True, **options)
    return zarr.open(FsspecStore(fs, read_only=True, path=""), mode="r", zarr_format=2)


@pytest.mark.parametrize(
    "options", [{}, {"tile": (16, 16), "compression": "zlib"}], ids=["predicted", "parsed"]
)
def test_one_json_over_all_files_reads_back_through_plain_fsspec(tmp_path, monkeypatch, options):
    write_grid(tmp_path / "run", **options)
    glob = str(tmp_path / "run" / "*.tif")
    store = tiffzarr.open_sequence(glob, pattern="axes")
    target = tmp_path / "run" / "refs.json"
    refs = tiffzarr.write_references(store, str(target), target_url=str(target))
    names = sorted(p.name for p in (tmp_path / "run").glob("*.tif"))
    assert sorted(refs["templates"].values()) == names  # one per file, relative
    monkeypatch.chdir(tmp_path / "run")  # plain fsspec reads relative paths from here
    z = plain(str(target))
    expected = tifffile.TiffSequence(glob, pattern="axes").asarray()
    assert z.shape == expected.shape and np.array_equal(z[...], expected)
    assert json.loads(refs["refs"][".zattrs"])["_ARRAY_DIMENSIONS"][:2] == ["T", "C"]


def test_parquet_over_all_files(tmp_path):
    write_grid(tmp_path / "run", 3, 2)
    glob = str(tmp_path / "run" / "*.tif")
    store = tiffzarr.open_sequence(glob, pattern="axes")
    folder = tmp_path / "refs.parq"
    tiffzarr.write_references(store, str(folder), format="parquet")
    mapper = LazyReferenceMapper(str(folder), engine="pyarrow")
    group = plain(mapper)
    assert np.array_equal(group["0"][...], tifffile.TiffSequence(glob, pattern="axes").asarray())
    again = zarr.open_group(tiffzarr.open_references(str(folder)), mode="r")
    assert np.array_equal(again["0"][...], group["0"][...])


def test_a_predicted_file_laid_out_otherwise_is_named_before_any_offset(tmp_path):
    paths = write_grid(tmp_path / "run")
    tifffile.imwrite(paths[4], tifffile.imread(paths[4]), description="moves the pixels along")
    store = tiffzarr.open_sequence(str(tmp_path / "run" / "*.tif"), pattern="axes")
    with pytest.raises(TiffFormatError, match="not laid out like the first file") as info:
        tiffzarr.references(store)
    assert paths[4].name in str(info.value)
    unpredicted = tiffzarr.open_sequence(
        str(tmp_path / "run" / "*.tif"), pattern="axes", predict=False
    )
    z = plain(tiffzarr.references(unpredicted))
    assert np.array_equal(z[1, 1], tifffile.imread(paths[4]))


def test_a_zip_sequence_references_ranges_of_the_archive(tmp_path, monkeypatch):
    paths = write_grid(tmp_path / "f")
    archive = tmp_path / "run.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in paths:
            zf.write(path, f"run/{path.name}")
    store = tiffzarr.open_sequence("run/*.tif", container=archive, pattern="axes")
    target = tmp_path / "refs.json"
    refs = tiffzarr.references(store, target_url=str(target))
    assert refs["templates"] == {"u": "run.zip"}  # one archive, one template
    target.write_text(json.dumps(refs))
    monkeypatch.chdir(tmp_path)
    expected = tifffile.TiffSequence("run/*.tif", container=str(archive), pattern="axes")
    assert np.array_equal(plain(str(target))[...], expected.asarray())
    deflated = tmp_path / "deflated.zip"
    with zipfile.ZipFile(deflated, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(paths[0], paths[0].name)
    with pytest.raises(UnsupportedError, match="compressed") as info:
        tiffzarr.references(tiffzarr.open_sequence("*.tif", container=deflated))
    assert paths[0].name in str(info.value)


def test_a_mosaic_references_each_file_as_tiles(tmp_path):
    write_grid(tmp_path / "run", 2, 2, tile=(16, 16))
    glob = str(tmp_path / "run" / "*.tif")
    store = tiffzarr.open_sequence(glob, pattern="axes", axestiled={0: 0, 1: 1})
    z = plain(tiffzarr.references(store))
    expected = tifffile.TiffSequence(glob, pattern="axes").asarray(axestiled={0: 0, 1: 1})
    assert z.chunks == (16, 16) and np.array_equal(z[...], expected)


def test_store_options_and_zarr_v3(tmp_path):
    write_grid(tmp_path / "run", 1, 2)
    store = tiffzarr.open_sequence(str(tmp_path / "run" / "*.tif"))
    with pytest.raises(ValueError, match="series apply when a file is opened"):
        tiffzarr.references(store, series=0)
    with pytest.raises(ValueError, match="storage_options apply"):
        tiffzarr.references(store, storage_options={})
    refs = tiffzarr.references(store, zarr_format=3)
    assert "zarr.json" in refs["refs"] and store.zarr_format == 3
    again = zarr.open_array(tiffzarr.open_references(refs), mode="r")
    assert np.array_equal(again[...], zarr.open_array(store, mode="r")[...])
