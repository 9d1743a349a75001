"""Issue #6: the writer's options, layouts and metadata, read back by tifffile, GDAL, tiffzarr."""

from __future__ import annotations

import io
import json
import os
import struct
import warnings
from pathlib import Path

import fsspec
import numpy as np
import pytest
import tifffile
import zarr

import tiffzarr
from tiffzarr.errors import UnsupportedCompressionError, WriteError
from tiffzarr.writer import TiffWriter, imwrite, write

RNG = np.random.default_rng(42)


def smooth(shape: tuple[int, ...], dtype: str = "uint16") -> np.ndarray:
    """A compressible, deterministic test image."""
    grids = np.meshgrid(*(np.arange(n) for n in shape[-2:]), indexing="ij")
    base = 1000 + 400 * np.sin(grids[1] / 37.0) * np.cos(grids[0] / 23.0)
    image = np.broadcast_to(base, shape) + RNG.integers(0, 50, shape)
    return image.astype(dtype)


def read_both(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with tifffile.TiffFile(path) as tif:
        theirs = tif.asarray()
    return theirs, tiffzarr.imread(str(path))


def assert_reads(path: Path, expected: np.ndarray) -> None:
    theirs, ours = read_both(path)
    assert theirs.shape == expected.shape
    np.testing.assert_array_equal(theirs, expected)
    np.testing.assert_array_equal(ours.reshape(expected.shape), expected)


# -- basic layouts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"compression": "zstd", "predictor": True, "rowsperstrip": 16},
        {"tile": (32, 48), "compression": "zlib"},
        {"tile": (32, 32), "compression": "lzw", "predictor": 2, "byteorder": ">"},
        {"tile": (32, 32), "compression": "zstd", "bigtiff": True},
        {"tile": (16, 16), "compression": "packbits"},
    ],
)
def test_grayscale_layouts(tmp_path: Path, options: dict) -> None:
    data = smooth((100, 70))
    path = tmp_path / "a.tif"
    write(path, data, **options)
    assert_reads(path, data)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_bigtiff == bool(options.get("bigtiff"))
        assert tif.byteorder == options.get("byteorder", "<")
        assert tif.series[0].kind == "shaped"
        assert tif.pages[0].is_tiled == ("tile" in options)


def test_rgb_contiguous_and_separate(tmp_path: Path) -> None:
    rgb = RNG.integers(0, 255, (50, 40, 3), dtype="uint8")
    write(tmp_path / "c.tif", rgb, tile=(16, 16), compression="zstd", predictor=True)
    planes = np.ascontiguousarray(rgb.transpose(2, 0, 1))
    write(tmp_path / "s.tif", planes, photometric="rgb", planarconfig="separate", rowsperstrip=7)
    assert_reads(tmp_path / "c.tif", rgb)
    assert_reads(tmp_path / "s.tif", planes)
    with tifffile.TiffFile(tmp_path / "s.tif") as tif:
        page = tif.pages[0]
        assert (page.photometric, page.planarconfig, page.samplesperpixel) == (2, 2, 3)


def test_rgba_has_unassociated_alpha(tmp_path: Path) -> None:
    rgba = RNG.integers(0, 255, (20, 20, 4), dtype="uint8")
    write(tmp_path / "a.tif", rgba, photometric="rgb")
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        assert tif.pages[0].extrasamples == (2,)


@pytest.mark.parametrize(
    ("dtype", "options"),
    [
        ("float32", {"compression": "zstd", "predictor": True}),
        (">f8", {"compression": "zlib", "predictor": 3, "byteorder": ">"}),
        ("int8", {"compression": "deflate", "predictor": True}),
        ("int32", {"compression": "lzma", "predictor": "horizontal"}),
        ("float16", {"compression": "zstd", "predictor": "floatingpoint"}),
        ("complex64", {}),
        ("uint64", {"compression": "zstd"}),
    ],
)
def test_dtypes(tmp_path: Path, dtype: str, options: dict) -> None:
    data = (RNG.random((3, 33, 47)) * 100).astype(dtype)
    write(tmp_path / "a.tif", data, photometric="minisblack", tile=(16, 16), **options)
    assert_reads(tmp_path / "a.tif", data)


