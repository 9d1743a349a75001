"""The direct full-read path (tiffzarr.read_array): the same pixels as
zarr reading the same store, one request per 64 MiB, no byte read twice, memory bounded
by the output and a few blocks, decoding spread over the codec threads."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import math
import struct
import threading
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

import tiffzarr
from tests.conftest import CORPUS, manifest, require
from tests.test_corpus_series import FEATURES, KNOWN, ROWS, expected, gdal_masks, set_master
from tiffzarr.api.synchronous import read_array as read_array_sync
from tiffzarr.errors import ChunkDecodeError, LimitError, TiffFormatError
from tiffzarr.store import _direct
from tiffzarr.store._direct import REMOTE_BLOCK, WINDOW, read_array
from tiffzarr.store._store import LOCAL_BLOCK
from tiffzarr.testing import serve

RNG = np.random.default_rng(20240607)


def zarr_read(store: tiffzarr.TiffStore, path: str = "", selection: Any = ...) -> np.ndarray:
    return np.asarray(zarr.open_array(store, path=path, mode="r")[selection])


def assert_same(store: tiffzarr.TiffStore, path: str = "", selection: Any = None) -> np.ndarray:
    """The direct read equals zarr's read of the same store (shape, dtype, pixels)."""
    want = zarr_read(store, path, ... if selection is None else selection)
    got = read_array_sync(store, path, selection=selection)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    return got


def noise(shape: tuple[int, ...], dtype: str = "uint16") -> np.ndarray:
    """Smooth data plus noise: compresses, and every pixel differs from its neighbours."""
    base = np.add.outer(np.arange(shape[0]), np.arange(math.prod(shape[1:]))).reshape(shape)
    return (base + RNG.integers(0, 16, shape)).astype(dtype)


# -- pixels equal the zarr path's, for every kind of array ----------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"tile": (64, 48), "compression": "zstd"},
        {"rowsperstrip": 23, "compression": "zlib", "predictor": True},
        {"rowsperstrip": 7},
    ],
    ids=["tiled-zstd", "striped-zlib-predictor", "striped-raw"],
)
def test_gray_matches_zarr(tmp_path: Path, options: dict[str, Any]) -> None:
    data = noise((301, 217))
    tifffile.imwrite(tmp_path / "a.tif", data, **options)
    store = tiffzarr.open_store(str(tmp_path / "a.tif"), series=0, level=0)
    np.testing.assert_array_equal(assert_same(store), data)
    for window in [
        (slice(0, 1), slice(None)),
        (slice(60, 131), slice(40, 200)),
        (slice(300, None), slice(216, None)),
        (slice(5, 5), slice(None)),
    ]:
        assert_same(store, selection=window)


def test_planar_separate_and_volume(tmp_path: Path) -> None:
    rgb = noise((3, 130, 90), "uint8")
    tifffile.imwrite(
        tmp_path / "p.tif", rgb, photometric="rgb", planarconfig="separate", tile=(32, 32)
    )
    store = tiffzarr.open_store(str(tmp_path / "p.tif"), series=0, level=0)
    np.testing.assert_array_equal(assert_same(store), rgb)
    volume = noise((5, 40, 40), "float32")
    tifffile.imwrite(tmp_path / "v.tif", volume, tile=(16, 16), compression="zlib")
    assert_same(tiffzarr.open_store(str(tmp_path / "v.tif"), series=0, level=0))


def test_ngff_order_transposed(tmp_path: Path) -> None:
    """Arrays served in another axis order than stored (RGB samples first in NGFF)."""
    rgb = noise((70, 50, 3), "uint8")
    tifffile.imwrite(tmp_path / "c.tif", rgb, photometric="rgb", tile=(32, 32))
    for zarr_format in (2, 3):
        store = tiffzarr.open_store(str(tmp_path / "c.tif"), zarr_format=zarr_format)
        array = store.hierarchy.arrays["0/0"]
        assert array.order, "the NGFF array is expected to be transposed"
        got = assert_same(store, "0/0")
        np.testing.assert_array_equal(got, np.moveaxis(rgb, -1, 0))
        assert_same(store, "0/0", (slice(1, 3), slice(10, 60), slice(0, 31)))


def test_jpeg_ycbcr(tmp_path: Path) -> None:
    rgb = noise((96, 80, 3), "uint8")
    tifffile.imwrite(tmp_path / "j.tif", rgb, photometric="rgb", compression="jpeg", tile=(32, 32))
    with tifffile.TiffFile(tmp_path / "j.tif") as tf:
        assert tf.pages.first.photometric == tifffile.PHOTOMETRIC.YCBCR
    assert_same(tiffzarr.open_store(str(tmp_path / "j.tif"), series=0, level=0))


