"""Zeiss LSM series: dimensions and axes from CZ_LSMINFO, the image and thumbnail
series, offsets wrapped past 4 GiB, compressed byte counts, scales, channels and
records, as tifffile reads them; damaged structures."""

from __future__ import annotations

import os
import struct
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

import tiffzarr
from tests._microscopy_tiff import BYTE, SHORT, TiffBuilder, image_tags, planes_bytes
from tiffzarr.errors import TiffFormatWarning
from tiffzarr.model import AxisScale, Channel

RNG = np.random.default_rng(5)
MAGIC = 0x0400494C

# CZ_LSMINFO as the LSM 5 file format describes it: (name, struct code)
LSMINFO = [
    ("MagicNumber", "I"), ("StructureSize", "i"), ("DimensionX", "i"), ("DimensionY", "i"),
    ("DimensionZ", "i"), ("DimensionChannels", "i"), ("DimensionTime", "i"),
    ("DataType", "i"), ("ThumbnailX", "i"), ("ThumbnailY", "i"), ("VoxelSizeX", "d"),
    ("VoxelSizeY", "d"), ("VoxelSizeZ", "d"), ("OriginX", "d"), ("OriginY", "d"),
    ("OriginZ", "d"), ("ScanType", "H"), ("SpectralScan", "H"), ("TypeOfData", "I"),
    ("OffsetVectorOverlay", "I"), ("OffsetInputLut", "I"), ("OffsetOutputLut", "I"),
    ("OffsetChannelColors", "I"), ("TimeIntervall", "d"), ("OffsetChannelDataTypes", "I"),
    ("OffsetScanInformation", "I"), ("OffsetKsData", "I"), ("OffsetTimeStamps", "I"),
    ("OffsetEventList", "I"), ("OffsetRoi", "I"), ("OffsetBleachRoi", "I"),
    ("OffsetNextRecording", "I"), ("DisplayAspectX", "d"), ("DisplayAspectY", "d"),
    ("DisplayAspectZ", "d"), ("DisplayAspectTime", "d"), ("OffsetMeanOfRoisOverlay", "I"),
    ("OffsetTopoIsolineOverlay", "I"), ("OffsetTopoProfileOverlay", "I"),
    ("OffsetLinescanOverlay", "I"), ("ToolbarFlags", "I"), ("OffsetChannelWavelength", "I"),
    ("OffsetChannelFactors", "I"), ("ObjectiveSphereCorrection", "d"),
    ("OffsetUnmixParameters", "I"), ("OffsetAcquisitionParameters", "I"),
    ("OffsetCharacteristics", "I"), ("OffsetPalette", "I"), ("TimeDifferenceX", "d"),
    ("TimeDifferenceY", "d"), ("TimeDifferenceZ", "d"), ("InternalUse1", "I"),
    ("DimensionP", "i"), ("DimensionM", "i"), ("DimensionsReserved", "16i"),
    ("OffsetTilePositions", "I"), ("Reserved", "9I"), ("OffsetPositions", "I"),
]  # fmt: skip
LSMINFO_FORMAT = "<" + "".join(code for _, code in LSMINFO)


def pack_lsminfo(**values: Any) -> bytes:
    size = struct.calcsize(LSMINFO_FORMAT)
    fields: list[Any] = []
    for name, code in LSMINFO:
        count = int(code[:-1]) if code[:-1] else 1
        default = {"MagicNumber": MAGIC, "StructureSize": size}.get(name, 0)
        fields += [values.get(name, default)] * count
    return struct.pack(LSMINFO_FORMAT, *fields)


def channel_colors(names: list[str], colors: list[tuple[int, int, int]]) -> bytes:
    header = 24
    color_bytes = b"".join(bytes([*c, 0]) for c in colors)
    name_bytes = b"".join(struct.pack("<I", len(n) + 1) + n.encode() + b"\x00" for n in names)
    size = header + len(color_bytes) + len(name_bytes)
    head = struct.pack("<6I", size, len(colors), len(names), header, header + len(color_bytes), 0)
    return head + color_bytes + name_bytes