def test_bilevel_and_packed_integers(tmp_path: Path) -> None:
    bits = RNG.random((30, 37)) > 0.5
    write(tmp_path / "b.tif", bits, tile=(16, 16), compression="zstd")
    twelve = RNG.integers(0, 4096, (20, 21), dtype="uint16")
    write(tmp_path / "p.tif", twelve, bitspersample=12)
    assert_reads(tmp_path / "b.tif", bits)
    assert_reads(tmp_path / "p.tif", twelve)
    with tifffile.TiffFile(tmp_path / "p.tif") as tif:
        assert tif.pages[0].bitspersample == 12


def test_volumetric_tiles_and_strips(tmp_path: Path) -> None:
    volume = RNG.integers(0, 255, (20, 40, 50), dtype="uint8")
    write(tmp_path / "t.tif", volume, tile=(8, 16, 16), compression="zstd")
    write(tmp_path / "s.tif", volume, volumetric=True, rowsperstrip=9)
    for name in ("t.tif", "s.tif"):
        assert_reads(tmp_path / name, volume)
        with tifffile.TiffFile(tmp_path / name) as tif:
            assert tif.pages[0].imagedepth == 20


def test_palette_with_colormap(tmp_path: Path) -> None:
    data = RNG.integers(0, 255, (32, 32), dtype="uint8")
    colormap = RNG.integers(0, 65535, (3, 256), dtype="uint16")
    write(tmp_path / "a.tif", data, colormap=colormap, tile=(16, 16), pyramid=1)
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        page = tif.pages[0]
        assert page.photometric == 3
        np.testing.assert_array_equal(page.colormap, colormap)
        level = tif.series[0].levels[1].asarray()
    np.testing.assert_array_equal(level, data[::2, ::2])  # palette indices: nearest


def test_tags_resolution_datetime_software_extratags(tmp_path: Path) -> None:
    write(
        tmp_path / "a.tif",
        smooth((16, 16)),
        resolution=(300.0, (150, 1)),
        resolutionunit="centimeter",
        datetime="2024:01:02 03:04:05",
        software="me",
        description="hello",
        iccprofile=b"\x00\x01icc",
        subfiletype=0,
        extratags=[(65000, "ASCII", 0, "private", True), (65001, 3, 2, (7, 8), False)],
    )
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        tags = tif.pages[0].tags
        assert tags["XResolution"].value == (300, 1)
        assert tags["YResolution"].value == (150, 1)
        assert tags["ResolutionUnit"].value == 3
        assert tags["DateTime"].value == "2024:01:02 03:04:05"
        assert tags["Software"].value == "me"
        assert tags["ImageDescription"].value == "hello"
        assert tags["InterColorProfile"].value == b"\x00\x01icc"
        assert tags[65000].value == "private"
        assert tags[65001].value == (7, 8)


def test_shaped_description_and_metadata_none(tmp_path: Path) -> None:
    data = smooth((2, 3, 8, 8))
    write(tmp_path / "a.tif", data, photometric="minisblack", metadata={"axes": "TCYX", "x": 1})
    write(tmp_path / "b.tif", data, photometric="minisblack", metadata=None)
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        assert json.loads(tif.pages[0].description) == {
            "shape": [2, 3, 8, 8],
            "axes": "TCYX",
            "x": 1,
        }
        assert tif.series[0].axes == "TCYX"
        assert tif.shaped_metadata[0]["x"] == 1
    with tifffile.TiffFile(tmp_path / "b.tif") as tif:
        assert "ImageDescription" not in tif.pages[0].tags
        assert tif.series[0].shape == (6, 8, 8)


def test_jpeg_rgb_is_ycbcr(tmp_path: Path) -> None:
    y, x = np.mgrid[0:64, 0:64]
    rgb = np.stack([y * 3, x * 3, (x + y) * 2], axis=-1).astype("uint8")
    write(tmp_path / "a.tif", rgb, tile=(32, 32), compression="jpeg", photometric="rgb")
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        page = tif.pages[0]
        assert page.photometric == 6 and page.tags["YCbCrSubSampling"].value == (2, 2)
        theirs = page.asarray()
    ours = tiffzarr.imread(str(tmp_path / "a.tif"))
    assert np.abs(theirs.astype(int) - rgb).mean() < 3
    assert np.abs(ours.reshape(rgb.shape).astype(int) - theirs).max() <= 2


