"""Issue #4: request and byte budgets of remote reads, counted by the loopback server."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import tifffile
import zarr

import tiffzarr
from tests.conftest import TALLIES
from tiffzarr.testing import serve

RNG = np.random.default_rng(3)


def open_counted(server, name: str, **options):  # type: ignore[no-untyped-def]
    server.stats.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiffzarr.TiffZarrWarning)
        store = tiffzarr.open_store(server.url_for(name), **options)
    counts = (server.stats.requests, server.stats.bytes)
    TALLIES["remote open (requests, bytes)"][f"{name}: {counts}"] += 1
    return store, counts


def test_gdal_cog_opens_in_one_request(tmp_path: Path) -> None:
    data = RNG.integers(0, 255, (3, 2048, 2048), dtype="uint8")
    profile = {
        "driver": "COG",
        "width": 2048,
        "height": 2048,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:3857",
        "transform": rasterio.Affine(1, 0, 0, 0, -1, 2048),
    }
    with rasterio.open(tmp_path / "cog.tif", "w", **profile, compress="jpeg") as ds:
        ds.write(data)
    with serve(tmp_path) as server:
        store, (requests, _) = open_counted(server, "cog.tif")
        assert requests == 1
        assert {"cog", "block-leaders"} <= store.index.flags  # GDAL's ghost area, parsed
        assert len(zarr.open_group(store, mode="r")["0"]) >= 1


def test_ome_pyramid_with_xml_at_the_end(tmp_path: Path) -> None:
    data = RNG.integers(0, 4000, (3, 1024, 1024), dtype="uint16")
    with tifffile.TiffWriter(tmp_path / "p.ome.tif", bigtiff=True) as tw:
        options = {"tile": (256, 256), "compression": "zlib", "photometric": "minisblack"}
        tw.write(data, subifds=2, metadata={"axes": "CYX"}, **options)
        for level in (1, 2):
            tw.write(data[:, :: 2**level, :: 2**level], subfiletype=1, **options)
    with tifffile.TiffFile(tmp_path / "p.ome.tif") as tf:  # the layout this test is about
        assert tf.pages[0].tags[270].valueoffset > tf.pages[-1].offset
    with serve(tmp_path) as server:
        _, (requests, nbytes) = open_counted(server, "p.ome.tif")
    assert requests <= 4
    assert nbytes <= 100_000


@pytest.mark.parametrize("bigtiff", [False, True])
def test_one_tile_of_a_16384_tile_level(tmp_path: Path, bigtiff: bool) -> None:
    data = RNG.integers(0, 255, (2048, 2048), dtype="uint8")
    tifffile.imwrite(tmp_path / "t.tif", data, tile=(16, 16), bigtiff=bigtiff, metadata=None)
    with serve(tmp_path) as server:
        store, _ = open_counted(server, "t.tif", series=0, level=0)
        array = zarr.open_array(store, mode="r")
        assert array.nchunks == 16384
        server.stats.reset()
        assert np.array_equal(array[1000:1016, 640:656], data[1000:1016, 640:656])
        assert server.stats.requests <= 2  # the offsets and counts window, then the tile
        assert server.stats.bytes < 200_000  # windows, not the whole offset arrays
        server.stats.reset()
        assert np.array_equal(array[16:32, 16:32], data[16:32, 16:32])
        assert server.stats.requests == 1