def test_ycbcr_subsampled_page_chunks(tmp_path: Path) -> None:
    """Uncompressed subsampled YCbCr; also each page one framed chunk (chunkmode='page')."""
    rgb = noise((64, 48, 3), "uint8")
    tifffile.imwrite(
        tmp_path / "y.tif", rgb, photometric="ycbcr", subsampling=(2, 2), rowsperstrip=16
    )
    for chunkmode in ("segment", "page"):
        store = tiffzarr.open_store(str(tmp_path / "y.tif"), series=0, level=0, chunkmode=chunkmode)
        assert_same(store)


def sparse_file(path: Path, shape: tuple[int, int], tile: tuple[int, int]) -> np.ndarray:
    """A tiled file whose every third tile is sparse (offset and byte count 0)."""
    data = noise(shape)
    tifffile.imwrite(path, data, tile=tile, compression="zlib")
    with tifffile.TiffFile(path, mode="r+") as tf:
        tags = tf.pages.first.tags
        offsets = list(tags["TileOffsets"].value)
        counts = list(tags["TileByteCounts"].value)
        for i in range(0, len(offsets), 3):
            offsets[i] = counts[i] = 0
        tags["TileOffsets"].overwrite(offsets)
        tags["TileByteCounts"].overwrite(counts)
    return data


def test_sparse_tiles_are_fill(tmp_path: Path) -> None:
    sparse_file(tmp_path / "s.tif", (100, 100), (32, 32))
    for fill_value in (None, 7):
        store = tiffzarr.open_store(
            str(tmp_path / "s.tif"), series=0, level=0, fill_value=fill_value
        )
        got = assert_same(store)
        assert (got[:32, :32] == (fill_value or 0)).all()
        assert_same(
            tiffzarr.open_store(
                str(tmp_path / "s.tif"), series=0, level=0, chunkmode="page", fill_value=fill_value
            )
        )


def test_ome_pyramid_levels(tmp_path: Path) -> None:
    data = noise((2, 300, 200), "uint16")
    with tifffile.TiffWriter(tmp_path / "p.ome.tif") as tw:
        options = {"tile": (64, 64), "compression": "zlib", "metadata": {"axes": "CYX"}}
        tw.write(data, subifds=2, **options)
        tw.write(data[:, ::2, ::2], subfiletype=1, **options)
        tw.write(data[:, ::4, ::4], subfiletype=1, **options)
    for level in range(3):
        store = tiffzarr.open_store(str(tmp_path / "p.ome.tif"), series=0, level=level)
        np.testing.assert_array_equal(assert_same(store), data[:, :: 2**level, :: 2**level])
    hierarchy = tiffzarr.open_store(str(tmp_path / "p.ome.tif"))
    for path in hierarchy.hierarchy.arrays:
        assert_same(hierarchy, path)


def test_predicted_pages(tmp_path: Path) -> None:
    """Uniform pages read by prediction: each page's IFD is checked with its pixels."""
    stack = noise((40, 24, 16), "uint8")
    tifffile.imwrite(tmp_path / "m.tif", stack, metadata=None)
    index = tiffzarr.open_tiff(str(tmp_path / "m.tif"))
    store = tiffzarr.open_store(index, series=0, level=0)
    array = store.hierarchy.arrays[""]
    checks = [t.check for t in array.manifest.tables if t is not None and t.check is not None]
    assert checks, "the pages are expected to be predicted"
    np.testing.assert_array_equal(read_array_sync(store), stack)
    assert all(check.verified for check in checks[:1])
    assert_same(tiffzarr.open_store(str(tmp_path / "m.tif"), series=0, level=0))


def write_sequence(folder: Path, count: int) -> tuple[list[str], np.ndarray]:
    frames = noise((count, 20, 30))
    paths = []
    for i, frame in enumerate(frames):
        paths.append(str(folder / f"f{i:02d}.tif"))
        tifffile.imwrite(paths[-1], frame)
    return paths, frames


def test_sequence_files_checked(tmp_path: Path) -> None:
    paths, frames = write_sequence(tmp_path, 6)
    store = tiffzarr.open_sequence(paths)
    np.testing.assert_array_equal(read_array_sync(store), frames)
    assert_same(tiffzarr.open_sequence(paths), selection=(slice(2, 5), slice(3, 9), slice(None)))
    # a file laid out otherwise is refused, naming it, before its pixels are trusted
    tifffile.imwrite(paths[4], frames[4], description="another layout", metadata=None)
    with pytest.raises(TiffFormatError, match="not laid out like") as caught:
        read_array_sync(tiffzarr.open_sequence(paths))
    assert caught.value.url == paths[4] and caught.value.key is not None