# -- pyramids ------------------------------------------------------------------------------


def test_subifd_pyramid_levels_are_means(tmp_path: Path) -> None:
    data = smooth((3, 300, 250))
    write(
        tmp_path / "a.tif",
        data,
        photometric="minisblack",
        tile=(64, 64),
        pyramid=3,
        compression="zstd",
        predictor=True,
    )
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        levels = tif.series[0].levels
        assert [lv.shape for lv in levels] == [
            (3, 300, 250),
            (3, 150, 125),
            (3, 75, 63),
            (3, 38, 32),
        ]
        level1 = levels[1].asarray()
        assert tif.pages[0].subifds is not None and len(tif.pages[0].subifds) == 3
    expected = (data.reshape(3, 150, 2, 125, 2).astype(np.uint32).sum(axis=(2, 4)) + 2) // 4
    np.testing.assert_array_equal(level1, expected)
    store = tiffzarr.open_store(str(tmp_path / "a.tif"), level=1)
    assert store.index.series[0].levels[1].shape == (3, 150, 125)  # shaped, as tifffile reads it
    np.testing.assert_array_equal(zarr.open_array(store, mode="r")[...], expected)


def test_pyramid_nearest_for_labels_and_true_for_auto(tmp_path: Path) -> None:
    labels = RNG.integers(0, 5, (256, 320), dtype="uint16")
    write(tmp_path / "a.tif", labels, tile=(64, 64), pyramid=True, downsample="nearest")
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        shapes = [lv.shape for lv in tif.series[0].levels]
        np.testing.assert_array_equal(tif.series[0].levels[2].asarray(), labels[::4, ::4])
    assert shapes == [(256, 320), (128, 160), (64, 80), (32, 40)]  # down to one tile


def test_manual_subifds_as_tifffile_writes_them(tmp_path: Path) -> None:
    data = smooth((128, 96))
    with TiffWriter(tmp_path / "a.tif") as tw:
        tw.write(data, tile=(32, 32), subifds=2, compression="zlib")
        tw.write(data[::2, ::2], tile=(32, 32), subfiletype=1, compression="zlib")
        tw.write(data[::4, ::4], tile=(32, 32), subfiletype=1, compression="zlib")
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        levels = tif.series[0].levels
        np.testing.assert_array_equal(levels[2].asarray(), data[::4, ::4])
    with pytest.raises(ValueError, match="SubIFD"), TiffWriter(tmp_path / "b.tif") as tw:
        tw.write(data, subifds=1)


# -- metadata formats ----------------------------------------------------------------------


def test_ome_axes_physical_sizes_channels_and_xml_first(tmp_path: Path) -> None:
    data = smooth((2, 3, 64, 80))
    meta = {
        "axes": "TCYX",
        "Name": "first",
        "PhysicalSizeX": 0.25,
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": 0.5,
        "TimeIncrement": 1.5,
        "Channel": {"Name": ["a", "b", "c"]},
    }
    path = tmp_path / "a.ome.tif"
    with TiffWriter(path) as tw:
        tw.write(data, tile=(32, 32), compression="zstd", pyramid=1, metadata=meta)
        tw.write(smooth((16, 16, 3), "uint8"), photometric="rgb", metadata={"axes": "YXS"})
    with tifffile.TiffFile(path) as tif:
        assert tif.is_ome and len(tif.series) == 2
        first, second = tif.series
        assert (first.axes, first.shape) == ("TCYX", (2, 3, 64, 80))
        assert [lv.shape for lv in first.levels] == [(2, 3, 64, 80), (2, 3, 32, 40)]
        np.testing.assert_array_equal(first.asarray(), data)
        assert (second.axes, second.shape) == ("YXS", (16, 16, 3))
        pixels = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"][0]["Pixels"]
        assert (pixels["PhysicalSizeX"], pixels["PhysicalSizeXUnit"]) == (0.25, "µm")
        assert (pixels["PhysicalSizeY"], pixels["TimeIncrement"]) == (0.5, 1.5)
        assert [c["Name"] for c in pixels["Channel"]] == ["a", "b", "c"]
        first_ifd = tif.pages[0]
        assert first_ifd.offset < 64 and first_ifd.description.startswith("<?xml")
        # the XML is stored with the first IFD, before any pixel data
        description_at = first_ifd.tags["ImageDescription"].valueoffset
        assert description_at < min(first_ifd.dataoffsets)


