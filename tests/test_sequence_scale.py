"""Sequences of thousands of files: what opening and reading them costs.

Opening a sequence of files written alike (uncompressed) parses the first file
only: over HTTP it costs the folder's listing (an HTML index page, as
``python -m http.server`` serves it, read by fsspec's ``glob``) and the first
file, never a request per file; each other file then costs one request, its
first read (its layout checked with its pixels), many in flight at once. The
model holds well under 1 KB per predicted file, the pickled store little more
than each file's URL, and a pickled store reads the whole sequence on the
processes of a dask.distributed cluster.

The 10,000-file cluster read is marked ``slow``: ``make test`` runs it on every
fifth file's chunk (``TIFFZARR_SEQUENCE_SAMPLE=1`` reads every file).
"""

from __future__ import annotations

import collections
import gc
import io
import os
import pickle
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import dask.array as da
import fsspec
import numpy as np
import pytest
import tifffile
import zarr
from dask.distributed import Client

import tiffzarr
from tests.conftest import local_cluster
from tiffzarr.model import FileCheck
from tiffzarr.testing import serve

pytestmark = pytest.mark.filterwarnings("ignore:Port 8787 is already in use")  # distributed's

SHAPE = (16, 16)
SAMPLE = int(os.environ.get("TIFFZARR_SEQUENCE_SAMPLE", "5"))
"""Every how many files the slow cluster read reads (1: all of them)."""


def alike_files(count: int, *, seed: int = 0) -> tuple[list[bytes], np.ndarray]:
    """``count`` uncompressed 16 x 16 uint8 TIFFs laid out byte for byte alike (as a
    camera writes them), each with its own seeded pixels; and the pixels."""
    data = np.random.default_rng(seed).integers(0, 256, (count, *SHAPE), dtype=np.uint8)
    out = io.BytesIO()
    tifffile.imwrite(out, np.zeros(SHAPE, np.uint8), metadata=None)
    template = out.getvalue()
    with tifffile.TiffFile(io.BytesIO(template)) as tif:
        (offset,) = tif.pages.first.dataoffsets
    stop = offset + data[0].nbytes
    return [template[:offset] + frame.tobytes() + template[stop:] for frame in data], data


def write_files(folder: Path, blobs: list[bytes]) -> list[str]:
    folder.mkdir()
    paths = []
    for i, blob in enumerate(blobs):
        path = folder / f"img_{i:05d}.tif"
        path.write_bytes(blob)
        paths.append(str(path))
    return paths


def predicted(store: tiffzarr.TiffStore) -> int:
    tables = store.hierarchy.arrays[""].manifest.tables
    return len({id(t.check) for t in tables if t is not None and isinstance(t.check, FileCheck)})


# -- the server's folder listings ---------------------------------------------------------


def test_folder_urls_answer_with_an_index_fsspec_lists(tmp_path: Path) -> None:
    files = {"run/a.tif": b"1", "run/b 2.tif": b"22", "run/sub/c.tif": b"333", "top.tif": b"4"}
    (tmp_path / "run" / "sub").mkdir(parents=True)
    for name, blob in files.items():
        (tmp_path / name).write_bytes(blob)
    for root in (files, tmp_path):  # in memory and on disk
        with serve(root) as server:
            fs = fsspec.filesystem("http", skip_instance_cache=True, use_listings_cache=False)
            for folder in ("run", "run/"):  # with or without the trailing slash
                listed = fs.ls(f"{server.url}/{folder}", detail=True)
                assert sorted((e["name"], e["type"]) for e in listed) == [
                    (f"{server.url}/run/a.tif", "file"),
                    (f"{server.url}/run/b%202.tif", "file"),
                    (f"{server.url}/run/sub/", "directory"),
                ]
            assert fs.cat(f"{server.url}/run/b%202.tif") == b"22"
            top = fs.ls(server.url + "/", detail=False)
            assert sorted(top) == [f"{server.url}/run/", f"{server.url}/top.tif"]
            assert server.stats.path("run").requests == 1
            assert server.stats.path("run/").requests == 1
            assert server.stats.path("").requests == 1  # the root's listing is counted too
            assert not fs.exists(f"{server.url}/nothing/")


def test_glob_over_http_costs_the_listing_and_the_first_file() -> None:
    blobs, data = alike_files(300)
    served = {f"run/img_{i:05d}.tif": b for i, b in enumerate(blobs)} | {"run/notes.txt": b"x"}
    with serve(served) as server:
        store = tiffzarr.open_sequence(server.url + "/run/*.tif")
        asked = collections.Counter(r.path for r in server.stats.records)
        assert asked.pop("run/img_00000.tif") == 1  # the first file, parsed
        assert set(asked) <= {"run", "run/"}  # the rest is the listing
        assert sum(asked.values()) <= 3  # fsspec: the folder twice (ls, walk) and a HEAD
        assert np.array_equal(zarr.open_array(store, mode="r")[...], data)


