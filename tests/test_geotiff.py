"""GeoTIFF and COG metadata as GDAL reads it: for every GeoTIFF in the corpus, the CRS,
transform (or ground control points), nodata, RPCs, internal masks and overview shapes
equal rasterio's; files written here with rasterio (EPSG and custom CRSs, PixelIsPoint,
rotation, GCPs, nodata, internal masks, COG overviews, sparse tiles) read back alike;
the store shows them in the Zarr geospatial conventions, CF ``spatial_ref`` (rioxarray
reads it) and NGFF labels."""

from __future__ import annotations

import functools
import math
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import rasterio
import rioxarray  # noqa: F401  (registers the .rio accessor)
import tifffile
import xarray as xr
import zarr
from ome_zarr_models.v04.image import Image as ImageV04
from ome_zarr_models.v05.image import Image as ImageV05
from rasterio.control import GroundControlPoint as RasterioGCP
from rasterio.enums import MaskFlags
from rasterio.transform import Affine

import tiffzarr
from tests.conftest import CORPUS, TALLIES, manifest, require
from tiffzarr.errors import TiffFormatWarning
from tiffzarr.format._geocrs import code_wkt, geokeys_crs
from tiffzarr.format._geokeys import GeoKey
from tiffzarr.format._records import jsonable
from tiffzarr.model import GeoReference

pytestmark = pytest.mark.filterwarnings(
    "ignore::rasterio.errors.NotGeoreferencedWarning",
    "ignore:Use `@` matmul instead of `\\*` mul:PendingDeprecationWarning",
)
ROWS = [r for r in manifest(CORPUS) if "geotiff" in r["features"].split(";")]
ASPECTS = ("crs", "transform", "nodata", "rpcs", "masks", "overviews", "metadata")
KNOWN = {
    ("files/rio-cogeo/validate/image_sorted.tif", "overviews"): (
        "pyramid levels are grouped as tifffile groups them (successive 2-, 3- or 4-fold "
        "reductions in file order); GDAL takes every reduced page as an overview"
    ),
    ("files/rio-cogeo/validate/image_dec.tif", "overviews"): (
        "a reduced page of the full size is a second series (as in tifffile), a GDAL overview"
    ),
}
NO_SIDECARS = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}
"""rasterio reads what the TIFF says, not .aux.xml, .RPB or world files beside it."""


def params() -> list[Any]:
    return [
        pytest.param(
            r["relpath"],
            aspect,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN[r["relpath"], aspect])]
            if (r["relpath"], aspect) in KNOWN
            else [],
        )
        for r in ROWS
        for aspect in ASPECTS
    ]


@functools.cache
def opened(relpath: str) -> tuple[tiffzarr.TiffIndex, dict[str, Any]]:
    """tiffzarr's index and what rasterio reports, once per file."""
    path = str(require(CORPUS, "corpus") / relpath)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with rasterio.Env(**NO_SIDECARS), rasterio.open(path) as ds:
                gcps, gcp_crs = ds.gcps
                want = {
                    "crs": ds.crs or (gcp_crs if gcps else None),
                    "transform": ds.transform,
                    "gcps": gcps,
                    "nodata": ds.nodata,
                    "rpcs": ds.rpcs.to_dict() if ds.rpcs else None,
                    "flags": ds.mask_flag_enums[0],
                    "overviews": len(ds.overviews(1)),
                    "masks": [ds.read_masks(1)] if _internal_mask(ds) else [],
                    "descriptions": ds.descriptions,
                    "scales": ds.scales,
                    "offsets": ds.offsets,
                    "tags": ds.tags(),
                }
            want["overview_shapes"], overview_masks = _overviews(path, want)
            want["masks"] += overview_masks
        except rasterio.errors.RasterioIOError as exc:
            pytest.skip(f"rasterio does not open this file: {exc}")
        try:
            index = tiffzarr.open_tiff(path)
        except tiffzarr.TiffZarrError as exc:
            pytest.skip(f"tiffzarr does not open this file: {exc!r:.100}")
    return index, want