def test_imagej_hyperstack(tmp_path: Path) -> None:
    data = RNG.integers(0, 255, (4, 5, 2, 30, 40), dtype="uint8")
    luts = [np.stack([np.arange(256)] * 3).astype("uint8")] * 2
    write(
        tmp_path / "a.tif",
        data,
        imagej=True,
        resolution=(1 / 0.2, 1 / 0.2),
        metadata={
            "axes": "TZCYX",
            "spacing": 3.0,
            "unit": "um",
            "finterval": 0.5,
            "Ranges": (0.0, 255.0, 0.0, 100.0),
            "LUTs": luts,
            "Labels": [f"plane {i}" for i in range(40)],
            "Info": "made by tiffzarr",
        },
    )
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        assert tif.is_imagej
        assert (tif.series[0].axes, tif.series[0].shape) == ("TZCYX", data.shape)
        np.testing.assert_array_equal(tif.asarray(), data)
        meta = tif.imagej_metadata
        assert (meta["frames"], meta["slices"], meta["channels"], meta["images"]) == (4, 5, 2, 40)
        assert (meta["spacing"], meta["unit"], meta["finterval"]) == (3.0, "um", 0.5)
        assert meta["Ranges"] == (0.0, 255.0, 0.0, 100.0)
        assert meta["Labels"][39] == "plane 39" and meta["Info"] == "made by tiffzarr"
        np.testing.assert_array_equal(meta["LUTs"][1], luts[1])
        assert tif.pages[0].tags["XResolution"].value == (5, 1)
        # ImageJ reads uncompressed planes as one block after the first
        offsets = [p.dataoffsets[0] for p in tif.pages]
        assert np.all(np.diff(offsets) == 30 * 40)


def test_imagej_refuses_what_it_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ImageJ"):
        write(tmp_path / "a.tif", np.zeros((4, 4), "uint32"), imagej=True)
    with pytest.raises(ValueError, match="ImageJ"):
        write(tmp_path / "a.tif", np.zeros((4, 16, 16), "uint8"), imagej=True, pyramid=1)
    assert not (tmp_path / "a.tif").exists()


