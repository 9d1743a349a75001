"""chunkmode="page": whole pages as chunks, for pages of many small strips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

import tiffzarr
from tiffzarr.errors import UnsupportedError
from tiffzarr.testing import contract_data, contract_file

RNG = np.random.default_rng(7)
CASES: dict[str, tuple[tuple[int, ...], dict[str, Any]]] = {
    "gray strips": ((4, 50, 33), {"rowsperstrip": 3, "photometric": "minisblack"}),
    "rgb strips lzw": ((3, 40, 30, 3), {"rowsperstrip": 5, "compression": "lzw"}),
    "planar strips": (
        (2, 3, 40, 30),
        {"rowsperstrip": 7, "planarconfig": "separate", "photometric": "rgb"},
    ),
    "tiles zlib": (
        (2, 70, 50),
        {"tile": (16, 32), "compression": "zlib", "photometric": "minisblack"},
    ),
    "big-endian": ((2, 20, 20), {"rowsperstrip": 4, "byteorder": ">", "photometric": "minisblack"}),
}


@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("case", list(CASES))
def test_page_chunks_equal_tifffile(tmp_path: Path, case: str, zarr_format: int) -> None:
    shape, options = CASES[case]
    data = RNG.integers(0, 60000, shape, dtype="uint16")
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, data, metadata=None, **options)
    want = tifffile.imread(path)
    store = tiffzarr.open_store(
        str(path),
        series=0,
        level=0,
        chunkmode="page",
        zarr_format=zarr_format,  # type: ignore[arg-type]
    )
    array = zarr.open_array(store, mode="r")
    got = np.asarray(array[...])
    assert got.size == want.size and np.array_equal(got.reshape(want.shape), want)
    pages = len(tifffile.TiffFile(path).pages)
    assert store.stats.requests <= pages  # one request per page, whatever its strip count


def test_sparse_segments_in_page_chunks(tmp_path: Path) -> None:
    path = tmp_path / "sparse.tif"
    path.write_bytes(contract_file())
    array = zarr.open_array(
        tiffzarr.open_store(str(path), series=0, level=0, chunkmode="page"), mode="r"
    )
    assert array.chunks == array.shape
    assert np.array_equal(array[...], contract_data()[0])


def test_page_chunks_have_no_single_location(tmp_path: Path) -> None:
    path = tmp_path / "sparse.tif"
    path.write_bytes(contract_file())
    store = tiffzarr.open_store(str(path), chunkmode="page")

    async def locations() -> list[Any]:
        return [loc async for loc in store.chunk_locations()]

    with pytest.raises(UnsupportedError, match="whole-page"):
        zarr.core.sync.sync(locations())