def _internal_mask(ds: Any) -> bool:
    """GDAL's own mask band (not one derived from nodata or alpha)."""
    flags = ds.mask_flag_enums[0]
    return flags == [MaskFlags.per_dataset]


def _overviews(path: str, want: dict[str, Any]) -> tuple[list[tuple[int, int]], list[Any]]:
    shapes, masks = [], []
    for k in range(want["overviews"]):
        with rasterio.Env(**NO_SIDECARS), rasterio.open(path, overview_level=k) as ds:
            shapes.append(ds.shape)
            if want["masks"]:
                masks.append(ds.read_masks(1))
    return shapes, masks


def crs_of(geo: GeoReference) -> pyproj.CRS | None:
    found = geo.crs_code or geo.crs_wkt
    return None if found is None else pyproj.CRS(found)


def plane(array: Any) -> tuple[int, int]:
    return array.shape[array.axes.index("Y")], array.shape[array.axes.index("X")]


def close(a: Any, b: Any) -> bool:
    return all(math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9) for x, y in zip(a, b, strict=True))


def same_number(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize(("relpath", "aspect"), params())
def test_geotiff_reads_as_gdal_reads_it(relpath: str, aspect: str) -> None:
    index, want = opened(relpath)
    geo = index.series[0].geo or GeoReference()
    check = globals()[f"_check_{aspect}"]
    check(index, geo, want)


def _check_crs(index: tiffzarr.TiffIndex, geo: GeoReference, want: dict[str, Any]) -> None:
    ours = crs_of(geo)
    tally = TALLIES["corpus GeoTIFF CRS against rasterio (files)"]
    if want["crs"] is None:
        tally["no CRS, rasterio none" if ours is None else "CRS, rasterio none"] += 1
        assert ours is None, geo.crs_code or geo.crs_wkt
        return
    equal = ours is not None and ours == pyproj.CRS(want["crs"].to_wkt())
    tally[("equal" if equal else "not equal") + (" (EPSG code)" if geo.crs_code else " (WKT)")] += 1
    assert equal, f"{geo.crs_code or geo.crs_wkt} != {want['crs']}: {geo.crs_note}"


def _check_transform(index: tiffzarr.TiffIndex, geo: GeoReference, want: dict[str, Any]) -> None:
    if want["gcps"]:
        assert geo.transform is None
        got = [(p.row, p.col, p.x, p.y, p.z) for p in geo.gcps]
        assert len(got) == len(want["gcps"])
        for ours, theirs in zip(got, want["gcps"], strict=True):
            assert close(ours, (theirs.row, theirs.col, theirs.x, theirs.y, theirs.z or 0.0))
    elif geo.transform is None:
        assert want["transform"] == Affine.identity()  # rasterio: not georeferenced
    else:
        assert close(geo.transform, tuple(want["transform"])[:6]), geo.transform


def _check_nodata(index: tiffzarr.TiffIndex, geo: GeoReference, want: dict[str, Any]) -> None:
    assert same_number(geo.nodata, want["nodata"]), (geo.nodata, want["nodata"])
    fill = index.series[0].levels[0].fill_value
    if fill is not None:
        assert same_number(float(fill), want["nodata"])


def _check_rpcs(index: tiffzarr.TiffIndex, geo: GeoReference, want: dict[str, Any]) -> None:
    if want["rpcs"] is None:
        assert not geo.rpcs
        return
    ours = {k.lower(): v for k, v in geo.rpcs.items()}
    assert ours.keys() == want["rpcs"].keys()
    for name, value in want["rpcs"].items():
        assert np.allclose(ours[name], value, rtol=1e-12, atol=0), name
    served = zarr.open_group(tiffzarr.open_store(index), mode="r")["0"].attrs["tiffzarr"]
    assert served["geotiff"]["rpcs"].keys() == geo.rpcs.keys()  # the RPCs as attributes


def _check_masks(index: tiffzarr.TiffIndex, geo: GeoReference, want: dict[str, Any]) -> None:
    series = index.series[0]
    assert len(series.masks) == len(want["masks"])
    if not series.masks:
        return
    assert len(series.masks) == len(series.levels)
    root = zarr.open_group(tiffzarr.open_store(index), mode="r")
    for j, theirs in enumerate(want["masks"]):
        ours = np.asarray(root[f"0/labels/mask/{j}"][...])
        assert ours.dtype == np.uint8 and set(np.unique(ours)) <= {0, 1}
        assert np.array_equal(ours * 255, theirs), f"mask of level {j}"


def _check_overviews(index: tiffzarr.TiffIndex, geo: GeoReference, want: dict[str, Any]) -> None:
    levels = index.series[0].levels
    assert [plane(level) for level in levels[1:]] == want["overview_shapes"]
    for level in levels:  # chunks no larger than the level (small overviews)
        assert all(c <= max(n, 1) for c, n in zip(level.chunks, level.shape, strict=True))


def _check_metadata(index: tiffzarr.TiffIndex, geo: GeoReference, want: dict[str, Any]) -> None:
    bands = geo.gdal_metadata.get("bands", [])
    for i, band in enumerate(bands):
        if "description" in band:
            assert band["description"] == want["descriptions"][i]
        assert band.get("scale", 1.0) == pytest.approx(want["scales"][i])
        assert band.get("offset", 0.0) == pytest.approx(want["offsets"][i])
    dataset = geo.gdal_metadata.get("dataset", {})
    assert dataset.items() <= want["tags"].items()
    point = want["tags"].get("AREA_OR_POINT") == "Point"
    assert (geo.raster_type == "point") == point
    served = index.series[0].attrs["geotiff"]  # what the store and xarray show
    assert served.get("gdal_metadata", {}).get("bands", []) == jsonable(bands)
    assert served["raster_type"] == geo.raster_type


def test_geotiffs_are_found() -> None:
    require(CORPUS, "corpus")
    assert len(ROWS) >= 70


# -- files written here with rasterio ------------------------------------------------------

RNG = np.random.default_rng(7)
TRANSFORM = Affine(30.0, 0.0, 440000.0, 0.0, -30.0, 3750000.0)
LCC = (
    "+proj=lcc +lat_1=33.3 +lat_2=47.1 +lat_0=38.7 +lon_0=-96.3 +x_0=12345 +y_0=-678 "
    "+ellps=GRS80 +units=m +no_defs"
)


def write(
    path: Path, data: np.ndarray, /, *, mask: np.ndarray | None = None, **profile: Any
) -> Path:
    """A GeoTIFF written by rasterio (GDAL): ``data`` is (bands, rows, cols)."""
    tags = profile.pop("tags", None)
    options = {"driver": "GTiff", "transform": TRANSFORM, **profile}
    bands, rows, cols = data.shape
    shape = {"count": bands, "height": rows, "width": cols, "dtype": data.dtype}
    with (
        rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True),
        rasterio.open(path, "w", **shape, **options) as ds,
    ):
        ds.write(data)
        if mask is not None:
            ds.write_mask(mask)
        if tags:
            ds.update_tags(**tags)
    return path


