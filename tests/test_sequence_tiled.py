"""Mosaics: files as tiles of one image, ``open_sequence(..., axestiled={0: 0, 1: 1})``.

Shape and pixels are tifffile's ``TiffSequence(...).asarray(axestiled=...)``; the
files' own strips and tiles stay the chunks where they divide a file, else each
file is one chunk.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

import tiffzarr
from tiffzarr.errors import SequenceGapWarning
from tiffzarr.testing import serve

IMAGE = (48, 64)


def write_tiles(folder: Path, rows: int, cols: int, **options: object) -> list[Path]:
    """Files named by their row and column (``tile_y1_x2.tif``), seeded pixels."""
    rng = np.random.default_rng(rows * 7 + cols)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for y in range(rows):
        for x in range(cols):
            path = folder / f"tile_y{y + 1}_x{x + 1}.tif"
            tifffile.imwrite(path, rng.integers(0, 2**16, IMAGE, dtype=np.uint16), **options)  # type: ignore[arg-type]
            paths.append(path)
    return paths


def tifffile_mosaic(glob: str, axestiled: dict[int, int], **options: object) -> np.ndarray:
    return tifffile.TiffSequence(glob, pattern="axes", **options).asarray(
        axestiled=axestiled, out_inplace=False
    )  # type: ignore[arg-type]


def array(store: tiffzarr.TiffStore) -> zarr.Array:
    return zarr.open_array(store, mode="r")


@pytest.mark.parametrize(
    ("options", "chunks"),
    [
        ({"tile": (16, 32)}, (16, 32)),  # the files' tiles divide them: the mosaic's chunks
        ({"rowsperstrip": 12, "compression": "zlib"}, (12, 64)),
        ({"rowsperstrip": 10}, IMAGE),  # a short last strip: one chunk per file
        ({"tile": (32, 48), "compression": "zlib"}, IMAGE),  # tiles past the edge
    ],
    ids=["tiles", "strips-zlib", "uneven-strips", "uneven-tiles-zlib"],
)
def test_mosaic_equals_tifffile(tmp_path, options, chunks):
    write_tiles(tmp_path, 2, 3, **options)
    glob = str(tmp_path / "*.tif")
    z = array(tiffzarr.open_sequence(glob, pattern="axes", axestiled={0: 0, 1: 1}))
    expected = tifffile_mosaic(glob, {0: 0, 1: 1})
    assert z.shape == expected.shape == (96, 192)
    assert z.chunks == chunks
    assert z.metadata.dimension_names == ("Y", "X")
    assert np.array_equal(z[...], expected)
    assert np.array_equal(z[40:60, 50:150], expected[40:60, 50:150])  # across four files


def test_axes_by_letter_and_one_axis_tiled(tmp_path):
    write_tiles(tmp_path, 3, 2, tile=(16, 16))
    glob = str(tmp_path / "*.tif")
    by_letter = array(tiffzarr.open_sequence(glob, pattern="axes", axestiled={"Y": "Y", "X": "X"}))
    assert np.array_equal(by_letter[...], tifffile_mosaic(glob, {0: 0, 1: 1}))
    columns = array(tiffzarr.open_sequence(glob, pattern="axes", axestiled={1: 1}))
    expected = tifffile_mosaic(glob, {1: 1})
    assert columns.shape == expected.shape == (3, 48, 128)
    assert columns.metadata.dimension_names == ("YY", "Y", "X")  # the grid's Y stays
    assert np.array_equal(columns[...], expected)
    swapped = array(tiffzarr.open_sequence(glob, pattern="axes", axestiled={0: 1, 1: 0}))
    assert np.array_equal(swapped[...], tifffile_mosaic(glob, {0: 1, 1: 0}))


def test_files_of_many_pages_tile_their_planes(tmp_path):
    rng = np.random.default_rng(5)
    for y in (1, 2):
        for x in (1, 2):
            stack = rng.integers(0, 255, (3, *IMAGE), dtype=np.uint8)
            tifffile.imwrite(
                tmp_path / f"s_y{y}_x{x}.tif", stack, tile=(16, 16), photometric="minisblack"
            )
    glob = str(tmp_path / "*.tif")
    z = array(tiffzarr.open_sequence(glob, pattern="axes", axestiled={0: 1, 1: 2}))
    expected = tifffile_mosaic(glob, {0: 1, 1: 2})
    assert z.shape == expected.shape == (3, 96, 128) and z.chunks == (1, 16, 16)
    assert np.array_equal(z[...], expected)


def test_a_missing_tile_is_fill(tmp_path):
    paths = write_tiles(tmp_path, 2, 2, tile=(16, 16))
    paths[1].unlink()  # y1 x2
    glob = str(tmp_path / "*.tif")
    with pytest.warns(SequenceGapWarning):
        store = tiffzarr.open_sequence(glob, pattern="axes", axestiled={0: 0, 1: 1}, fill_value=9)
    z = array(store)
    assert z.shape == (96, 128)
    assert (z[:48, 64:] == 9).all()
    assert np.array_equal(z[48:, :64], tifffile.imread(paths[2]))
    assert np.array_equal(z[:48, :64], tifffile.imread(paths[0]))


def test_http_mosaic_reads_a_tile_in_one_request(tmp_path):
    paths = write_tiles(tmp_path, 2, 2, tile=(16, 16))
    expected = tifffile_mosaic(str(tmp_path / "*.tif"), {0: 0, 1: 1})
    with serve(tmp_path) as server:
        urls = [server.url_for(p.name) for p in paths]
        z = array(tiffzarr.open_sequence(urls, pattern="axes", axestiled={0: 0, 1: 1}))
        assert np.array_equal(z[...], expected)
        server.stats.reset()
        assert np.array_equal(z[64:80, 80:96], expected[64:80, 80:96])  # one tile of y2_x2
        assert server.stats.requests == 1
        assert {r.path for r in server.stats.records} == {paths[3].name}


def test_wrong_axes_are_refused(tmp_path):
    write_tiles(tmp_path, 2, 2)
    glob = str(tmp_path / "*.tif")
    with pytest.raises(ValueError, match="distinct"):
        tiffzarr.open_sequence(glob, pattern="axes", axestiled={0: 0, 1: 0})
    with pytest.raises(ValueError, match="the image has no axis 2"):
        tiffzarr.open_sequence(glob, pattern="axes", axestiled={0: 2})
    with pytest.raises(ValueError, match="'Z' names no axis of the grid"):
        tiffzarr.open_sequence(glob, pattern="axes", axestiled={"Z": 0})
    with pytest.raises(TypeError, match="axestiled"):
        tiffzarr.open_sequence(glob, pattern="axes", axestiled=[(0, 0)])  # type: ignore[arg-type]
