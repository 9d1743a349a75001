"""The xarray backend ``engine="tiffzarr"``: every corpus file opens as a dataset whose
dimensions, sizes and file chunks are the series'; pyramids open as trees; data are
lazy (nothing read at open), dask-backed, pickle to distributed workers; coordinates
from OME physical sizes and channel names; georeferenced series as rioxarray opens
them (x/y at pixel centres, CRS, transform, nodata unmasked unless asked)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import rioxarray
import tifffile
import xarray as xr
import zarr
from rasterio.transform import Affine

import tiffzarr
from tests.conftest import CORPUS, TALLIES, local_cluster, manifest, require
from tiffzarr.errors import NotFoundError, SourceError, TiffZarrError
from tiffzarr.model import GeoReference, GroundControlPoint, Series
from tiffzarr.testing import RangeServer, serve
from tiffzarr.xarray import TiffBackendEntrypoint

ENGINE = "tiffzarr"
RNG = np.random.default_rng(11)
pytestmark = pytest.mark.filterwarnings(  # rioxarray's use of affine, not ours
    "ignore:Use `@` matmul instead of `\\*` mul:PendingDeprecationWarning"
)
ROWS = [r for r in manifest(CORPUS) if r["reference_reader"] == "tifffile"]
SAMPLED = {r["relpath"] for r in ROWS[::20]}
"""Corpus files whose pixels are compared with tifffile's (the others are only opened)."""


def quiet_index(path: str) -> tiffzarr.TiffIndex:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiffzarr.TiffZarrWarning)
        return tiffzarr.open_tiff(path)


def dim_names(axes: str) -> list[str]:
    """tifffile's axis letters as dimension names: lower case, repeats made unique."""
    names: list[str] = []
    for letter in axes.lower():
        name = letter
        while name in names:
            name += letter
        names.append(name)
    return names


def geo_names(axes: str, geo: bool) -> list[str]:
    """Dimension names of tifffile's axes; a georeferenced raster's bands are ``band``
    (length 1 for a single band, added in front)."""
    names = dim_names(axes)
    if geo and axes == "YX":
        return ["band", *names]
    bands = axes.replace("Y", "").replace("X", "")
    if geo and len(axes) == 3 and bands in ("S", "C"):
        names[axes.index(bands)] = "band"
    return names


def labelled(axes: str, values: tuple[int, ...], geo: bool) -> dict[str, int]:
    """Per dimension name, the value (size or chunk) tifffile's order gives it."""
    if geo and axes == "YX":
        values = (1, *values)
    return dict(zip(geo_names(axes, geo), values, strict=True))


def like_image(image: xr.DataArray, data: np.ndarray, axes: str) -> np.ndarray:
    """tifffile's array (axes in tifffile's order) in the dimension order of ``image``."""
    names = geo_names(axes, "band" in image.dims)
    if len(names) > data.ndim:
        data = data[np.newaxis]
    return np.asarray(xr.DataArray(data, dims=names).transpose(*image.dims))


# -- every corpus file -------------------------------------------------------


def check_series(index: tiffzarr.TiffIndex, i: int, ds: xr.Dataset) -> None:
    series = index.series[i]
    image = ds["image"]
    geo = series.geo is not None
    assert set(ds.data_vars) == {"image"}
    assert dict(image.sizes) == labelled(series.axes, series.shape, geo)
    assert image.dtype == series.dtype
    assert "_FillValue" not in image.encoding  # never masked by default
    assert ("mask" in ds.coords) == bool(series.masks)
    level = series.level(0)
    chunks = labelled(series.axes, level.chunks, geo)
    assert image.data.chunksize == tuple(min(chunks[d], image.sizes[d]) for d in image.dims)
    for letter, scale in series.scales.items():
        dim = letter.lower()
        if dim in image.dims and not (geo and letter in "YX") and scale.size > 0:
            assert ds[dim].values[1:2].tolist() == [scale.size][: image.sizes[dim] - 1]
            assert ds[dim].attrs.get("units") == scale.unit
    described = ds.attrs["tiffzarr"]
    assert (described["kind"], described["name"], described["series"]) == (
        series.kind,
        series.name,
        i,
    )
    json.dumps(ds.attrs)  # plain JSON