# -- 10,000 files over HTTP ---------------------------------------------------------------


def test_10000_files_over_http_cost_the_listing_then_one_request_each() -> None:
    count = 10_000
    blobs, data = alike_files(count, seed=1)
    names = [f"run/img_{i:05d}.tif" for i in range(count)]
    with serve(dict(zip(names, blobs, strict=True))) as server:
        store = tiffzarr.open_sequence(server.url + "/run/*.tif")
        assert predicted(store) == count - 1
        opened = collections.Counter((r.method, r.path) for r in server.stats.records)
        assert opened.pop(("GET", names[0])) == 1
        assert all(path in ("run", "run/") for _, path in opened)  # the listing
        assert sum(opened.values()) <= 3
        server.stats.reset()
        got = zarr.open_array(store, mode="r")[...]
        assert np.array_equal(got, data)
        read = collections.Counter((r.method, r.path) for r in server.stats.records)
        assert {method for method, _ in read} == {"GET"}  # no HEAD: no size is asked
        assert read.pop(("GET", names[0])) <= 2  # its layout bytes may come on their own
        assert len(read) == count - 1 and set(read.values()) == {1}


def test_the_files_of_a_sequence_are_read_many_at_once() -> None:
    count = 1_000
    blobs, data = alike_files(count, seed=2)
    with serve({f"s/f{i:04d}.tif": b for i, b in enumerate(blobs)}, latency=0.02) as server:
        store = tiffzarr.open_sequence(server.url + "/s/*.tif")
        server.peak_in_flight = 0
        assert np.array_equal(zarr.open_array(store, mode="r")[...], data)
        assert server.peak_in_flight >= 64


# -- memory and pickles -------------------------------------------------------------------


@pytest.fixture
def memory_files() -> Iterator[fsspec.AbstractFileSystem]:
    fs = fsspec.filesystem("memory")
    yield fs
    for name in fs.ls("/scale", detail=False):  # one by one: rm(recursive) is quadratic
        fs.rm_file(name)


def test_a_predicted_file_takes_under_1_kb(memory_files: fsspec.AbstractFileSystem) -> None:
    count = 10_000
    blobs, data = alike_files(count, seed=3)
    urls = [f"memory://scale/img_{i:05d}.tif" for i in range(count)]
    for url, blob in zip(urls, blobs, strict=True):
        memory_files.pipe_file(url, blob)
    gc.collect()
    tracemalloc.start()
    try:
        store = tiffzarr.open_sequence(urls)
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()  # the URLs were there before
    finally:
        tracemalloc.stop()
    assert predicted(store) == count - 1
    assert held / count < 1024, f"{held / count:.0f} bytes per file"
    pickled = pickle.dumps(store)  # what every dask task that reads it carries
    url = sum(len(u) for u in urls) / count
    assert len(pickled) / count < url + 64, f"{len(pickled) / count:.0f} bytes per file"
    again = pickle.loads(pickled)
    picks = np.random.default_rng(0).choice(count, 20, replace=False)
    array = zarr.open_array(again, mode="r")
    assert all(np.array_equal(array[int(i)], data[i]) for i in picks)


# -- a dask.distributed cluster -----------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with local_cluster() as running:
        yield running


def read_on_cluster(client: Client, store: tiffzarr.TiffStore, files: slice) -> np.ndarray:
    """The files ``files`` of the sequence, read by the workers from the pickled store."""
    array = zarr.open_array(store, mode="r")
    lazy = da.from_zarr(array, chunks=(500, *SHAPE))[files]
    result = np.asarray(client.compute(lazy).result())
    assert store.stats.requests == 0  # nothing was read in this process
    return result


def test_a_pickled_store_reads_2000_files_on_the_cluster(client: Client, tmp_path: Path) -> None:
    blobs, data = alike_files(2_000, seed=4)
    store = tiffzarr.open_sequence(write_files(tmp_path / "run", blobs))
    assert np.array_equal(read_on_cluster(client, store, slice(None)), data)


@pytest.mark.slow
def test_a_pickled_store_reads_10000_files_on_the_cluster(client: Client, tmp_path: Path) -> None:
    blobs, data = alike_files(10_000, seed=5)
    write_files(tmp_path / "run", blobs)
    store = tiffzarr.open_sequence(str(tmp_path / "run"))
    every = slice(None, None, SAMPLE)
    assert np.array_equal(read_on_cluster(client, store, every), data[every])
