"""A file that changes under a reader is never misread: each read is the parsed
file's bytes, or :class:`~tiffzarr.errors.SourceChangedError`; a fresh open reads
the new file."""

from __future__ import annotations

import io
import os
import pickle
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

import tiffzarr
from tiffzarr.errors import SourceChangedError
from tiffzarr.testing import MotoS3, moto_server, serve

SHAPE = (128, 128)
TILE = (32, 32)


def version_bytes(version: int) -> tuple[bytes, np.ndarray]:
    """An uncompressed tiled file whose size is the same for every version."""
    data = np.random.default_rng(version).integers(0, 255, SHAPE, dtype=np.uint8)
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, data, tile=TILE, description=f"version {version:06d}", metadata=None)
    return buffer.getvalue(), data


def parsed_version(store: tiffzarr.TiffStore) -> int:
    description = store.index.pages[0].ifd.get(270)
    assert isinstance(description, str) and description.startswith("version ")
    return int(description.split()[1])


def replace_atomically(path: Path, raw: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    tmp.write_bytes(raw)
    os.replace(tmp, path)


@pytest.fixture(autouse=True)
def cold_cache() -> Iterator[None]:
    tiffzarr.clear_cache()
    yield
    tiffzarr.clear_cache()


def open_array(url: str, **options: object) -> tuple[tiffzarr.TiffStore, zarr.Array]:
    store = tiffzarr.open_store(url, series=0, level=0, **options)  # type: ignore[arg-type]
    return store, zarr.open_array(store, mode="r")


def test_local_file_replaced_before_the_first_read_raises(tmp_path: Path) -> None:
    path = tmp_path / "a.tif"
    path.write_bytes(version_bytes(1)[0])
    store, array = open_array(str(path))
    shipped = pickle.loads(pickle.dumps(store))
    raw, new = version_bytes(2)
    replace_atomically(path, raw)
    for reader in (array, zarr.open_array(shipped, mode="r")):
        with pytest.raises(SourceChangedError, match="changed since it was opened") as info:
            reader[:32, :32]
        assert info.value.url == str(path)
    assert np.array_equal(open_array(str(path))[1][:], new)


def test_local_file_opened_keeps_reading_its_version_after_a_rename(tmp_path: Path) -> None:
    path = tmp_path / "a.tif"
    raw, old = version_bytes(3)
    path.write_bytes(raw)
    _, array = open_array(str(path))
    assert np.array_equal(array[:32, :32], old[:32, :32])  # the file is open now
    replace_atomically(path, version_bytes(4)[0])
    assert np.array_equal(array[:], old)  # the renamed-over file is still the one read


def test_local_file_rewritten_in_place_raises(tmp_path: Path) -> None:
    path = tmp_path / "a.tif"
    raw, old = version_bytes(5)
    path.write_bytes(raw)
    _, array = open_array(str(path))
    assert np.array_equal(array[:32, :32], old[:32, :32])
    with open(path, "r+b") as f:  # same inode, same size, other pixels
        f.write(version_bytes(6)[0])
    with pytest.raises(SourceChangedError, match="during a read"):
        array[:]


def test_writable_store_reads_its_own_writes(tmp_path: Path) -> None:
    path = tmp_path / "a.tif"
    path.write_bytes(version_bytes(7)[0])
    store = tiffzarr.open_store(str(path), series=0, level=0, mode="r+")
    array = zarr.open_array(store, mode="r+")
    array[:32, :32] = 7
    shipped = zarr.open_array(pickle.loads(pickle.dumps(store)), mode="r+")
    shipped[32:64, :32] = 9
    assert (array[:32, :32] == 7).all() and (array[32:64, :32] == 9).all()
    replace_atomically(path, version_bytes(8)[0])
    with pytest.raises(SourceChangedError):
        zarr.open_array(pickle.loads(pickle.dumps(store)), mode="r")[:]


def race(
    open_reader: Callable[[], tuple[tiffzarr.TiffStore, zarr.Array]],
    rewrite: Callable[[int], None],
    versions: dict[int, np.ndarray],
    *,
    readers: int,
    rewrites: int,
) -> dict[str, int]:
    """Readers read windows while ``rewrite`` replaces the file ``rewrites`` times
    (each after the readers made some progress); every window must be the pixels of
    the version its store parsed, or :class:`SourceChangedError`."""
    done = threading.Event()
    counts = {"right": 0, "wrong": 0, "changed": 0, "reopened": 0}
    failures: list[BaseException] = []
    progress = threading.Condition()

    def count(what: str) -> None:
        with progress:
            counts[what] += 1
            progress.notify_all()

    def reopen() -> tuple[tiffzarr.TiffStore, zarr.Array]:
        while True:
            try:
                return open_reader()
            except SourceChangedError:  # it kept changing while it was parsed
                count("changed")

    def read_windows(seed: int) -> None:
        rng = np.random.default_rng(seed)
        store, array = reopen()
        reads = 0
        while not done.is_set():
            y, x = (int(v) for v in rng.integers(0, 96, 2))
            reads += 1
            if reads % 4 == 0:  # a new reader of the same file, or one shipped elsewhere
                store = pickle.loads(pickle.dumps(store)) if reads % 8 else reopen()[0]
                array = zarr.open_array(store, mode="r")
            try:
                got = array[y : y + 40, x : x + 40]
            except SourceChangedError:
                count("changed")
                store, array = reopen()
                count("reopened")
                continue
            want = versions[parsed_version(store)][y : y + 40, x : x + 40]
            count("right" if np.array_equal(got, want) else "wrong")

    def reader(seed: int) -> None:
        try:
            read_windows(seed)
        except BaseException as exc:  # reported by the test, not lost in a thread
            failures.append(exc)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(readers)]
    for thread in threads:
        thread.start()
    try:
        for version in range(1, rewrites + 1):
            with progress:
                goal = sum(counts.values()) + readers
                progress.wait_for(lambda goal=goal: sum(counts.values()) >= goal, timeout=2)
            rewrite(version)
    finally:
        done.set()
        for thread in threads:
            thread.join()
    assert not failures, failures
    return counts


