"""NIH Image and Olympus SIS files: private tags packed from the published layouts
(tifffile as the writer), read like tifffile reads them, with the header fields
as attributes and the calibration as scales; broken metadata warn."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import tifffile

import tiffzarr
from tiffzarr.errors import TiffFormatWarning
from tiffzarr.model import AxisScale

NIH_TAG, SIS_TAG, INI_TAG = 43314, 33560, 33471


def nih_header(*, version: int = 160, xscale: float = 4.0, units: int = 6) -> bytes:
    """An NIH Image header (big-endian): version at 12, XScale (pixels per unit) at
    160, UnitsID at 172, PixelAspectRatio at 272, XUnit (size at 298) at 299."""
    data = bytearray(312)
    data[0:8] = b"IPICIMAG"
    struct.pack_into(">h", data, 12, version)
    struct.pack_into(">d", data, 160, xscale)
    struct.pack_into(">h", data, 172, units)
    struct.pack_into(">f", data, 272, 0.5)
    struct.pack_into(">B11s", data, 298, 2, b"um")
    return bytes(data)


def nih_file(path: Path, pages: int, header: bytes) -> np.ndarray:
    data = np.random.default_rng(pages).integers(0, 255, (pages, 8, 10), dtype="uint8")
    tifffile.imwrite(
        path, data, byteorder=">", metadata=None, extratags=[(NIH_TAG, "B", 312, header, True)]
    )
    return data


@pytest.mark.parametrize("pages", [1, 5])
def test_nih_series_matches_tifffile(tmp_path: Path, pages: int) -> None:
    path = tmp_path / "nih.tif"
    data = nih_file(path, pages, nih_header())
    index = tiffzarr.open_tiff(str(path))
    s = index.series[0]
    with tifffile.TiffFile(path) as tf:
        want = tf.series[0]
        assert (s.kind, s.shape, s.axes) == ("nih", want.shape, want.axes) == (
            "nih", data.shape[1:] if pages == 1 else data.shape, "YX" if pages == 1 else "IYX"
        )  # fmt: skip
        meta = tf.nih_metadata
        for key in ("FileID", "Version", "XScale", "UnitsID", "PixelAspectRatio", "XUnit"):
            assert s.attrs["nih"][key] == meta[key]
    np.testing.assert_array_equal(tiffzarr.imread(str(path)), data.squeeze())
    assert s.scales == {"X": AxisScale(0.25, "micrometer"), "Y": AxisScale(0.5, "micrometer")}
    assert not index.warnings


def test_nih_old_versions_number_units_from_zero(tmp_path: Path) -> None:
    path = tmp_path / "nih.tif"
    nih_file(path, 1, nih_header(version=140, units=2))  # 2 + 5: millimetres
    s = tiffzarr.open_tiff(str(path)).series[0]
    assert s.scales["X"] == AxisScale(0.25, "millimeter") and s.scales["Y"].size == 0.25


def test_nih_header_cut_by_the_end_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nih.tif"
    nih_file(path, 1, nih_header())
    with tifffile.TiffFile(path) as tf:
        entry = tf.pages[0].tags[NIH_TAG].offset
    data = bytearray(path.read_bytes())
    struct.pack_into(">I", data, entry + 8, len(data))  # the value now starts 200 bytes
    path.write_bytes(bytes(data + nih_header()[:200]))  # before the end of the file
    with pytest.warns(TiffFormatWarning) as caught:  # also: the tag's value is past the end
        index = tiffzarr.open_tiff(str(path))
    assert any("header at offset" in str(w.message) for w in caught)
    header = index.series[0].attrs["nih"]
    assert header["Version"] == 160 and header["XScale"] == 4.0 and "XUnit" not in header


def sis_blob(*, magic: bytes = b"SIS0", power: int = -6, calibration: float = 0.2) -> bytes:
    """An OlympusSIS structure: the 60-byte head (magic, minute, hour, day, month,
    year - 1900, name, entry count), one entry (type 1: general data), and the
    general data (power of ten, X and Y calibration, magnification, camera, type);
    the entry's offset is patched once the file is written."""
    head = struct.pack("<4s6xhhhhh6x32sH", magic, 15, 10, 3, 5, 121, b"sample", 1)
    entry = struct.pack("<hhI", 1, 1, 0)
    general = struct.pack(
        "<10xhdd8xd2x34s32s", power, calibration, calibration, 40.0, b"XC50", b"gray"
    )
    return head + entry + general