def test_geotiff_opens_in_gdal(tmp_path: Path) -> None:
    rasterio = pytest.importorskip("rasterio")
    data = smooth((200, 300), "int16")
    geo = {
        "crs": 32633,
        "transform": (10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0),
        "nodata": -9999,
        "citation": "UTM 33N",
    }
    write(tmp_path / "a.tif", data, tile=(64, 64), compression="zstd", predictor=True, geotiff=geo)
    write(
        tmp_path / "g.tif",
        data[:50, :50],
        geotiff={
            "crs": "EPSG:4326",
            "pixel_scale": (0.5, 0.5),
            "tiepoint": (0, 0, 0, 10.0, 50.0, 0),
        },
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(tmp_path / "a.tif") as src:
            assert src.crs.to_epsg() == 32633
            assert tuple(src.transform)[:6] == geo["transform"]
            assert src.nodata == -9999
            np.testing.assert_array_equal(src.read(1), data)
        with rasterio.open(tmp_path / "g.tif") as src:
            assert src.crs.to_epsg() == 4326
            assert tuple(src.transform)[:6] == (0.5, 0.0, 10.0, 0.0, -0.5, 50.0)
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        assert tif.geotiff_metadata["GTCitationGeoKey"] == "UTM 33N"


def test_cog_is_valid_and_laid_out_for_the_cloud(tmp_path: Path) -> None:
    rasterio = pytest.importorskip("rasterio")
    cogeo = pytest.importorskip("rio_cogeo.cogeo")
    data = smooth((1500, 1300))
    geo = {"crs": 32633, "transform": (10, 0, 500000, 0, -10, 4000000), "nodata": 0}
    path = tmp_path / "a.tif"
    write(path, data, cog=True, tile=(256, 256), compression="zstd", predictor=True, geotiff=geo)
    valid, errors, warns = cogeo.cog_validate(str(path), quiet=True)
    assert valid and not errors and not warns
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(path) as src:
            assert src.crs.to_epsg() == 32633 and src.nodata == 0
            assert src.transform.c == 500000 and src.transform.a == 10
            assert src.overviews(1) == [2, 4, 8]
            np.testing.assert_array_equal(src.read(1), data)
    raw = path.read_bytes()
    assert raw[8:51] == b"GDAL_STRUCTURAL_METADATA_SIZE=000140 bytes\n"
    with tifffile.TiffFile(path) as tif:
        pages = list(tif.pages)
        first_data = [int(p.dataoffsets[0]) for p in pages]
        assert max(p.offset for p in pages) < min(first_data)  # every IFD before pixels
        assert first_data == sorted(first_data, reverse=True)  # smallest overview first
        for page in pages:  # tile leaders and trailers
            for offset, count in zip(page.dataoffsets, page.databytecounts, strict=True):
                assert struct.unpack("<I", raw[offset - 4 : offset])[0] == count
                assert (
                    raw[offset + count : offset + count + 4]
                    == raw[offset + count - 4 : offset + count]
                )
        np.testing.assert_array_equal(tif.asarray(), data)


def test_cog_is_one_image(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="COG"):
        write(
            tmp_path / "a.tif", np.zeros((2, 32, 32), "uint8"), cog=True, photometric="minisblack"
        )
    with pytest.raises(ValueError, match="COG"), TiffWriter(tmp_path / "b.tif") as tw:
        tw.write(np.zeros((32, 32), "uint8"), cog=True)
        tw.write(np.zeros((32, 32), "uint8"))
    assert not (tmp_path / "a.tif").exists() and not (tmp_path / "b.tif").exists()


# -- data kinds ----------------------------------------------------------------------------


def test_iterators_of_tiles_pages_and_encoded_segments(tmp_path: Path) -> None:
    tiles = [RNG.integers(0, 255, (16, 16), dtype="uint8") for _ in range(6)]
    full = np.block([[tiles[0], tiles[1]], [tiles[2], tiles[3]], [tiles[4], tiles[5]]])
    write(tmp_path / "t.tif", iter(tiles), shape=(40, 30), dtype="uint8", tile=(16, 16), pyramid=1)
    assert_reads(tmp_path / "t.tif", full[:40, :30])
    pages = [RNG.integers(0, 255, (20, 30), dtype="uint8") for _ in range(3)]
    write(
        tmp_path / "p.tif", iter(pages), shape=(3, 20, 30), dtype="uint8", photometric="minisblack"
    )
    assert_reads(tmp_path / "p.tif", np.stack(pages))
    raw = (tmp_path / "t.tif").read_bytes()
    with tifffile.TiffFile(tmp_path / "t.tif") as tif:
        page = tif.pages[0]
        encoded = [
            raw[o : o + c] for o, c in zip(page.dataoffsets, page.databytecounts, strict=True)
        ]
    write(tmp_path / "e.tif", iter(encoded), shape=(40, 30), dtype="uint8", tile=(16, 16))
    assert_reads(tmp_path / "e.tif", full[:40, :30])


def test_empty_images_zero_filled_or_sparse(tmp_path: Path) -> None:
    write(
        tmp_path / "z.tif",
        shape=(3, 64, 64),
        dtype="uint16",
        tile=(32, 32),
        photometric="minisblack",
    )
    write(
        tmp_path / "s.tif", None, shape=(64, 64), dtype="float32", tile=(32, 32), compression="zstd"
    )
    assert_reads(tmp_path / "z.tif", np.zeros((3, 64, 64), "uint16"))
    assert_reads(tmp_path / "s.tif", np.zeros((64, 64), "float32"))
    with tifffile.TiffFile(tmp_path / "z.tif") as tif:
        page = tif.pages[0]
        assert page.databytecounts == (2048,) * 4  # allocated, uncompressed: can be filled later
    with tifffile.TiffFile(tmp_path / "s.tif") as tif:
        assert set(tif.pages[0].databytecounts) == {0}  # sparse


def test_zarr_and_list_sources(tmp_path: Path) -> None:
    zarr = pytest.importorskip("zarr")
    z = zarr.create_array(store={}, shape=(5, 90, 80), chunks=(2, 40, 30), dtype="uint16")
    z[:] = RNG.integers(0, 1000, (5, 90, 80))
    write(tmp_path / "z.tif", z, photometric="minisblack", tile=(32, 32), compression="zstd")
    assert_reads(tmp_path / "z.tif", z[:])
    write(tmp_path / "l.tif", [[1, 2], [3, 4]], dtype="uint8")
    assert_reads(tmp_path / "l.tif", np.array([[1, 2], [3, 4]], "uint8"))


# -- targets -------------------------------------------------------------------------------


def test_fsspec_and_file_object_targets(tmp_path: Path) -> None:
    data = smooth((64, 64))
    write("memory://tiffzarr-writer/a.tif", data, tile=(32, 32), compression="zstd")
    raw = fsspec.filesystem("memory").cat("memory://tiffzarr-writer/a.tif")
    np.testing.assert_array_equal(tifffile.imread(io.BytesIO(raw)), data)
    np.testing.assert_array_equal(tiffzarr.imread("memory://tiffzarr-writer/a.tif"), data)
    handle = io.BytesIO(b"x" * 10)
    handle.seek(10)
    imwrite(handle, data, tile=(32, 32))
    np.testing.assert_array_equal(tifffile.imread(io.BytesIO(handle.getvalue()[10:])), data)
    write(f"file://{tmp_path}/f.tif", data)
    assert_reads(tmp_path / "f.tif", data)


def test_append_and_exclusive_mode(tmp_path: Path) -> None:
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, smooth((10, 10), "uint8"))
    write(path, np.ones((5, 5), "float32"), append=True)
    with TiffWriter(path, mode="r+") as tw:
        tw.write(smooth((2, 8, 8)), photometric="minisblack", tile=(16, 16))
    with tifffile.TiffFile(path) as tif:
        assert [s.shape for s in tif.series] == [(10, 10), (5, 5), (2, 8, 8)]
        np.testing.assert_array_equal(tif.series[1].asarray(), np.ones((5, 5), "float32"))
    with pytest.raises(FileExistsError):
        write(path, np.ones((5, 5)), mode="x")
    write(tmp_path / "new.tif", np.ones((5, 5), "uint8"), mode="x")
    assert (tmp_path / "new.tif").exists()
    ij = tmp_path / "ij.tif"
    write(ij, np.zeros((3, 8, 8), "uint8"), imagej=True)
    with pytest.raises(ValueError, match="ImageJ or OME"):
        write(ij, np.zeros((8, 8), "uint8"), append=True)