def sample_pixels(path: str, index: tiffzarr.TiffIndex, datasets: list[xr.Dataset]) -> bool:
    """Compare every series' level 0 with tifffile's (when the series agree and are small)."""
    with tifffile.TiffFile(path) as tf:
        oracle = tf.series
        if [(s.axes, s.shape) for s in oracle] != [(s.axes, s.shape) for s in index.series]:
            return False
        if any(s.size * s.dtype.itemsize > 2**22 for s in oracle):
            return False
        for s, ds in zip(oracle, datasets, strict=True):
            want = like_image(ds["image"], s.asarray(), s.axes)
            assert np.array_equal(ds["image"].values, want)
    return True


@pytest.mark.parametrize("relpath", [r["relpath"] for r in ROWS])
def test_open_dataset_on_every_corpus_file(relpath: str) -> None:
    path = str(require(CORPUS, "corpus") / relpath)
    index = quiet_index(path)
    tally = TALLIES["xarray open_dataset (corpus series)"]
    datasets = []
    for i in range(len(index.series)):
        ds = xr.open_dataset(index, engine=ENGINE, series=i, chunks={})
        check_series(index, i, ds)
        datasets.append(ds)
        geo = index.series[i].geo is not None
        tally["opened (georeferenced)" if geo else "opened"] += 1
    if relpath in SAMPLED:
        compared = sample_pixels(path, index, datasets)
        TALLIES["xarray corpus pixels (sampled files)"]["equal" if compared else "skipped"] += 1


def corpus_pyramids() -> list[str]:
    found = []
    for row in ROWS:
        with open(require(CORPUS, "corpus") / "expected" / f"{row['relpath']}.json") as f:
            series = json.load(f)["expected"]["series"]
        if any(len(s["levels"]) > 1 for s in series):
            found.append(row["relpath"])
    return found


@pytest.mark.parametrize("relpath", corpus_pyramids() if CORPUS else [])
def test_open_datatree_on_every_corpus_pyramid(relpath: str) -> None:
    index = quiet_index(str(require(CORPUS, "corpus") / relpath))
    tree = xr.open_datatree(index, engine=ENGINE, chunks={})
    assert [s["path"] for s in tree.attrs["tiffzarr"]["series"]] == [
        str(i) for i in range(len(index.series))
    ]
    for i, series in enumerate(index.series):
        assert set(tree[str(i)].children) == {str(j) for j in range(len(series.levels))}
        for j, level in enumerate(series.arrays()):
            node = tree[f"{i}/{j}"]
            image = node["image"]
            assert dict(image.sizes) == labelled(level.axes, level.shape, series.geo is not None)
            assert node.attrs["tiffzarr"]["level"] == j
            for dim in ("x", "y"):
                if dim in node.coords and dim in tree[f"{i}/0"].coords and image.sizes[dim] > 1:
                    base = tree[f"{i}/0"].coords[dim].values
                    step = np.diff(node.coords[dim].values[:2])[0]
                    reduction = base.size / image.sizes[dim]
                    assert step == pytest.approx(np.diff(base[:2])[0] * reduction)
    TALLIES["xarray open_datatree (corpus pyramids)"]["opened"] += 1


# -- lazy, dask, distributed, remote -------------------------------------------

