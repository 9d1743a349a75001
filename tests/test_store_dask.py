"""The store on dask.distributed workers in other processes: it pickles and reads there.

The client process never reads a chunk (its store opens no byte source); the
pixels come back from two worker processes. Errors raised on a worker come back
as the same tiffzarr error, location included.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr
from dask.distributed import Client

import tiffzarr
from tests.conftest import local_cluster
from tiffzarr.errors import TiffFormatError
from tiffzarr.testing import RangeServer, serve

DATA = (np.arange(3 * 100 * 90, dtype="uint16").reshape(3, 100, 90, 1) * 11) % 65003
"""Three pages: a generic series of shape (pages, Y, X, S=1)."""


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with local_cluster() as running:
        yield running


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dask")
    tifffile.imwrite(
        folder / "stack.tif",
        DATA[..., 0],
        photometric="minisblack",
        tile=(32, 32),
        compression="zstd",
        predictor=True,
        metadata=None,
    )
    whole = (folder / "stack.tif").read_bytes()
    (folder / "truncated.tif").write_bytes(whole[:-100])  # the last tile runs past the end
    return folder


@pytest.fixture(scope="module")
def server(folder: Path) -> Iterator[RangeServer]:
    with serve(folder) as running:
        yield running


def compute_on_workers(client: Client, store: tiffzarr.TiffStore) -> np.ndarray:
    array = zarr.open_array(store, mode="r")
    lazy = da.from_zarr(array)
    assert lazy.chunks == ((1, 1, 1), (32, 32, 32, 4), (32, 32, 26))
    result = client.compute(lazy).result()
    assert store.stats.requests == 0  # nothing was read in this process
    return np.asarray(result)


def test_local_file_on_process_workers(client: Client, folder: Path) -> None:
    store = tiffzarr.open_store(str(folder / "stack.tif"), series=0, level=0)
    assert np.array_equal(compute_on_workers(client, store), DATA[..., 0])
    workers = client.run(lambda: __import__("os").getpid())
    assert len(set(workers.values())) == 2


def test_http_file_on_process_workers(client: Client, folder: Path, server: RangeServer) -> None:
    store = tiffzarr.open_store(server.url_for("stack.tif"), series=0, level=0)
    server.stats.reset()
    assert np.array_equal(compute_on_workers(client, store), DATA[..., 0])
    assert server.stats.path("stack.tif").requests > 0  # the workers fetched the tiles


def test_reduction_across_chunks(client: Client, folder: Path) -> None:
    array = zarr.open_array(tiffzarr.open_store(str(folder / "stack.tif"), series=0, level=0))
    total = da.from_zarr(array).astype("int64").sum(axis=0)
    want = DATA[..., 0].astype("int64").sum(axis=0)
    assert np.array_equal(client.compute(total).result(), want)


def test_worker_errors_come_back_located(client: Client, folder: Path) -> None:
    path = str(folder / "truncated.tif")
    array = zarr.open_array(tiffzarr.open_store(path, series=0, level=0), mode="r")
    good = client.compute(da.from_zarr(array)[0, :32, :32]).result()
    assert np.array_equal(good, DATA[0, :32, :32, 0])
    with pytest.raises(TiffFormatError, match="outside the file") as info:
        client.compute(da.from_zarr(array)[2, 96:, 64:]).result()
    assert info.value.url == path and info.value.key == "c/2/3/2"
