"""``write`` of a dask array with a distributed Client: tiles encoded on the workers.

The cluster's worker processes compute the chunks, so the chunk function logs
each call to a file (one line per chunk) and the client's own encoder is
patched to fail: tiles that reach the file were encoded elsewhere.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

import tiffzarr
from tests.conftest import local_cluster
from tiffzarr.writer import _distributed, _stream

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
cloudpickle = pytest.importorskip("cloudpickle")

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/


def _chunk(block_info: dict[Any, Any] | None = None, *, log: str, fail: bool = False) -> Any:
    """A seeded chunk that notes its computation in ``log`` (appended from any process)."""
    assert block_info is not None
    where = tuple(block_info[None]["chunk-location"])
    with open(log, "a") as f:
        f.write(f"{where} {os.getpid()}\n")
    if fail and where == (1, 1):
        raise ValueError("chunk (1, 1) cannot be computed")
    (y0, y1), (x0, x1) = block_info[None]["array-location"]
    rng = np.random.default_rng(1000 * where[0] + where[1])
    smooth = (np.arange(y0, y1)[:, None] * 7 + np.arange(x0, x1)[None, :] * 3) % 50000
    return (smooth + rng.integers(0, 500, (y1 - y0, x1 - x0))).astype("uint16")


def _image(shape: tuple[int, int], chunks: tuple[int, int], log: Path, **kw: Any) -> Any:
    normalized = da.core.normalize_chunks(chunks, shape)
    return da.map_blocks(_chunk, dtype="uint16", chunks=normalized, log=str(log), **kw)


def _counts(log: Path) -> dict[str, int]:
    lines = log.read_text().splitlines()
    counts: dict[str, int] = {}
    for line in lines:
        where = line.rsplit(" ", 1)[0]
        counts[where] = counts.get(where, 0) + 1
    return counts


def _pids(log: Path) -> set[int]:
    return {int(line.rsplit(" ", 1)[1]) for line in log.read_text().splitlines()}


@pytest.fixture(scope="module")
def client() -> Any:
    with local_cluster() as c:
        yield c


def _no_local_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> bytes:
        raise AssertionError("a tile was encoded in the client process")

    monkeypatch.setattr(_stream, "encode_segment", refuse)


def _write_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: Any, **options: Any
) -> tuple[Path, Path, Any]:
    shape, chunks = (1100, 900), (300, 400)  # chunks straddle the 256-row bands
    on_cluster, local = tmp_path / "cluster.tif", tmp_path / "local.tif"
    log = tmp_path / "cluster.log"
    with distributed.get_task_stream(client) as stream, monkeypatch.context() as m:
        _no_local_encoding(m)
        tiffzarr.write(on_cluster, _image(shape, chunks, log), **options)
    with dask.config.set(scheduler="threads"):
        tiffzarr.write(local, _image(shape, chunks, tmp_path / "local.log"), **options)
    counts = _counts(log)
    assert len(counts) == 4 * 3 and set(counts.values()) == {1}, counts
    assert os.getpid() not in _pids(log)
    names = {distributed.utils.key_split(task["key"]) for task in stream.data}
    assert {"encode_base", "encode_reduced"} <= names
    return on_cluster, local, _image(shape, chunks, tmp_path / "oracle.log").compute()


def test_pyramid_on_cluster_equals_local_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: Any
) -> None:
    options = {"tile": (256, 256), "compression": "zstd", "predictor": True, "pyramid": True}
    on_cluster, local, image = _write_both(tmp_path, monkeypatch, client, **options)
    assert on_cluster.read_bytes() == local.read_bytes()
    with tifffile.TiffFile(on_cluster) as tif:
        levels = tif.series[0].levels
        assert [lv.shape for lv in levels] == [(1100, 900), (550, 450), (275, 225), (138, 113)]
        np.testing.assert_array_equal(levels[0].asarray(), image)
        half = image.reshape(550, 2, 450, 2).astype(np.uint32).sum(axis=(1, 3))
        np.testing.assert_array_equal(levels[1].asarray(), (half + 2) // 4)


def test_cog_on_cluster_equals_local_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: Any
) -> None:
    options = {"cog": True, "tile": (256, 256), "compression": "zstd"}
    on_cluster, local, image = _write_both(tmp_path, monkeypatch, client, **options)
    assert on_cluster.read_bytes() == local.read_bytes()
    with tifffile.TiffFile(on_cluster) as tif:
        assert len(tif.pages) == 4
        np.testing.assert_array_equal(tif.pages[0].asarray(), image)


def test_bands_in_flight_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: Any
) -> None:
    log, tile = tmp_path / "chunks.log", 128
    image = _image((32 * tile, 2 * tile), (tile, tile), log)
    monkeypatch.setattr(_distributed, "BANDS_PER_THREAD", 1)  # a window of 2 bands
    ahead: list[int] = []
    record = _distributed.record_segment

    def slow_record(out: Any, table: Any, data: Any, /, *, level: int, **where: int) -> None:
        index = where["index"]
        if level == 0:
            rows = {int(line.split(",")[0][1:]) for line in log.read_text().splitlines()}
            ahead.append(max(rows) - index // 2)
            time.sleep(0.01)  # the client is slow: an unbounded writer would run ahead
        record(out, table, data, level=level, **where)

    monkeypatch.setattr(_distributed, "record_segment", slow_record)
    tiffzarr.write(tmp_path / "a.tif", image, tile=(tile, tile), pyramid=True)
    assert len(ahead) == 64
    assert max(ahead) <= 3, ahead  # the band written, two in flight, and a reduced one
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "a.tif"), image.compute())


def test_worker_errors_reach_the_caller_and_nothing_is_left(tmp_path: Path, client: Any) -> None:
    image = _image((1024, 1024), (256, 256), tmp_path / "chunks.log", fail=True)
    target = tmp_path / "a.tif"
    with pytest.raises(ValueError, match=r"chunk \(1, 1\)"):
        tiffzarr.write(target, image, tile=(256, 256), compression="zstd", pyramid=True)
    assert not target.exists()
    assert os.listdir(tmp_path) == ["chunks.log"]


def test_the_scheduler_dask_would_use_decides(tmp_path: Path, client: Any) -> None:
    from tiffzarr.writer._plan import FileContext, WriteOptions, plan_series

    image = _image((512, 512), (256, 256), tmp_path / "chunks.log")
    options = WriteOptions(tile=(256, 256), pyramid=True)

    def plan(data: Any) -> Any:
        return plan_series(data, options, FileContext(byteorder="<"))

    assert _distributed.cluster_client(plan(image)) is client
    with dask.config.set(scheduler="threads"):
        assert _distributed.cluster_client(plan(image)) is None
    assert _distributed.cluster_client(plan(np.zeros((512, 512), "uint16"))) is None
    odd = WriteOptions(rowsperstrip=65, pyramid=1)  # bands of 65 rows cannot be halved apart
    assert _distributed.cluster_client(plan_series(image, odd, FileContext(byteorder="<"))) is None


@pytest.mark.parametrize(
    "layout",
    [
        ((3, 300, 260), (2, 150, 130), {"tile": (128, 128), "pyramid": 2}),
        ((3, 300, 260), (3, 100, 260), {"photometric": "rgb", "planarconfig": "separate"}),
        ((300, 260, 3), (64, 100, 3), {"photometric": "rgb", "tile": (64, 64), "pyramid": 1}),
        (
            (2, 4, 200, 100),
            (1, 3, 70, 100),
            {"volumetric": True, "tile": (2, 64, 64), "photometric": "minisblack"},
        ),
        ((301, 200), (100, 200), {"rowsperstrip": 32}),
    ],
    ids=["pages", "separate-planes", "contig-rgb", "volumes", "strips"],
)
def test_layouts_on_cluster_equal_local_write(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    client: Any,
    layout: tuple[tuple[int, ...], tuple[int, ...], dict[str, Any]],
) -> None:
    shape, chunks, options = layout
    pixels = np.random.default_rng(5).integers(0, 4000, shape, dtype="uint16")
    image = da.from_array(pixels, chunks=chunks)
    options = {"compression": "zlib", "predictor": True, **options}
    with monkeypatch.context() as m:
        _no_local_encoding(m)
        tiffzarr.write(tmp_path / "cluster.tif", image, **options)
    with dask.config.set(scheduler="threads"):
        tiffzarr.write(tmp_path / "local.tif", image, **options)
    assert (tmp_path / "cluster.tif").read_bytes() == (tmp_path / "local.tif").read_bytes()
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "cluster.tif"), pixels)
