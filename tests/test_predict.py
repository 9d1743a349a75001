"""Issue #4: uniform multi-page files open in a handful of requests, never wrongly."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

import tiffzarr
from tests.conftest import TALLIES
from tiffzarr.errors import TiffFormatError
from tiffzarr.io import open_source
from tiffzarr.model import load_segments
from tiffzarr.reader import read_index
from tiffzarr.testing import serve

PAGES = 500
RNG = np.random.default_rng(42)
STACK = RNG.integers(0, 60000, (PAGES, 64, 48), dtype="uint16")

LAYOUTS: dict[str, dict[str, Any]] = {
    "tifffile default (IFDs after the data)": {},
    "interleaved pages": {"contiguous": False},
    "several strips per page": {"rowsperstrip": 8, "contiguous": False},
    "tiled, zlib, BigTIFF, big-endian": {
        "tile": (16, 16),
        "compression": "zlib",
        "bigtiff": True,
        "byteorder": ">",
        "contiguous": False,
    },
}


def write(path: Path, data: np.ndarray, **options: Any) -> None:
    contiguous = options.pop("contiguous", True)
    if contiguous:
        tifffile.imwrite(path, data, photometric="minisblack", metadata=None, **options)
        return
    byteorder = options.pop("byteorder", "<")
    bigtiff = options.pop("bigtiff", False)
    with tifffile.TiffWriter(path, byteorder=byteorder, bigtiff=bigtiff) as tw:
        for plane in data:
            tw.write(plane, photometric="minisblack", metadata=None, contiguous=False, **options)


async def structure(url: str, predict: bool) -> tuple[Any, int, int]:
    source = open_source(url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiffzarr.TiffZarrWarning)
        index = await read_index(source, predict=predict)
    requests, nbytes = source.stats.requests, source.stats.bytes
    tables = [p.segments for p in index.pages]
    await load_segments(source, [(t, 0, t.count) for t in tables if t is not None])
    pages = [
        (
            p.ifd.offset,
            p.layout,
            p.segments.offsets.values().tolist(),
            p.segments.bytecounts.values().tolist(),
        )
        for p in index.pages
        if p.segments is not None
    ]
    return (pages, [s.shape for s in index.series]), requests, nbytes


@pytest.mark.parametrize("options", LAYOUTS.values(), ids=list(LAYOUTS))
async def test_stack_opens_in_few_requests_and_matches_the_full_walk(
    tmp_path: Path, options: dict[str, Any]
) -> None:
    path = tmp_path / "stack.tif"
    write(path, STACK, **dict(options))
    with serve(tmp_path) as server:
        url = server.url_for("stack.tif")
        predicted, requests, nbytes = await structure(url, True)
        walked, walk_requests, _ = await structure(url, False)
    assert predicted == walked
    assert len(predicted[0]) == PAGES
    TALLIES["500-page stack open (requests, bytes; full walk requests)"][
        f"{requests}, {nbytes}; {walk_requests}"
    ] += 1
    assert requests <= 10, f"{requests} requests to open (a full walk took {walk_requests})"
    assert nbytes <= 2**20


def test_predicted_pages_read_right(tmp_path: Path) -> None:
    path = tmp_path / "stack.tif"
    write(path, STACK, contiguous=False)
    array = zarr.open_array(tiffzarr.open_store(str(path), series=0, level=0), mode="r")
    assert np.array_equal(array[...], STACK)


def _corrupt_strip_offset(path: Path, page: int) -> None:
    with tifffile.TiffFile(path) as tf:
        tag = tf.pages[page].tags[273]
        assert tag.count == 1
        at = tag.valueoffset
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, at, struct.unpack_from("<I", data, at)[0] + 2)
    path.write_bytes(bytes(data))


def test_a_page_that_breaks_the_pattern_is_never_read_silently(tmp_path: Path) -> None:
    path = tmp_path / "stack.tif"
    write(path, STACK)
    _corrupt_strip_offset(path, 300)
    array = zarr.open_array(tiffzarr.open_store(str(path), series=0, level=0), mode="r")
    assert np.array_equal(array[299], STACK[299])
    with pytest.raises(TiffFormatError, match="predicted"):
        array[300]
    walked = zarr.open_array(
        tiffzarr.open_store(str(path), series=0, level=0, predict=False), mode="r"
    )
    assert not np.array_equal(walked[300], STACK[300])  # the file really says so


def test_chain_ending_before_the_file_does(tmp_path: Path) -> None:
    path = tmp_path / "stack.tif"
    write(path, STACK, contiguous=False)
    path.write_bytes(path.read_bytes() + bytes(1_000_000))  # trailing junk
    index = tiffzarr.open_tiff(str(path))
    assert len(index.pages) == PAGES
    array = zarr.open_array(tiffzarr.open_store(index, series=0, level=0), mode="r")
    assert np.array_equal(array[-1], STACK[-1])


def test_pattern_broken_in_the_middle(tmp_path: Path) -> None:
    path = tmp_path / "mixed.tif"
    with tifffile.TiffWriter(path) as tw:
        for i, plane in enumerate(STACK[:40]):
            shape = (32, 48) if i == 20 else plane.shape
            tw.write(plane[: shape[0]], photometric="minisblack", metadata=None, contiguous=False)
    predicted = tiffzarr.open_tiff(str(path))
    walked = tiffzarr.open_tiff(str(path), predict=False)
    assert [p.layout.shape for p in predicted.pages] == [p.layout.shape for p in walked.pages]
    assert [p.ifd.offset for p in predicted.pages] == [p.ifd.offset for p in walked.pages]
