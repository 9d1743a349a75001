"""Micro-Manager stacks (MMStack): files built from the published layout, read like
tifffile reads them (shape, axes, pixels), over several files, and with broken
metadata (a warning and the series the next interpreters find)."""

from __future__ import annotations

import json
import struct
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

import tiffzarr
from tests._handmade_tiff import RATIONAL, SHORT, Image, Tag, build
from tiffzarr.errors import TiffFormatWarning
from tiffzarr.model import AxisScale

MM_TAG = 51123
INDEX_MAP_HEADER, INDEX_MAP_BLOCK = 54773648, 3453623
DISPLAY_HEADER, DISPLAY_BLOCK = 483765892, 347834724
SUMMARY_HEADER = 2355492


def summary_of(frames: int, positions: int, slices: int, channels: int, **more: Any) -> dict:
    return {
        "MicroManagerVersion": "2.0.0",
        "Frames": frames,
        "Positions": positions,
        "Slices": slices,
        "Channels": channels,
        "Prefix": "ds",
        **more,
    }


def mm_file(
    path: Path,
    planes: list[tuple[int, int, int, int]],
    summary: dict,
    *,
    byteorder: str = "<",
    seed: int = 0,
    shape: tuple[int, int] = (6, 5),
    description: str = "ImageJ=1.52\nimages=1\n",
) -> dict[tuple[int, int, int, int], np.ndarray]:
    """Write an MMStack file holding ``planes`` (channel, slice, frame, position) in
    that order; return each plane's pixels."""
    rng = np.random.default_rng(seed)
    pixels = {p: rng.integers(0, 60000, shape, dtype="uint16") for p in planes}
    images = []
    for k, (c, z, t, r) in enumerate(planes):
        meta = json.dumps({"ChannelIndex": c, "SliceIndex": z, "FrameIndex": t,
                           "PositionIndex": r, "PixelSize_um": 0.25})  # fmt: skip
        tags = [
            Tag(282, RATIONAL, 1, struct.pack(byteorder + "II", 4, 1)),
            Tag(283, RATIONAL, 1, struct.pack(byteorder + "II", 4, 1)),
            Tag(296, SHORT, 1, [1]),
            Tag.text(MM_TAG, meta),
        ]
        if k == 0:  # the first page has more tags, as Micro-Manager's does
            tags.append(Tag.text(270, description))
        images.append(Image(pixels[(c, z, t, r)], tags))
    text = json.dumps(summary).encode()
    written = build(images, byteorder=byteorder, blob=bytes(32) + text)
    for offset in written.ifds[1:]:  # Micro-Manager's layout: pixels 162 bytes after the IFD
        assert written.pixels[written.ifds.index(offset)] == offset + 162
    data = written.data
    index_at = len(data)
    data += struct.pack(byteorder + "II", INDEX_MAP_BLOCK, len(planes))
    for (c, z, t, r), ifd in zip(planes, written.ifds, strict=True):
        data += struct.pack(byteorder + "5I", c, z, t, r, ifd)
    display_at = len(data)
    data += struct.pack(byteorder + "II", DISPLAY_BLOCK, 2) + b"{}"
    data[8:40] = struct.pack(
        byteorder + "8I",
        INDEX_MAP_HEADER, index_at, DISPLAY_HEADER, display_at, 0, 0, SUMMARY_HEADER, len(text),
    )  # fmt: skip
    path.write_bytes(bytes(data))
    return pixels


def acquisition(frames: int, positions: int, slices: int, channels: int) -> list:
    return [
        (c, z, t, r)
        for t in range(frames)
        for r in range(positions)
        for z in range(slices)
        for c in range(channels)
    ]


def same_as_tifffile(path: Path) -> tiffzarr.TiffIndex:
    """Open ``path`` with both readers and check they agree; the tiffzarr index."""
    index = tiffzarr.open_tiff(str(path))
    with tifffile.TiffFile(path) as tf:
        want = tf.series[0]
        assert want.kind == "mmstack"
        got = index.series[0]
        assert (got.kind, got.shape, got.axes) == (want.kind, want.shape, want.axes)
        assert (got.get_shape(False), got.get_axes(False)) == (
            tuple(want.get_shape(False)),
            want.get_axes(False),
        )
        expected = want.asarray()
    np.testing.assert_array_equal(tiffzarr.imread(str(path)), expected)
    return index