def geo_of(path: Path) -> tuple[tiffzarr.TiffIndex, GeoReference]:
    index = tiffzarr.open_tiff(str(path))
    geo = index.series[0].geo
    assert geo is not None
    return index, geo


def rasterio_view(path: Path) -> dict[str, Any]:
    with rasterio.Env(**NO_SIDECARS), rasterio.open(path) as ds:
        return {"crs": ds.crs, "transform": ds.transform, "gcps": ds.gcps, "nodata": ds.nodata}


def group_attrs(path: Path, zarr_format: int) -> tuple[zarr.Group, dict[str, Any]]:
    root = zarr.open_group(tiffzarr.open_store(str(path), zarr_format=zarr_format), mode="r")
    group = root["0"]
    assert isinstance(group, zarr.Group)
    return group, dict(group.attrs)


@pytest.mark.parametrize("code", [4326, 3857, 32633])
@pytest.mark.parametrize("zarr_format", [3, 2])
def test_epsg_crs_in_the_conventions_and_for_rioxarray(
    tmp_path: Path, code: int, zarr_format: int
) -> None:
    transform = TRANSFORM if code != 4326 else Affine(0.01, 0.0, 10.0, 0.0, -0.01, 50.0)
    data = RNG.integers(0, 4000, (1, 40, 56), dtype="uint16")
    path = write(tmp_path / "a.tif", data, crs=f"EPSG:{code}", transform=transform)
    _, geo = geo_of(path)
    assert geo.crs_code == f"EPSG:{code}" and geo.crs_note is None
    assert geo.crs_wkt is None  # the text of a code is built only when asked
    assert pyproj.CRS(geo.wkt()) == pyproj.CRS.from_epsg(code)
    assert close(geo.transform, tuple(transform)[:6])
    group, attrs = group_attrs(path, zarr_format)
    assert attrs["proj:code"] == f"EPSG:{code}" and "proj:wkt2" not in attrs  # one of them
    assert [c["name"] for c in attrs["zarr_conventions"]] == ["proj:", "spatial"]
    assert attrs["spatial:dimensions"] == ["y", "x"]
    assert close(attrs["spatial:bbox"], [*transform * (0, 40), *transform * (56, 0)])
    level = dict(group["0"].attrs)
    assert level["spatial:shape"] == [40, 56] and level["spatial:dimensions"] == ["y", "x"]
    assert close(level["spatial:transform"], tuple(transform)[:6])
    assert level["grid_mapping"] == "spatial_ref" and "nodata" not in level
    ref = dict(group["spatial_ref"].attrs)
    gdal = [float(v) for v in ref["GeoTransform"].split()]
    assert close(gdal, transform.to_gdal())
    assert pyproj.CRS(ref["crs_wkt"]) == pyproj.CRS.from_epsg(code)
    store = tiffzarr.open_store(str(path), zarr_format=zarr_format)
    array = xr.open_zarr(store, group="0", consolidated=False)["0"]
    assert array.rio.crs == rasterio.crs.CRS.from_epsg(code)
    assert array.rio.transform() == transform
    assert np.array_equal(array.values, data[0])


