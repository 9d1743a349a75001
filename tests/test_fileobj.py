"""File objects read like paths: ``open(path, "rb")``, ``io.BytesIO`` and any object
with ``read`` and ``seek``, through every reading function.

What they protect: the same pixels as from the path; a store keeps its file object
alive; two file objects never share a name or a cached parse; a file object that
changed, closed or went away raises instead of serving wrong bytes; stores over
them refuse pickling and references refuse them, both saying why.
"""

from __future__ import annotations

import asyncio
import gc
import io
import pickle
from pathlib import Path
from typing import Any

import numpy
import pytest
import tifffile
import xarray
import zarr

import tiffzarr
from tiffzarr.errors import SourceChangedError, SourceError, SourceNotFoundError
from tiffzarr.io import FileObjectSource, LocalSource, open_source

IMAGE = numpy.random.default_rng(3).integers(0, 60000, (3, 96, 80), dtype="uint16")


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fileobj") / "stack.tif"
    tifffile.imwrite(path, IMAGE, tile=(32, 32), compression="zlib", photometric="minisblack")
    return path


class Unbuffered:
    """A minimal file-like: ``read`` and ``seek`` only, short reads, no ``fileno``."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def read(self, size: int = -1, /) -> bytes:
        size = len(self._data) - self._pos if size < 0 else min(size, 1000)
        out = self._data[self._pos : self._pos + size]
        self._pos += len(out)
        return out

    def seek(self, offset: int, whence: int = 0, /) -> int:
        self._pos = [offset, self._pos + offset, len(self._data) + offset][whence]
        return self._pos


def _opened(kind: str, path: Path) -> Any:
    data = path.read_bytes()
    if kind == "file":
        return open(path, "rb")
    if kind == "unbuffered-file":
        return open(path, "rb", buffering=0)
    if kind == "bytesio":
        return io.BytesIO(data)
    return Unbuffered(data)


KINDS = ["file", "unbuffered-file", "bytesio", "duck"]


@pytest.mark.parametrize("kind", KINDS)
def test_file_objects_read_the_pixels_of_the_path(kind: str, path: Path) -> None:
    file = _opened(kind, path)
    group = zarr.open_group(tiffzarr.open_store(file), mode="r")
    numpy.testing.assert_array_equal(group["0/0"][...], IMAGE)
    numpy.testing.assert_array_equal(tiffzarr.imread(file), IMAGE)
    index = tiffzarr.open_tiff(file)
    assert index.url.startswith("fileobj://")
    assert index.series[0].shape == IMAGE.shape
    if hasattr(file, "close"):
        file.close()


def test_a_real_file_is_read_with_pread_leaving_its_position(path: Path) -> None:
    with open(path, "rb") as file:
        file.seek(5)
        source = open_source(file)
        assert asyncio.run(source.read(0, 4)) == path.read_bytes()[:4]
        assert file.tell() == 5  # pread: the position is the caller's
        assert source.version is not None and source.version.count(":") == 2


def test_an_inline_open_keeps_its_file_object_alive(path: Path) -> None:
    store = tiffzarr.open_store(open(path, "rb"), series=0, level=0)  # noqa: SIM115
    gc.collect()
    numpy.testing.assert_array_equal(zarr.open_array(store, mode="r")[2], IMAGE[2])


def test_a_model_does_not_keep_its_file_object_alive(path: Path) -> None:
    index = tiffzarr.open_tiff(io.BytesIO(path.read_bytes()))
    gc.collect()
    with pytest.raises(SourceNotFoundError, match="no file object of this process"):
        tiffzarr.open_store(index)


def test_two_file_objects_never_share_a_name_or_a_parse(path: Path) -> None:
    other = numpy.full((3, 96, 80), 7, dtype="uint16")
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, other, tile=(32, 32), compression="zlib", photometric="minisblack")
    urls = set()
    for data, expected in [(path.read_bytes(), IMAGE), (buffer.getvalue(), other)] * 3:
        file = io.BytesIO(data)  # often at the address of the previous, collected one
        urls.add(tiffzarr.open_tiff(file).url)
        numpy.testing.assert_array_equal(tiffzarr.imread(file), expected)
        del file
        gc.collect()
    assert len(urls) == 6


def test_one_file_object_has_one_name(path: Path) -> None:
    with open(path, "rb") as file:
        assert tiffzarr.open_tiff(file).url == tiffzarr.open_tiff(file).url
        assert open_source(open_source(file).url).url == open_source(file).url


def test_a_file_object_that_grew_is_refused(path: Path) -> None:
    buffer = io.BytesIO(path.read_bytes())
    store = tiffzarr.open_store(buffer, series=0, level=0)
    buffer.seek(0, io.SEEK_END)
    buffer.write(b"\0" * 100)
    with pytest.raises(SourceChangedError, match="changed"):
        zarr.open_array(store, mode="r")[0]


def test_a_closed_file_object_raises_a_source_error(path: Path) -> None:
    file = open(path, "rb")  # noqa: SIM115
    store = tiffzarr.open_store(file, series=0, level=0)
    file.close()
    with pytest.raises(SourceError, match="closed") as caught:
        zarr.open_array(store, mode="r")[0]
    assert str(caught.value).count("fileobj://") == 1


def test_a_store_over_a_file_object_refuses_pickling(path: Path) -> None:
    with open(path, "rb") as file:
        store = tiffzarr.open_store(file)
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(store)
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(FileObjectSource(file))
        pickle.loads(pickle.dumps(tiffzarr.open_store(path)))  # by path it still pickles


def test_references_of_a_file_object_are_refused(path: Path) -> None:
    with open(path, "rb") as file:
        with pytest.raises(TypeError, match="path or URL"):
            tiffzarr.references(file)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="path or URL"):
            tiffzarr.references(tiffzarr.open_tiff(file))


@pytest.mark.parametrize(
    ("mode", "error", "match"),
    [
        ("r", TypeError, "binary mode"),
        ("ab", ValueError, "not readable"),
        ("rb", ValueError, "closed"),
    ],
    ids=["text", "write-only", "closed"],
)
def test_unusable_file_objects_are_refused_up_front(
    mode: str, error: type[Exception], match: str, tmp_path: Path, path: Path
) -> None:
    copy = tmp_path / "copy.tif"
    copy.write_bytes(path.read_bytes())
    with open(copy, mode) as file:
        if match == "closed":
            file.close()
        with pytest.raises(error, match=match):
            tiffzarr.open_store(file)


def test_storage_options_do_not_apply_to_file_objects(path: Path) -> None:
    with pytest.raises(ValueError, match="storage_options"):
        tiffzarr.open_store(io.BytesIO(path.read_bytes()), storage_options={"anon": True})


def test_a_gzip_file_is_not_read_through_its_descriptor(tmp_path: Path, path: Path) -> None:
    import gzip

    packed = tmp_path / "stack.tif.gz"
    with gzip.open(packed, "wb") as out:
        out.write(path.read_bytes())
    with gzip.open(packed, "rb") as file:
        source = open_source(file)
        assert isinstance(source, FileObjectSource)
        assert asyncio.run(source.read(0, 4)) == path.read_bytes()[:4]


def test_the_xarray_backend_opens_file_objects(path: Path) -> None:
    with open(path, "rb") as file:
        dataset = xarray.open_dataset(file, engine="tiffzarr")
        numpy.testing.assert_array_equal(dataset["image"].values, IMAGE)


def test_paths_still_open_local_sources(path: Path) -> None:
    assert isinstance(open_source(path), LocalSource)
    with pytest.raises(TypeError, match="binary file object"):
        open_source(3)  # type: ignore[arg-type]