def test_mmstack_series_matches_tifffile(tmp_path: Path) -> None:
    summary = summary_of(3, 2, 1, 2, ChNames=["DAPI", "GFP"], ChColors=[-16776961, -16711936],
                         **{"z-step_um": 1.5, "Interval_ms": 2000})  # fmt: skip
    path = tmp_path / "ds_MMStack_Pos0.ome.tif"
    pixels = mm_file(path, acquisition(3, 2, 1, 2), summary)
    index = same_as_tifffile(path)
    s = index.series[0]
    assert s.get_axes(False) == "TRZCYX" and s.get_shape(False) == (3, 2, 1, 2, 6, 5)
    np.testing.assert_array_equal(tiffzarr.imread(str(path))[2, 1, 1], pixels[(1, 0, 2, 1)])
    assert [c.name for c in s.channels] == ["DAPI", "GFP"]
    assert [c.color for c in s.channels] == ["0000FF", "00FF00"]
    assert s.scales["X"] == AxisScale(0.25, "micrometer")
    assert s.scales["Z"].size == 1.5 and s.scales["T"] == AxisScale(2.0, "second")
    assert s.attrs["micromanager"]["Summary"]["ChNames"] == ["DAPI", "GFP"]
    assert not index.warnings


def test_mmstack_axis_order_follows_summary_big_endian(tmp_path: Path) -> None:
    summary = summary_of(2, 1, 3, 2, TimeFirst=False, SlicesFirst=False)
    planes = [(c, z, t, 0) for t in range(2) for c in range(2) for z in range(3)]
    path = tmp_path / "ds_MMStack.ome.tif"
    mm_file(path, planes, summary, byteorder=">")
    index = same_as_tifffile(path)
    assert index.series[0].get_axes(False) == "RTCZYX"


def test_mmstack_missing_plane_is_fill_with_warning(tmp_path: Path) -> None:
    planes = acquisition(2, 1, 2, 1)
    del planes[1]  # (0, 1, 0, 0) was never written
    path = tmp_path / "ds_MMStack.ome.tif"
    mm_file(path, planes, summary_of(2, 1, 2, 1))
    with pytest.warns(TiffFormatWarning, match="missing 1 of 4 images"):
        index = tiffzarr.open_tiff(str(path))
    data = tiffzarr.imread(str(path))  # the parse is cached: no second warning
    with tifffile.TiffFile(path) as tf:
        assert index.series[0].shape == tf.series[0].shape == (2, 2, 6, 5)
        np.testing.assert_array_equal(data, tf.series[0].asarray())
    assert not data[0, 1].any()


def test_mmstack_positions_in_other_files(tmp_path: Path) -> None:
    summary = summary_of(2, 2, 1, 1, StagePositions=[{"label": "Pos0"}, {"label": "Pos1"}])
    mm_file(tmp_path / "ds_MMStack_Pos0.ome.tif", acquisition(2, 1, 1, 1), summary, seed=1)
    planes = [(0, 0, t, 1) for t in range(2)]
    second = mm_file(tmp_path / "ds_MMStack_Pos1.ome.tif", planes, summary, seed=2)
    index = same_as_tifffile(tmp_path / "ds_MMStack_Pos0.ome.tif")
    assert [Path(m.url).name for m in index.members] == ["ds_MMStack_Pos1.ome.tif"]
    data = tiffzarr.imread(str(tmp_path / "ds_MMStack_Pos0.ome.tif"))
    np.testing.assert_array_equal(data[1, 1], second[(0, 0, 1, 1)])


def test_mmstack_other_files_named_by_the_ome_xml(tmp_path: Path) -> None:
    summary = summary_of(2, 2, 1, 1)
    xml = (
        '<?xml version="1.0"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">'
        '<Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="uint16" '
        'SizeX="5" SizeY="6" SizeC="1" SizeZ="1" SizeT="2"><TiffData IFD="0" PlaneCount="2">'
        '<UUID FileName="ds_MMStack_left.ome.tif">urn:uuid:1</UUID></TiffData></Pixels></Image>'
        '<Image ID="Image:1"><Pixels ID="Pixels:1" DimensionOrder="XYCZT" Type="uint16" '
        'SizeX="5" SizeY="6" SizeC="1" SizeZ="1" SizeT="2"><TiffData IFD="0" PlaneCount="2">'
        '<UUID FileName="ds_MMStack_right.ome.tif">urn:uuid:2</UUID></TiffData></Pixels></Image>'
        "</OME>"
    )
    first = tmp_path / "ds_MMStack_left.ome.tif"
    mm_file(first, acquisition(2, 1, 1, 1), summary, seed=1, description=xml)
    mm_file(tmp_path / "ds_MMStack_right.ome.tif", [(0, 0, t, 1) for t in range(2)], summary)
    index = same_as_tifffile(first)
    assert [Path(m.url).name for m in index.members] == ["ds_MMStack_right.ome.tif"]


