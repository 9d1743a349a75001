"""NDTiff data sets: TIFF files and an NDTiff.index built from the published layout,
read like tifffile reads them (shape, axes, pixels, images in several files), and
with a missing or broken index (a warning and another series)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

import tiffzarr
from tests._handmade_tiff import Image, Tag, build
from tiffzarr.errors import TiffFormatWarning

MM_TAG = 51123
NDTIFF_MAGIC, SUMMARY_HEADER = 483729, 2355492
SUMMARY = {"PixelSize_um": 0.5, "z-step_um": 2.0, "Interval_ms": 500}

Coords = dict[str, Any]


def ndtiff_files(
    folder: Path,
    files: dict[str, list[Coords]],
    *,
    version: int = 3,
    seed: int = 0,
    shape: tuple[int, int] = (4, 6),
) -> tuple[list[tuple[Coords, np.ndarray]], bytes]:
    """Write the TIFF files of an NDTiff data set (images in the order listed per
    file) and return the images and the NDTiff.index (not yet written)."""
    rng = np.random.default_rng(seed)
    text = json.dumps(SUMMARY).encode()
    if version == 2:
        blob = struct.pack("<4I", NDTIFF_MAGIC, 2, SUMMARY_HEADER, len(text)) + text
    else:
        blob = struct.pack("<5I", NDTIFF_MAGIC, 3, 1, SUMMARY_HEADER, len(text)) + text
    index = b""
    images = []
    for name, coords in files.items():
        pixels = [rng.integers(0, 60000, shape, dtype="uint16") for _ in coords]
        tags = [[Tag.text(MM_TAG, json.dumps(c))] for c in coords]
        written = build([Image(p, t) for p, t in zip(pixels, tags, strict=True)], blob=blob)
        (folder / name).write_bytes(bytes(written.data))
        for c, p, offset in zip(coords, pixels, written.pixels, strict=True):
            axes, filename = json.dumps(c).encode(), name.encode()
            index += struct.pack("<I", len(axes)) + axes + struct.pack("<I", len(filename))
            index += filename + struct.pack("<IiiiiIii", offset, shape[1], shape[0], 1, 0, 0, 0, 0)
            images.append((c, p))
    return images, index


def grid(times: int, channels: list[str], slices: int) -> list[Coords]:
    return [
        {"time": t, "channel": ch, "z": z}
        for t in range(times)
        for ch in channels
        for z in range(slices)
    ]


def same_as_tifffile(path: Path) -> tiffzarr.TiffIndex:
    index = tiffzarr.open_tiff(str(path))
    with tifffile.TiffFile(path) as tf:
        want = tf.series[0]
        assert want.kind == "ndtiff"
        got = index.series[0]
        assert (got.kind, got.shape, got.axes) == (want.kind, want.shape, want.axes)
        assert got.get_shape(False) == tuple(want.get_shape(False))
        expected = want.asarray()
    np.testing.assert_array_equal(tiffzarr.imread(str(path)), expected)
    return index


@pytest.mark.parametrize("version", [2, 3])
def test_ndtiff_series_matches_tifffile(tmp_path: Path, version: int) -> None:
    coords = grid(3, ["DAPI", "GFP"], 2)
    images, index = ndtiff_files(tmp_path, {"ds_NDTiffStack.tif": coords}, version=version)
    (tmp_path / "NDTiff.index").write_bytes(index)
    opened = same_as_tifffile(tmp_path / "ds_NDTiffStack.tif")
    s = opened.series[0]
    assert s.axes == "TCZYX" and s.shape == (3, 2, 2, 4, 6)
    assert [c.name for c in s.channels] == ["DAPI", "GFP"]
    assert s.scales["X"].size == 0.5 and s.scales["T"].size == 0.5
    assert s.attrs["micromanager"]["MajorVersion"] == version
    data = tiffzarr.imread(str(tmp_path / "ds_NDTiffStack.tif"))
    assert images[10][0] == {"time": 2, "channel": "GFP", "z": 0}
    np.testing.assert_array_equal(data[2, 1, 0], images[10][1])
    assert not opened.warnings


def test_ndtiff_images_in_two_files(tmp_path: Path) -> None:
    coords = [{"time": t, "position": p} for t in range(3) for p in range(2)]
    files = {"ds_NDTiffStack.tif": coords[:4], "ds_NDTiffStack_1.tif": coords[4:]}
    images, index = ndtiff_files(tmp_path, files)
    (tmp_path / "NDTiff.index").write_bytes(index)
    opened = same_as_tifffile(tmp_path / "ds_NDTiffStack.tif")
    assert opened.series[0].axes == "TRYX"
    assert [Path(m.url).name for m in opened.members] == ["ds_NDTiffStack_1.tif"]
    data = tiffzarr.imread(str(tmp_path / "ds_NDTiffStack.tif"))
    np.testing.assert_array_equal(data[2, 1], images[5][1])


def test_ndtiff_sparse_coordinates_are_fill(tmp_path: Path) -> None:
    coords = [{"row": r, "column": c} for r in range(2) for c in range(3) if (r, c) != (1, 1)]
    _, index = ndtiff_files(tmp_path, {"ds_NDTiffStack.tif": coords})
    (tmp_path / "NDTiff.index").write_bytes(index)
    opened = same_as_tifffile(tmp_path / "ds_NDTiffStack.tif")
    assert opened.series[0].axes == "KJYX"
    assert not tiffzarr.imread(str(tmp_path / "ds_NDTiffStack.tif"))[1, 1].any()


def test_ndtiff_without_index_is_read_by_the_next_interpreters(tmp_path: Path) -> None:
    ndtiff_files(tmp_path, {"ds_NDTiffStack.tif": grid(8, ["A"], 1)})
    with pytest.warns(TiffFormatWarning, match="NDTiff.index not found"):
        index = tiffzarr.open_tiff(str(tmp_path / "ds_NDTiffStack.tif"))
    with tifffile.TiffFile(tmp_path / "ds_NDTiffStack.tif") as tf:
        assert index.series[0].kind == tf.series[0].kind == "uniform"
        assert index.series[0].shape == tf.series[0].shape


@pytest.mark.parametrize(
    ("cut", "message", "kept"),
    [
        (lambda data: data[:-7], "record 5", 5),
        (lambda data: data.replace(b'{"time": 2}', b'{"time"= 2}', 1), "record 2", 2),
        (lambda data: struct.pack("<I", 2**31) + data, "record 0", 0),
    ],
    ids=["truncated", "bad-json", "absurd-length"],
)
def test_ndtiff_broken_index_uses_the_records_before(
    tmp_path: Path, cut: Any, message: str, kept: int
) -> None:
    _, index = ndtiff_files(tmp_path, {"ds_NDTiffStack.tif": [{"time": t} for t in range(6)]})
    (tmp_path / "NDTiff.index").write_bytes(cut(index))
    with pytest.warns(TiffFormatWarning) as caught:
        opened = tiffzarr.open_tiff(str(tmp_path / "ds_NDTiffStack.tif"))
    messages = [str(w.message) for w in caught]
    assert any(message in m for m in messages)
    uncovered = [m for m in messages if "is not part of any series" in m]
    if kept:
        assert opened.series[0].kind == "ndtiff" and opened.series[0].shape == (kept, 4, 6)
        assert len(uncovered) == 6 - kept  # the pages the index no longer lists
    else:  # nothing usable: generic series, every page covered
        assert opened.series[0].kind == "generic" and not uncovered


def test_ndtiff_index_that_contradicts_the_tiff_gives_generic_series(tmp_path: Path) -> None:
    coords = [{"time": t} for t in range(3)]
    _, index = ndtiff_files(tmp_path, {"ds_NDTiffStack.tif": coords})
    wrong = index.replace(struct.pack("<ii", 6, 4), struct.pack("<ii", 7, 4))
    (tmp_path / "NDTiff.index").write_bytes(wrong)
    with pytest.warns(TiffFormatWarning, match="does not describe the images"):
        opened = tiffzarr.open_tiff(str(tmp_path / "ds_NDTiffStack.tif"))
    assert opened.series[0].kind == "generic"


def test_ndtiff_over_http(tmp_path: Path) -> None:
    coords = [{"time": t, "position": p} for t in range(2) for p in range(2)]
    files = {"ds_NDTiffStack.tif": coords[:2], "ds_NDTiffStack_1.tif": coords[2:]}
    _, index = ndtiff_files(tmp_path, files)
    (tmp_path / "NDTiff.index").write_bytes(index)
    from tiffzarr.testing import serve

    with serve(tmp_path) as server:
        url = server.url_for("ds_NDTiffStack.tif")
        opened = tiffzarr.open_tiff(url)
        assert opened.series[0].kind == "ndtiff" and len(opened.members) == 1
        np.testing.assert_array_equal(
            tiffzarr.imread(url), tiffzarr.imread(str(tmp_path / "ds_NDTiffStack.tif"))
        )