CUSTOM = [
    LCC,
    "+proj=tmerc +lat_0=31.5 +lon_0=-110.1 +k=0.9999 +x_0=213360 +y_0=1000 +ellps=clrk66 "
    "+units=us-ft +no_defs",
    "+proj=stere +lat_0=90 +lat_ts=71 +lon_0=-45 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs",
    "+proj=sinu +lon_0=12.5 +x_0=100 +y_0=-200 +R=6371007.181 +units=m +no_defs",
    "+proj=aea +lat_1=29.5 +lat_2=45.5 +lat_0=23 +lon_0=-96 +x_0=0 +y_0=0 +a=6378140 "
    "+rf=298.257 +units=m +no_defs",
    "+proj=omerc +lat_0=4 +lonc=102.25 +alpha=323.025796466667 +gamma=323.130102361111 "
    "+k=0.99984 +x_0=804671 +y_0=0 +ellps=evrst69 +units=m +no_defs",
    "+proj=laea +lat_0=52 +lon_0=10 +x_0=4321000 +y_0=3210000 +ellps=GRS80 +units=m +no_defs",
]


@pytest.mark.parametrize("proj", CUSTOM, ids=lambda p: p.split()[0])
def test_custom_crs_is_served_as_wkt2(tmp_path: Path, proj: str) -> None:
    """CRSs without a code: GDAL writes them as GeoKeys (method and parameters, units,
    ellipsoid), and they read back as rasterio reads them."""
    crs = pyproj.CRS(proj)
    path = write(tmp_path / "c.tif", np.zeros((1, 8, 8), "uint8"), crs=crs.to_wkt())
    _, geo = geo_of(path)
    assert geo.crs_code is None and geo.crs_wkt is not None, geo.crs_note
    assert pyproj.CRS(geo.crs_wkt) == pyproj.CRS(rasterio_view(path)["crs"].to_wkt())
    _, attrs = group_attrs(path, 3)
    assert "proj:code" not in attrs and pyproj.CRS(attrs["proj:wkt2"]) == pyproj.CRS(geo.crs_wkt)


