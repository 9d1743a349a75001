"""tiffzarr's codec decodes zarr v3 chunks in its own pool, one thread per CPU."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import tifffile
import zarr

import tiffzarr
from tiffzarr.codecs import _threads
from tiffzarr.codecs._zarr3 import TiffZarrCodec


@pytest.mark.parametrize(
    ("tile", "compression", "where"),
    [
        ((256, 256), "zlib", "tiffzarr-codec"),
        ((64, 64), "zlib", "zarr_io"),
        ((256, 256), None, "zarr_io"),
    ],
    ids=["in the pool", "small chunks on the loop", "uncompressed views on the loop"],
)
def test_chunks_decode_in_the_codec_pool(tmp_path, monkeypatch, tile, compression, where):
    data = np.random.default_rng(7).integers(0, 2**16, (512, 512), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "t.tif", data, tile=tile, compression=compression)
    small = np.prod(tile) * 2 <= _threads.INLINE_BYTES
    assert (small or compression is None) == (where == "zarr_io")
    threads: list[str] = []
    decode = TiffZarrCodec._decode_sync

    def recording(self, *args):
        threads.append(threading.current_thread().name)
        return decode(self, *args)

    monkeypatch.setattr(TiffZarrCodec, "_decode_sync", recording)
    with tiffzarr.set_config(codec_threads=3):
        store = tiffzarr.open_store(tmp_path / "t.tif")
        array = zarr.open_array(store, path=min(store.hierarchy.arrays, key=len), mode="r")
        assert np.array_equal(array[...], data)
        assert _threads.codec_threads()._max_workers == 3
    assert len(threads) == (512 // tile[0]) * (512 // tile[1])  # one decode per tile
    assert all(name.startswith(where) for name in threads), threads  # pool, or zarr's loop


def test_pool_follows_size_and_process(monkeypatch):
    size = _threads.usable_cpus() + 3
    with tiffzarr.set_config(codec_threads=size):
        first = _threads.codec_threads()
        assert _threads.codec_threads() is first
        assert first._max_workers == size
        with monkeypatch.context() as patch:
            patch.setattr(_threads.os, "getpid", lambda: -1)  # as in a forked child
            child = _threads.codec_threads()
        assert child is not first and child._max_workers == size
    default = _threads.codec_threads()
    assert default is not child
    assert default._max_workers == (tiffzarr.config.codec_threads or _threads.usable_cpus())


@pytest.mark.parametrize("size", [1, 4])
def test_in_codec_threads_returns_and_raises(size):
    import asyncio

    with tiffzarr.set_config(codec_threads=size):
        assert asyncio.run(_threads.in_codec_threads(divmod, 7, 2)) == (3, 1)
        with pytest.raises(ZeroDivisionError):
            asyncio.run(_threads.in_codec_threads(divmod, 1, 0))