def test_mmstack_positions_in_other_files_over_http(tmp_path: Path) -> None:
    summary = summary_of(2, 2, 1, 1)
    mm_file(tmp_path / "ds_MMStack_Pos0.ome.tif", acquisition(2, 1, 1, 1), summary, seed=1)
    mm_file(tmp_path / "ds_MMStack_Pos1.ome.tif", [(0, 0, t, 1) for t in range(2)], summary)
    from tiffzarr.testing import serve

    with serve(tmp_path) as server:
        url = server.url_for("ds_MMStack_Pos0.ome.tif")
        index = tiffzarr.open_tiff(url)
        assert index.series[0].shape == (2, 2, 6, 5) and len(index.members) == 1
        np.testing.assert_array_equal(
            tiffzarr.imread(url), tiffzarr.imread(str(tmp_path / "ds_MMStack_Pos0.ome.tif"))
        )


def test_mmstack_missing_file_serves_this_files_part(tmp_path: Path) -> None:
    path = tmp_path / "ds_MMStack_Pos1.ome.tif"
    mm_file(path, [(0, 0, t, 1) for t in range(3)], summary_of(3, 2, 1, 1))
    with pytest.warns(TiffFormatWarning, match="missing files"):
        index = tiffzarr.open_tiff(str(path))
    with tifffile.TiffFile(path) as tf:
        assert index.series[0].shape == tf.series[0].shape == (3, 6, 5)
        assert index.series[0].get_shape(False) == tuple(tf.series[0].get_shape(False))
        np.testing.assert_array_equal(tiffzarr.imread(str(path)), tf.series[0].asarray())


def hostile(path: Path, patch: dict[int, bytes]) -> None:
    mm_file(path, acquisition(8, 1, 1, 1), summary_of(8, 1, 1, 1))
    data = bytearray(path.read_bytes())
    for offset, value in patch.items():
        data[offset : offset + len(value)] = value
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({8: b"\xff" * 32}, "no Micro-Manager"),
        ({40: b"{not json"}, "summary metadata are not valid"),
        ({36: struct.pack("<I", 2**31)}, "summary metadata of"),
    ],
    ids=["garbage-header", "bad-summary-json", "absurd-summary-length"],
)
def test_mmstack_hostile_header_falls_back(tmp_path: Path, patch: dict, message: str) -> None:
    path = tmp_path / "ds_MMStack.ome.tif"
    hostile(path, patch)
    with pytest.warns(TiffFormatWarning, match=message):
        index = tiffzarr.open_tiff(str(path))
    with tifffile.TiffFile(path) as tf:
        assert index.series[0].kind == tf.series[0].kind
        np.testing.assert_array_equal(tiffzarr.imread(str(path)), tf.series[0].asarray())


def test_mmstack_absurd_index_map_count_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "ds_MMStack.ome.tif"
    hostile(path, {})
    data = bytearray(path.read_bytes())
    (index_at,) = struct.unpack_from("<I", data, 12)
    struct.pack_into("<I", data, index_at + 4, 2**32 - 1)
    path.write_bytes(bytes(data))
    tracemalloc.start()
    with pytest.warns(TiffFormatWarning, match="index map"):
        index = tiffzarr.open_tiff(str(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * 2**20  # not one entry per claimed plane
    assert index.series[0].shape == (8, 6, 5)


@pytest.mark.parametrize(
    "summary",
    [summary_of("lots", 1, 1, 1), summary_of(8, 10**12, 1, 1), summary_of(8, 1, [1], 1)],
    ids=["text-frames", "absurd-positions", "list-slices"],
)
def test_mmstack_summary_dimensions_that_are_not_sizes(tmp_path: Path, summary: dict) -> None:
    path = tmp_path / "ds_MMStack.ome.tif"
    mm_file(path, acquisition(8, 1, 1, 1), summary)
    with pytest.warns(TiffFormatWarning, match="MMStack series is not valid"):
        index = tiffzarr.open_tiff(str(path))
    assert index.series[0].kind != "mmstack" and index.series[0].shape == (8, 6, 5)
