"""Olympus FluoView: the MM_HEADER dimensions shape the stack of all pages, as tifffile
reads them (built here from the MM_HEADER/MM_STAMP layout: no sample file is public)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

import tiffzarr
from tiffzarr.errors import TiffFormatWarning
from tiffzarr.format._fluoview import MM_HEADER, MM_HEADER_TAG, MM_STAMP_TAG

RNG = np.random.default_rng(11)


def _dtype(fields: tuple, byteorder: str = "<") -> np.dtype:  # type: ignore[type-arg]
    out = []
    for name, kind in fields:
        if isinstance(kind, tuple):
            out.append((name, _dtype(kind[0], byteorder), (kind[1],)))
        else:
            out.append((name, kind if kind[0] == "S" else byteorder + kind))
    return np.dtype(out)


def mm_header(name: str, dims: list[tuple[str, int, float, str]]) -> bytes:
    """An MM_HEADER naming ``dims`` (fastest first: name, size, resolution, unit)."""
    record = np.zeros((), _dtype(MM_HEADER))
    record["HeaderFlag"] = 2
    record["ImageName"] = name.encode()
    for i, (dim, size, resolution, unit) in enumerate(dims):
        entry = record["Dimensions"][i]
        entry["Name"], entry["Size"] = dim.encode(), size
        entry["Resolution"], entry["Unit"] = resolution, unit.encode()
    return record.tobytes()


def write_fluoview(path: Path, planes: np.ndarray, header: bytes) -> None:
    """One page per plane; MM_HEADER and MM_STAMP on every page, as FluoView writes."""
    stamp = np.arange(8, dtype="<f8").tobytes()
    extratags = [
        (MM_HEADER_TAG, 7, len(header), header, True),
        (MM_STAMP_TAG, 7, len(stamp), stamp, False),
    ]
    with tifffile.TiffWriter(path) as tw:
        for plane in planes:
            tw.write(plane, metadata=None, extratags=extratags, contiguous=False)


def read(path: Path, series: int = 0) -> np.ndarray:
    store = tiffzarr.open_store(str(path), series=series, level=0)
    return np.asarray(zarr.open_array(store, mode="r")[...])


def test_stack_of_z_and_channels_matches_tifffile(tmp_path: Path) -> None:
    planes = RNG.integers(0, 4095, (6, 16, 12), dtype="uint16")
    dims = [("X", 12, 0.2, "um"), ("Y", 16, 0.25, "um"), ("Z", 3, 1.5, "um"), ("Ch", 2, 0, "")]
    path = tmp_path / "f.tif"
    write_fluoview(path, planes, mm_header("cells", dims))
    index = tiffzarr.open_tiff(str(path))
    with tifffile.TiffFile(path) as tf:
        (want,) = tf.series
        assert want.kind == "fluoview"
        (got,) = index.series
        assert (got.kind, got.name, got.shape, got.axes) == (
            want.kind,
            want.name,
            want.shape,
            want.axes,
        )
        # unused dimensions: length 1 here, 0 in tifffile's unsqueezed shape (no data)
        full = tuple(n or 1 for n in want.get_shape(False))
        assert got.get_shape(False) == full
        np.testing.assert_array_equal(read(path), want.asarray())
    assert got.scales["X"].size == 0.2 and got.scales["X"].unit == "micrometer"
    assert got.scales["Z"].size == 1.5
    assert got.attrs["fluoview"]["ImageName"] == "cells"
    assert got.attrs["fluoview"]["Stamp"] == list(range(8))


def test_time_series_reads_as_tifffile_reads_it(tmp_path: Path) -> None:
    planes = RNG.integers(0, 255, (4, 8, 8), dtype="uint8")
    dims = [("X", 8, 1.0, "um"), ("Y", 8, 1.0, "um"), ("T", 4, 2.0, "s")]
    path = tmp_path / "t.tif"
    write_fluoview(path, planes, mm_header("movie", dims))
    with tifffile.TiffFile(path) as tf:
        want = tf.series[0]
        got = tiffzarr.open_tiff(str(path)).series[0]
        assert (got.shape, got.axes) == (want.shape, want.axes)
        np.testing.assert_array_equal(read(path), want.asarray())
    assert got.scales["T"].unit == "second"


def test_header_claiming_more_planes_gives_fill_with_a_warning(tmp_path: Path) -> None:
    planes = RNG.integers(0, 255, (2, 8, 8), dtype="uint8")
    dims = [("X", 8, 1.0, ""), ("Y", 8, 1.0, ""), ("Z", 3, 1.0, "")]
    path = tmp_path / "short.tif"
    write_fluoview(path, planes, mm_header("short", dims))
    with pytest.warns(TiffFormatWarning, match="missing ones are fill"):
        index = tiffzarr.open_tiff(str(path))
    assert index.series[0].shape == (3, 8, 8)
    data = read(path)
    np.testing.assert_array_equal(data[:2], planes)
    assert not data[2].any()


@pytest.mark.parametrize(
    ("dims", "blob", "message"),
    [
        ([("X", 8, 1.0, ""), ("Y", 8, 1.0, ""), ("Z", 2**31 - 1, 1.0, "")], None, "claims"),
        ([("X", 8, 1.0, ""), ("Y", 8, 1.0, ""), ("Z", -5, 1.0, "")], None, "dimensions"),
        ([("X", 8, 1.0, ""), ("Y", 8, 1.0, "")], b"\x02\x00short", "MM_HEADER"),
    ],
    ids=["absurd-count", "negative", "cut"],
)
def test_hostile_headers_fall_back_to_generic_with_bounded_memory(
    tmp_path: Path, dims: list[tuple[str, int, float, str]], blob: bytes | None, message: str
) -> None:
    planes = RNG.integers(0, 255, (2, 8, 8), dtype="uint8")
    path = tmp_path / "bad.tif"
    write_fluoview(path, planes, blob if blob is not None else mm_header("bad", dims))
    tracemalloc.start()
    with pytest.warns(TiffFormatWarning, match=message):
        index = tiffzarr.open_tiff(str(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * 2**20
    assert index.series[0].kind == "generic"
    np.testing.assert_array_equal(read(path).reshape(planes.shape), planes)
