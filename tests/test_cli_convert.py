"""``tiffzarr convert``: TIFF → Zarr (the OME-Zarr hierarchy, sharded or not) → TIFF, COG
and OME-TIFF targets, GeoTIFF carried across, existing targets."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import tifffile
import zarr
from rio_cogeo.cogeo import cog_validate

import tiffzarr
from tiffzarr.cli import main


@pytest.fixture
def pyramid(tmp_path: Path) -> tuple[Path, list[np.ndarray]]:
    """An OME-TIFF ZYX pyramid of two levels, written by tifffile."""
    rng = np.random.default_rng(3)
    base = rng.integers(0, 4000, (3, 96, 128), dtype="uint16")
    levels = [base, base[:, ::2, ::2].copy()]
    path = tmp_path / "stack.ome.tif"
    meta = {"axes": "ZYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5}
    with tifffile.TiffWriter(path, ome=True) as tw:
        tw.write(levels[0], tile=(32, 32), subifds=1, compression="zlib", metadata=meta)
        tw.write(levels[1], tile=(32, 32), subfiletype=1, compression="zlib")
    return path, levels


@pytest.mark.parametrize("shard", [None, 2])
def test_tiff_zarr_tiff_round_trip(tmp_path: Path, pyramid, shard) -> None:  # type: ignore[no-untyped-def]
    source, levels = pyramid
    target = tmp_path / "stack.zarr"
    extra = ["--shard", str(shard)] if shard else []
    assert main(["convert", str(source), str(target), *extra]) == 0
    root = zarr.open_group(target, mode="r")
    image = root["0"]
    assert image.attrs["ome"]["multiscales"][0]["axes"][0]["name"] == "z"
    for i, level in enumerate(levels):
        array = image[str(i)]
        np.testing.assert_array_equal(array[...], level)
        assert array.chunks == (1, 32, 32)
        assert array.shards == ((1, 32 * shard, 32 * shard) if shard else None)
    assert "OME" in root  # the OME-XML is copied
    back = tmp_path / "back.tif"
    assert main(["convert", str(target), str(back), "--tile", "32", "--pyramid", "1"]) == 0
    with tifffile.TiffFile(back) as tif:
        np.testing.assert_array_equal(tif.series[0].asarray(), levels[0])
        reduced = tif.pages[0].pages  # the pyramid level is a SubIFD of each page
        assert reduced is not None and len(reduced) == 1
        assert reduced[0].shape == levels[1].shape[1:]


def test_zarr_v2_and_one_level(tmp_path: Path, pyramid) -> None:  # type: ignore[no-untyped-def]
    source, levels = pyramid
    target = tmp_path / "v2.zarr"
    args = ["convert", str(source), str(target), "--zarr-format", "2"]
    assert main([*args, "--series", "0", "--level", "1"]) == 0
    array = zarr.open_array(target, mode="r")
    assert array.metadata.zarr_format == 2
    np.testing.assert_array_equal(array[...], levels[1])


def test_ome_tiff_target_keeps_metadata(tmp_path: Path, pyramid) -> None:  # type: ignore[no-untyped-def]
    source, levels = pyramid
    target = tmp_path / "stack.zarr"
    assert main(["convert", str(source), str(target)]) == 0
    out = tmp_path / "again.ome.tif"
    assert main(["convert", str(target), str(out), "--ome", "--compression", "deflate"]) == 0
    with tifffile.TiffFile(out) as tif:
        assert tif.is_ome
        series = tif.series[0]
        assert series.axes == "ZYX" and len(series.levels) == 2
        np.testing.assert_array_equal(series.asarray(), levels[0])
        pixels = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]
        assert pixels["PhysicalSizeX"] == 0.5


def test_cog_target_passes_rio_cogeo(tmp_path: Path) -> None:
    data = np.random.default_rng(5).integers(0, 255, (1200, 1000), dtype="uint8")
    source = tmp_path / "plain.tif"
    tifffile.imwrite(source, data)  # striped, no overviews
    out = tmp_path / "out.cog.tif"
    assert main(["convert", str(source), str(out), "--cog", "--compression", "deflate"]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rasterio: not georeferenced
        valid, errors, _ = cog_validate(str(out), quiet=True)
    assert valid, errors
    assert main(["validate", "--cog", str(out)]) == 0
    np.testing.assert_array_equal(tifffile.imread(out), data)


def test_cog_to_cog_keeps_georeferencing(tmp_path: Path) -> None:
    source = tmp_path / "geo.tif"
    transform = (30.0, 0.0, 300000.0, 0.0, -30.0, 5000000.0)
    tiffzarr.write(
        source,
        np.arange(1024 * 1024, dtype="uint16").reshape(1024, 1024),
        cog=True,
        compression="zstd",
        geotiff={"crs": 32618, "transform": transform, "nodata": 7},
    )
    out = tmp_path / "geo2.tif"
    assert main(["convert", str(source), str(out), "--cog", "--tile", "256"]) == 0
    with rasterio.open(source) as a, rasterio.open(out) as b:
        assert b.crs == a.crs and b.transform == a.transform and b.nodata == a.nodata
        assert b.block_shapes[0] == (256, 256) and len(b.overviews(1)) >= 2
        np.testing.assert_array_equal(b.read(1), a.read(1))
    valid, errors, _ = cog_validate(str(out), quiet=True)
    assert valid, errors


def test_existing_target(tmp_path: Path, pyramid, capsys) -> None:  # type: ignore[no-untyped-def]
    source, levels = pyramid
    target = tmp_path / "t.zarr"
    assert main(["convert", str(source), str(target)]) == 0
    assert main(["convert", str(source), str(target)]) == 4
    assert "exists" in capsys.readouterr().err
    assert main(["convert", str(source), str(target), "--overwrite", "--level", "1"]) == 0
    np.testing.assert_array_equal(zarr.open_array(target, mode="r")[...], levels[1][:, :, :])
    out = tmp_path / "t.tif"
    out.write_bytes(b"keep")
    assert main(["convert", str(source), str(out)]) == 4
    assert out.read_bytes() == b"keep"


def test_options_that_do_not_fit(tmp_path: Path, pyramid, capsys) -> None:  # type: ignore[no-untyped-def]
    source, _ = pyramid
    args = ["convert", str(source)]
    assert main([*args, str(tmp_path / "a.zarr"), "--shard", "2", "--zarr-format", "2"]) == 2
    assert main([*args, str(tmp_path / "b.zarr"), "--compression", "jpeg"]) == 2
    assert main([*args, str(tmp_path / "c.png")]) == 2
    assert main([*args, str(tmp_path / "d.tif"), "--shard", "2"]) == 2
    assert capsys.readouterr().err.count("tiffzarr: error: ") == 4
    with pytest.raises(SystemExit) as exc:
        main([*args, str(tmp_path / "e.tif"), "--tile", "100"])
    assert exc.value.code == 2
