"""Reopening a file reuses its parsed structure; a file that changed is never misread."""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

import tiffzarr
from tiffzarr.errors import SourceError
from tiffzarr.testing import RangeServer, serve


def tiff_bytes(seed: int, shape: tuple[int, int] = (256, 256)) -> tuple[bytes, np.ndarray]:
    data = np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, data, tile=(64, 64), compression="zlib", metadata=None)
    return buffer.getvalue(), data


@pytest.fixture(autouse=True)
def cold_cache() -> Iterator[None]:
    tiffzarr.clear_cache()
    yield
    tiffzarr.clear_cache()


@pytest.fixture
def server() -> Iterator[RangeServer]:
    with serve({}) as running:
        yield running


def test_second_open_of_a_url_costs_no_request(server: RangeServer) -> None:
    raw, data = tiff_bytes(1)
    url = server.add("a.tif", raw)
    first = tiffzarr.open_store(url, series=0, level=0)
    assert zarr.open_array(first, mode="r")[:64, :64].tolist() == data[:64, :64].tolist()
    server.stats.reset()
    second = tiffzarr.open_store(url, series=0, level=0, zarr_format=2)
    assert server.stats.requests == 0
    assert second.index is first.index
    # the segment table loaded through the first store serves the second: one tile, one request
    got = zarr.open_array(second, mode="r")[:64, :64]
    assert np.array_equal(got, data[:64, :64])
    assert server.stats.requests == 1


def test_file_replaced_on_the_server_raises_instead_of_misreading(server: RangeServer) -> None:
    raw, _ = tiff_bytes(2)
    url = server.add("a.tif", raw)
    store = tiffzarr.open_store(url, series=0, level=0)
    array = zarr.open_array(store, mode="r")
    shipped = pickle.loads(pickle.dumps(store))
    replaced, new = tiff_bytes(3)
    assert len(replaced) == len(raw)  # same size: only the ETag tells them apart
    server.add("a.tif", replaced)
    for reader in (array, zarr.open_array(shipped, mode="r")):
        with pytest.raises(SourceError, match="changed since it was opened") as info:
            reader[:64, :64]
        assert info.value.url == url
    # the error dropped the cached structure: a fresh open parses the new file
    server.stats.reset()
    assert np.array_equal(tiffzarr.imread(url), new)
    assert server.stats.requests >= 1


def test_remote_structure_expires(server: RangeServer) -> None:
    raw, _ = tiff_bytes(4)
    url = server.add("a.tif", raw)
    tiffzarr.open_store(url)
    replaced, new = tiff_bytes(5, shape=(128, 320))
    server.add("a.tif", replaced)
    with tiffzarr.set_config(metadata_cache_seconds=0):
        assert np.array_equal(tiffzarr.imread(url), new)


def test_cache_off_and_bounded(server: RangeServer) -> None:
    urls = [server.add(f"{i}.tif", tiff_bytes(i)[0]) for i in range(3)]
    with tiffzarr.set_config(metadata_cache_files=0):
        tiffzarr.open_store(urls[0])
        server.stats.reset()
        tiffzarr.open_store(urls[0])
        assert server.stats.requests == 1
    with tiffzarr.set_config(metadata_cache_files=2):
        for url in urls:
            tiffzarr.open_store(url)
        server.stats.reset()
        tiffzarr.open_store(urls[2])
        tiffzarr.open_store(urls[1])
        assert server.stats.requests == 0
        tiffzarr.open_store(urls[0])  # the least recently opened was dropped
        assert server.stats.requests == 1


def test_local_file_rewritten_is_parsed_again(tmp_path: Path) -> None:
    path = str(tmp_path / "a.tif")
    tiffzarr.write(path, tiff_bytes(6)[1], tile=(64, 64))
    assert tiffzarr.open_tiff(path) is tiffzarr.open_tiff(path)
    old = tiffzarr.open_tiff(path)
    new = tiff_bytes(7, shape=(64, 512))[1]
    tiffzarr.write(path, new, tile=(64, 64))
    assert tiffzarr.open_tiff(path) is not old
    assert np.array_equal(tiffzarr.imread(path), new)