def sis_file(path: Path, pages: int, *, ini: str | None, blob: bytes | None) -> np.ndarray:
    data = np.random.default_rng(pages).integers(0, 4000, (pages, 8, 10), dtype="uint16")
    tags = []
    if blob is not None:
        tags.append((SIS_TAG, "B", len(blob), blob, True))
    if ini is not None:
        tags.append((INI_TAG, "s", 0, ini, True))
    tifffile.imwrite(path, data, metadata=None, photometric="minisblack", extratags=tags)
    if blob is not None:
        with tifffile.TiffFile(path) as tf:
            at = tf.pages[0].tags[SIS_TAG].valueoffset
        raw = bytearray(path.read_bytes())
        struct.pack_into("<I", raw, at + 64, at + 68)  # the entry points to the general data
        path.write_bytes(bytes(raw))
    return data


INI = (
    "[Dimension]\nBand=2\nZ=1\nTime=3\n[Image]\nCameraName=XC50\n"
    "[Z]\nZPos1=0.5\n[Time]\nTimePos1=0\nTimePos2=100\nTimePos3=200\n"
)  # tifffile reads OlympusINI text only when it has [Z] and [Time] sections


@pytest.mark.parametrize(
    ("pages", "ini", "axes"),
    [(6, INI, "CTYX"), (4, None, "IYX"), (3, "[Image]\nName=x\n", "IYX")],
    ids=["ini-dimensions", "sis-only", "ini-without-dimensions"],
)
def test_sis_series_matches_tifffile(
    tmp_path: Path, pages: int, ini: str | None, axes: str
) -> None:
    path = tmp_path / "sis.tif"
    data = sis_file(path, pages, ini=ini, blob=sis_blob())
    index = tiffzarr.open_tiff(str(path))
    s = index.series[0]
    with tifffile.TiffFile(path) as tf:
        want = tf.series[0]
        assert (s.kind, s.shape, s.axes) == ("sis", want.shape, want.axes)
        assert s.axes == axes
        meta = tf.sis_metadata
        assert s.attrs["sis"]["pixelsizex"] == pytest.approx(meta["pixelsizex"])
        assert s.attrs["sis"]["name"] == meta["name"] == "sample"
        assert s.attrs["sis"]["datetime"] == meta["datetime"].isoformat()
        np.testing.assert_array_equal(tiffzarr.imread(str(path)), want.asarray())
    assert tiffzarr.imread(str(path)).size == data.size
    assert s.scales["X"] == AxisScale(pytest.approx(0.2), "micrometer")
    assert not index.warnings


def test_sis_ini_alone_shapes_the_series(tmp_path: Path) -> None:
    path = tmp_path / "sis.tif"
    sis_file(path, 6, ini=INI, blob=None)
    index = tiffzarr.open_tiff(str(path))
    with tifffile.TiffFile(path) as tf:
        assert index.series[0].shape == tf.series[0].shape == (2, 3, 8, 10)
    assert index.series[0].attrs["sis"]["Image"] == {"CameraName": "XC50"}


def test_sis_bad_structure_and_no_ini_gives_generic_series(tmp_path: Path) -> None:
    path = tmp_path / "sis.tif"
    sis_file(path, 2, ini=None, blob=sis_blob(magic=b"XXXX"))
    with pytest.warns(TiffFormatWarning, match="no OlympusSIS structure"):
        index = tiffzarr.open_tiff(str(path))
    with tifffile.TiffFile(path) as tf:
        assert [s.kind for s in index.series] == [s.kind for s in tf.series] == ["generic"]


def test_sis_bad_ini_warns_and_keeps_the_structure(tmp_path: Path) -> None:
    path = tmp_path / "sis.tif"
    sis_file(path, 6, ini=INI + "not a key value line\n", blob=sis_blob())
    with pytest.warns(TiffFormatWarning, match="OlympusINI"):
        index = tiffzarr.open_tiff(str(path))
    with tifffile.TiffFile(path) as tf:
        assert index.series[0].shape == tf.series[0].shape == (6, 8, 10)


def test_sis_dimensions_that_do_not_fit_stack_along_i(tmp_path: Path) -> None:
    path = tmp_path / "sis.tif"
    sis_file(path, 5, ini=INI, blob=sis_blob())  # the INI says 2 x 3 images
    with pytest.warns(TiffFormatWarning, match="do not fit"):
        index = tiffzarr.open_tiff(str(path))
    assert index.series[0].shape == (5, 8, 10) and index.series[0].axes == "IYX"


def test_vsi_files_are_not_sis(tmp_path: Path) -> None:
    path = tmp_path / "slide.vsi"
    sis_file(path, 1, ini=None, blob=sis_blob())
    assert tiffzarr.open_tiff(str(path)).series[0].kind != "sis"