def test_crs_comparison_can_fail(tmp_path: Path) -> None:
    path = write(tmp_path / "lcc.tif", np.zeros((1, 8, 8), "uint8"), crs=pyproj.CRS(LCC).to_wkt())
    _, geo = geo_of(path)
    other = pyproj.CRS(LCC.replace("+x_0=12345", "+x_0=12346"))
    assert geo.crs_wkt is not None and pyproj.CRS(geo.crs_wkt) != other


def test_vertical_code_alone_is_the_crs() -> None:
    assert geokeys_crs({GeoKey.VERTICAL: 5703}).code == "EPSG:5703"
    assert (
        geokeys_crs({GeoKey.MODEL_TYPE: 2, GeoKey.GEODETIC_CRS: 4326, GeoKey.VERTICAL: 5703}).code
        == "EPSG:4326"
    )


def test_pixel_is_point_moves_to_corners_as_gdal(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.tif",
        np.zeros((1, 6, 9), "int16"),
        crs="EPSG:32633",
        tags={"AREA_OR_POINT": "Point"},
    )
    _, geo = geo_of(path)
    want = rasterio_view(path)["transform"]
    assert geo.raster_type == "point"
    assert geo.geokeys["GTRasterTypeGeoKey"] == 2
    assert close(geo.transform, tuple(want)[:6])


def test_rotated_transform(tmp_path: Path) -> None:
    rotated = TRANSFORM * Affine.rotation(17.0)
    path = write(
        tmp_path / "r.tif", np.zeros((1, 5, 7), "uint8"), crs="EPSG:3857", transform=rotated
    )
    _, geo = geo_of(path)
    assert close(geo.transform, tuple(rasterio_view(path)["transform"])[:6])
    assert geo.transform is not None and geo.transform[1] != 0.0


def test_ground_control_points(tmp_path: Path) -> None:
    gcps = [
        RasterioGCP(row=0, col=0, x=10.0, y=50.0, z=1.0),
        RasterioGCP(row=0, col=19, x=10.9, y=50.1),
        RasterioGCP(row=9, col=0, x=10.1, y=49.6),
    ]
    path = tmp_path / "g.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=20,
        height=10,
        count=1,
        dtype="uint8",
        gcps=gcps,
        crs="EPSG:4326",
    ) as ds:
        ds.write(np.zeros((1, 10, 20), "uint8"))
    _, geo = geo_of(path)
    got, crs = rasterio_view(path)["gcps"]
    assert geo.transform is None and crs == rasterio.crs.CRS.from_epsg(4326)
    assert [(p.row, p.col, p.x, p.y, p.z) for p in geo.gcps] == [
        (g.row, g.col, g.x, g.y, g.z) for g in got
    ]
    group, attrs = group_attrs(path, 3)
    assert attrs["proj:code"] == "EPSG:4326" and "spatial:bbox" not in attrs
    level = dict(group["0"].attrs)
    assert "spatial:transform" not in level and level["spatial:shape"] == [10, 20]
    assert "GeoTransform" not in dict(group["spatial_ref"].attrs)
    served = attrs["tiffzarr"]["geotiff"]["gcps"]  # the points as attributes too
    assert [(p["row"], p["col"], p["x"], p["y"], p["z"]) for p in served] == [
        (g.row, g.col, g.x, g.y, g.z) for g in got
    ]