def test_bigtiff_chosen_when_needed(tmp_path: Path) -> None:
    with TiffWriter(tmp_path / "a.tif") as tw:
        tw.write(shape=(70000, 70000), dtype="uint8", tile=(1024, 1024), compression="zstd")
        assert tw.bigtiff
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        assert tif.is_bigtiff and tif.pages[0].shape == (70000, 70000)
    with TiffWriter(tmp_path / "b.tif") as tw:
        tw.write(np.zeros((8, 8), "uint8"))
        assert tw.bigtiff is False


def test_file_mode_follows_umask(tmp_path: Path) -> None:
    write(tmp_path / "a.tif", np.zeros((4, 4), "uint8"))
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.tif").stat().st_mode & 0o777 == 0o666 & ~umask


# -- option errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"tile": (30, 32)}, "tile"),
        ({"predictor": True}, "predictor without compression"),
        ({"compression": "jpeg", "predictor": True}, "predictor"),
        ({"compression": "zstd", "compressionargs": {"foo": 1}}, "compressionargs"),
        ({"photometric": "rgb"}, "photometric"),
        ({"bitspersample": 4}, "bitspersample"),
        ({"extratags": [(256, 4, 1, 5)]}, "extratag 256"),
        ({"geotiff": {"epsg": 4326}}, "geotiff"),
        ({"shape": (3, 3)}, "shape"),
        ({"downsample": "max", "pyramid": 1}, "downsample"),
        ({"resolution": (1.0, 2.0), "colormap": np.zeros((3, 256))}, "colormap"),
    ],
)
def test_bad_options_raise_and_write_nothing(tmp_path: Path, options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        write(tmp_path / "a.tif", np.zeros((32, 32), "uint16"), **options)
    assert list(tmp_path.iterdir()) == []


def test_unknown_compression_raises(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedCompressionError):
        write(tmp_path / "a.tif", np.zeros((8, 8), "uint8"), compression="ccittrle")
    with pytest.raises(ValueError, match="compression"):
        write(tmp_path / "a.tif", np.zeros((8, 8), "uint8"), compression="nonsense")


def test_closed_writer_and_unwritable_targets(tmp_path: Path) -> None:
    tw = TiffWriter(tmp_path / "a.tif")
    tw.close()
    with pytest.raises(ValueError, match="closed"):
        tw.write(np.zeros((4, 4), "uint8"))
    with pytest.raises(WriteError, match="No such file"):
        write(tmp_path / "missing" / "a.tif", np.zeros((4, 4), "uint8"))
    with pytest.raises(WriteError, match="folder"):
        write(tmp_path, np.zeros((4, 4), "uint8"))
    with pytest.raises(WriteError) as info:
        write("/proc/tiffzarr-cannot-write.tif", np.zeros((4, 4), "uint8"))
    assert isinstance(info.value, OSError) and info.value.errno is not None


# -- contiguous and truncated series -------------------------------------------------------


def test_contiguous_writes_grow_one_series(tmp_path: Path) -> None:
    frames = [RNG.integers(0, 255, (30, 40), dtype="uint8") for _ in range(5)]
    with TiffWriter(tmp_path / "a.tif") as tw:
        for frame in frames:
            tw.write(frame, contiguous=True)
        tw.write(np.zeros((5, 5), "uint8"), contiguous=True)  # another shape: a new series
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        assert [s.shape for s in tif.series] == [(5, 30, 40), (5, 5)]
        assert json.loads(tif.pages[0].description) == {"shape": [5, 30, 40]}
        np.testing.assert_array_equal(tif.series[0].asarray(), np.stack(frames))
        offsets = [p.dataoffsets[0] for p in tif.pages[:5]]
        assert np.all(np.diff(offsets) == 30 * 40)  # the data are contiguous
    with pytest.raises(ValueError, match="contiguous"), TiffWriter(tmp_path / "b.tif") as tw:
        tw.write(frames[0], contiguous=True)
        tw.write(frames[1], contiguous=True, compression="zlib")


def test_imagej_frames_written_one_by_one(tmp_path: Path) -> None:
    frames = [RNG.integers(0, 65535, (2, 30, 40), dtype="uint16") for _ in range(4)]
    with TiffWriter(tmp_path / "a.tif", imagej=True) as tw:
        for frame in frames:
            tw.write(frame, contiguous=True, metadata={"axes": "CYX", "unit": "um"})
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        assert tif.is_imagej and tif.series[0].axes == "TCYX"
        assert tif.imagej_metadata["frames"] == 4 and tif.imagej_metadata["channels"] == 2
        np.testing.assert_array_equal(tif.asarray(), np.stack(frames))
    with (
        pytest.raises(ValueError, match="one series"),
        TiffWriter(tmp_path / "b.tif", imagej=True) as tw,
    ):
        tw.write(frames[0])
        tw.write(frames[1])


def test_truncated_series_has_one_ifd(tmp_path: Path) -> None:
    data = RNG.integers(0, 255, (6, 20, 30), dtype="uint8")
    write(tmp_path / "a.tif", data, truncate=True)
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        assert len(tif.pages) == 1
        assert json.loads(tif.pages[0].description) == {"shape": [6, 20, 30], "truncated": True}
        np.testing.assert_array_equal(tif.asarray(), data)
    with pytest.raises(ValueError, match="truncate"):
        write(tmp_path / "b.tif", data, truncate=True, compression="zlib")
