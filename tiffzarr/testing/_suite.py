"""A read-only store contract that every tiffzarr store backend must pass.

Subclass :class:`StoreContract` in a test module and provide two fixtures:
``store`` (a :class:`~tiffzarr.TiffStore` over the contract file) and
``expected`` (the numpy array of the store's root array). The contract file
comes from :func:`contract_file`: a tiled zlib file with two sparse tiles.

>>> data, sparse = contract_data()
>>> data.shape, sorted(sparse)
((96, 80), [1, 7])
"""

from __future__ import annotations

import asyncio
import io
import pickle
from typing import Any

import numpy as np
import pytest
import zarr
import zarr.api.asynchronous as zarr_async
from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from zarr.core.buffer import default_buffer_prototype

from tiffzarr.errors import ReadOnlyError
from tiffzarr.store import TiffStore

__all__ = ["StoreContract", "contract_data", "contract_file"]

TILE = 16
SPARSE = (1, 7)
"""Tiles (in C order of the 6x5 tile grid) stored with offset 0 and byte count 0."""


def contract_data() -> tuple[np.ndarray, tuple[int, ...]]:
    """The contract array (sparse tiles are zero) and the sparse tile indices."""
    data = (np.arange(96 * 80, dtype="uint16").reshape(96, 80) * 7) % 65521
    grid_x = -(-80 // TILE)
    for t in SPARSE:
        y, x = divmod(t, grid_x)
        data[y * TILE : (y + 1) * TILE, x * TILE : (x + 1) * TILE] = 0
    return data, SPARSE


def contract_file() -> bytes:
    """The contract TIFF: written by tiffzarr's writer, then two tiles made sparse."""
    from tiffzarr.format import parse_header, parse_ifd
    from tiffzarr.writer import write

    data, sparse = contract_data()
    buffer = io.BytesIO()
    write(buffer, data, tile=(TILE, TILE), compression="zlib", metadata=None)
    raw = bytearray(buffer.getvalue())
    header = parse_header(bytes(raw[:16]), size=len(raw))
    ifd = parse_ifd(header, bytes(raw[header.first_ifd :]), offset=header.first_ifd)
    for code in (324, 325):
        entry = ifd.entries[code]
        assert entry.value_offset is not None and entry.datatype is not None
        size = entry.datatype.itemsize
        for t in sparse:
            start = entry.value_offset + t * size
            raw[start : start + size] = bytes(size)
    return bytes(raw)


class StoreContract:
    """Tests every read-only TIFF store must pass (pytest collects the methods)."""

    @pytest.fixture
    def store(self) -> TiffStore:
        raise NotImplementedError("a backend provides the store fixture")

    @pytest.fixture
    def expected(self) -> np.ndarray:
        return contract_data()[0]

    @staticmethod
    def chunk_key(store: TiffStore, y: int, x: int) -> str:
        return f"c/{y}/{x}" if store.zarr_format == 3 else f"{y}.{x}"

    async def test_reads_the_array(self, store: TiffStore, expected: np.ndarray) -> None:
        array = await zarr_async.open_array(store=store, mode="r")
        assert array.shape == expected.shape
        assert np.array_equal(await array.getitem(...), expected)

    async def test_missing_and_sparse_keys_are_none(self, store: TiffStore) -> None:
        proto = default_buffer_prototype()
        for t in SPARSE:
            key = self.chunk_key(store, *divmod(t, 5))
            assert await store.get(key, proto) is None
            assert not await store.exists(key)
        for key in ("nope", "c/99/0", "99.0", "c/0", "0", "zarr.json/x", "c/0/0/0", "0.0.0"):
            assert await store.get(key, proto) is None
        assert await store.get(self.chunk_key(store, 0, 0)) is not None  # prototype is optional

    async def test_every_byte_request_kind(self, store: TiffStore) -> None:
        proto = default_buffer_prototype()
        metadata = "zarr.json" if store.zarr_format == 3 else ".zarray"
        for key in (metadata, self.chunk_key(store, 0, 0), self.chunk_key(store, 5, 4)):
            whole = await store.get(key, proto)
            assert whole is not None
            full = whole.to_bytes()
            requests: list[tuple[Any, bytes]] = [
                (RangeByteRequest(3, 10), full[3:10]),
                (RangeByteRequest(0, len(full) + 5), full),
                (OffsetByteRequest(5), full[5:]),
                (SuffixByteRequest(4), full[-4:]),
                (SuffixByteRequest(len(full) + 9), full),
            ]
            for request, want in requests:
                got = await store.get(key, proto, byte_range=request)
                assert got is not None and got.to_bytes() == want, (key, request)
            assert await store.getsize(key) == len(full)

    async def test_listing(self, store: TiffStore) -> None:
        keys = [k async for k in store.list()]
        chunks = [k for k in keys if k not in ("zarr.json", ".zarray", ".zattrs")]
        assert len(chunks) == 30 - len(SPARSE)
        assert len(set(keys)) == len(keys)
        top = {k async for k in store.list_dir("")}
        assert top == ({"zarr.json", "c"} if store.zarr_format == 3 else set(keys))
        assert [k async for k in store.list_prefix("zarr")] == [
            k for k in keys if k.startswith("zarr")
        ]
        assert all([await store.exists(k) for k in keys])

    async def test_pickle_round_trip(self, store: TiffStore, expected: np.ndarray) -> None:
        proto = default_buffer_prototype()
        key = self.chunk_key(store, 2, 3)
        before = await store.get(key, proto)
        clone = pickle.loads(pickle.dumps(store))
        assert clone == store
        after = await clone.get(key, proto)
        assert before is not None and after is not None
        assert before.to_bytes() == after.to_bytes()
        array = await zarr_async.open_array(store=clone, mode="r")
        assert np.array_equal(await array.getitem(...), expected)

    async def test_concurrent_gets_equal_serial_gets(self, store: TiffStore) -> None:
        proto = default_buffer_prototype()
        keys = [self.chunk_key(store, *divmod(i % 30, 5)) for i in range(100)]
        serial = [await store.get(k, proto) for k in keys]
        parallel = await asyncio.gather(*(store.get(k, proto) for k in keys))
        assert [b and b.to_bytes() for b in serial] == [b and b.to_bytes() for b in parallel]

    async def test_capabilities_tell_the_truth(self, store: TiffStore) -> None:
        assert store.read_only and store.supports_listing
        assert not store.supports_writes and not store.supports_deletes
        proto = default_buffer_prototype()
        with pytest.raises(ReadOnlyError):
            await store.set("zarr.json", proto.buffer.from_bytes(b"{}"))
        with pytest.raises(ReadOnlyError):
            await store.delete("zarr.json")
        with pytest.raises(ReadOnlyError):
            store.with_read_only(False)

    def test_sync_api(self, store: TiffStore, expected: np.ndarray) -> None:
        array = zarr.open_array(store, mode="r")
        assert np.array_equal(array[10:50, 5:70], expected[10:50, 5:70])
