"""ImageJ hyperstacks: series as tifffile reads them, virtual stacks, metadata, budgets."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

import tiffzarr
from tiffzarr.errors import TiffFormatError, TiffFormatWarning
from tiffzarr.format._imagej import (
    hyperstack,
    imagej_description_items,
    imagej_metadata_items,
    imagej_metadata_tags,
)
from tiffzarr.model import AxisScale
from tiffzarr.series import _imagej
from tiffzarr.testing import serve

RNG = np.random.default_rng(11)


def red_green_luts() -> list[np.ndarray]:
    ramp = np.arange(256, dtype=np.uint8)
    zero = np.zeros(256, dtype=np.uint8)
    return [np.stack([ramp, zero, zero]), np.stack([zero, ramp, zero])]


def held_tables(index: tiffzarr.TiffIndex) -> set[tuple[int, int]]:
    return {t.key for s in index.series for a in s.levels for t in a.manifest.tables if t}


def assert_like_tifffile(path: Path, series: int = 0) -> tiffzarr.TiffIndex:
    """tiffzarr's series equals tifffile's: kind, name, shapes, axes and pixels."""
    index = tiffzarr.open_tiff(str(path))
    with tifffile.TiffFile(path) as tf:
        want = tf.series[series]
        got = index.series[series]
        assert (got.kind, got.name) == (want.kind, want.name)
        assert (got.shape, got.axes) == (want.shape, want.axes)
        assert (got.get_shape(False), got.get_axes(False)) == (
            want.get_shape(False),
            want.get_axes(False),
        )
        np.testing.assert_array_equal(tiffzarr.imread(str(path), series=series), want.asarray())
    return index


def test_tzcyx_hyperstack_reads_back_with_its_metadata(tmp_path: Path) -> None:
    data = RNG.integers(0, 4000, (3, 4, 2, 64, 80), dtype="uint16")
    path = tmp_path / "hyper.tif"
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(1 / 0.25, 1 / 0.5),
        metadata={
            "axes": "TZCYX",
            "spacing": 1.5,
            "unit": "um",
            "finterval": 2.0,
            "Ranges": (10.0, 3000.0, 20.0, 3900.0),
            "LUTs": red_green_luts(),
            "Labels": [f"plane {i}" for i in range(24)],
            "Info": "made for a test",
        },
    )
    index = assert_like_tifffile(path)
    s = index.series[0]
    assert (s.shape, s.axes, s.get_shape(False)) == (
        (3, 4, 2, 64, 80),
        "TZCYX",
        (3, 4, 2, 64, 80, 1),
    )
    assert "first-ifd" in index.flags and len(index.pages) == 1  # a virtual stack
    assert dict(s.scales) == {
        "X": AxisScale(0.25, "micrometer"),
        "Y": AxisScale(0.5, "micrometer"),
        "Z": AxisScale(1.5, "micrometer"),
        "T": AxisScale(2.0, "second"),
    }
    assert [(c.color, c.window) for c in s.channels] == [
        ("FF0000", (10.0, 3000.0)),
        ("00FF00", (20.0, 3900.0)),
    ]
    meta = s.attrs["imagej"]
    assert (meta["frames"], meta["slices"], meta["channels"], meta["spacing"]) == (3, 4, 2, 1.5)
    assert meta["Labels"][23] == "plane 23" and meta["Info"] == "made for a test"
    assert meta["Ranges"] == [10.0, 3000.0, 20.0, 3900.0]
    assert "LUTs" not in meta
    group = zarr.open_group(tiffzarr.open_store(str(path)), mode="r")
    assert group["0/0"].shape == (3, 2, 4, 64, 80)  # NGFF order t, c, z, y, x


@pytest.mark.parametrize(
    ("shape", "axes", "options"),
    [
        ((5, 32, 48), "ZYX", {}),
        ((6, 2, 32, 48), "TCYX", {}),
        ((3, 32, 48), "CYX", {}),
        ((4, 32, 48, 3), "TYXS", {"photometric": "rgb"}),
        ((2, 3, 32, 48), "ZCYX", {"compression": "zlib"}),
        ((32, 48), "YX", {}),
    ],
)
def test_series_equal_tifffile(
    tmp_path: Path, shape: tuple[int, ...], axes: str, options: dict[str, Any]
) -> None:
    data = RNG.integers(0, 255, shape, dtype="uint8")
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": axes}, **options)
    assert_like_tifffile(path)


def test_compressed_stack_uses_the_files_pages(tmp_path: Path) -> None:
    data = RNG.integers(0, 255, (4, 3, 32, 32), dtype="uint8")
    path = tmp_path / "z.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "ZCYX"}, compression="zlib")
    index = assert_like_tifffile(path)
    assert "first-ifd" not in index.flags and len(index.pages) == 12
    assert held_tables(index) == {p.segments.key for p in index.pages if p.segments}


def test_pages_beyond_the_images_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "extra.tif"
    data = RNG.integers(0, 255, (4, 16, 16), dtype="uint8")
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "ZYX"}, compression="zlib")
    tifffile.imwrite(path, np.zeros((8, 8), "uint8"), append="force", metadata=None)
    with pytest.warns(TiffFormatWarning, match="page 4 .* is not part of any series"):
        index = tiffzarr.open_tiff(str(path))
    assert index.series[0].shape == (4, 16, 16)
    assert held_tables(index) == {p.segments.key for p in index.pages[:4] if p.segments}
    np.testing.assert_array_equal(tiffzarr.imread(str(path)), data)


def test_virtual_stack_is_held_by_the_files_own_pages(tmp_path: Path) -> None:
    path = tmp_path / "own.tif"
    data = RNG.integers(0, 255, (4, 16, 16), dtype="uint8")
    # a description too long for the first read: the reader walks every IFD
    filler = "x" * 100_000
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "ZYX", "filler": filler})
    index = tiffzarr.open_tiff(str(path))
    assert "first-ifd" not in index.flags and len(index.pages) == 4
    assert held_tables(index) == {p.segments.key for p in index.pages if p.segments}
    assert index.series[0].attrs["imagej"]["filler"] == filler


def test_pages_after_a_virtual_stack_are_not_walked(tmp_path: Path) -> None:
    path = tmp_path / "after.tif"
    data = RNG.integers(0, 255, (4, 16, 16), dtype="uint8")
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "ZYX"})
    tifffile.imwrite(path, np.zeros((8, 8), "uint8"), append="force", metadata=None)
    index = tiffzarr.open_tiff(str(path))
    assert "first-ifd" in index.flags and len(index.pages) == 1
    np.testing.assert_array_equal(tiffzarr.imread(str(path)), data)


@pytest.mark.parametrize(
    ("page", "description", "options"),
    [
        # Bio-Formats declares separate samples as channels
        ((3, 24, 32), "images=1\nchannels=3\n", {"photometric": "rgb", "planarconfig": "separate"}),
        # contiguous RGB samples declared as channels
        ((24, 32, 3), "images=1\nchannels=3\n", {"photometric": "rgb"}),
        # an order other than ImageJ's default
        ((24, 32), "images=6\nchannels=2\nslices=3\norder=zct\n", {}),
        # images=1 in a multi-page file: one image per page, along I
        ((24, 32), "images=1\n", {}),
    ],
)
def test_description_rules_as_tifffile(
    tmp_path: Path, page: tuple[int, ...], description: str, options: dict[str, Any]
) -> None:
    count = 6 if len(page) == 2 else 1
    data = RNG.integers(0, 255, (count, *page), dtype="uint8")
    path = tmp_path / "d.tif"
    tifffile.imwrite(
        path, data, description="ImageJ=1.11a\n" + description, metadata=None, **options
    )
    assert_like_tifffile(path)


def test_virtual_stack_opens_remotely_in_two_requests(tmp_path: Path) -> None:
    data = RNG.integers(0, 255, (2000, 16, 24), dtype="uint8")
    tifffile.imwrite(tmp_path / "t.tif", data, imagej=True, metadata={"axes": "TYX"})
    with serve(tmp_path) as server:
        tiffzarr.clear_cache()
        server.stats.reset()
        index = tiffzarr.open_tiff(server.url_for("t.tif"))
        assert server.stats.requests <= 2
        assert "first-ifd" in index.flags and index.series[0].shape == (2000, 16, 24)
        store = tiffzarr.open_store(server.url_for("t.tif"), series=0, level=0)
        window = zarr.open_array(store, mode="r")[1500:1510, 4:12, 3:9]
    np.testing.assert_array_equal(window, data[1500:1510, 4:12, 3:9])


def test_stack_over_4_gib_described_by_its_first_ifd(tmp_path: Path) -> None:
    frames, rows, cols = 300, 4096, 4096
    path = tmp_path / "big.tif"
    tifffile.imwrite(
        path,
        np.zeros((rows, cols), "uint16"),
        description=f"ImageJ=1.11a\nimages={frames}\nframes={frames}\nhyperstack=true\n",
        metadata=None,
        rowsperstrip=256,
    )
    with tifffile.TiffFile(path) as tf:
        start = tf.pages[0].dataoffsets[0]
    frame = rows * cols * 2
    os.truncate(path, start + frames * frame)  # sparse: no disk used
    tail = RNG.integers(1, 60000, (2, cols), dtype="uint16")
    with open(path, "r+b") as f:
        f.seek(start + frames * frame - tail.nbytes)
        f.write(tail.tobytes())
    index = tiffzarr.open_tiff(str(path))
    assert "first-ifd" in index.flags and len(index.pages) == 1
    assert index.series[0].shape == (frames, rows, cols)
    array = zarr.open_array(tiffzarr.open_store(index, series=0, level=0), mode="r")
    np.testing.assert_array_equal(array[frames - 1, -2:], tail)
    assert not array[frames // 2, :4, :4].any()


@pytest.mark.parametrize(
    "items",
    [
        "frames=1000000000000\n",
        "slices=1000000\nchannels=1000000\nframes=1000000\n",
        "frames=-3\n",
        "channels=0\n",
        "frames=abc\n",
        "frames=2.5\n",
        "frames=true\n",
    ],
)
def test_hostile_descriptions_fall_back_to_generic(tmp_path: Path, items: str) -> None:
    path = tmp_path / "h.tif"
    data = RNG.integers(0, 255, (3, 16, 16), dtype="uint8")
    tifffile.imwrite(
        path, data, description="ImageJ=1.11a\n" + items, metadata=None, photometric="minisblack"
    )
    with pytest.warns(TiffFormatWarning, match="ImageJ"):
        index = tiffzarr.open_tiff(str(path))
    assert [s.kind for s in index.series] == ["generic"]
    assert "first-ifd" not in index.flags
    np.testing.assert_array_equal(tiffzarr.imread(str(path)), data)


def test_images_item_alone_is_ignored_as_tifffile_ignores_it(tmp_path: Path) -> None:
    path = tmp_path / "i.tif"
    data = RNG.integers(0, 255, (16, 16), dtype="uint8")
    tifffile.imwrite(path, data, description="ImageJ=1.11a\nimages=1000000000000\n", metadata=None)
    index = assert_like_tifffile(path)
    assert index.series[0].kind == "imagej"


def test_broken_ijmetadata_is_reported_and_the_stack_still_read(tmp_path: Path) -> None:
    path = tmp_path / "m.tif"
    data = RNG.integers(0, 255, (2, 16, 16), dtype="uint8")
    counts = struct.pack("<2I", 12, 10**6)
    blob = b"JIJI" + b"ofni" + struct.pack("<I", 1) + b"\x00" * 8
    extratags = [(50838, 4, 2, counts, True), (50839, 1, len(blob), blob, True)]
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "ZYX"}, extratags=extratags)
    with pytest.warns(TiffFormatWarning, match="IJMetadata"):
        index = tiffzarr.open_tiff(str(path))
    assert index.series[0].kind == "imagej" and index.series[0].shape == (2, 16, 16)


def test_own_writer_output_reads_back(tmp_path: Path) -> None:
    data = RNG.integers(0, 255, (3, 4, 2, 32, 40), dtype="uint8")
    path = str(tmp_path / "own.tif")
    tiffzarr.imwrite(
        path,
        data,
        imagej=True,
        resolution=(4.0, 4.0),
        metadata={"axes": "TZCYX", "spacing": 0.5, "unit": "um"},
    )
    np.testing.assert_array_equal(tiffzarr.imread(path), data)
    s = tiffzarr.open_tiff(path).series[0]
    assert (s.kind, s.axes) == ("imagej", "TZCYX")
    assert s.scales["Z"] == AxisScale(0.5, "micrometer")
    assert s.scales["X"] == AxisScale(0.25, "micrometer")


@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_ijmetadata_parsed_as_tifffile_parses_it(byteorder: str) -> None:
    metadata = {
        "Info": "info text",
        "Labels": ["a", "bb", "ccc"],
        "Ranges": (0.0, 1.0, 2.0, 3.0),
        "LUTs": red_green_luts(),
        "ROI": b"roi bytes",
        "Overlays": [b"one", b"two"],
        "Properties": {"key": "value", "k2": "v2"},
    }
    data, counts = (tag[3] for tag in tifffile.tifffile.imagej_metadata_tag(metadata, byteorder))
    sizes = struct.unpack(f"{byteorder}{len(counts) // 4}I", counts)
    want = tifffile.tifffile.imagej_metadata(data, sizes, byteorder)
    got = imagej_metadata_items(data, sizes, byteorder)  # type: ignore[arg-type]
    assert got.keys() == want.keys()
    for key in got:
        if key == "LUTs":
            np.testing.assert_array_equal(np.stack(got[key]), np.stack(want[key]))
        else:
            assert got[key] == want[key]
    # the writer's tags (the shared format module) parse back the same
    ours = imagej_metadata_tags(metadata, byteorder)  # type: ignore[arg-type]
    assert imagej_metadata_items(ours[1].value, ours[0].value, byteorder).keys() == got.keys()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("blob", "counts"),
    [
        (b"JIJI" + b"ofni" + struct.pack("<I", 10**9) + b"\x00" * 8, [12, 4, 4]),
        (b"JIJI" + b"ofni" + struct.pack("<I", 1) + b"\x00" * 8, [12, 10**6]),
        (b"XXXX" + b"\x00" * 16, [12, 4]),
        (b"JIJI" + b"\x00" * 16, [4000, 4]),
        (b"JIJI" + b"\x00" * 16, []),
    ],
)
def test_absurd_ijmetadata_is_refused(blob: bytes, counts: list[int]) -> None:
    with pytest.raises(TiffFormatError):
        imagej_metadata_items(blob, counts, "<")


def test_description_items_are_typed_as_tifffile_types_them() -> None:
    text = (
        "ImageJ=1.53t\nimages=12\nspacing=0.25\nloop=false\nunit=\\u00B5m\nno equals sign\nx = 1e3"
    )
    got = imagej_description_items(text)
    assert got == tifffile.tifffile.imagej_description_metadata(text)
    with pytest.raises(ValueError, match="not an ImageJ description"):
        imagej_description_items("images=3\n")


def test_hyperstack_refuses_counts_that_are_not_positive_ints() -> None:
    for items in ({"frames": 0}, {"slices": -1}, {"channels": "x"}, {"images": 1.5}):
        with pytest.raises(ValueError, match="not a positive count"):
            hyperstack(items, page_shape=(8, 8), page_axes="YX")


def test_chain_end_needs_the_description_at_hand(tmp_path: Path) -> None:
    path = tmp_path / "c.tif"
    tifffile.imwrite(path, np.zeros((4, 8, 8), "uint8"), imagej=True)
    index = tiffzarr.open_tiff(str(path))
    assert "first-ifd" in index.flags
    ifd = index.pages[0].ifd
    raw = tiffzarr.format.RawIfd(ifd.offset, dict(ifd.entries), ifd.next_offset, len(ifd.entries))
    values = dict(ifd.values)

    def value(code: int) -> Any:
        return values.get(code)

    end = index.pages[0].segments.offsets[0] + 4 * 64  # type: ignore[union-attr]
    assert _imagej.first_ifd_suffices(index.header, raw, value, end)
    assert not _imagej.first_ifd_suffices(index.header, raw, value, end - 1)
    del values[270]
    assert not _imagej.first_ifd_suffices(index.header, raw, value, end)


def test_ijmetadata_over_1_mib_is_loaded_when_needed(tmp_path: Path) -> None:
    path = tmp_path / "info.tif"
    info = "0123456789" * 60_000  # 1.2 MB of UTF-16: deferred at open
    data = RNG.integers(0, 255, (2, 16, 16), dtype="uint8")
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "ZYX", "Info": info})
    index = tiffzarr.open_tiff(str(path))
    assert 50839 in index.pages[0].ifd.deferred
    assert index.series[0].attrs["imagej"]["Info"] == info