def data_first_tiff(pixels: np.ndarray) -> bytes:
    """An uncompressed 8-bit grayscale TIFF of one strip, its IFD after its pixels (as
    libtiff lays files out)."""
    rows, cols = pixels.shape
    data = pixels.astype("u1").tobytes()
    ifd = 8 + len(data) + len(data) % 2
    tags = [
        (256, 4, cols), (257, 4, rows), (258, 3, 8), (259, 3, 1), (262, 3, 1),
        (273, 4, 8), (277, 3, 1), (278, 4, rows), (279, 4, len(data)),
    ]  # fmt: skip
    entries = b"".join(struct.pack("<HHII", tag, kind, 1, value) for tag, kind, value in tags)
    head = struct.pack("<2sHI", b"II", 42, ifd) + data + b"\0" * (len(data) % 2)
    return head + struct.pack("<H", len(tags)) + entries + struct.pack("<I", 0)


def test_sequence_checked_after_its_pixels(tmp_path: Path) -> None:
    """Files whose IFD follows the pixels: each file's pixels wait for its check."""
    frames = noise((5, 9, 13), "uint8")
    paths = [str(tmp_path / f"d{i}.tif") for i in range(len(frames))]
    for path, frame in zip(paths, frames, strict=True):
        Path(path).write_bytes(data_first_tiff(frame))
    store = tiffzarr.open_sequence(paths)
    checks = [t.check for t in store.hierarchy.arrays[""].manifest.tables if t is not None]
    assert any(c is not None for c in checks) and all(
        span[0] > 8 for c in checks if c is not None for span in c.spans[1:]
    )
    np.testing.assert_array_equal(read_array_sync(store), frames)
    Path(paths[3]).write_bytes(data_first_tiff(frames[3].T.copy()))
    with pytest.raises(TiffFormatError, match="not laid out like") as caught:
        read_array_sync(tiffzarr.open_sequence(paths))
    assert caught.value.url == paths[3]


# -- errors, limits ---------------------------------------------------------------------


def test_corrupt_tile_names_url_and_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.tif"
    tifffile.imwrite(path, noise((64, 64)), tile=(32, 32), compression="zlib")
    with tifffile.TiffFile(path) as tf:
        offset = tf.pages.first.dataoffsets[3]
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(b"\xff" * 16)
    store = tiffzarr.open_store(str(path), series=0, level=0)
    with pytest.raises(ChunkDecodeError) as direct:
        read_array_sync(store)
    assert direct.value.url == str(path) and direct.value.key == "c/1/1"
    with pytest.raises(ChunkDecodeError) as via_zarr:
        zarr_read(store)
    assert (via_zarr.value.url, via_zarr.value.key) == (direct.value.url, direct.value.key)


def test_max_read_bytes_guards_the_output(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "a.tif", noise((64, 64)), tile=(32, 32))
    store = tiffzarr.open_store(str(tmp_path / "a.tif"), series=0, level=0)
    with tiffzarr.set_config(max_read_bytes=64 * 64 * 2 - 1), pytest.raises(LimitError):
        read_array_sync(store)
    with tiffzarr.set_config(max_read_bytes=32 * 32 * 2):
        window = read_array_sync(store, selection=(slice(0, 32), slice(0, 32)))
    assert window.shape == (32, 32)
    with pytest.raises(IndexError):
        read_array_sync(store, selection=(slice(0, 10, 2), slice(None)))


# -- requests, bytes, memory, threads --------------------------------------------------


def read_over_http(
    folder: Path, name: str, *, latency: float = 0.0
) -> tuple[np.ndarray, list[tiffzarr.testing.RequestRecord], int]:
    """The direct read of ``name`` served over loopback HTTP: the array, the requests
    the read made (after the open) and how many the open made."""
    with serve(folder, latency=latency) as server:
        store = tiffzarr.open_store(server.url_for(name), series=0, level=0)
        opened = server.stats.requests
        server.stats.reset()
        got = read_array_sync(store)
        return got, server.stats.records, opened


def covered(records: list[tiffzarr.testing.RequestRecord]) -> list[tuple[int, int]]:
    """The ``[start, stop)`` byte ranges of single-range requests."""
    spans = []
    for record in records:
        assert record.range is not None and record.range.startswith("bytes=")
        assert "," not in record.range
        first, last = record.range[len("bytes=") :].split("-")
        spans.append((int(first), int(last) + 1))
    return sorted(spans)


def test_one_request_per_block_and_no_byte_twice(tmp_path: Path, monkeypatch: Any) -> None:
    data = noise((1024, 1024))
    tifffile.imwrite(tmp_path / "t.tif", data, tile=(128, 128), compression="zlib")
    size = (tmp_path / "t.tif").stat().st_size
    got, records, _ = read_over_http(tmp_path, "t.tif")
    np.testing.assert_array_equal(got, data)
    assert len(records) <= math.ceil(size / REMOTE_BLOCK)
    # with small blocks: one request per block, the bytes of each read once
    monkeypatch.setattr(_direct, "REMOTE_BLOCK", 256 * 1024)
    got, records, _ = read_over_http(tmp_path, "t.tif")
    np.testing.assert_array_equal(got, data)
    spans = covered(records)
    assert 1 < len(spans) <= math.ceil(size / (256 * 1024)) + 1
    assert all(stop - start <= 256 * 1024 for start, stop in spans)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), spans


