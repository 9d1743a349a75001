"""The store with zarr's APIs, xarray and ``tiffzarr.imread``; series/level/page selection.

Fixture files are written by tifffile (and tiffzarr's pyramid writer) with
``metadata=None``, so tifffile reads them as generic series. An array served
alone (``series=``, ``level=``) has tifffile's squeezed shape; in the OME-Zarr
hierarchy the levels are in NGFF axis order (samples first, as the channel axis).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pytest
import tifffile
import xarray as xr
import zarr
import zarr.api.asynchronous as zarr_async

import tiffzarr
from tiffzarr.errors import NotFoundError, ReadOnlyError
from tiffzarr.testing import serve

NODATA = 7


@dataclass(frozen=True)
class Files:
    folder: Path

    def path(self, name: str) -> str:
        return str(self.folder / name)


def _write_subifd_pyramid(path: Path) -> None:
    """Series 0: a (96, 80) uint16 page with two SubIFD levels; series 1: RGB strips."""
    rng = np.random.default_rng(3)
    base = rng.integers(0, 60000, (96, 80), dtype="uint16")
    with tifffile.TiffWriter(path) as tw:
        tw.write(base, subifds=2, tile=(32, 32), compression="zlib", metadata=None)
        for step in (2, 4):
            level = np.ascontiguousarray(base[::step, ::step])
            tw.write(level, subfiletype=1, tile=(16, 16), compression="zstd", metadata=None)
        rgb = rng.integers(0, 255, (40, 50, 3), dtype="uint8")
        tw.write(rgb, photometric="rgb", rowsperstrip=7, metadata=None)


def _write_two_shapes(path: Path) -> None:
    """Two single-page series of different shapes and dtypes."""
    with tifffile.TiffWriter(path) as tw:
        gray = (np.arange(30 * 40, dtype="uint16").reshape(30, 40) * 5) % 65521
        tw.write(gray, tile=(16, 16), compression="zlib", metadata=None)
        rgb = (np.arange(20 * 24 * 3, dtype="uint8").reshape(20, 24, 3) * 3) % 251
        tw.write(rgb, photometric="rgb", tile=(16, 16), metadata=None)


def nodata_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Series 0 (with GDAL_NODATA = 7) and series 1 (without), both (32, 48) uint16."""
    masked = (np.arange(32 * 48, dtype="uint16").reshape(32, 48) * 3) % 11
    plain = (np.arange(32 * 48, dtype="uint16").reshape(32, 48) * 5) % 13  # has zeros
    return masked, plain


def _write_nodata(path: Path) -> None:
    """Two series of one shape (they differ in compression); GDAL_NODATA on the first."""
    masked, plain = nodata_arrays()
    with tifffile.TiffWriter(path) as tw:
        tw.write(
            masked,
            tile=(16, 16),
            compression="zlib",
            metadata=None,
            extratags=[(42113, "s", 0, str(NODATA), True)],
        )
        tw.write(plain, tile=(16, 16), metadata=None)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    folder = tmp_path_factory.mktemp("integration")
    _write_subifd_pyramid(folder / "sub.tif")
    _write_two_shapes(folder / "two.tif")
    _write_nodata(folder / "nodata.tif")
    base = (np.arange(100 * 80, dtype="uint16").reshape(100, 80) * 7) % 4099
    tiffzarr.write(
        folder / "pyramid.tif", base, tile=(16, 16), pyramid=2, compression="zlib", metadata=None
    )
    return Files(folder)


@pytest.fixture(scope="module")
def server(files: Files) -> Iterator[Any]:
    with serve(files.folder) as running:
        yield running


def tifffile_level(
    path: str, series: int, level: int, *, squeeze: bool = True
) -> tuple[np.ndarray, tuple[int, ...]]:
    """tifffile's pixels of a series level and its (squeezed) shape."""
    with tifffile.TiffFile(path) as tf:
        chosen = tf.series[series].levels[level]
        return chosen.asarray(), tuple(chosen.get_shape(squeeze))


def ngff(attrs: Any, zarr_format: int) -> Any:
    """The NGFF attributes of a group: inside ``"ome"`` (0.5, zarr v3) or at the top (0.4)."""
    return attrs["ome"] if zarr_format == 3 else attrs


