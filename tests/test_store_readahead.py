"""Read-ahead while zarr walks a chunk grid: full reads in few requests, windows unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

import tiffzarr
from tiffzarr.store._batch import plan_blocks
from tiffzarr.store._readahead import Readahead
from tiffzarr.store._store import REMOTE_BLOCK, REMOTE_GAP
from tiffzarr.testing import serve

DATA = np.random.default_rng(11).integers(0, 64, (4096, 4096), dtype="uint16")
TILE = 256  # a 16 x 16 grid of tiles decoded off the event loop (128 KiB each)
GRID = 16


@pytest.fixture(scope="module")
def tiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("readahead")
    tifffile.imwrite(folder / "t.tif", DATA, tile=(TILE, TILE), compression="zstd")
    return folder


def _tile_ranges(path: Path) -> list[tuple[int, int]]:
    with tifffile.TiffFile(path) as tf:
        page = tf.pages.first
        return list(zip(page.dataoffsets, page.databytecounts, strict=True))


def _read(server, selection):  # type: ignore[no-untyped-def]
    store = tiffzarr.open_store(server.url_for("t.tif"), series=0, level=0)
    array = zarr.open_array(store, mode="r")
    server.stats.reset()
    return array[selection], server.stats.records


@pytest.mark.parametrize("latency", [0.0, 0.02])
def test_a_full_level_costs_at_most_one_request_per_16_chunks(tiled: Path, latency: float) -> None:
    with serve(tiled, latency=latency) as server:
        pixels, records = _read(server, np.s_[:])
    np.testing.assert_array_equal(pixels, DATA)
    assert len(records) <= GRID * GRID // 16
    tiles = _tile_ranges(tiled / "t.tif")
    assert sum(r.bytes for r in records) <= tiles[-1][0] + tiles[-1][1] - tiles[0][0]


@pytest.mark.parametrize("latency", [0.0, 0.02])
def test_a_64_tile_window_reads_no_byte_outside_its_tiles_merged_blocks(
    tiled: Path, latency: float
) -> None:
    tiles = _tile_ranges(tiled / "t.tif")
    rows, cols = range(4, 12), range(2, 10)
    wanted = [(0, *tiles[r * GRID + c]) for r in rows for c in cols]
    blocks = [
        (start, stop)
        for _, start, stop, _ in plan_blocks(wanted, gap=REMOTE_GAP, max_block=REMOTE_BLOCK)
    ]
    with serve(tiled, latency=latency) as server:
        pixels, records = _read(server, np.s_[4 * TILE : 12 * TILE, 2 * TILE : 10 * TILE])
    np.testing.assert_array_equal(pixels, DATA[4 * TILE : 12 * TILE, 2 * TILE : 10 * TILE])
    for record in records:
        first, last = (int(v) for v in record.range.removeprefix("bytes=").split("-"))
        assert any(start <= first and last < stop for start, stop in blocks), record.range


@pytest.mark.parametrize("latency", [0.0, 0.02])
def test_windows_wider_than_one_batch_are_read_ahead_along_their_rows(
    tiled: Path, latency: float
) -> None:
    selection = np.s_[2 * TILE : 14 * TILE, 2 * TILE : 14 * TILE]  # 144 tiles in rows of 12
    with serve(tiled, latency=latency) as server:
        pixels, records = _read(server, selection)
    np.testing.assert_array_equal(pixels, DATA[selection])
    assert len(records) <= 144 // 16


def _walk(readahead: Readahead, indices: list[int], ticks: list[int]) -> list[list[int]]:
    return [
        readahead.plan("a", i, tick=t, hit=False, count=8, size=1024)
        for i, t in zip(indices, ticks, strict=True)
    ]


def test_reads_arriving_together_are_never_read_ahead() -> None:
    assert not any(_walk(Readahead(), list(range(64)), [0] * 64))


def test_a_walk_that_follows_itself_across_ticks_is_read_ahead() -> None:
    plans = _walk(Readahead(), list(range(66)), [0] * 64 + [1, 2])
    assert not any(plans[:65])
    assert plans[65] == list(range(65, 74))  # the read itself, then 8 more


def test_runs_of_a_narrow_window_are_followed_with_their_jump() -> None:
    # rows of 4 chunks in a grid 32 wide: 0..3, 32..35, 64..67 together, then 96, 97 later
    indices = [r * 32 + c for r in range(3) for c in range(4)] + [96, 97]
    plans = _walk(Readahead(), indices, [0] * 12 + [1, 2])
    assert plans[-1] == [97, 98, 99, 128, 129, 130, 131, 160, 161]


async def test_a_read_that_breaks_the_walk_drops_what_was_read_ahead() -> None:
    import asyncio

    readahead = Readahead()
    planned = _walk(readahead, list(range(66)), [0] * 64 + [1, 2])[-1]
    loop = asyncio.get_running_loop()
    for index in planned[1:]:
        future: asyncio.Future[bytes] = loop.create_future()
        future.set_result(b"")
        readahead.put("a", str(index), future)
    assert readahead.take("66") is not None  # kept while the walk goes on
    assert _walk(readahead, [500], [3]) == [[]]
    assert readahead.take("67") is None  # dropped by the read that broke it