def test_sequence_costs_one_request_per_file(tmp_path: Path) -> None:
    paths, frames = write_sequence(tmp_path, 8)
    with serve(tmp_path) as server:
        urls = [server.url_for(Path(p).name) for p in paths]
        store = tiffzarr.open_sequence(urls)
        server.stats.reset()
        np.testing.assert_array_equal(read_array_sync(store), frames)
        by_path = server.stats.by_path()
    assert len(by_path) == len(paths)
    assert all(stats.requests == 1 for stats in by_path.values()), by_path


def test_memory_is_output_plus_a_few_blocks(tmp_path: Path) -> None:
    """About 100 MB of uncompressed pixels: the read never holds more than the output
    and the blocks in flight (reading the file whole would need twice the output)."""
    data = np.zeros((5120, 10240), "uint16")
    data[::7] = 3
    tifffile.imwrite(tmp_path / "big.tif", data, tile=(512, 512))
    store = tiffzarr.open_store(str(tmp_path / "big.tif"), series=0, level=0)
    tracemalloc.start()
    try:
        got = read_array_sync(store)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got.shape == data.shape and (got[::7] == 3).all() and not got[1::7].any()
    # the blocks in flight, and the chunks being decoded (a few MiB)
    assert peak <= data.nbytes + WINDOW * LOCAL_BLOCK + 16 * 2**20, peak / 2**20


def test_decoding_uses_several_codec_threads(tmp_path: Path, monkeypatch: Any) -> None:
    data = noise((512, 512))
    tifffile.imwrite(tmp_path / "t.tif", data, tile=(64, 64), compression="zlib")
    store = tiffzarr.open_store(str(tmp_path / "t.tif"), series=0, level=0)
    names: set[str] = set()
    running = [0, 0]  # now, most at once
    lock = threading.Lock()
    decode: Callable[..., np.ndarray] = _direct.decode_chunk

    def counted(*args: Any) -> np.ndarray:
        with lock:
            names.add(threading.current_thread().name)
            running[0] += 1
            running[1] = max(running)
        try:
            threading.Event().wait(0.002)  # long enough for the jobs to overlap
            return decode(*args)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(_direct, "decode_chunk", counted)
    monkeypatch.setattr(_direct, "JOB_BYTES", 64 * 64 * 2)  # one tile per job
    with tiffzarr.set_config(codec_threads=4):
        np.testing.assert_array_equal(read_array_sync(store), data)
    assert all(name.startswith("tiffzarr-codec") for name in names), names
    assert len(names) > 1 and running[1] > 1


def test_async_twin_inside_a_running_loop(tmp_path: Path) -> None:
    data = noise((70, 70))
    tifffile.imwrite(tmp_path / "a.tif", data, tile=(32, 32), compression="zlib")

    async def main() -> np.ndarray:
        store = await tiffzarr.api.asynchronous.open_store(str(tmp_path / "a.tif"), level=0)
        return await read_array(store)

    np.testing.assert_array_equal(asyncio.run(main()), data)


# -- the corpus, sampled: every level's pixels hash as tifffile's -----------------------

SAMPLED = [
    r["relpath"]
    for i, r in enumerate(ROWS)
    if r["relpath"] not in KNOWN
    and (i % 5 == 0 or {"ndpi", "svs", "sparse", "ycbcr"} & set(FEATURES[r["relpath"]]))
]


@pytest.mark.parametrize("relpath", SAMPLED)
def test_corpus_levels_hash_as_tifffile(relpath: str) -> None:
    path = str(require(CORPUS, "corpus") / relpath)
    master = set_master(relpath)
    want = expected(master or relpath)["series"]
    masks = gdal_masks(path) if "mask" in FEATURES[relpath] else []
    want = [s for i, s in enumerate(want) if i not in masks]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiffzarr.TiffZarrWarning)
        index = tiffzarr.open_tiff(path)
    failures = []
    for i, s in enumerate(want):
        for j, level in enumerate(s["levels"]):
            store = tiffzarr.open_store(index, series=i, level=j)
            data = np.ascontiguousarray(read_array_sync(store))
            if hashlib.sha256(data.tobytes()).hexdigest() != level["sha256"]:
                failures.append(f"series {i} level {j} pixels differ")
    assert not failures, "\n".join(failures)


def test_corpus_sample_is_a_fifth_at_least() -> None:
    if not manifest(CORPUS):
        pytest.skip("corpus not found")
    assert len(SAMPLED) >= len(ROWS) // 5