def tifffile_page(path: str, page: int | tuple[int, int]) -> np.ndarray:
    with tifffile.TiffFile(path) as tf:
        if isinstance(page, int):
            return tf.pages[page].asarray()
        return tf.pages[page[0]].pages[page[1]].asarray()


def assert_level(
    got: np.ndarray, path: str, series: int, level: int, *, ngff_order: bool = False
) -> None:
    """``got`` is tifffile's series level (in NGFF order: samples moved first)."""
    want, shape = tifffile_level(path, series, level)
    if ngff_order and want.ndim == 3 and shape[-1] in (3, 4):
        want, shape = np.moveaxis(want, -1, 0), (shape[-1], *shape[:-1])
    assert got.shape == shape
    assert got.dtype == want.dtype
    assert np.array_equal(got, want)


# -- series, levels and pages (issue #3 item 7) -----------------------------------


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_series_of_several_levels_is_a_multiscale_group(files: Files, zarr_format: int) -> None:
    path = files.path("sub.tif")
    group = zarr.open_group(tiffzarr.open_store(path, series=0, zarr_format=zarr_format), mode="r")
    assert sorted(group.array_keys()) == ["0", "1", "2"]
    datasets = ngff(group.attrs, zarr_format)["multiscales"][0]["datasets"]
    assert [d["path"] for d in datasets] == ["0", "1", "2"]
    assert datasets[1]["coordinateTransformations"][0]["scale"] == [2.0, 2.0]
    for level in range(3):
        array = group[str(level)]
        assert isinstance(array, zarr.Array)
        assert_level(np.asarray(array[...]), path, 0, level)


@pytest.mark.parametrize(
    ("series", "level", "tf_series", "tf_level"),
    [(1, 0, 1, 0), (0, 0, 0, 0), (0, 1, 0, 1), (0, 2, 0, 2), (0, -1, 0, 2), (-1, 0, 1, 0)],
)
def test_series_and_level_select_one_array(
    files: Files, series: int, level: int, tf_series: int, tf_level: int
) -> None:
    path = files.path("sub.tif")
    store = tiffzarr.open_store(path, series=series, level=level)
    assert list(store.hierarchy.arrays) == [""]
    assert_level(np.asarray(zarr.open_array(store, mode="r")[...]), path, tf_series, tf_level)


@pytest.mark.parametrize(("series", "levels"), [(0, 3), (1, 1), (-1, 1)])
def test_series_alone_is_an_image_group(files: Files, series: int, levels: int) -> None:
    path = files.path("sub.tif")
    store = tiffzarr.open_store(path, series=series)
    group = zarr.open_group(store, mode="r")
    assert sorted(group.array_keys()) == [str(i) for i in range(levels)]
    for i in range(levels):
        got = np.asarray(group[str(i)][...])
        assert_level(got, path, series % 2, i, ngff_order=True)


def test_squeeze_false_serves_tifffile_full_shapes(files: Files) -> None:
    path = files.path("sub.tif")
    for series, level in [(0, 0), (0, 2), (1, 0)]:
        store = tiffzarr.open_store(path, series=series, level=level, squeeze=False)
        got = np.asarray(zarr.open_array(store, mode="r")[...])
        want, shape = tifffile_level(path, series, level, squeeze=False)
        assert got.shape == shape and np.array_equal(got.reshape(want.shape), want)
        array = tiffzarr.imread(path, series=series, level=level, squeeze=False)
        assert array.shape == shape


