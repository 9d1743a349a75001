"""ScanImage files: 2016+ BigTIFFs with the frame-data header block and older files
with ``state.``/``scanimage.SI`` descriptions, built from the published layout and
read like tifffile reads them; broken metadata give a warning and frames along I."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import tifffile

import tiffzarr
from tests._handmade_tiff import Image, Tag, build
from tiffzarr.errors import TiffFormatWarning

SI_MAGIC = 0x07030301
ROIS = {"RoiGroups": {"imagingRoiGroup": {"name": "Default", "rois": {
    "name": "ROI 1", "zs": [0], "scanfields": {"centerXY": [0, 0]}}}}}  # fmt: skip


def frame_data(channels: str, frames: str) -> str:
    return (
        f"SI.VERSION_MAJOR = '2016b'\nSI.hChannels.channelSave = {channels}\n"
        f"SI.hStackManager.framesPerSlice = {frames}\nSI.hRoiManager.scanZoomFactor = 2\n"
        "SI.hChannels.channelName = {'Chan 1' 'Chan 2' 'Chan 3' 'Chan 4'}\n"
    )


def si_bigtiff(
    path: Path,
    count: int,
    text: str,
    *,
    rois: bytes | None = None,
    magic: int = SI_MAGIC,
    size0: int | None = None,
    shape: tuple[int, int] = (8, 10),
) -> np.ndarray:
    """A ScanImage 2016+ BigTIFF of ``count`` frames; their pixels."""
    data = np.random.default_rng(count).integers(0, 2**15, (count, *shape)).astype("int16")
    frame = text.encode() + b"\x00"
    roi = json.dumps(ROIS).encode() if rois is None else rois
    blob = struct.pack("<4I", magic, 3, len(frame) if size0 is None else size0, len(roi))
    images = [
        Image(
            data[k],
            [
                Tag.text(270, f"frameNumbers = {k + 1}\nframeTimestamps_sec = {k * 0.0333:.6f}\n"),
                Tag.text(305, text),
            ],
        )
        for k in range(count)
    ]
    path.write_bytes(bytes(build(images, bigtiff=True, blob=blob + frame + roi).data))
    return data


def same_as_tifffile(path: Path) -> tiffzarr.TiffIndex:
    index = tiffzarr.open_tiff(str(path))
    with tifffile.TiffFile(path) as tf:
        want = tf.series[0]
        got = index.series[0]
        assert (got.kind, got.shape, got.axes) == ("scanimage", want.shape, want.axes)
        assert got.get_shape(False) == tuple(want.get_shape(False))
        expected = want.asarray()
    np.testing.assert_array_equal(tiffzarr.imread(str(path)), expected)
    return index


def test_scanimage_2016_series_is_zct_from_frame_data(tmp_path: Path) -> None:
    path = tmp_path / "file_00001.tif"
    data = si_bigtiff(path, 12, frame_data("[1;2]", "3"))
    index = same_as_tifffile(path)
    s = index.series[0]
    assert s.get_axes(False) == "ZTCYX" and s.get_shape(False) == (2, 3, 2, 8, 10)
    np.testing.assert_array_equal(tiffzarr.imread(str(path))[1, 2, 1], data[11])
    meta = s.attrs["scanimage"]
    assert meta["version"] == 3 and meta["FrameData"]["SI.hChannels.channelSave"] == [[1], [2]]
    assert meta["RoiGroups"]["imagingRoiGroup"]["rois"][0] == {
        "name": "ROI 1",
        "scanfields": 1,
        "zs": [0],
    }
    assert meta["description"]["frameNumbers"] == 1
    assert not index.warnings


@pytest.mark.parametrize(
    ("channels", "frames", "full"),
    [("1", "Inf", (1, 6, 1)), ("[1 3 4]", "2", (1, 2, 3)), ("[2]", "1", (6, 1, 1))],
    ids=["one-channel-infinite-frames", "three-channels", "one-saved"],
)
def test_scanimage_2016_shapes_as_tifffile(
    tmp_path: Path, channels: str, frames: str, full: tuple[int, ...]
) -> None:
    path = tmp_path / "file_00001.tif"
    si_bigtiff(path, 6, frame_data(channels, frames))
    index = same_as_tifffile(path)
    assert index.series[0].get_shape(False)[:3] == full


def test_scanimage_legacy_description_frames_along_i(tmp_path: Path) -> None:
    """ScanImage 3: ``state.`` settings in every description, pixels before each IFD."""
    text = "state.configName='cfg'\rstate.acq.numberOfFrames=5\rstate.acq.zoomFactor=2.5\r"
    data = np.random.default_rng(5).integers(0, 4000, (5, 8, 10)).astype("uint16")
    images = [Image(data[k], [Tag.text(270, text)]) for k in range(5)]
    path = tmp_path / "legacy.tif"
    path.write_bytes(bytes(build(images, order=("data", "ifd", "values")).data))
    index = same_as_tifffile(path)
    s = index.series[0]
    assert s.axes == "IYX" and s.attrs["scanimage"]["description"]["state.acq.zoomFactor"] == 2.5


def test_scanimage_5_description_frames_along_i(tmp_path: Path) -> None:
    text = "Frame Number = 1\nscanimage.SI5.VERSION_MAJOR = 5\nscanimage.SI5.channelsSave = 1\n"
    data = np.random.default_rng(3).integers(0, 4000, (4, 8, 10)).astype("uint16")
    path = tmp_path / "si5.tif"
    path.write_bytes(bytes(build([Image(d, [Tag.text(270, text)]) for d in data]).data))
    index = same_as_tifffile(path)
    assert index.series[0].shape == (4, 8, 10)


def test_scanimage_without_header_block_is_frames_along_i(tmp_path: Path) -> None:
    path = tmp_path / "file_00001.tif"
    si_bigtiff(path, 4, frame_data("[1;2]", "2"), magic=0x12345678)
    index = same_as_tifffile(path)
    assert index.series[0].axes == "IYX" and "version" not in index.series[0].attrs["scanimage"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size0": 2**31}, "are not read"),
        ({"size0": 2**20}, "cut by the end of the file"),
        ({"rois": b"{not json"}, "ROI groups are not valid JSON"),
    ],
    ids=["absurd-size", "cut", "bad-roi-json"],
)
def test_scanimage_hostile_header_block(tmp_path: Path, kwargs: dict, message: str) -> None:
    path = tmp_path / "file_00001.tif"
    si_bigtiff(path, 4, frame_data("[1;2]", "2"), **kwargs)
    with pytest.warns(TiffFormatWarning, match=message):
        index = tiffzarr.open_tiff(str(path))
    assert index.series[0].kind == "scanimage" and index.series[0].shape[-2:] == (8, 10)


def test_scanimage_frame_data_beyond_the_pages_are_fill(tmp_path: Path) -> None:
    path = tmp_path / "file_00001.tif"
    data = si_bigtiff(path, 5, frame_data("[1;2]", "4"))
    with pytest.warns(TiffFormatWarning, match="describe 8 frames"):
        index = tiffzarr.open_tiff(str(path))
    with tifffile.TiffFile(path) as tf:
        assert index.series[0].shape == tf.series[0].shape == (4, 2, 8, 10)
    got = tiffzarr.imread(str(path))
    np.testing.assert_array_equal(got.reshape(8, 8, 10)[:5], data)
    assert not got.reshape(8, 8, 10)[5:].any()


def test_scanimage_frame_data_without_shape_warn(tmp_path: Path) -> None:
    path = tmp_path / "file_00001.tif"
    si_bigtiff(path, 5, frame_data("[1;2]", "Inf"))  # 5 frames cannot be 2 channels
    with pytest.warns(TiffFormatWarning, match="give no shape"):
        index = tiffzarr.open_tiff(str(path))
    with tifffile.TiffFile(path) as tf:
        assert index.series[0].shape == tf.series[0].shape == (5, 8, 10)


def test_scanimage_pages_that_differ_get_generic_series(tmp_path: Path) -> None:
    text = "state.acq.numberOfFrames=2\r"
    pages = [np.zeros((8, 10), "uint16"), np.zeros((4, 10), "uint16")]
    path = tmp_path / "legacy.tif"
    path.write_bytes(bytes(build([Image(p, [Tag.text(270, text)]) for p in pages]).data))
    with pytest.warns(TiffFormatWarning, match="pages of the ScanImage file differ"):
        index = tiffzarr.open_tiff(str(path))
    assert [s.kind for s in index.series] == ["generic", "generic"]
