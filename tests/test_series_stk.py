"""MetaMorph STK series: the planes after the first page, their axis, name, metadata
and scales, as tifffile reads them; remote cost; damaged UIC tags."""

from __future__ import annotations

import struct
import tracemalloc
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

import tiffzarr
from tests._microscopy_tiff import (
    ASCII,
    LONG,
    RATIONAL,
    TiffBuilder,
    fraction_pairs,
    image_tags,
    planes_bytes,
)
from tests.conftest import CORPUS, require
from tiffzarr.errors import TiffFormatWarning
from tiffzarr.model import AxisScale
from tiffzarr.testing import serve

RNG = np.random.default_rng(11)
JULIAN_2020_01_01 = 2458849


def pascal(text: str) -> bytes:
    """A UIC string: its length (with the NUL MetaMorph drops), then the bytes."""
    data = text.encode() + b"\x00"
    return struct.pack("<I", len(data)) + data


def write_stk(
    path: Path,
    planes: np.ndarray,
    *,
    name: str = "Stack 1",
    zdistance: list[float] | None = None,
    times: list[int] | None = None,
    calibration: tuple[float, float, str] = (0.5, 0.25, "um"),
    metadata_first: bool = False,
    uic2_count: int | None = None,
    uic1_extra: tuple[tuple[int, int], ...] = (),
    uic4: bytes | None = None,
    uic4_count: int | None = None,
    compressed: bool = False,
) -> None:
    """An STK file laid out as MetaMorph writes one (pixels; UIC2, UIC3, descriptions,
    the values UIC1 points to, UIC1, UIC4; the IFD), or with the IFD and that metadata
    first (``metadata_first``)."""
    n, length, width = planes.shape
    zdistance = zdistance if zdistance is not None else [0.0] * n
    times = times if times is not None else [1000 * k for k in range(n)]
    pixels = planes_bytes(planes)
    if compressed:
        pixels = zlib.compress(pixels[: length * width * 2])
    xcal, ycal, units = calibration
    uic2: list[int] = []
    for k in range(n):
        uic2 += [*fraction_pairs([zdistance[k]]), JULIAN_2020_01_01, times[k], 0, 0]
    wave = fraction_pairs([500.0 + k for k in range(n)])
    stage = fraction_pairs([v for k in range(n) for v in (10.0 * k, 2.5)])
    if uic4 is None:
        uic4 = (
            struct.pack(f"<H{len(stage)}I", 28, *stage)
            + struct.pack("<H", 37)
            + b"".join(pascal(f"pos {k}") for k in range(n))
            + struct.pack("<H2IH", 46, 2, 2, 0)
        )
    description = "\x00".join(f"plane {k}" for k in range(n)).encode() + b"\x00"

    def build(pixel_offset: int) -> tuple[TiffBuilder, int]:
        b = TiffBuilder()
        at = pixel_offset if metadata_first else b.put(pixels)
        slot = b.reserve(16) if metadata_first else None
        uic2_at = b.put(struct.pack(f"<{len(uic2)}I", *uic2))
        uic3_at = b.put(struct.pack(f"<{len(wave)}I", *wave))
        description_at = b.put(description)
        refs = {
            4: b.put(struct.pack("<2I", *fraction_pairs([xcal]))),
            5: b.put(struct.pack("<2I", *fraction_pairs([ycal]))),
            6: b.put(pascal(units)),
            7: b.put(pascal(name)),
            16: b.put(struct.pack("<2I", JULIAN_2020_01_01, 3_600_000)),
        }
        prop = b.put(bytes(4) + bytes([9]) + b"Bit Depth" + struct.pack("<IB2I", 0, 1, 12, 1))
        pairs = [(0, 1), (3, 1), (15, 100), *sorted(refs.items()), (49, prop), *uic1_extra]
        uic1_at = b.put(struct.pack(f"<{2 * len(pairs)}I", *np.ravel(pairs)))
        uic4_at = b.put(uic4)
        tags = image_tags(
            (length, width),
            [at],
            [len(pixels) if compressed else length * width * 2],
            rowsperstrip=length,
            compression=8 if compressed else 1,
        )
        entries = [
            *tags,
            (270, ASCII, len(description), description_at),
            (33628, LONG, len(pairs), uic1_at),
            (33629, RATIONAL, uic2_count or n, uic2_at),
            (33630, RATIONAL, n, uic3_at),
            (33631, LONG, uic4_count or n, uic4_at),
        ]
        b.ifd(entries, at=slot)
        return b, len(tags) + 5

    b, nentries = build(0)
    assert nentries == 16
    if metadata_first:
        offset = len(b.buf) + len(b.buf) % 2
        b, _ = build(offset)
        assert b.put(pixels) == offset
    path.write_bytes(b.bytes())