@pytest.mark.parametrize("cache_files", [32, 0], ids=["cache", "no-cache"])
def test_readers_racing_an_atomic_rewriter_never_get_wrong_pixels(
    tmp_path: Path, cache_files: int
) -> None:
    path = tmp_path / "a.tif"
    versions: dict[int, np.ndarray] = {}
    files: dict[int, bytes] = {}
    for version in range(201):
        files[version], versions[version] = version_bytes(version)
    path.write_bytes(files[0])

    def rewrite(version: int) -> None:
        replace_atomically(path, files[version])

    with tiffzarr.set_config(metadata_cache_files=cache_files):
        counts = race(lambda: open_array(str(path)), rewrite, versions, readers=8, rewrites=200)
    print(f"local race ({cache_files=}): {counts}")
    assert counts["wrong"] == 0, counts
    assert counts["right"] > 0


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoS3]:
    with moto_server() as running:
        yield running


def new_bucket(s3: MotoS3, prefix: str, *, versioning: bool) -> str:
    bucket = f"{prefix}-versioned" if versioning else f"{prefix}-plain"
    s3.create_bucket(bucket)
    if versioning:
        s3.client().put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
        )
    return bucket


@pytest.mark.parametrize("versioning", [False, True], ids=["plain", "versioned"])
def test_s3_object_overwritten_with_the_same_size(s3: MotoS3, versioning: bool) -> None:
    bucket = new_bucket(s3, "changes", versioning=versioning)
    raw, old = version_bytes(10)
    url = s3.put(bucket, "a.tif", raw)
    store, array = open_array(url, storage_options=s3.storage_options)
    replaced, new = version_bytes(11)
    assert len(replaced) == len(raw)
    s3.put(bucket, "a.tif", replaced)
    if versioning:  # the version parsed is still there: it is the one read
        assert np.array_equal(array[:], old)
        assert np.array_equal(zarr.open_array(pickle.loads(pickle.dumps(store)))[:], old)
        tiffzarr.clear_cache()  # nothing failed: the cached structure is trusted for a while
    else:
        with pytest.raises(SourceChangedError, match="PreconditionFailed") as info:
            array[:]
        assert info.value.url == url  # and the error dropped the cached structure
    assert np.array_equal(open_array(url, storage_options=s3.storage_options)[1][:], new)


@pytest.mark.parametrize("versioning", [False, True], ids=["plain", "versioned"])
def test_readers_racing_an_s3_rewriter_never_get_wrong_pixels(s3: MotoS3, versioning: bool) -> None:
    bucket = new_bucket(s3, "race", versioning=versioning)
    versions: dict[int, np.ndarray] = {}
    files: dict[int, bytes] = {}
    for version in range(31):
        files[version], versions[version] = version_bytes(version)
    url = s3.put(bucket, "a.tif", files[0])
    with tiffzarr.set_config(metadata_cache_files=0):
        counts = race(
            lambda: open_array(url, storage_options=s3.storage_options),
            lambda version: s3.put(bucket, "a.tif", files[version]),
            versions,
            readers=4,
            rewrites=30,
        )
    print(f"S3 race ({versioning=}): {counts}")
    assert counts["wrong"] == 0, counts
    assert counts["right"] > 0


def test_http_change_drops_the_cached_structure() -> None:
    raw, _ = version_bytes(20)
    with serve({"a.tif": raw}) as server:
        url = server.url_for("a.tif")
        _, first = open_array(url)
        replaced, new = version_bytes(21)
        server.add("a.tif", replaced)
        _, cached = open_array(url)  # parsed before the change, from the cache
        with pytest.raises(SourceChangedError):
            cached[:]
        server.stats.reset()
        assert np.array_equal(open_array(url)[1][:], new)
        assert server.stats.requests >= 1
        with pytest.raises(SourceChangedError):
            first[:]