PYRAMID = RNG.integers(0, 4000, (2, 256, 192), dtype="uint16")
OME_METADATA = {
    "axes": "CYX",
    "PhysicalSizeX": 0.25,
    "PhysicalSizeY": 0.5,
    "Channel": {"Name": ["DAPI", "GFP"]},
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("xarray")
    options = {"tile": (64, 32), "compression": "zlib", "photometric": "minisblack"}
    with tifffile.TiffWriter(folder / "p.ome.tif") as tw:
        tw.write(PYRAMID, subifds=1, metadata=OME_METADATA, **options)
        tw.write(PYRAMID[:, ::2, ::2], subfiletype=1, **options)
    return folder


@pytest.fixture(scope="module")
def server(folder: Path) -> Iterator[RangeServer]:
    with serve(folder) as running:
        yield running


def test_open_reads_no_pixels_and_chunks_are_the_tiles(server: RangeServer) -> None:
    url = server.url_for("p.ome.tif")
    tiffzarr.clear_cache()
    server.stats.reset()
    tiffzarr.open_tiff(url)
    parse = server.stats.requests
    tiffzarr.clear_cache()
    server.stats.reset()
    ds = xr.open_dataset(url, engine=ENGINE, chunks={})
    assert server.stats.requests == parse  # the parse, and no pixel
    assert ds["image"].chunks == ((1, 1), (64,) * 4, (32,) * 6)
    server.stats.reset()
    assert np.array_equal(ds["image"][1, 64:128, 32:64].values, PYRAMID[1, 64:128, 32:64])
    assert 1 <= server.stats.requests <= 2
    lazy = xr.open_dataset(url, engine=ENGINE, level=1)  # no dask: lazily indexed
    server.stats.reset()
    assert np.array_equal(lazy["image"][:, 5].values, PYRAMID[:, ::2, ::2][:, 5])
    assert server.stats.requests >= 1


def test_storage_options_reach_the_parse_and_the_chunk_reads(server: RangeServer) -> None:
    url = server.url_for("p.ome.tif")
    tiffzarr.clear_cache()
    server.faults.add("status", status=503, path="p.ome.tif")
    with pytest.raises(SourceError):
        xr.open_dataset(url, engine=ENGINE, storage_options={"retries": 0})
    tiffzarr.clear_cache()
    patient = {"retries": 2, "retry_backoff": 0.01}
    server.faults.add("status", status=503, path="p.ome.tif")
    ds = xr.open_dataset(url, engine=ENGINE, storage_options=patient, chunks={})
    server.faults.add("status", status=503, path="p.ome.tif")
    assert np.array_equal(ds["image"][0, :64, :32].values, PYRAMID[0, :64, :32])
    impatient = xr.open_dataset(url, engine=ENGINE, storage_options={"retries": 0}, chunks={})
    server.faults.add("status", status=503, path="p.ome.tif")
    with pytest.raises(SourceError):
        impatient["image"][1, -64:, -32:].values  # noqa: B018
    server.faults.clear()


def test_datasets_pickle_to_distributed_workers(server: RangeServer) -> None:
    url = server.url_for("p.ome.tif")
    tree = xr.open_datatree(url, engine=ENGINE, chunks={})
    with local_cluster(1) as client:
        server.stats.reset()
        full, half = client.compute([tree["0/0"]["image"].data, tree["0/1"]["image"].data])
        assert np.array_equal(full.result(), PYRAMID)
        assert np.array_equal(half.result(), PYRAMID[:, ::2, ::2])
        total = client.compute(tree["0/0"]["image"].astype("int64").sum("c").data).result()
    assert np.array_equal(total, PYRAMID.astype("int64").sum(0))
    assert server.stats.requests > 0  # the worker fetched the tiles


# -- coordinates -----------------------------------------------------------------


def test_ome_physical_sizes_and_channel_names_become_coordinates(folder: Path) -> None:
    path = str(folder / "p.ome.tif")
    ds = xr.open_dataset(path, engine=ENGINE)
    assert ds["image"].dims == ("c", "y", "x")
    assert ds["c"].values.tolist() == ["DAPI", "GFP"]
    assert np.array_equal(ds["x"].values, 0.25 * np.arange(192))
    assert np.array_equal(ds["y"].values, 0.5 * np.arange(256))
    assert ds["x"].attrs == {"units": "micrometer"} == ds["y"].attrs
    level = xr.open_dataset(path, engine=ENGINE, level=1)
    assert np.array_equal(level["x"].values, 0.5 * np.arange(96))
    assert np.array_equal(level["y"].values, 1.0 * np.arange(128))
    assert level["c"].values.tolist() == ["DAPI", "GFP"]
    assert level.attrs["tiffzarr"]["kind"] == "ome" and level.attrs["tiffzarr"]["level"] == 1
    assert np.array_equal(level["image"].sel(c="GFP").values, PYRAMID[1, ::2, ::2])
    picked = ds["image"].isel(
        y=xr.DataArray([1, 5, 9], dims="p"), x=xr.DataArray([2, 3, 4], dims="p")
    )
    assert np.array_equal(picked.values, PYRAMID[:, [1, 5, 9], [2, 3, 4]])
    assert np.array_equal(
        ds["image"][::-1, 200:3:-9, [7, 2]].values, PYRAMID[::-1, 200:3:-9][..., [7, 2]]
    )


def test_time_and_depth_scales_in_ngff_order(tmp_path: Path) -> None:
    path = tmp_path / "t.ome.tif"
    metadata = {
        "axes": "TZCYX",
        "PhysicalSizeZ": 2.0,
        "PhysicalSizeZUnit": "nm",
        "TimeIncrement": 1.5,
        "TimeIncrementUnit": "ms",
    }
    data = RNG.integers(0, 255, (2, 3, 2, 8, 8), dtype="uint8")
    tifffile.imwrite(path, data, metadata=metadata)
    ds = xr.open_dataset(path, engine=ENGINE)
    assert ds["image"].dims == ("t", "c", "z", "y", "x")
    assert np.array_equal(ds["t"].values, [0.0, 1.5]) and ds["t"].attrs["units"] == "millisecond"
    assert np.array_equal(ds["z"].values, [0.0, 2.0, 4.0]) and ds["z"].attrs["units"] == "nanometer"
    assert np.array_equal(ds["image"].values, data.transpose(0, 2, 1, 3, 4))
    full = xr.open_dataset(path, engine=ENGINE, squeeze=False)  # six axes: tifffile's order
    assert full["image"].dims == ("t", "z", "c", "y", "x", "s")
    assert np.array_equal(full["z"].values, ds["z"].values)
    assert np.array_equal(full["image"].values[..., 0], data)


def test_rgb_samples_come_first_and_squeeze_false_keeps_length_one(tmp_path: Path) -> None:
    data = RNG.integers(0, 255, (20, 30, 3), dtype="uint8")
    with tifffile.TiffWriter(tmp_path / "rgb.tif") as tw:  # pages that differ: generic series
        tw.write(data, photometric="rgb", metadata=None)
        tw.write(data[:10, :10, 0], photometric="minisblack", metadata=None)
    ds = xr.open_dataset(tmp_path / "rgb.tif", engine=ENGINE)
    assert ds["image"].dims == ("s", "y", "x")
    assert np.array_equal(ds["image"].values, data.transpose(2, 0, 1))
    full = xr.open_dataset(tmp_path / "rgb.tif", engine=ENGINE, series=1, squeeze=False)
    with tifffile.TiffFile(tmp_path / "rgb.tif") as tf:
        axes, shape = tf.series[1].get_axes(False), tf.series[1].get_shape(False)
    assert full["image"].dims == ("i", "s", "y", "x")
    assert dict(full["image"].sizes) == labelled(axes, shape, geo=False)


def test_groups_are_the_store_hierarchy(folder: Path) -> None:
    path = str(folder / "p.ome.tif")
    groups = xr.open_groups(path, engine=ENGINE)
    assert set(groups) == {"/", "/0", "/0/0", "/0/1"}
    assert not groups["/"].variables and not groups["/0"].variables
    assert groups["/0"].attrs["tiffzarr"]["name"] == groups["/0/1"].attrs["tiffzarr"]["name"]
    dropped = xr.open_dataset(path, engine=ENGINE, drop_variables=["c"])
    assert "c" not in dropped.coords and "x" in dropped.coords


def test_several_series_and_levels_are_chosen_and_checked(folder: Path) -> None:
    path = str(folder / "p.ome.tif")
    assert xr.open_dataset(path, engine=ENGINE, level=-1)["image"].shape == (2, 128, 96)
    with pytest.raises(NotFoundError, match="no level 2"):
        xr.open_dataset(path, engine=ENGINE, level=2)
    with pytest.raises(NotFoundError, match="no series 1"):
        xr.open_dataset(path, engine=ENGINE, series=1)


# -- nodata and masking ------------------------------------------------------------


def write_geotiff(path: Path, data: np.ndarray, **profile: Any) -> None:
    count, height, width = data.shape
    options = {"driver": "GTiff", "tiled": True, "blockxsize": 16, "blockysize": 16}
    with rasterio.open(
        path, "w", width=width, height=height, count=count, dtype=data.dtype, **options, **profile
    ) as ds:
        ds.write(data)


def test_nodata_is_kept_unless_masked_as_rioxarray(tmp_path: Path) -> None:
    data = RNG.integers(0, 50, (1, 40, 50), dtype="uint8")
    transform = Affine(1.0, 0.0, 0.0, 0.0, -1.0, 40.0)
    write_geotiff(tmp_path / "nd.tif", data, nodata=7, crs="EPSG:3857", transform=transform)
    plain = xr.open_dataset(tmp_path / "nd.tif", engine=ENGINE)
    want = rioxarray.open_rasterio(tmp_path / "nd.tif")
    assert plain["image"].dtype == np.uint8 and plain["image"].attrs["_FillValue"] == 7
    assert plain["image"].attrs["_FillValue"] == want.attrs["_FillValue"]
    assert np.array_equal(plain["image"].values.squeeze(), data[0])
    masked = xr.open_dataset(tmp_path / "nd.tif", engine=ENGINE, mask_and_scale=True)
    wanted = rioxarray.open_rasterio(tmp_path / "nd.tif", mask_and_scale=True)
    assert masked["image"].dtype == wanted.dtype == np.float32
    assert masked["image"].encoding["_FillValue"] == wanted.encoding["_FillValue"] == 7
    assert int(masked["image"].isnull().sum()) == int((data == 7).sum()) > 0


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_open_zarr_on_the_store_neither_masks_nor_widens_without_nodata(
    tmp_path: Path, zarr_format: int
) -> None:
    """DESIGN §2: with zarr v2 metadata a fill_value of 0 would make xarray mask zeros and
    turn integers into floats; without nodata the store says null."""
    data = np.arange(64 * 64, dtype="uint16").reshape(64, 64) % 3  # many zeros
    tifffile.imwrite(tmp_path / "z.tif", data, tile=(32, 32))
    store = tiffzarr.open_store(str(tmp_path / "z.tif"), zarr_format=zarr_format)  # type: ignore[arg-type]
    image = xr.open_zarr(store, group="0", consolidated=False)["0"]
    assert image.dtype == np.uint16 and "_FillValue" not in image.encoding
    assert np.array_equal(image.values, data)
    if zarr_format == 2:
        assert json.loads(store.metadata["0/0/.zarray"])["fill_value"] is None


# -- georeferencing ------------------------------------------------------------------

GEO_CASES = {
    "wgs84": (1, "EPSG:4326", Affine(0.1, 0.0, 10.0, 0.0, -0.1, 50.0)),
    "utm-3-bands": (3, "EPSG:32618", Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4000000.0)),
    "rotated": (2, "EPSG:32618", Affine(30.0, 5.0, 500000.0, 4.0, -30.0, 4000000.0)),
}