@pytest.mark.parametrize(
    ("dtype", "nodata", "attr"),
    [("int16", -9999, -9999), ("float32", float("nan"), "NaN"), ("uint8", 255, 255)],
)
@pytest.mark.parametrize("zarr_format", [3, 2])
def test_nodata_is_the_fill_value_and_an_attribute(
    tmp_path: Path, dtype: str, nodata: float, attr: Any, zarr_format: int
) -> None:
    data = RNG.integers(0, 100, (1, 8, 12)).astype(dtype)
    data[0, 0, :3] = nodata
    path = write(tmp_path / "n.tif", data, crs="EPSG:32633", nodata=nodata)
    index, geo = geo_of(path)
    assert same_number(geo.nodata, rasterio_view(path)["nodata"])
    assert same_number(index.series[0].levels[0].fill_value, nodata)
    group, _ = group_attrs(path, zarr_format)
    array = group["0"]
    assert isinstance(array, zarr.Array)
    assert dict(array.attrs)["nodata"] == attr
    assert same_number(float(array.fill_value), nodata)
    assert np.array_equal(array[...], data[0], equal_nan=True)


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_internal_mask_is_an_ngff_label(tmp_path: Path, zarr_format: int) -> None:
    data = RNG.integers(0, 255, (3, 64, 48), dtype="uint8")
    mask = np.where(np.add.outer(np.arange(64), np.arange(48)) % 7 < 4, 255, 0).astype("uint8")
    path = write(
        tmp_path / "m.tif",
        data,
        mask=mask,
        crs="EPSG:3857",
        tiled=True,
        blockxsize=32,
        blockysize=32,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the mask pages are held, not reported
        index = tiffzarr.open_tiff(str(path))
    assert len(index.series) == 1 and len(index.series[0].masks) == 1
    group, _ = group_attrs(path, zarr_format)
    (ImageV05 if zarr_format == 3 else ImageV04).from_zarr(group)
    labels = dict(group["labels"].attrs)
    assert (labels["ome"] if zarr_format == 3 else labels)["labels"] == ["mask"]
    label = dict(group["labels/mask"].attrs)
    label = label["ome"] if zarr_format == 3 else label
    assert label["image-label"]["source"] == {"image": "../../"}
    got = np.asarray(group["labels/mask/0"][...])
    with rasterio.open(path) as ds:
        assert np.array_equal(got * 255, ds.read_masks(1))
    assert np.array_equal(got * 255, mask)


def test_cog_overviews_smaller_than_a_tile(tmp_path: Path) -> None:
    data = RNG.integers(0, 255, (2, 600, 500), dtype="uint8")
    path = tmp_path / "cog.tif"
    write(
        path,
        data,
        driver="COG",
        crs="EPSG:32633",
        blocksize=256,
        overview_count=2,
        compress="DEFLATE",
    )
    index, _ = geo_of(path)
    levels = index.series[0].arrays()
    with rasterio.open(path) as ds:
        assert ds.overviews(1) == [2, 4]
    shapes = []
    for k, level in enumerate(levels[1:]):
        with rasterio.open(path, overview_level=k) as ds:
            shapes.append(ds.shape)
            want = ds.read()
        ours = zarr.open_array(tiffzarr.open_store(index, series=0, level=k + 1), mode="r")
        assert np.array_equal(np.moveaxis(ours[...], -1, 0), want)
        assert all(c <= n for c, n in zip(level.chunks, level.shape, strict=True))
    assert [plane(level) for level in levels[1:]] == shapes == [(300, 250), (150, 125)]
    assert levels[2].codec.crop == (1, 150, 125)
    refs = tiffzarr.references(index, zarr_format=3)
    assert "smaller than one tile" in refs.fallbacks["0/2"] and "0/0" not in refs.fallbacks
    group, _ = group_attrs(path, 3)
    for k in range(3):
        transform = dict(group[str(k)].attrs)["spatial:transform"]
        assert close(transform, tuple(TRANSFORM * Affine.scale(2**k))[:6])
        assert dict(group[f"spatial_ref_{k}" if k else "spatial_ref"].attrs)["GeoTransform"]


def test_sparse_tiles_read_as_fill(tmp_path: Path) -> None:
    path = tmp_path / "sparse.tif"
    profile = {
        "driver": "GTiff",
        "width": 64,
        "height": 64,
        "count": 1,
        "dtype": "uint8",
        "tiled": True,
        "blockxsize": 16,
        "blockysize": 16,
        "nodata": 7,
        "sparse_ok": True,
        "crs": "EPSG:3857",
        "transform": TRANSFORM,
    }
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.full((1, 16, 32), 200, "uint8"), window=rasterio.windows.Window(16, 16, 32, 16))
    index = tiffzarr.open_tiff(str(path))
    assert index.pages[0].segments is not None
    assert sum(index.pages[0].segments.locate(i) is None for i in range(16)) == 14
    with rasterio.open(path) as ds:
        want = ds.read(1)
    got = zarr.open_array(tiffzarr.open_store(index, series=0, level=0), mode="r")[...]
    assert np.array_equal(got, want) and (got == 7).sum() == 64 * 64 - 16 * 32