@pytest.mark.parametrize("page", [0, 1, -1, (0,), (0, 0), (0, 1)])
def test_page_selects_one_ifd(files: Files, page: int | tuple[int, ...]) -> None:
    path = files.path("sub.tif")
    got = np.asarray(zarr.open_array(tiffzarr.open_store(path, page=page), mode="r")[...])
    if isinstance(page, tuple) and len(page) == 1:
        page = page[0]  # (k,) is page k of the main chain
    want = tifffile_page(path, page)  # type: ignore[arg-type]
    assert got.shape == want.shape and got.dtype == want.dtype
    assert np.array_equal(got, want)


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ({"series": 2}, r"no series 2 \(the file has 2\)"),
        ({"series": -3}, r"no series -3"),
        ({"series": 0, "level": 3}, r"no level 3 in series 0 \(the series has 3\)"),
        ({"series": 0, "level": -4}, r"no level -4 in series 0"),
        ({"series": 1, "level": 1}, r"no level 1 in series 1 \(the series has 1\)"),
        ({"page": 2}, r"no page 2 \(the file has 2 pages\)"),
        ({"page": -3}, r"no page -3"),
        ({"page": (0, 2)}, r"no SubIFD 0/2"),
        ({"page": (1, 0)}, r"no SubIFD 1/0"),
        ({"page": (0, 0, 0)}, r"no SubIFD 0/0/0"),
    ],
)
def test_missing_series_level_or_page_is_not_found(
    files: Files, selection: dict[str, Any], message: str
) -> None:
    path = files.path("sub.tif")
    with pytest.raises(NotFoundError, match=message) as info:
        tiffzarr.open_store(path, **selection)
    assert isinstance(info.value, LookupError)
    assert path in str(info.value)  # the message names the file


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ({"page": 0, "series": 0}, "page= cannot be combined with series= or level="),
        ({"page": (0, 1), "level": 0}, "page= cannot be combined with series= or level="),
        ({"level": 1}, "level= needs series= in a file with several series"),
        ({"zarr_format": 4}, "zarr_format must be 2 or 3, not 4"),
    ],
)
def test_contradictory_selection_is_a_value_error(
    files: Files, selection: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        tiffzarr.open_store(files.path("sub.tif"), **selection)


def test_level_without_series_in_a_one_series_file(files: Files) -> None:
    path = files.path("pyramid.tif")
    got = np.asarray(zarr.open_array(tiffzarr.open_store(path, level=2), mode="r")[...])
    assert_level(got, path, 0, 2)


# -- tiffzarr.imread on every backend (item 6) ------------------------------------

IMREAD_CASES: list[dict[str, Any]] = [
    {},
    {"series": 0, "level": 1},
    {"series": 0, "level": 2},
    {"series": 1},
    {"page": 1},
    {"page": (0, 1)},
]


@pytest.fixture(params=["local", "http", "memory"])
def sub_url(request: pytest.FixtureRequest, files: Files) -> Iterator[str]:
    path = files.path("sub.tif")
    if request.param == "local":
        yield path
    elif request.param == "http":
        yield request.getfixturevalue("server").url_for("sub.tif")
    else:
        url = f"memory://imread-{uuid.uuid4().hex}/sub.tif"
        fs = fsspec.filesystem("memory")
        fs.pipe(url, Path(path).read_bytes())
        yield url
        fs.rm(url)


@pytest.mark.parametrize("selection", IMREAD_CASES, ids=repr)
def test_imread_equals_tifffile(files: Files, sub_url: str, selection: dict[str, Any]) -> None:
    path = files.path("sub.tif")
    got = tiffzarr.imread(sub_url, **selection)
    assert isinstance(got, np.ndarray)
    if "page" in selection:
        want = tifffile_page(path, selection["page"])
        assert got.shape == want.shape and got.dtype == want.dtype
        assert np.array_equal(got, want)
    else:
        assert_level(got, path, selection.get("series", 0), selection.get("level", 0))


# -- zarr's APIs (item 4) -----------------------------------------------------------


@pytest.mark.parametrize("zarr_format", [3, 2])
async def test_async_open_group_and_array(files: Files, zarr_format: int) -> None:
    path = files.path("sub.tif")
    store = await tiffzarr.api.asynchronous.open_store(path, zarr_format=zarr_format)
    root = await zarr_async.open_group(store=store, mode="r")
    assert sorted([name async for name, _ in root.members()]) == ["0", "1"]
    pyramid = await root.getitem("0")
    assert isinstance(pyramid, zarr.AsyncGroup)
    level = await pyramid.getitem("1")
    assert isinstance(level, zarr.AsyncArray)
    assert_level(await level.getitem(...), path, 0, 1)

    single = await tiffzarr.api.asynchronous.open_store(
        path, series=1, level=0, zarr_format=zarr_format
    )
    array = await zarr_async.open_array(store=single, mode="r")
    assert array.metadata.zarr_format == zarr_format
    want, _ = tifffile_level(path, 1, 0)
    assert np.array_equal(await array.getitem((slice(5, 33),)), want[5:33])
    node = await zarr_async.open(store=single, mode="r")
    assert isinstance(node, zarr.AsyncArray)


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_sync_open_group_array_and_open(files: Files, zarr_format: int) -> None:
    path = files.path("sub.tif")
    store = tiffzarr.open_store(path, zarr_format=zarr_format)
    root = zarr.open(store, mode="r")
    assert isinstance(root, zarr.Group)
    assert zarr.open_group(store, mode="r") == root
    assert sorted(root.group_keys()) == ["0", "1"] and not list(root.array_keys())
    assert_level(np.asarray(root["0/2"][...]), path, 0, 2)
    assert_level(np.asarray(root["1/0"][...]), path, 1, 0, ngff_order=True)

    single = tiffzarr.open_store(path, series=0, level=1, zarr_format=zarr_format)
    array = zarr.open_array(single, mode="r")
    assert array.read_only
    assert_level(np.asarray(array[...]), path, 0, 1)
    with pytest.raises(zarr.errors.NodeTypeValidationError if zarr_format == 3 else ValueError):
        zarr.open_array(store, mode="r")  # the root is a group


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_default_mode_a_opens_read_only(files: Files, zarr_format: int) -> None:
    """``zarr.open`` (mode "a") and ``open_array`` open the existing nodes read-only;
    ``open_group`` (mode "a") refuses with zarr's clear message; writes raise ours."""
    path = files.path("sub.tif")
    root = zarr.open(tiffzarr.open_store(path, zarr_format=zarr_format))
    assert isinstance(root, zarr.Group) and root.read_only
    array = zarr.open(tiffzarr.open_store(path, series=1, level=0, zarr_format=zarr_format))
    assert isinstance(array, zarr.Array) and array.read_only
    assert_level(np.asarray(array[...]), path, 1, 0)
    same = zarr.open_array(tiffzarr.open_store(path, series=1, level=0, zarr_format=zarr_format))
    assert same.read_only
    with pytest.raises(ReadOnlyError, match="read-only"):
        array[0, 0, 0] = 1
    with pytest.raises(ValueError, match=r"Store is read-only but mode is 'a'.*'r' mode"):
        zarr.open_group(tiffzarr.open_store(path, zarr_format=zarr_format))
    with pytest.raises(ValueError, match="read-only"):
        zarr.open(tiffzarr.open_store(path, zarr_format=zarr_format), mode="w")


# -- xarray (item 3) -----------------------------------------------------------------


def open_zarr(store: tiffzarr.TiffStore, **options: Any) -> xr.Dataset:
    return xr.open_zarr(store, consolidated=False, **options)


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_xarray_opens_each_series_group(files: Files, zarr_format: int) -> None:
    path = files.path("two.tif")
    store = tiffzarr.open_store(path, zarr_format=zarr_format)
    dims = [("y", "x"), ("s", "y", "x")]
    for i in (0, 1):
        var = open_zarr(store, group=str(i))["0"]
        want, _ = tifffile_level(path, i, 0)
        want = np.moveaxis(want, -1, 0) if want.ndim == 3 else want
        assert var.dims == dims[i] and var.dtype == want.dtype
        assert np.array_equal(var.values, want)


def test_xarray_opens_a_pyramid_with_v2_metadata(files: Files) -> None:
    """With zarr v2 (NGFF 0.4) the levels of a group get distinct dimension names, so
    xarray opens the group as one dataset; NGFF 0.5 (zarr v3) wants the axis names."""
    path = files.path("pyramid.tif")
    ds = open_zarr(tiffzarr.open_store(path, zarr_format=2), group="0")
    for level in range(3):
        want, _ = tifffile_level(path, 0, level)
        assert np.array_equal(ds[str(level)].values, want)
    assert ds["1"].dims == ("y_1", "x_1") and ds["0"].dims == ("y", "x")
    v3 = tiffzarr.open_store(path, zarr_format=3)
    assert {v3.hierarchy.arrays[f"0/{i}"].dims for i in range(3)} == {("y", "x")}


def open_nodata(files: Files, zarr_format: int, series: int, **options: Any) -> xr.DataArray:
    """Level 0 of a series of nodata.tif, as xarray opens it."""
    store = tiffzarr.open_store(files.path("nodata.tif"), zarr_format=zarr_format)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. no "fill_value will be ignored" warnings
        return xr.open_zarr(store, consolidated=False, group=str(series), **options)["0"]


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_xarray_keeps_uint16_without_nodata(files: Files, zarr_format: int) -> None:
    plain = open_nodata(files, zarr_format, 1)
    store = tiffzarr.open_store(files.path("nodata.tif"), zarr_format=zarr_format)
    assert plain.dims == store.hierarchy.arrays["1/0"].dims == ("y", "x")
    assert plain.dtype == np.uint16  # zeros are data, not missing values
    assert np.array_equal(plain.values, nodata_arrays()[1])
    array = zarr.open_array(store, path="1/0", mode="r")
    assert array.fill_value == (None if zarr_format == 2 else 0)


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_gdal_nodata_is_the_fill_value(files: Files, zarr_format: int) -> None:
    store = tiffzarr.open_store(files.path("nodata.tif"), zarr_format=zarr_format)
    assert zarr.open_array(store, path="0/0", mode="r").fill_value == NODATA


def test_xarray_masks_nodata_with_v2_metadata(files: Files) -> None:
    """xarray treats a v2 ``fill_value`` as ``_FillValue``: nodata pixels become NaN."""
    masked = nodata_arrays()[0]
    var = open_nodata(files, 2, 0)
    assert var.dtype == np.float32
    values = var.values
    assert np.array_equal(np.isnan(values), masked == NODATA)
    assert np.array_equal(values[masked != NODATA], masked[masked != NODATA])
    raw = open_nodata(files, 2, 0, mask_and_scale=False)
    assert raw.dtype == np.uint16 and raw.attrs["_FillValue"] == NODATA
    assert np.array_equal(raw.values, masked)


def test_xarray_leaves_v3_fill_value_unmasked_unless_asked(files: Files) -> None:
    """xarray ignores a v3 ``fill_value`` for masking by default (documented); opting in
    masks the nodata pixels. ``open_zarr(use_zarr_fill_value_as_mask=True)`` is itself
    ignored by xarray (pydata/xarray#10269), so opt in through ``ZarrStore``."""
    masked = nodata_arrays()[0]
    var = open_nodata(files, 3, 0)
    assert var.dtype == np.uint16
    assert var.encoding["fill_value"] == NODATA
    assert np.array_equal(var.values, masked)

    store = tiffzarr.open_store(files.path("nodata.tif"), zarr_format=3)
    zstore = xr.backends.ZarrStore.open_group(
        store, mode="r", consolidated=False, use_zarr_fill_value_as_mask=True, group="0"
    )
    values = xr.open_dataset(zstore)["0"].values
    assert np.array_equal(np.isnan(values), masked == NODATA)
    assert np.array_equal(values[masked != NODATA], masked[masked != NODATA])


def raw_tile(path: str, page: int, tile: int) -> bytes:
    with tifffile.TiffFile(path) as tf:
        offset = tf.pages[page].dataoffsets[tile]
        count = tf.pages[page].databytecounts[tile]
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(count)


@pytest.mark.parametrize("where", ["local", "http"])
def test_get_without_prototype_on_fresh_loops_in_threads(
    files: Files, server: Any, where: str
) -> None:
    """xarray calls ``store.get(key)`` without a prototype from its own event loop."""
    path = files.path("nodata.tif")
    url = path if where == "local" else server.url_for("nodata.tif")
    store = tiffzarr.open_store(url)
    zarr.open_group(store, mode="r")["0/0"][...]  # first used on zarr's own loop
    want = {key: raw_tile(path, 0, i) for i, key in enumerate(["0/0/c/0/0", "0/0/c/0/1"])}
    results: list[dict[str, bytes | None]] = []
    errors: list[BaseException] = []

    async def fetch() -> dict[str, bytes | None]:
        got = {}
        for key in [*want, "0/0/zarr.json", "0/0/c/9/9"]:
            buffer = await store.get(key)
            got[key] = None if buffer is None else buffer.to_bytes()
        return got

    def run() -> None:
        try:
            results.append(asyncio.run(fetch()))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 3
    for got in results:
        assert {k: got[k] for k in want} == want
        assert got["0/0/zarr.json"] == store.metadata["0/0/zarr.json"]
        assert got["0/0/c/9/9"] is None