def open_quiet(path: Path | str) -> tiffzarr.TiffIndex:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TiffFormatWarning)
        return tiffzarr.open_tiff(str(path))


def read(path: Path | str, series: int = 0) -> np.ndarray:
    store = tiffzarr.open_store(str(path), series=series, level=0)
    return np.asarray(zarr.open_array(store, mode="r")[...])


def assert_like_tifffile(path: Path, index: tiffzarr.TiffIndex) -> dict[str, Any]:
    """The one series equals tifffile's (kind, name, shapes, axes, pixels); tifffile's
    STK metadata is returned."""
    with tifffile.TiffFile(path) as tf:
        assert tf.is_stk
        (want,) = tf.series
        got = index.series[0]
        assert len(index.series) == 1
        assert (got.kind, got.name) == (want.kind, want.name)
        assert (got.shape, got.axes) == (want.shape, want.axes)
        assert got.get_shape(False) == want.get_shape(False)
        assert got.get_axes(False) == want.get_axes(False)
        np.testing.assert_array_equal(read(path), want.asarray())
        return dict(tf.stk_metadata)


def test_z_stack_shape_name_pixels_metadata_and_scales_match_tifffile(tmp_path: Path) -> None:
    planes = RNG.integers(0, 4000, (5, 12, 10), dtype="uint16")
    path = tmp_path / "z.stk"
    write_stk(path, planes, name="Z series", zdistance=[0.5] * 5)
    index = tiffzarr.open_tiff(str(path))
    meta = assert_like_tifffile(path, index)
    got = index.series[0]
    assert got.axes == "ZYX" and got.name == "Z series"
    stk = got.attrs["metamorph"]
    assert stk["NumberPlanes"] == 5
    assert stk["ZDistance"] == meta["ZDistance"].tolist() == [0.5] * 5
    assert stk["Wavelengths"] == meta["Wavelengths"].tolist()
    assert stk["StagePosition"] == meta["StagePosition"].tolist()
    assert stk["StageLabel"] == meta["StageLabel"] == [f"pos {k}" for k in range(5)]
    assert stk["CameraBin"] == list(meta["CameraBin"]) == [2, 2]
    assert stk["CreateTime"] == meta["CreateTime"].isoformat() == "2020-01-01T01:00:00"
    assert stk["PlaneProperty"] == meta["PlaneProperty"]
    assert stk["Description"] == "plane 0"
    assert got.scales["X"] == AxisScale(0.5, "micrometer")
    assert got.scales["Y"] == AxisScale(0.25, "micrometer")
    assert got.scales["Z"] == AxisScale(0.5, "micrometer")


@pytest.mark.parametrize(
    ("times", "axes"), [([0, 40, 80, 120], "TYX"), ([7, 7, 7, 7], "IYX")], ids=["T", "I"]
)
def test_planes_without_z_are_time_when_made_apart_else_a_sequence(
    tmp_path: Path, times: list[int], axes: str
) -> None:
    planes = RNG.integers(0, 255, (4, 6, 8), dtype="uint16")
    path = tmp_path / "t.stk"
    write_stk(path, planes, times=times, metadata_first=True)
    index = tiffzarr.open_tiff(str(path))
    assert_like_tifffile(path, index)
    assert index.series[0].axes == axes
    assert "Z" not in index.series[0].scales


def test_one_plane_is_the_page_itself(tmp_path: Path) -> None:
    planes = RNG.integers(0, 255, (1, 6, 8), dtype="uint16")
    path = tmp_path / "one.stk"
    write_stk(path, planes)
    index = tiffzarr.open_tiff(str(path))
    assert_like_tifffile(path, index)
    assert index.series[0].get_shape(False) == (1, 6, 8)


def test_corpus_movie_metadata_matches_tifffile() -> None:
    path = require(CORPUS, "corpus") / "files/imageio-test-images/movie.stk"
    index = tiffzarr.open_tiff(str(path))
    meta = assert_like_tifffile(path, index)
    stk = index.series[0].attrs["metamorph"]
    assert stk["Name"] == meta["Name"] == "Temporary Timelapse Image"
    assert stk["TimeCreated"] == meta["TimeCreated"].tolist()
    created = [str(t.astype("datetime64[ms]")) for t in meta["DatetimeCreated"]]
    assert [t[:23] for t in stk["DatetimeCreated"]] == created
    assert stk["MinScale"] == meta["MinScale"]  # UIC4 overrides UIC1, as in tifffile
    assert index.series[0].scales["X"] == AxisScale(1.0, None)


