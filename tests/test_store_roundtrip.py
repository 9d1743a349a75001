"""Hypothesis round trip: files tifffile writes read back exactly through the store.

Random shape, dtype, tiles or strips, lossless compression, predictor, planar
configuration, byte order and BigTIFF; every page through ``open_store(page=k)``
and the whole file through the default layout, with zarr v3 and v2 metadata.
Pixels are random bytes, so floats include NaNs and infinities with arbitrary
payloads: the comparison is byte for byte.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import tiffzarr

INTS = ("u1", "u2", "u4", "i1", "i2", "i4")
FLOATS = ("f2", "f4", "f8")
COMPLEX = ("c8",)
COMPRESSIONS = (None, "zlib", "lzw", "packbits", "zstd", "lzma")
TILE_SIDES = (16, 32, 48, 64)

_names = itertools.count()


@dataclass(frozen=True)
class Case:
    dtype: str
    samples: int
    planar: str | None
    pages: int
    length: int
    width: int
    tile: tuple[int, int] | None
    rowsperstrip: int | None
    compressions: tuple[str | None, ...]
    """One per page; pages with different compressions form different series."""
    predictors: tuple[str | None, ...]
    byteorder: str
    bigtiff: bool
    seed: int

    @property
    def page_shape(self) -> tuple[int, ...]:
        if self.samples == 1:
            return (self.length, self.width)
        if self.planar == "separate":
            return (3, self.length, self.width)
        return (self.length, self.width, 3)

    def data(self) -> np.ndarray:
        """``(pages, *page_shape)`` random bytes in the native byte order."""
        rng = np.random.default_rng(self.seed)
        shape = (self.pages, *self.page_shape)
        dtype = np.dtype(self.dtype)
        return np.frombuffer(rng.bytes(int(np.prod(shape)) * dtype.itemsize), dtype).reshape(shape)

    def write(self, path: Path, data: np.ndarray) -> None:
        with tifffile.TiffWriter(path, byteorder=self.byteorder, bigtiff=self.bigtiff) as tw:
            for k in range(self.pages):
                tw.write(
                    data[k],
                    photometric="rgb" if self.samples == 3 else "minisblack",
                    planarconfig=self.planar,
                    tile=self.tile,
                    rowsperstrip=self.rowsperstrip,
                    compression=self.compressions[k],
                    predictor=self.predictors[k],
                    metadata=None,
                )


def _predictor(draw: st.DrawFn, dtype: str, compression: str | None) -> str | None:
    if compression is None or dtype in COMPLEX:
        return None  # tifffile refuses a predictor without compression or for complex
    return draw(st.sampled_from([None, "horizontal" if dtype in INTS else "floatingpoint"]))


@st.composite
def cases(draw: st.DrawFn) -> Case:
    dtype = draw(st.sampled_from(INTS + FLOATS + COMPLEX))
    samples = 1 if dtype in COMPLEX else draw(st.sampled_from([1, 3]))
    length = draw(st.integers(1, 64))
    tiled = draw(st.booleans())
    pages = draw(st.integers(1, 3))
    compression = draw(st.sampled_from(COMPRESSIONS))
    predictor = _predictor(draw, dtype, compression)
    compressions, predictors = [compression], [predictor]
    mixed = pages > 1 and draw(st.booleans())
    for _ in range(pages - 1):
        if mixed:
            compression = draw(st.sampled_from(COMPRESSIONS))
            predictor = _predictor(draw, dtype, compression)
        compressions.append(compression)
        predictors.append(predictor)
    return Case(
        dtype=dtype,
        samples=samples,
        planar=draw(st.sampled_from(["contig", "separate"])) if samples == 3 else None,
        pages=pages,
        length=length,
        width=draw(st.integers(1, 64)),
        tile=(
            (draw(st.sampled_from(TILE_SIDES)), draw(st.sampled_from(TILE_SIDES)))
            if tiled
            else None
        ),
        rowsperstrip=None if tiled else draw(st.integers(1, length)),
        compressions=tuple(compressions),
        predictors=tuple(predictors),
        byteorder=draw(st.sampled_from("<>")),
        bigtiff=draw(st.booleans()),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(n for n in shape if n != 1)


def assert_same(got: np.ndarray, want: np.ndarray, *, exact_shape: bool) -> None:
    """Same values byte for byte; the shape exactly or up to length-1 axes."""
    assert got.dtype == want.dtype.newbyteorder("=")
    if exact_shape:
        assert got.shape == want.shape
    else:
        assert squeezed(got.shape) == squeezed(want.shape), (got.shape, want.shape)
    assert got.tobytes() == want.astype(got.dtype).tobytes()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("roundtrip")


@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(case=cases())
def test_tifffile_files_read_back_exactly(folder: Path, case: Case) -> None:
    note(repr(case))
    data = case.data()
    path = folder / f"case{next(_names)}.tif"
    case.write(path, data)
    url = str(path)

    for k, zarr_format in itertools.product(range(case.pages), (3, 2)):
        store = tiffzarr.open_store(url, page=k, zarr_format=zarr_format)
        page = zarr.open_array(store, mode="r")  # one IFD: exactly the page's shape
        assert_same(page[...], data[k], exact_shape=True)

    with tifffile.TiffFile(path) as tf:  # the oracle for how pages group into series
        series = [([p.index for p in s.pages], s.get_shape(False)) for s in tf.series]
    note(f"tifffile series: {series}")
    for zarr_format in (3, 2):
        root = zarr.open_group(tiffzarr.open_store(url, zarr_format=zarr_format), mode="r")
        assert sorted(root.group_keys()) == [str(i) for i in range(len(series))]
        for i, (pages, shape) in enumerate(series):
            store = tiffzarr.open_store(
                url, series=i, level=0, squeeze=False, zarr_format=zarr_format
            )
            array = zarr.open_array(store, mode="r")
            assert array.shape == tuple(shape)
            want = data[pages] if len(pages) > 1 else data[pages[0]]
            assert_same(array[...], want, exact_shape=False)
