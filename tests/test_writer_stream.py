"""Issue #6: streaming from dask and zarr: each chunk computed once, memory bounded by a window."""

from __future__ import annotations

import collections
import threading
import tracemalloc
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

import tiffzarr
from tiffzarr.writer import TiffWriter, write

da = pytest.importorskip("dask.array")


class Counter:
    """Counts calls per chunk of a dask ``map_blocks`` function."""

    def __init__(self) -> None:
        self.calls: collections.Counter[tuple[int, ...]] = collections.Counter()
        self._lock = threading.Lock()

    def __call__(self, block_info: dict | None = None) -> np.ndarray:
        assert block_info is not None
        info = block_info[None]
        with self._lock:
            self.calls[tuple(info["chunk-location"])] += 1
        return chunk_pixels(info["array-location"], info["chunk-shape"])


def chunk_pixels(location: list[tuple[int, int]], shape: tuple[int, ...]) -> np.ndarray:
    """Deterministic pixels of any region, whatever the chunking (no large temporaries)."""
    total = np.zeros(shape, np.uint16)
    for axis, (lo, hi) in enumerate(location):
        ramp = (np.arange(lo, hi, dtype=np.int64) * (7 + 3 * axis) % 4093).astype(np.uint16)
        total += ramp.reshape([-1 if i == axis else 1 for i in range(len(shape))])
    total %= 4093
    return total


def counted_array(shape: tuple[int, ...], chunks: tuple[int, ...]) -> tuple[Any, Counter]:
    counter = Counter()
    array = da.map_blocks(counter, dtype="uint16", chunks=da.core.normalize_chunks(chunks, shape))
    return array, counter


def test_dask_chunks_of_1024_with_tiles_of_256_are_computed_once(tmp_path: Path) -> None:
    array, counter = counted_array((4096, 3072), (1024, 1024))
    write(tmp_path / "d.tif", array, tile=(256, 256), compression="zstd", predictor=True, pyramid=3)
    assert len(counter.calls) == 12 and set(counter.calls.values()) == {1}
    expected = chunk_pixels([(0, 4096), (0, 3072)], (4096, 3072))
    write(
        tmp_path / "n.tif", expected, tile=(256, 256), compression="zstd", predictor=True, pyramid=3
    )
    assert (tmp_path / "d.tif").read_bytes() == (tmp_path / "n.tif").read_bytes()
    with tifffile.TiffFile(tmp_path / "d.tif") as tif:
        np.testing.assert_array_equal(tif.asarray(), expected)
        assert len(tif.series[0].levels) == 4


@pytest.mark.parametrize(
    ("shape", "chunks", "options"),
    [
        ((1000, 900), (333, 250), {"tile": (128, 64)}),  # chunks not aligned with tiles
        ((1000, 900), (333, 250), {"rowsperstrip": 50, "compression": "zstd"}),
        ((6, 300, 200), (4, 128, 200), {"tile": (64, 64), "photometric": "minisblack"}),
        (
            (3, 300, 200),
            (1, 100, 60),
            {"tile": (64, 64), "planarconfig": "separate", "photometric": "rgb", "pyramid": 1},
        ),
        ((40, 64, 64), (7, 30, 64), {"tile": (16, 32, 32), "compression": "zlib"}),
        (
            (2, 3, 100, 90),
            (2, 2, 64, 90),
            {"tile": (32, 32), "photometric": "minisblack", "pyramid": 2},
        ),
    ],
)
def test_any_chunking_is_computed_once(
    tmp_path: Path, shape: tuple, chunks: tuple, options: dict
) -> None:
    array, counter = counted_array(shape, chunks)
    write(tmp_path / "d.tif", array, **options)
    expected = chunk_pixels([(0, n) for n in shape], shape)
    assert set(counter.calls.values()) == {1}
    assert len(counter.calls) == np.prod([len(c) for c in array.chunks])
    write(tmp_path / "n.tif", expected, **options)
    assert (tmp_path / "d.tif").read_bytes() == (tmp_path / "n.tif").read_bytes()
    with tifffile.TiffFile(tmp_path / "d.tif") as tif:
        np.testing.assert_array_equal(tif.asarray(), expected)
    np.testing.assert_array_equal(tiffzarr.imread(str(tmp_path / "d.tif")).reshape(shape), expected)


