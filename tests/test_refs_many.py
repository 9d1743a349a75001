"""References of many files at once (``write_many_references``): one request per COG,
many in flight, each file's references readable with plain fsspec + zarr, errors
reported per file, and the same references written by dask.distributed workers.

The COGs are written by ``tiffzarr.write(cog=True)``, each from its own seed, and
served by the loopback Range server, which counts requests and the most it held
at once.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from fsspec.implementations.reference import LazyReferenceMapper, ReferenceFileSystem
from zarr.storage import FsspecStore

import tiffzarr
import tiffzarr.api.asynchronous as tza
from benchmarks.bench_refs import CountingServer
from tests.conftest import local_cluster
from tiffzarr.errors import SourceNotFoundError, TiffFormatError

COUNT = 200
LEVELS = ("0/0", "0/1", "0/2")


def image(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 60000, (96, 80), dtype=np.uint16)


def cog(i: int) -> bytes:
    buffer = io.BytesIO()
    tiffzarr.write(buffer, image(i), cog=True, tile=(32, 32), compression="zlib")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def cogs() -> dict[str, bytes]:
    return {f"cogs/c{i:03d}.tif": cog(i) for i in range(COUNT)}


@pytest.fixture(scope="module")
def server(cogs: dict[str, bytes]) -> Iterator[CountingServer]:
    files = {**cogs, "cogs/broken.tif": b"no TIFF at all, just text"}
    with CountingServer(files) as running:
        yield running


@pytest.fixture
def fresh(server: CountingServer) -> Iterator[CountingServer]:
    """The server with its counts reset, and nothing parsed recently."""
    tiffzarr.clear_cache()
    server.reset()
    server.latency = 0.0
    yield server
    server.latency = 0.0


def urls(server: CountingServer, names: Any) -> list[str]:
    return [server.url_for(name) for name in names]


def plain_group(refs: Any) -> zarr.Group:
    """The group of a reference set (a JSON file or a parquet mapper) opened with fsspec."""
    fs = ReferenceFileSystem(
        refs, remote_protocol="http", remote_options={"asynchronous": True}, asynchronous=True
    )
    return zarr.open_group(FsspecStore(fs, read_only=True, path=""), mode="r", zarr_format=2)


def expected(url: str) -> list[np.ndarray]:
    return [tiffzarr.imread(url, series=0, level=k) for k in range(len(LEVELS))]


def test_every_cog_costs_one_request_with_64_in_flight(
    fresh: CountingServer, cogs: dict[str, bytes], tmp_path: Path
) -> None:
    fresh.latency = 0.25  # long enough for 64 opens to overlap, even on a busy machine
    sources = urls(fresh, cogs)
    summary = tiffzarr.write_many_references(sources, str(tmp_path / "refs"), concurrency=64)
    assert summary.ok and summary.format == "json"
    assert sorted(p.name for p in (tmp_path / "refs").iterdir()) == [
        f"c{i:03d}.json" for i in range(COUNT)
    ]
    assert summary.written[sources[7]] == str(tmp_path / "refs" / "c007.json")
    records = fresh.stats.records
    assert len(records) == COUNT
    assert {r.path for r in records} == set(cogs)  # one request per file
    assert {(r.method, r.range) for r in records} == {("GET", "bytes=0-65535")}  # no HEAD
    assert fresh.peak == 64  # as many as allowed, never more
    assert len({r.port for r in records}) <= 64  # connections reused from file to file


def test_json_references_read_back_with_plain_fsspec(
    fresh: CountingServer, cogs: dict[str, bytes], tmp_path: Path
) -> None:
    sources = urls(fresh, cogs)
    summary = tiffzarr.write_many_references(sources, str(tmp_path))
    for url in sources[::40]:
        target = summary.written[url]
        refs = json.loads(Path(target).read_text())
        assert refs["templates"] == {"u": url}  # another host: the URL as it is
        group = plain_group(target)
        for path, pixels in zip(LEVELS, expected(url), strict=True):
            np.testing.assert_array_equal(group[path][...], pixels)


def test_one_parquet_set_holds_a_group_per_file(
    fresh: CountingServer, cogs: dict[str, bytes], tmp_path: Path
) -> None:
    sources = urls(fresh, cogs)
    folder = tmp_path / "all.parq"
    summary = tiffzarr.write_many_references(sources, str(folder), format="parquet")
    assert summary.ok and fresh.stats.requests == COUNT
    assert summary.written[sources[3]] == "c003"
    group = plain_group(LazyReferenceMapper(str(folder), engine="pyarrow"))
    assert sorted(group.group_keys()) == [f"c{i:03d}" for i in range(COUNT)]
    ours = zarr.open_group(tiffzarr.open_references(str(folder), allow_external=True), mode="r")
    for i in range(0, COUNT, 50):
        pixels = expected(sources[i])
        for path, level in zip(LEVELS, pixels, strict=True):
            np.testing.assert_array_equal(group[f"c{i:03d}/{path}"][...], level)
            np.testing.assert_array_equal(ours[f"c{i:03d}/{path}"][...], level)


def test_local_files_next_to_the_references_are_named_relative(tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"t{i}.tif").write_bytes(cog(i))
    summary = tiffzarr.write_many_references(str(tmp_path), str(tmp_path), version=0)
    assert summary.ok and len(summary.written) == 3
    refs = json.loads((tmp_path / "t1.json").read_text())
    assert refs["0/0/0.0"][0] == "t1.tif"
    store = tiffzarr.open_references(str(tmp_path / "t1.json"))
    np.testing.assert_array_equal(zarr.open_group(store, mode="r")["0/0"][...], image(1))


def test_a_broken_file_is_reported_by_name_and_the_others_written(
    fresh: CountingServer, tmp_path: Path
) -> None:
    good = urls(fresh, [f"cogs/c{i:03d}.tif" for i in range(20)])
    broken, missing = urls(fresh, ["cogs/broken.tif", "cogs/missing.tif"])
    summary = tiffzarr.write_many_references(
        [*good[:10], broken, missing, *good[10:]], str(tmp_path)
    )
    assert not summary.ok
    assert set(summary.errors) == {broken, missing}
    assert summary.errors[broken].startswith("TiffFormatError: ")
    assert summary.errors[missing].startswith("SourceNotFoundError: ")
    assert missing in summary.errors[missing]  # the message names the file
    assert set(summary.written) == set(good)
    assert len(list(tmp_path.glob("*.json"))) == 20


def test_on_error_raise_stops_at_the_first_error(fresh: CountingServer, tmp_path: Path) -> None:
    broken = fresh.url_for("cogs/broken.tif")
    with pytest.raises(TiffFormatError) as caught:
        tiffzarr.write_many_references([broken], str(tmp_path), on_error="raise")
    assert f"while writing the references of {broken}" in caught.value.__notes__
    fresh.reset()
    fresh.faults.add("slow", path="cogs/c000.tif", delay=1.0)  # in flight when the error comes
    missing = fresh.url_for("cogs/missing.tif")
    sources = [missing, *urls(fresh, [f"cogs/c{i:03d}.tif" for i in range(100)])]
    with pytest.raises(SourceNotFoundError):
        asyncio.run(
            tza.write_many_references(sources, str(tmp_path), concurrency=2, on_error="raise")
        )
    deadline = time.monotonic() + 5  # until the slow request, if it was sent, is answered
    while time.monotonic() < deadline and (len(fresh.faults) or fresh.now):
        time.sleep(0.05)
    time.sleep(0.1)  # it is counted just after it was held
    fresh.faults.clear()
    paths = {r.path for r in fresh.stats.records}
    assert "cogs/missing.tif" in paths and paths <= {"cogs/missing.tif", "cogs/c000.tif"}


def test_names_that_collide_are_refused_before_any_request(
    fresh: CountingServer, tmp_path: Path
) -> None:
    same = [fresh.url_for("a/x.tif"), fresh.url_for("b/x.tiff")]
    with pytest.raises(ValueError, match=re.escape(f"{same[0]} and {same[1]} would both")):
        tiffzarr.write_many_references(same, str(tmp_path))
    with pytest.raises(ValueError, match="cannot name references after"):
        tiffzarr.write_many_references([fresh.url_for(".hidden.tif")], str(tmp_path))
    assert fresh.stats.requests == 0 and not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("options", "error", "text"),
    [
        ({"concurrency": 0}, ValueError, "concurrency must be at least 1, not 0 (int)"),
        ({"concurrency": 2.0}, TypeError, "concurrency must be an int, not 2.0 (float)"),
        ({"on_error": "skip"}, ValueError, "on_error must be 'collect' or 'raise', not 'skip'"),
        ({"format": "csv"}, ValueError, "format must be 'json' or 'parquet', not 'csv'"),
        ({"client": "yes"}, TypeError, "client must be None, 'auto' or a dask.distributed"),
        ({"format": "parquet", "zarr_format": 3}, ValueError, "parquet reference sets are zarr v2"),
    ],
)
def test_bad_options_are_named_before_anything_is_read(
    tmp_path: Path, options: dict[str, Any], error: type, text: str
) -> None:
    with pytest.raises(error, match="^" + re.escape(text)):
        tiffzarr.write_many_references(["/nonexistent/x.tif"], str(tmp_path / "out"), **options)
    assert not (tmp_path / "out").exists()


def test_dask_workers_write_the_same_references(
    fresh: CountingServer, cogs: dict[str, bytes], tmp_path: Path
) -> None:
    from dask.distributed import get_task_stream

    sources = urls(fresh, list(cogs)[:60])
    here = tiffzarr.write_many_references(sources, str(tmp_path / "here"))
    fresh.reset()
    with (
        local_cluster() as client,
        get_task_stream(client) as stream,
    ):
        there = tiffzarr.write_many_references(sources, str(tmp_path / "there"), client="auto")
        assert fresh.stats.requests == len(sources)  # on fresh workers: one request per file
        parquet = tiffzarr.write_many_references(
            sources, str(tmp_path / "there.parq"), format="parquet", client=client
        )
    assert there.ok and parquet.ok
    tasks = [t for t in stream.data if str(t["key"]).startswith("_write_share_sync")]
    assert len(tasks) == 4 and len({t["worker"] for t in tasks}) == 2
    for url in sources:
        ours, theirs = here.written[url], there.written[url]
        assert json.loads(Path(theirs).read_text()) == json.loads(Path(ours).read_text())
    group = plain_group(LazyReferenceMapper(str(tmp_path / "there.parq"), engine="pyarrow"))
    np.testing.assert_array_equal(group["c059/0/0"][...], image(59))


def test_the_benchmark_runs(tmp_path: Path) -> None:
    from benchmarks import bench_refs

    args = ["--files", "30", "--latency", "0", "--out", str(tmp_path / "r.md")]
    assert bench_refs.main(args) == 0
    text = (tmp_path / "r.md").read_text()
    assert "| json | 30 of 30 |" in text and "| parquet | 30 of 30 |" in text
    assert "| 30 | 1.00 | 1 | 0 |" in text  # requests, per file, most per file, HEAD