def with_geo(index: tiffzarr.TiffIndex, path: Path) -> tiffzarr.TiffIndex:
    """The index with series 0 georeferenced as rasterio reads the file (standing in for
    tiffzarr's own GeoKeys parse)."""
    with rasterio.open(path) as src:
        geo = GeoReference(
            transform=tuple(src.transform)[:6],  # type: ignore[arg-type]
            crs_wkt=src.crs.to_wkt(),
            nodata=src.nodata,
        )
    series: Series = dataclasses.replace(index.series[0], geo=geo)
    return dataclasses.replace(index, series=(series, *index.series[1:]))


def assert_like_rioxarray(
    ds: xr.Dataset, path: Path, *, pixels: bool = True, **options: Any
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        want = rioxarray.open_rasterio(path, **options)
    image = ds["image"]
    assert image.dims == want.dims and image.shape == want.shape
    names = ["band", "x", "y", "xc", "yc"]
    if "GeoTransform" not in ds["spatial_ref"].attrs and not want.rio.get_gcps():
        # no transform in the file: rioxarray's x/y come from GDAL's identity stand-in
        assert not {"x", "y", "xc", "yc"} & set(ds.coords)
        names = ["band"]
    for name in names:
        assert (name in ds.coords) == (name in want.coords), name
        if name in want.coords:
            assert np.array_equal(ds[name].values, want[name].values), name
    assert ds.rio.crs == want.rio.crs and image.rio.crs == want.rio.crs
    assert image.rio.transform() == want.rio.transform()
    assert image.encoding["grid_mapping"] == "spatial_ref"
    assert (
        image.rio.nodata == want.rio.nodata or np.isnan([image.rio.nodata, want.rio.nodata]).all()
    )
    if pixels:
        assert np.array_equal(image.values, want.values)
        picked = want[[0, 0], ::-7, [3, 1]].values
        assert np.array_equal(image[[0, 0], ::-7, [3, 1]].values, picked)


def geotiff_case(tmp_path: Path, case: str, *, overviews: bool = False) -> Path:
    count, crs, transform = GEO_CASES[case]
    path = tmp_path / f"{case}.tif"
    data = RNG.integers(0, 200, (count, 40, 48), dtype="uint8")
    write_geotiff(path, data, crs=crs, transform=transform)
    if overviews:
        with rasterio.open(path, "r+") as ds:
            ds.build_overviews([2], rasterio.enums.Resampling.nearest)
    return path


@pytest.mark.parametrize("case", list(GEO_CASES))
def test_georeferenced_series_as_rioxarray_opens_it(tmp_path: Path, case: str) -> None:
    path = geotiff_case(tmp_path, case)
    index = with_geo(quiet_index(str(path)), path)
    assert_like_rioxarray(xr.open_dataset(index, engine=ENGINE), path)


def test_overview_levels_have_their_own_transform(tmp_path: Path) -> None:
    path = geotiff_case(tmp_path, "utm-3-bands", overviews=True)
    index = with_geo(quiet_index(str(path)), path)
    assert len(index.series[0].levels) == 2
    level = xr.open_dataset(index, engine=ENGINE, level=1)
    assert_like_rioxarray(level, path, overview_level=0)
    tree = xr.open_datatree(index, engine=ENGINE)
    assert tree["0/1"]["image"].rio.transform() == level["image"].rio.transform()


def test_gdal_internal_masks_are_a_lazy_coordinate(tmp_path: Path) -> None:
    path = tmp_path / "masked.tif"
    data = RNG.integers(0, 200, (2, 64, 48), dtype="uint8")
    valid = np.zeros((64, 48), "uint8")
    valid[8:50, 4:30] = 255
    _, crs, transform = GEO_CASES["utm-3-bands"]
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        write_geotiff(path, data, crs=crs, transform=transform)
        with rasterio.open(path, "r+") as ds:
            ds.write_mask(valid)
            ds.build_overviews([2], rasterio.enums.Resampling.nearest)
    for level in (0, 1):
        ds = xr.open_dataset(path, engine=ENGINE, level=level, chunks={})
        options = {"overview_level": level - 1} if level else {}
        with rasterio.open(path, **options) as src:
            assert np.array_equal(ds["mask"].values * 255, src.read_masks(1))
        masked = rioxarray.open_rasterio(path, masked=True, **options)
        got = ds["image"].where(ds["mask"] == 1)
        assert np.array_equal(got.isnull().values, masked.isnull().values)
        assert ds["mask"].dims == ("y", "x") and ds["mask"].chunks is not None


def test_ground_control_points_without_a_transform(tmp_path: Path) -> None:
    path = geotiff_case(tmp_path, "wgs84")
    index = quiet_index(str(path))
    points = (GroundControlPoint(0, 0, 10.0, 50.0), GroundControlPoint(40, 48, 14.8, 46.0, 3.0))
    geo = GeoReference(crs_wkt=rasterio.crs.CRS.from_epsg(4326).to_wkt(), gcps=points)
    series = dataclasses.replace(index.series[0], geo=geo)
    ds = xr.open_dataset(dataclasses.replace(index, series=(series,)), engine=ENGINE)
    assert "x" not in ds.coords and "y" not in ds.coords
    gcps = ds["image"].rio.get_gcps()
    assert [(p.row, p.col, p.x, p.y, p.z) for p in gcps] == [
        (0, 0, 10.0, 50.0, 0.0),
        (40, 48, 14.8, 46.0, 3.0),
    ]
    assert ds.rio.crs == rasterio.crs.CRS.from_epsg(4326)


@pytest.mark.parametrize("case", list(GEO_CASES))
def test_parsed_geotiffs_open_as_rioxarray_opens_them(tmp_path: Path, case: str) -> None:
    path = geotiff_case(tmp_path, case, overviews=True)
    assert_like_rioxarray(xr.open_dataset(path, engine=ENGINE), path)
    assert_like_rioxarray(xr.open_dataset(path, engine=ENGINE, level=1), path, overview_level=0)


@pytest.mark.parametrize("relpath", [r["relpath"] for r in ROWS if "geotiff" in r["features"]])
def test_corpus_geotiffs_open_as_rioxarray_opens_them(relpath: str) -> None:
    """Every level of every corpus GeoTIFF against GDAL's overviews (open only)."""
    path = require(CORPUS, "corpus") / relpath
    index = quiet_index(str(path))
    assert index.series[0].geo is not None
    for level in range(len(index.series[0].levels)):
        ds = xr.open_dataset(index, engine=ENGINE, level=level)
        options = {"overview_level": level - 1} if level else {}
        assert_like_rioxarray(ds, path, pixels=False, **options)
        TALLIES["xarray corpus GeoTIFF levels like rioxarray"]["equal"] += 1


# -- the entry point ---------------------------------------------------------------------


def test_the_engine_is_registered_and_claims_tiff_names() -> None:
    assert isinstance(xr.backends.list_engines()[ENGINE], TiffBackendEntrypoint)
    entry = TiffBackendEntrypoint()
    names = ["a.tif", "b.TIFF", "c.ome.tif", "d.svs", "e.ndpi", "f.scn", "g.qptiff", "h.bif"]
    names += ["i.gtif", "s3://bucket/j.tif", "https://host/k.tiff?version=2"]
    assert all(entry.guess_can_open(n) for n in names)
    assert not any(entry.guess_can_open(n) for n in ["a.zarr", "b.nc", "c.tif.zarr", "d.png"])
    assert entry.guess_can_open(Path("x.ome.tiff"))


def test_import_tiffzarr_does_not_import_xarray() -> None:
    code = "import sys, tiffzarr; print('xarray' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.stdout.strip() == "False", result.stderr


def test_what_is_not_a_tiff_is_refused(tmp_path: Path) -> None:
    (tmp_path / "n.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(TiffZarrError):
        xr.open_dataset(tmp_path / "n.tif", engine=ENGINE)
    with pytest.raises(TypeError, match="path, URL, binary file object or TiffIndex"):
        TiffBackendEntrypoint().open_dataset(zarr.storage.MemoryStore())  # type: ignore[arg-type]