class TrackingArray:
    """A zarr-like chunked array that records how many of its pixels are alive at once."""

    def __init__(self, shape: tuple[int, int], chunks: tuple[int, int]) -> None:
        self.shape = shape
        self.chunks = chunks
        self.dtype = np.dtype("uint16")
        self.ndim = len(shape)
        self.live = 0
        self.peak = 0
        self.reads: collections.Counter[tuple[int, int]] = collections.Counter()
        self._lock = threading.Lock()

    def _released(self, nbytes: int) -> None:
        with self._lock:
            self.live -= nbytes

    def __getitem__(self, region: tuple[slice, ...]) -> np.ndarray:
        bounds = [r.indices(n)[:2] for r, n in zip(region, self.shape, strict=True)]
        for y in range(bounds[0][0], bounds[0][1], self.chunks[0]):
            for x in range(bounds[1][0], bounds[1][1], self.chunks[1]):
                self.reads[(y // self.chunks[0], x // self.chunks[1])] += 1
        shape = tuple(hi - lo for lo, hi in bounds)
        block = chunk_pixels(bounds, shape).copy()
        with self._lock:
            self.live += block.nbytes
            self.peak = max(self.peak, self.live)
        weakref.finalize(block, self._released, block.nbytes)
        return block


def test_memory_is_bounded_by_a_window_of_chunk_rows(tmp_path: Path) -> None:
    source = TrackingArray((8192, 1024), (512, 256))
    row_bytes = 512 * 1024 * 2
    write(tmp_path / "t.tif", source, tile=(128, 128), compression="zstd", pyramid=2)
    assert set(source.reads.values()) == {1} and len(source.reads) == 16 * 4
    assert source.peak <= 3 * row_bytes  # the row being written, the next, one in flight
    assert source.live == 0
    with tifffile.TiffFile(tmp_path / "t.tif") as tif:
        np.testing.assert_array_equal(
            tif.asarray(), chunk_pixels([(0, 8192), (0, 1024)], (8192, 1024))
        )


def test_dask_write_peak_memory_is_a_fraction_of_the_array(tmp_path: Path) -> None:
    array, counter = counted_array((32768, 1024), (1024, 512))
    total = 32768 * 1024 * 2
    tracemalloc.start()
    try:
        write(tmp_path / "d.tif", array, tile=(256, 256), compression="zstd", pyramid=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert set(counter.calls.values()) == {1}
    assert peak < total / 5, f"peak {peak / 2**20:.1f} MiB for a {total / 2**20:.0f} MiB array"


def test_source_read_once_per_series_in_a_multi_series_file(tmp_path: Path) -> None:
    first, c1 = counted_array((512, 512), (200, 512))
    second, c2 = counted_array((2, 256, 256), (1, 256, 128))
    with TiffWriter(tmp_path / "a.tif") as tw:
        tw.write(first, tile=(64, 64))
        tw.write(second, tile=(64, 64), photometric="minisblack", pyramid=1)
    assert set(c1.calls.values()) == set(c2.calls.values()) == {1}
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        assert [s.shape for s in tif.series] == [(512, 512), (2, 256, 256)]


class Plain:
    """An array-like without chunks: read one band at a time."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.shape = array.shape
        self.dtype = array.dtype
        self.reads = 0

    def __getitem__(self, key: Any) -> np.ndarray:
        self.reads += 1
        return self.array[key]


def test_array_likes_without_chunks_and_sharded_zarr(tmp_path: Path) -> None:
    data = np.arange(3 * 100 * 90, dtype="uint16").reshape(3, 100, 90)
    plain = Plain(data)
    write(tmp_path / "p.tif", plain, tile=(32, 32), photometric="minisblack")
    assert plain.reads == 3 * 4  # one read per band, never the whole array
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "p.tif"), data)
    zarr = pytest.importorskip("zarr")
    z = zarr.create_array(
        store={}, shape=(300, 200), chunks=(50, 50), shards=(100, 200), dtype="uint16"
    )
    z[:] = np.arange(60000, dtype="uint16").reshape(300, 200)
    write(tmp_path / "z.tif", z, tile=(64, 64))
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "z.tif"), z[:])


def test_dask_unknown_chunk_sizes_are_refused(tmp_path: Path) -> None:
    array = da.from_array(np.arange(100, dtype="uint8"), chunks=10)
    unknown = array[array > 50]
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        write(tmp_path / "a.tif", unknown)
    assert list(tmp_path.iterdir()) == []