def test_a_thousand_planes_open_remotely_in_two_requests(tmp_path: Path) -> None:
    planes = RNG.integers(0, 60000, (1000, 16, 16), dtype="uint16")
    write_stk(tmp_path / "big.stk", planes, zdistance=[1.5] * 1000, metadata_first=True)
    with serve(tmp_path) as server:
        tiffzarr.clear_cache()
        server.stats.reset()
        index = tiffzarr.open_tiff(server.url_for("big.stk"))
        assert server.stats.requests <= 2
        assert index.series[0].shape == (1000, 16, 16)
        assert index.series[0].attrs["metamorph"]["ZDistance"] == {"count": 1000, "value": 1.5}
        array = zarr.open_array(tiffzarr.open_store(index, series=0, level=0), mode="r")
        np.testing.assert_array_equal(array[[0, 499, 999]], planes[[0, 499, 999]])


def test_metamorph_layout_costs_few_requests(tmp_path: Path) -> None:
    planes = RNG.integers(0, 60000, (1000, 16, 16), dtype="uint16")
    write_stk(tmp_path / "mm.stk", planes, zdistance=[1.5] * 1000)
    with serve(tmp_path) as server:
        tiffzarr.clear_cache()
        server.stats.reset()
        index = open_quiet(server.url_for("mm.stk"))
        assert index.series[0].shape == (1000, 16, 16)
        assert server.stats.requests <= 4  # head, IFD, values before it, UIC4 rest


def test_planes_past_the_end_cut_the_series_with_a_warning(tmp_path: Path) -> None:
    planes = RNG.integers(0, 255, (6, 4, 4), dtype="uint16")
    path = tmp_path / "cut.stk"
    write_stk(path, planes, uic2_count=10, metadata_first=True)
    with pytest.warns(TiffFormatWarning, match="holds 6 of its 10 planes"):
        index = tiffzarr.open_tiff(str(path))
    assert index.series[0].shape == (6, 4, 4)
    np.testing.assert_array_equal(read(path), planes)


def test_absurd_plane_count_is_bounded(tmp_path: Path) -> None:
    planes = RNG.integers(0, 255, (3, 4, 4), dtype="uint16")
    path = tmp_path / "absurd.stk"
    write_stk(path, planes, uic2_count=2**30, metadata_first=True)
    tracemalloc.start()
    with pytest.warns(TiffFormatWarning) as record:
        index = tiffzarr.open_tiff(str(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * 2**20  # bounded by the file, not by the counts it claims
    assert index.series[0].kind == "stk"
    assert index.series[0].shape[0] <= 4  # what the file can hold
    assert any("UIC2tag" in str(w.message) for w in record)


def test_uic_values_outside_the_file_are_warned_and_skipped(tmp_path: Path) -> None:
    planes = RNG.integers(0, 255, (2, 4, 4), dtype="uint16")
    path = tmp_path / "bad.stk"
    # grayUnitName far outside the file, Name pointing into the pixels (a huge length)
    write_stk(path, planes, uic1_extra=((25, 2**31), (7, 12)))
    with pytest.warns(TiffFormatWarning) as record:
        index = tiffzarr.open_tiff(str(path))
    messages = " ".join(str(w.message) for w in record)
    assert "grayUnitName: offset 2147483648 is outside the file" in messages
    assert "UIC Name: a string of" in messages
    got = index.series[0]
    assert got.kind == "stk" and got.shape == (2, 4, 4) and got.name == ""
    assert got.attrs["metamorph"]["grayUnitName"] is None
    np.testing.assert_array_equal(read(path), planes)


def test_uic4_records_past_the_end_of_the_file_are_bounded(tmp_path: Path) -> None:
    planes = RNG.integers(0, 255, (2, 4, 4), dtype="uint16")
    path = tmp_path / "uic4.stk"
    write_stk(path, planes, uic4_count=2**28)  # StagePosition would take 4 GiB
    tracemalloc.start()
    with pytest.warns(TiffFormatWarning) as record:
        index = tiffzarr.open_tiff(str(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert any("UIC4tag runs past the end of the file" in str(w.message) for w in record)
    assert peak < 50 * 2**20
    assert index.series[0].shape == (2, 4, 4)
    assert "StagePosition" not in index.series[0].attrs["metamorph"]


def test_compressed_planes_cannot_be_located_and_fall_back_to_generic(tmp_path: Path) -> None:
    planes = RNG.integers(0, 255, (3, 8, 8), dtype="uint16")
    path = tmp_path / "zip.stk"
    write_stk(path, planes, compressed=True)
    with pytest.warns(TiffFormatWarning, match="not uncompressed contiguous strips"):
        index = tiffzarr.open_tiff(str(path))
    assert index.series[0].kind == "generic"
    np.testing.assert_array_equal(read(path), planes[0])
