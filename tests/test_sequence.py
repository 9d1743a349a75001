"""File sequences as one zarr array: ``tiffzarr.open_sequence``.

Files written alike are predicted from the first and checked with their first
pixels (one request per file); files that are compressed or not alike are
parsed; files that differ from the prediction never yield pixels.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

import tiffzarr
from tiffzarr.errors import SourceError, TiffFormatError, TiffZarrError
from tiffzarr.model import FileCheck
from tiffzarr.testing import serve

FRAMES = 12
SHAPE = (48, 40)


def frames(seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**16, (FRAMES, *SHAPE), dtype=np.uint16)


def write_frames(folder: Path, data: np.ndarray, **options: object) -> list[str]:
    folder.mkdir(exist_ok=True)
    paths = []
    for i, frame in enumerate(data):
        path = folder / f"frame_{i:03d}.tif"
        tifffile.imwrite(path, frame, **options)  # type: ignore[arg-type]
        paths.append(str(path))
    return paths


def read(store: tiffzarr.TiffStore) -> np.ndarray:
    return np.asarray(zarr.open_array(store, mode="r")[...])


def checks(store: tiffzarr.TiffStore) -> list[FileCheck]:
    tables = store.hierarchy.arrays[""].manifest.tables
    return [t.check for t in tables if t is not None and isinstance(t.check, FileCheck)]


@pytest.mark.parametrize("options", [{}, {"rowsperstrip": 7}, {"tile": (16, 16)}])
def test_predicted_sequence_equals_the_frames(tmp_path, options):
    data = frames()
    paths = write_frames(tmp_path / "f", data, **options)
    store = tiffzarr.open_sequence(paths)
    assert len({id(c) for c in checks(store)}) == FRAMES - 1  # one per predicted file
    z = zarr.open_array(store, mode="r")
    assert z.shape == (FRAMES, *SHAPE)
    assert z.chunks[0] == 1
    assert np.array_equal(z[...], data)
    assert np.array_equal(z[5, 3:30, 7], data[5, 3:30, 7])
    assert all(c.verified for c in checks(store))


def test_compressed_sequence_is_parsed_and_equal(tmp_path):
    data = frames(4)
    paths = write_frames(tmp_path / "z", data, compression="zlib", tile=(16, 16))
    store = tiffzarr.open_sequence(paths)
    assert checks(store) == []  # byte counts differ from file to file: nothing predicted
    assert np.array_equal(read(store), data)


def test_sequence_without_prediction(tmp_path):
    data = frames(5)
    paths = write_frames(tmp_path / "p", data)
    store = tiffzarr.open_sequence(paths, predict=False)
    assert checks(store) == []
    assert np.array_equal(read(store), data)


def test_a_file_laid_out_otherwise_never_yields_pixels(tmp_path):
    data = frames(6)
    paths = write_frames(tmp_path / "d", data)
    # same image, but a description moves the pixels: the prediction is wrong
    tifffile.imwrite(paths[4], data[4], description="a longer description than the others")
    store = tiffzarr.open_sequence(paths)
    z = zarr.open_array(store, mode="r")
    assert np.array_equal(z[3], data[3])
    with pytest.raises(TiffFormatError, match="not laid out like the first file") as info:
        z[4]
    assert "frame_004.tif" in str(info.value) and "predict=False" in str(info.value)
    assert np.array_equal(read(tiffzarr.open_sequence(paths, predict=False)), data)


def test_values_that_do_not_decide_decoding_may_differ(tmp_path):
    data = frames(7)
    paths = write_frames(tmp_path / "t", data, datetime="2026:01:01 00:00:00")
    tifffile.imwrite(paths[2], data[2], datetime="2026:12:31 23:59:59")  # same length
    store = tiffzarr.open_sequence(paths)
    assert np.array_equal(read(store), data)


def test_a_different_image_is_refused_by_name(tmp_path):
    data = frames(8)
    paths = write_frames(tmp_path / "s", data, compression="zlib")
    tifffile.imwrite(paths[7], data[7, :, :20], compression="zlib")
    with pytest.raises(TiffFormatError, match="shape") as info:
        tiffzarr.open_sequence(paths)
    assert "frame_007.tif" in str(info.value)


def test_a_short_file_raises(tmp_path):
    data = frames(9)
    paths = write_frames(tmp_path / "c", data)
    raw = Path(paths[6]).read_bytes()
    Path(paths[6]).write_bytes(raw[: len(raw) // 2])
    z = zarr.open_array(tiffzarr.open_sequence(paths), mode="r")
    with pytest.raises(TiffZarrError) as info:
        z[6]
    assert "frame_006.tif" in str(info.value)
    assert np.array_equal(z[5], data[5])


def test_arguments_are_checked(tmp_path):
    paths = write_frames(tmp_path / "a", frames()[:2])
    one = zarr.open_array(tiffzarr.open_sequence(paths[0]), mode="r")  # a sequence of one
    assert one.shape == (1, *SHAPE)
    with pytest.raises(TypeError, match="files must be a path, URL, glob pattern or a list"):
        tiffzarr.open_sequence(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"files\[1\] must be a path or URL"):
        tiffzarr.open_sequence([paths[0], 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="at least one file"):
        tiffzarr.open_sequence([])
    with pytest.raises(ValueError, match="one letter"):
        tiffzarr.open_sequence(paths, axis="IT")


def test_sequence_store_pickles_and_keeps_dimension_names(tmp_path):
    data = frames(10)
    paths = write_frames(tmp_path / "k", data)
    store = tiffzarr.open_sequence(paths, axis="T")
    clone = pickle.loads(pickle.dumps(store))
    assert np.array_equal(read(clone), data)
    z = zarr.open_array(store, mode="r")
    assert z.metadata.dimension_names[0] == "T"


def test_http_sequence_costs_one_request_per_file(tmp_path):
    data = frames(11)
    paths = write_frames(tmp_path / "h", data)
    with serve(tmp_path / "h") as server:
        urls = [server.url_for(Path(p).name) for p in paths]
        store = tiffzarr.open_sequence(urls)
        assert server.stats.requests == 1  # the first file's head
        server.stats.reset()
        z = zarr.open_array(store, mode="r")
        assert np.array_equal(z[4:10], data[4:10])
        # six files, one request each; the first file's layout bytes in one more
        assert server.stats.requests == 7
        server.stats.reset()
        assert np.array_equal(z[...], data)
        assert server.stats.requests == FRAMES  # checks ride with the pixels
        assert all(c.verified for c in checks(store))


def test_http_file_that_changed_is_not_misread(tmp_path):
    data = frames(12)
    paths = write_frames(tmp_path / "m", data)
    with serve(tmp_path / "m") as server:
        urls = [server.url_for(Path(p).name) for p in paths]
        store = tiffzarr.open_sequence(urls)
        tifffile.imwrite(paths[3], data[3], description="moved")
        z = zarr.open_array(store, mode="r")
        with pytest.raises((TiffFormatError, SourceError)):
            z[3]
        assert np.array_equal(z[2], data[2])


def test_s3_sequence_equals_the_frames(tmp_path):
    from tiffzarr.testing import moto_server

    data = frames(13)
    paths = write_frames(tmp_path / "s3", data)
    with moto_server() as server:
        server.create_bucket("frames")
        urls = [server.put("frames", Path(p).name, Path(p).read_bytes()) for p in paths]
        store = tiffzarr.open_sequence(urls, storage_options=server.storage_options)
        assert checks(store)
        assert np.array_equal(read(store), data)
