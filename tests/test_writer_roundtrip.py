"""Issue #6: hypothesis round trips of the writer through tifffile and tiffzarr's own store."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tiffzarr
from tiffzarr.writer import write

LOSSLESS = [None, "zlib", "zstd", "lzw", "packbits", "lzma", "deflate"]
DTYPES = ["uint8", "uint16", "int8", "int16", "uint32", "int32", "float16", "float32", "float64"]


@st.composite
def cases(draw: st.DrawFn) -> tuple[np.ndarray, dict[str, Any]]:
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    rgb = dtype.char in "BH" and draw(st.booleans())
    length, width = draw(st.integers(1, 70)), draw(st.integers(1, 70))
    lead = draw(st.lists(st.integers(1, 3), max_size=2))
    options: dict[str, Any] = {}
    if rgb:
        samples = draw(st.sampled_from([3, 4]))
        planar = draw(st.sampled_from(["contig", "separate"]))
        core = [length, width, samples] if planar == "contig" else [samples, length, width]
        options.update(photometric="rgb", planarconfig=planar)
    else:
        core = [length, width]
        options["photometric"] = draw(st.sampled_from(["minisblack", None]))
    if draw(st.booleans()):
        options["tile"] = (16 * draw(st.integers(1, 3)), 16 * draw(st.integers(1, 3)))
        options["pyramid"] = draw(st.sampled_from([None, 1]))
    else:
        options["rowsperstrip"] = draw(st.one_of(st.none(), st.integers(1, length)))
    compression = draw(st.sampled_from(LOSSLESS))
    options["compression"] = compression
    if compression is not None and (dtype.kind == "f" or dtype.itemsize <= 4):
        options["predictor"] = draw(st.sampled_from([None, True]))
    options["bigtiff"] = draw(st.booleans())
    options["byteorder"] = draw(st.sampled_from(["<", ">"]))
    options["metadata"] = draw(st.sampled_from([{}, None]))
    seed = draw(st.integers(0, 2**16))
    return _pixels(tuple(lead + core), dtype, seed), options


def _pixels(shape: tuple[int, ...], dtype: np.dtype, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype.kind == "f":
        return (rng.standard_normal(shape) * 1000).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cases())
def test_written_files_read_back_exactly(case: tuple[np.ndarray, dict[str, Any]]) -> None:
    data, options = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "a.tif"
        write(path, data, **options)
        with tifffile.TiffFile(path) as tif:
            theirs = tif.asarray()
            assert tif.is_bigtiff == options["bigtiff"]
            assert tif.byteorder == options["byteorder"]
        if options["metadata"] is not None:
            assert theirs.shape == data.shape
        np.testing.assert_array_equal(theirs.reshape(data.shape), data)
        ours = tiffzarr.imread(str(path))
        assert ours.size == data.size
        np.testing.assert_array_equal(ours.reshape(data.shape), data)