def test_writer_geokeys_read_back(tmp_path: Path) -> None:
    """tiffzarr's writer and reader share the GeoKey table; GDAL agrees with both."""
    path = tmp_path / "w.tif"
    data = RNG.integers(0, 1000, (32, 40), dtype="uint16")
    geotiff = {
        "crs": 32633,
        "transform": tuple(TRANSFORM)[:6],
        "nodata": 3,
        "geokeys": {"GTCitationGeoKey": "written by tiffzarr"},
    }
    tiffzarr.write(path, data, tile=(16, 16), geotiff=geotiff)
    _, geo = geo_of(path)
    want = rasterio_view(path)
    assert geo.crs_code == "EPSG:32633" and want["crs"] == rasterio.crs.CRS.from_epsg(32633)
    assert close(geo.transform, tuple(want["transform"])[:6]) and geo.nodata == want["nodata"] == 3
    assert geo.geokeys["GTCitationGeoKey"] == "written by tiffzarr"


def test_one_level_store_carries_the_conventions(tmp_path: Path) -> None:
    path = tmp_path / "cog.tif"
    write(path, np.zeros((1, 600, 520), "uint8"), driver="COG", crs="EPSG:32633", overview_count=1)
    array = zarr.open_array(tiffzarr.open_store(str(path), series=0, level=1), mode="r")
    attrs = dict(array.attrs)
    assert attrs["proj:code"] == "EPSG:32633" and attrs["spatial:shape"] == [300, 260]
    assert [c["name"] for c in attrs["zarr_conventions"]] == ["proj:", "spatial"]
    assert close(attrs["spatial:transform"], tuple(TRANSFORM * Affine.scale(2))[:6])


def test_without_pyproj_codes_stay_and_keys_say_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyproj", None)  # import pyproj raises ImportError
    coded = geokeys_crs({GeoKey.MODEL_TYPE: 1, GeoKey.PROJECTED_CRS: 32633})
    assert coded.code == "EPSG:32633" and coded.wkt is None and coded.note is None
    code_wkt.cache_clear()
    try:
        assert GeoReference(crs_code="EPSG:32633").wkt() is None
    finally:
        code_wkt.cache_clear()  # later tests build the text with pyproj again
    custom = geokeys_crs({GeoKey.MODEL_TYPE: 1, GeoKey.PROJECTED_CRS: 32767, GeoKey.PROJ_METHOD: 1})
    assert custom.code is None and custom.wkt is None and "pyproj" in (custom.note or "")


def test_broken_geokey_directory_warns(tmp_path: Path) -> None:
    path = tmp_path / "bad.tif"
    directory = [1, 1, 0, 2, 1024, 0, 1, 1, 3072, 34736, 1, 9]  # a double that is not there
    tifffile.imwrite(path, np.zeros((4, 4), "uint8"), extratags=[(34735, 3, 12, directory, True)])
    with pytest.warns(TiffFormatWarning, match="GeoKey 3072 points past"):
        index = tiffzarr.open_tiff(str(path))
    geo = index.series[0].geo
    assert geo is not None and geo.crs_code is None and geo.geokeys == {"GTModelTypeGeoKey": 1}


def test_image_smaller_than_a_tile_is_cropped_and_writable(tmp_path: Path) -> None:
    """A 10x12 image in 16x16 tiles: one 10x12 chunk, cropped on read, padded on write."""
    path = tmp_path / "small.tif"
    tifffile.imwrite(path, np.zeros((10, 12), "uint8"), tile=(16, 16), metadata=None)
    store = tiffzarr.open_store(str(path), series=0, level=0, mode="r+")
    array = zarr.open_array(store, mode="r+")
    assert array.chunks == (10, 12)
    data = RNG.integers(0, 255, (10, 12), dtype="uint8")
    array[...] = data
    assert np.array_equal(tifffile.imread(path), data)
    assert np.array_equal(zarr.open_array(tiffzarr.open_store(str(path)), path="0/0")[...], data)
