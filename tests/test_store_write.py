"""Issue #6 item 6: ``open_store(path, mode="r+")`` writes chunks in place."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

import tiffzarr
from tiffzarr.errors import ReadOnlyError, UnsupportedError

RNG = np.random.default_rng(11)


@pytest.mark.parametrize(
    "options",
    [
        {"tile": (32, 32)},
        {"rowsperstrip": 10},
        {"tile": (16, 16), "bigtiff": True, "byteorder": ">"},
    ],
    ids=["tiles", "strips", "bigtiff big-endian tiles"],
)
def test_fill_an_empty_file_through_zarr(tmp_path: Path, options: dict) -> None:
    path = tmp_path / "empty.tif"
    tiffzarr.write(str(path), shape=(100, 70), dtype="uint16", **options)
    data = RNG.integers(0, 60000, (100, 70), dtype="uint16")
    array = zarr.open_array(tiffzarr.open_store(str(path), series=0, level=0, mode="r+"), mode="r+")
    array[:50] = data[:50]
    array[50:, 5:65] = data[50:, 5:65]  # partial chunks: read, merged, written back
    want = data.copy()
    want[50:, :5] = 0
    want[50:, 65:] = 0
    assert np.array_equal(tifffile.imread(path), want)
    assert np.array_equal(tiffzarr.imread(str(path)), want)


def test_read_only_by_default_and_refusals(tmp_path: Path) -> None:
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, np.zeros((32, 32), "uint8"), tile=(16, 16), metadata=None)
    store = tiffzarr.open_store(str(path))
    with pytest.raises(ReadOnlyError):
        store.with_read_only(False)
    writable = tiffzarr.open_store(str(path), series=0, level=0, mode="r+")
    assert writable.supports_writes and not writable.read_only
    assert writable.with_read_only(True).read_only
    array = zarr.open_array(writable, mode="r+")
    with pytest.raises(UnsupportedError, match="metadata"):
        array.attrs["x"] = 1
    compressed = tmp_path / "z.tif"
    tifffile.imwrite(compressed, np.zeros((32, 32), "uint8"), tile=(16, 16), compression="zlib")
    with pytest.raises(UnsupportedError, match="uncompressed"):
        tiffzarr.open_store(str(compressed), mode="r+")