def scan_info(name: str, channels: list[str]) -> bytes:
    def entry(code: int, kind: int, payload: bytes = b"") -> bytes:
        return struct.pack("<3I", code, kind, len(payload)) + payload

    out = entry(0x10000000, 0) + entry(0x10000001, 2, name.encode() + b"\x00")
    out += entry(0x10000004, 2, b"Plan-Apochromat 63x\x00") + entry(0xC0000000, 0)
    for channel in channels:
        out += entry(0xD0000000, 0) + entry(0xD0000001, 2, channel.encode() + b"\x00")
        out += entry(0xD0000006, 4, struct.pack("<i", 16)) + entry(0xFFFFFFFF, 0)
    return (
        out
        + entry(0xFFFFFFFF, 0)
        + entry(0x10000016, 5, struct.pack("<d", 2.0))
        + entry(0xFFFFFFFF, 0)
    )


def write_lsm(
    path: Path,
    images: np.ndarray,
    *,
    scantype: int,
    dims: dict[str, int],
    thumbnail: tuple[int, int] | None = (6, 8),
    planar: int = 2,
    voxel: tuple[float, float, float] = (0.2e-6, 0.3e-6, 1.5e-6),
    interval: float = 0.0,
    records: bool = True,
    compress: bool = False,
    place: list[int] | None = None,
    info_extra: dict[str, Any] | None = None,
) -> list[tuple[int, bytes]]:
    """An LSM file: one page per plane (channels as separate planes, or one channel),
    each followed by its 8-bit thumbnail. ``images`` is ``(pages, C, Y, X)``.

    With ``place``, the pixels of page *k* (image and thumbnail alternating) go to
    file offset ``place[k]`` and are returned instead of written: the offsets in the
    file are stored modulo 2**32, as the LSM writer does.
    """
    _, nchannels, length, width = images.shape
    b = TiffBuilder()
    offsets: dict[str, int] = {}
    names = [f"Ch{k + 1}" for k in range(nchannels)]
    if records:
        colors = [(255, 0, 0), (0, 255, 0), (0, 0, 255)][:nchannels]
        offsets["OffsetChannelColors"] = b.put(channel_colors(names, colors))
        stamps = [1.5 * k for k in range(max(1, dims.get("DimensionTime", 1)))]
        stamp_bytes = struct.pack(f"<ii{len(stamps)}d", 8 + 8 * len(stamps), len(stamps), *stamps)
        offsets["OffsetTimeStamps"] = b.put(stamp_bytes)
        offsets["OffsetScanInformation"] = b.put(scan_info("recording 1", names))
    fields = {
        **dims,
        "DimensionX": width,
        "DimensionY": length,
        "DimensionChannels": nchannels,
        "ScanType": scantype,
        "ThumbnailX": (thumbnail or (0, 0))[1],
        "ThumbnailY": (thumbnail or (0, 0))[0],
        "VoxelSizeX": voxel[0],
        "VoxelSizeY": voxel[1],
        "VoxelSizeZ": voxel[2],
        "TimeIntervall": interval,
        **offsets,
        **(info_extra or {}),
    }
    info = pack_lsminfo(**fields)
    pending: list[tuple[int, bytes]] = []
    k = 0
    for index, image in enumerate(images):
        pages = [(image, 0)]
        if thumbnail is not None:
            small = image[:, :: length // thumbnail[0], :: width // thumbnail[1]]
            small = small[:, : thumbnail[0], : thumbnail[1]].astype("uint32") % 256
            pages.append((small.astype("uint8"), 1))
        for data, subfiletype in pages:
            strips = [planes_bytes(plane) for plane in data]
            counts = [len(s) for s in strips]
            if compress:
                strips = [zlib.compress(s) for s in strips]
            if place is not None:
                starts = [place[k] + sum(len(s) for s in strips[:j]) for j in range(len(strips))]
                pending += [(start, s) for start, s in zip(starts, strips, strict=True)]
                starts = [start % 2**32 for start in starts]
            else:
                starts = [b.put(s) for s in strips]
            k += 1
            samples = len(strips) if planar == 2 else 1
            tags = image_tags(
                data.shape[-2:],
                starts,
                counts,
                bits=data.dtype.itemsize * 8,
                samples=samples,
                planar=planar,
                subfiletype=subfiletype,
                compression=8 if compress else 1,
            )
            if samples == 2:  # as Zeiss writes it: the two values elsewhere, their offset inline
                bits = b.put(struct.pack("<2H", *[data.dtype.itemsize * 8] * 2))
                tags = [
                    t if t[0] != 258 else (258, SHORT, 2, struct.pack("<I", bits)) for t in tags
                ]
            if index == 0 and subfiletype == 0:
                tags.append((34412, BYTE, len(info), info))
            b.ifd(tags)
    path.write_bytes(b.bytes())
    return pending


def write_sparse(path: Path, size: int, pending: list[tuple[int, bytes]]) -> None:
    with open(path, "r+b") as f:
        f.truncate(size)
        for offset, data in pending:
            f.seek(offset)
            f.write(data)


def read(index: tiffzarr.TiffIndex, series: int) -> np.ndarray:
    store = tiffzarr.open_store(index, series=series, level=0)
    return np.asarray(zarr.open_array(store, mode="r")[...])


def assert_like_tifffile(path: Path, index: tiffzarr.TiffIndex) -> None:
    """Every series equals tifffile's: kind, name, shapes, axes, pixels."""
    with tifffile.TiffFile(path) as tf:
        assert tf.is_lsm
        assert len(index.series) == len(tf.series)
        for k, (got, want) in enumerate(zip(index.series, tf.series, strict=True)):
            assert (got.kind, got.name) == (want.kind, want.name)
            assert (got.shape, got.axes) == (want.shape, want.axes)
            assert got.get_shape(False) == want.get_shape(False)
            assert got.get_axes(False) == want.get_axes(False)
            np.testing.assert_array_equal(read(index, k), want.asarray())
    assert not index.warnings


def test_stack_of_channels_and_its_thumbnails_match_tifffile(tmp_path: Path) -> None:
    images = RNG.integers(0, 4095, (3, 2, 16, 12), dtype="uint16")
    path = tmp_path / "stack.lsm"
    write_lsm(path, images, scantype=0, dims={"DimensionZ": 3})
    index = tiffzarr.open_tiff(str(path))
    assert_like_tifffile(path, index)
    main, thumbs = index.series
    assert main.axes == "ZCYX" and main.shape == (3, 2, 16, 12)
    assert thumbs.shape == (3, 2, 6, 8)
    np.testing.assert_array_equal(read(index, 0), images)
    assert main.scales == {
        "X": AxisScale(pytest.approx(0.2), "micrometer"),  # type: ignore[arg-type]
        "Y": AxisScale(pytest.approx(0.3), "micrometer"),  # type: ignore[arg-type]
        "Z": AxisScale(pytest.approx(1.5), "micrometer"),  # type: ignore[arg-type]
    }
    assert main.channels == (Channel("Ch1", "FF0000"), Channel("Ch2", "00FF00"))
    lsm = main.attrs["lsm"]
    assert lsm["DimensionZ"] == 3 and lsm["ScanType"] == 0
    assert lsm["ScanInformation"]["Name"] == "recording 1"
    assert [c["Name"] for c in lsm["ScanInformation"]["DataChannels"]] == ["Ch1", "Ch2"]
    assert lsm["ScanInformation"]["ZoomX"] == 2.0
    assert lsm["TimeStamps"] == [0.0]
    with tifffile.TiffFile(path) as tf:
        want = tf.lsm_metadata
        assert lsm["ScanInformation"] == want["ScanInformation"]
        assert lsm["ChannelColors"] == want["ChannelColors"] | {"Mono": False}
        assert lsm["VoxelSizeZ"] == want["VoxelSizeZ"]


def test_time_series_of_stacks_of_one_channel_match_tifffile(tmp_path: Path) -> None:
    images = RNG.integers(0, 255, (6, 1, 8, 8), dtype="uint8")
    path = tmp_path / "tz.lsm"
    write_lsm(
        path, images, scantype=6, dims={"DimensionZ": 3, "DimensionTime": 2}, planar=1,
        interval=2.5,
    )  # fmt: skip
    index = tiffzarr.open_tiff(str(path))
    assert_like_tifffile(path, index)
    main = index.series[0]
    assert main.get_axes(False) == "TZYXC" and main.axes == "TZYX"
    assert main.scales["T"] == AxisScale(2.5, "second")


def test_positions_come_first_and_files_without_thumbnails_have_one_series(
    tmp_path: Path,
) -> None:
    images = RNG.integers(0, 255, (4, 2, 8, 8), dtype="uint16")
    path = tmp_path / "p.lsm"
    # every page is an image: tifffile still takes every second one, as the LSM layout says
    write_lsm(path, images, scantype=3, dims={"DimensionTime": 1, "DimensionP": 2}, thumbnail=None)
    with pytest.warns(TiffFormatWarning) as record:
        index = tiffzarr.open_tiff(str(path))
    left_out = sorted(str(w.message).split(": page ")[1][0] for w in record)
    assert left_out == ["1", "3"]  # the pages in the thumbnails' places, reported
    assert index.series[0].get_axes(False) == "PTCYX"
    with tifffile.TiffFile(path) as tf:
        (want,) = tf.series
        got = index.series[0]
        assert (got.shape, got.axes) == (want.shape, want.axes)
        np.testing.assert_array_equal(read(index, 0), want.asarray())


def test_offsets_past_4_gib_are_unwrapped_as_tifffile_does(tmp_path: Path) -> None:
    images = RNG.integers(0, 65535, (3, 1, 8, 8), dtype="uint16")
    path = tmp_path / "big.lsm"
    # image/thumbnail pixels in writing order, the last pair beyond 4 GiB
    place = [4096, 8192, 2**32 - 4096, 2**32 - 1024, 2**32 + 512, 2**32 + 2048]
    pending = write_lsm(path, images, scantype=0, dims={"DimensionZ": 3}, planar=1, place=place)
    write_sparse(path, 2**32 + 8192, pending)
    index = tiffzarr.open_tiff(str(path))
    assert_like_tifffile(path, index)
    np.testing.assert_array_equal(read(index, 0), images[:, 0])
    assert index.pages[4].segments is not None
    assert index.pages[4].segments.offsets[0] == 2**32 + 512


def test_compressed_strips_get_their_real_byte_counts(tmp_path: Path) -> None:
    images = RNG.integers(0, 16, (2, 2, 16, 16), dtype="uint16")  # compressible
    path = tmp_path / "zip.lsm"
    write_lsm(path, images, scantype=0, dims={"DimensionZ": 2}, compress=True)
    index = tiffzarr.open_tiff(str(path))
    assert_like_tifffile(path, index)
    table = index.pages[0].segments
    assert table is not None
    assert table.bytecounts[0] == table.offsets[1] - table.offsets[0] < 16 * 16 * 2


def test_missing_planes_are_fill_with_a_warning(tmp_path: Path) -> None:
    images = RNG.integers(1, 255, (2, 1, 8, 8), dtype="uint16")
    path = tmp_path / "cut.lsm"
    write_lsm(path, images, scantype=0, dims={"DimensionZ": 5}, records=False)
    with pytest.warns(TiffFormatWarning, match="the missing ones are fill"):
        index = tiffzarr.open_tiff(str(path))
    data = read(index, 0)
    assert data.shape in ((5, 1, 8, 8), (5, 8, 8))
    np.testing.assert_array_equal(data[:2].reshape(2, 8, 8), images[:, 0])
    assert not data[2:].any()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"MagicNumber": 0x12345678}, "magic number"),
        ({"ScanType": 99}, "scan type 99"),
        ({"DimensionZ": 2**31 - 1}, "claims 2147483647 pages"),
        ({"StructureSize": 2**30}, "CZ_LSMINFO"),
    ],
    ids=["magic", "scantype", "absurd-depth", "absurd-size"],
)
def test_hostile_lsminfo_falls_back_to_generic(
    tmp_path: Path, extra: dict[str, int], message: str
) -> None:
    images = RNG.integers(0, 255, (2, 1, 8, 8), dtype="uint8")
    path = tmp_path / "bad.lsm"
    write_lsm(path, images, scantype=0, dims={"DimensionZ": 2}, info_extra=extra)
    tracemalloc.start()
    with pytest.warns(TiffFormatWarning, match=message):
        index = tiffzarr.open_tiff(str(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * 2**20  # bounded by the file, not by the counts it claims
    assert index.series and index.series[0].kind in ("generic", "lsm")
    if index.series[0].kind == "lsm":  # a structure read as far as the file holds it
        assert extra == {"StructureSize": 2**30}


def test_records_outside_the_file_or_cut_are_warned(tmp_path: Path) -> None:
    images = RNG.integers(0, 255, (2, 1, 8, 8), dtype="uint8")
    path = tmp_path / "rec.lsm"
    extra = {"OffsetTimeStamps": 2**31, "OffsetEventList": 8, "OffsetPositions": 12}
    write_lsm(path, images, scantype=0, dims={"DimensionZ": 2}, info_extra=extra)
    with pytest.warns(TiffFormatWarning) as record:
        index = tiffzarr.open_tiff(str(path))
    messages = " ".join(str(w.message) for w in record)
    assert "TimeStamps record at 2147483648 is past the end of the file" in messages
    assert index.series[0].kind == "lsm"
    assert "TimeStamps" not in index.series[0].attrs["lsm"]
    assert os.path.getsize(path) < 10_000
