"""VirtualiZarr manifests of TIFF files, written to Icechunk and read back.

A COG, an OME pyramid, a file sequence, a sparse GeoTIFF and a file of two
series (as a DataTree) go through ``open_virtual_dataset`` (or
``manifest_store`` for the sequence) into an Icechunk repository whose virtual
chunks point at the TIFF files, and back through xarray: the pixels are the
tiffzarr store's. The manifest is also read directly (formats and codecs, both
codec choices, local and over a loopback HTTP server), sparse tiles have no
entry, and ``import tiffzarr`` does not import VirtualiZarr or Icechunk.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import xarray as xr
import zarr

import tiffzarr
from tiffzarr.errors import UnsupportedError
from tiffzarr.refs import CodecChoice
from tiffzarr.testing import contract_data, contract_file, serve

virtualizarr = pytest.importorskip("virtualizarr")
icechunk = pytest.importorskip("icechunk")
obstore_store = pytest.importorskip("obstore.store")
from obspec_utils.registry import ObjectStoreRegistry  # noqa: E402

from tiffzarr.virtualizarr import (  # noqa: E402
    ARRAY_NAME,
    TiffParser,
    manifest_store_sync,
)

CODECS: list[CodecChoice] = ["portable", "tiffzarr"]


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        # numcodecs.* codecs in zarr v3 metadata warn that they are not in the spec
        warnings.filterwarnings("ignore", message="Numcodecs codecs are not in the Zarr")
        yield


def local_registry() -> ObjectStoreRegistry:
    return ObjectStoreRegistry({"file://": obstore_store.LocalStore()})


def store_pixels(path: str | Path, **selection: Any) -> np.ndarray:
    return np.asarray(zarr.open_array(tiffzarr.open_store(str(path), **selection), mode="r")[...])


def repository(folder: Path, data: Path) -> Any:
    """A new Icechunk repository in ``folder`` allowed to read virtual chunks in ``data``."""
    prefix = data.as_uri() + "/"
    config = icechunk.RepositoryConfig.default()
    container = icechunk.VirtualChunkContainer(prefix, icechunk.local_filesystem_store(str(data)))
    config.set_virtual_chunk_container(container)
    return icechunk.Repository.create(
        icechunk.local_filesystem_storage(str(folder)),
        config,
        authorize_virtual_chunk_access=icechunk.containers_credentials({prefix: None}),
    )


def reopened(folder: Path, data: Path) -> Any:
    """The committed main branch of the repository in ``folder``, read-only."""
    credentials = icechunk.containers_credentials({data.as_uri() + "/": None})
    repo = icechunk.Repository.open(
        icechunk.local_filesystem_storage(str(folder)),
        authorize_virtual_chunk_access=credentials,
    )
    return repo.readonly_session("main").store


def read_back(store: Any, group: str | None = None) -> xr.Dataset:
    return xr.open_zarr(store, group=group, consolidated=False, zarr_format=3)


@pytest.fixture
def cog(tmp_path: Path) -> Path:
    data = np.random.default_rng(1).integers(0, 2**16, (300, 200), dtype=np.uint16)
    path = tmp_path / "data" / "cog.tif"
    path.parent.mkdir(exist_ok=True)
    tiffzarr.write(str(path), data, cog=True, pyramid=2, tile=(64, 64), compression="zlib")
    return path


@pytest.fixture
def ome(tmp_path: Path) -> Path:
    data = np.random.default_rng(2).integers(0, 256, (2, 3, 128, 96), dtype=np.uint8)
    path = tmp_path / "data" / "pyramid.ome.tif"
    path.parent.mkdir(exist_ok=True)
    tiffzarr.write(str(path), data, ome=True, pyramid=2, tile=(32, 32), compression="zstd")
    return path


# -- Icechunk round trips -----------------------------------------------------------


@pytest.mark.parametrize("codecs", CODECS)
def test_cog_levels_round_trip_through_icechunk(
    tmp_path: Path, cog: Path, codecs: CodecChoice
) -> None:
    levels = len(tiffzarr.open_tiff(str(cog)).series[0].levels)
    assert levels == 3
    repo = repository(tmp_path / "repo", cog.parent)
    session = repo.writable_session("main")
    for level in range(levels):
        parser = TiffParser(level=level, codecs=codecs)
        vds = virtualizarr.open_virtual_dataset(str(cog), registry=local_registry(), parser=parser)
        assert vds[ARRAY_NAME].dims == ("Y", "X")
        vds.vz.to_icechunk(session.store, group=str(level))
    session.commit("COG levels as virtual references")
    store = reopened(tmp_path / "repo", cog.parent)
    for level in range(levels):
        ds = read_back(store, str(level))
        assert ds[ARRAY_NAME].attrs["tiffzarr"]["axes"] == "YX"
        expected = store_pixels(cog, series=0, level=level)
        assert np.array_equal(ds[ARRAY_NAME].values, expected)


def test_ome_pyramid_round_trips_through_icechunk(tmp_path: Path, ome: Path) -> None:
    index = tiffzarr.open_tiff(str(ome))
    assert index.series[0].kind == "ome" and len(index.series[0].levels) == 3
    repo = repository(tmp_path / "repo", ome.parent)
    session = repo.writable_session("main")
    for level in range(3):
        # the smallest level keeps tiffzarr's codec in "portable" (its one tile is cropped)
        parser = TiffParser(series=0, level=level)
        vds = virtualizarr.open_virtual_dataset(
            ome.as_uri(), registry=local_registry(), parser=parser
        )
        vds.vz.to_icechunk(session.store, group=f"level{level}")
    session.commit("OME pyramid")
    store = reopened(tmp_path / "repo", ome.parent)
    for level in range(3):
        ds = read_back(store, f"level{level}")
        assert ds[ARRAY_NAME].dims == ("Z", "C", "Y", "X")
        assert ds[ARRAY_NAME].attrs["tiffzarr"]["kind"] == "ome"
        assert np.array_equal(ds[ARRAY_NAME].values, store_pixels(ome, series=0, level=level))


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_sequence_round_trips_through_icechunk(tmp_path: Path, compression: str | None) -> None:
    data = np.random.default_rng(3).integers(0, 2**16, (5, 40, 36), dtype=np.uint16)
    folder = tmp_path / "frames"
    folder.mkdir()
    files = []
    for i, frame in enumerate(data):
        files.append(str(folder / f"frame_{i}.tif"))
        tifffile.imwrite(files[-1], frame, rowsperstrip=16, compression=compression)
    store = tiffzarr.open_sequence(files)
    manifests = manifest_store_sync(store, registry=local_registry())
    vds = manifests.to_virtual_dataset()
    entries = vds[ARRAY_NAME].data.manifest.dict()
    assert {e["path"] for e in entries.values()} == {Path(f).as_uri() for f in files}
    repo = repository(tmp_path / "repo", folder)
    session = repo.writable_session("main")
    vds.vz.to_icechunk(session.store)
    session.commit("a sequence")
    ds = read_back(reopened(tmp_path / "repo", folder))
    assert ds[ARRAY_NAME].dims == ("I", "Y", "X")
    read = np.asarray(zarr.open_array(store, mode="r")[...])
    assert np.array_equal(read, data)
    assert np.array_equal(ds[ARRAY_NAME].values, read)


def test_a_hierarchy_of_series_round_trips_as_a_datatree(tmp_path: Path) -> None:
    path = tmp_path / "data" / "two series.tif"  # a space: VirtualiZarr percent-encodes it
    path.parent.mkdir()
    rng = np.random.default_rng(5)
    with tifffile.TiffWriter(path) as tif:
        tif.write(rng.integers(0, 2**16, (3, 40, 30), dtype=np.uint16), photometric="minisblack")
        tif.write(rng.integers(0, 256, (20, 10, 3), dtype=np.uint8), photometric="rgb")
    manifests = TiffParser()(path.as_uri(), local_registry())
    repo = repository(tmp_path / "repo", path.parent)
    session = repo.writable_session("main")
    manifests.to_virtual_datatree().vz.to_icechunk(session.store)
    session.commit("two series")
    group = zarr.open_group(reopened(tmp_path / "repo", path.parent), mode="r")
    expected = zarr.open_group(tiffzarr.open_store(str(path)), mode="r")
    assert group.attrs.asdict() == expected.attrs.asdict()
    for series in ("0", "1"):
        assert group[series].attrs.asdict() == expected[series].attrs.asdict()
        assert np.array_equal(group[f"{series}/0"][...], expected[f"{series}/0"][...])


# -- the manifest store read directly ---------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"compression": "zlib", "predictor": True},
        {"compression": "lzw", "rowsperstrip": 7},
        {"compression": "packbits"},
        {"compression": "jpeg", "photometric": "rgb", "tile": (16, 16)},
        {"compression": "zstd", "photometric": "rgb", "planarconfig": "separate"},
        {"byteorder": ">", "tile": (16, 16)},
        {"bilevel": True},
        {"imagej": True},
    ],
    ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()),
)
@pytest.mark.parametrize("codecs", CODECS)
def test_formats_and_codecs_read_alike(
    tmp_path: Path, options: dict[str, Any], codecs: CodecChoice
) -> None:
    rng = np.random.default_rng(6)
    rgb = options.get("photometric") == "rgb"
    if options.pop("bilevel", False):
        data = rng.integers(0, 2, (40, 36), dtype=np.uint8).astype(bool)
    elif options.get("imagej"):
        data = rng.integers(0, 2**16, (2, 3, 40, 36), dtype=np.uint16)
        options["metadata"] = {"axes": "ZCYX"}
    else:
        shape = (40, 36, 3) if rgb else (40, 36)
        data = rng.integers(0, 256, shape, dtype=np.uint8)
    path = tmp_path / "image.tif"
    tifffile.imwrite(path, data, **options)
    manifests = TiffParser(level=0, codecs=codecs)(str(path), local_registry())
    ds = xr.open_dataset(manifests, engine="zarr", consolidated=False, zarr_format=3)
    expected = store_pixels(path, series=0, level=0)
    assert np.array_equal(ds[ARRAY_NAME].values, expected)
    if options.get("compression") != "jpeg":
        assert np.array_equal(expected, data)


@pytest.mark.parametrize("codecs", CODECS)
def test_xarray_reads_the_manifest_store(cog: Path, ome: Path, codecs: CodecChoice) -> None:
    for path, level in ((cog, 0), (cog, 2), (ome, 1)):
        parser = TiffParser(level=level, codecs=codecs)
        manifests = parser(path.as_uri(), local_registry())
        ds = xr.open_dataset(manifests, engine="zarr", consolidated=False, zarr_format=3)
        assert np.array_equal(ds[ARRAY_NAME].values, store_pixels(path, series=0, level=level))


@pytest.mark.parametrize("codecs", CODECS)
def test_the_hierarchy_is_the_stores(ome: Path, codecs: CodecChoice) -> None:
    manifests = TiffParser(codecs=codecs)(str(ome), local_registry())
    group = zarr.open_group(manifests, mode="r", zarr_format=3)
    expected = zarr.open_group(tiffzarr.open_store(str(ome)), mode="r")
    assert group.attrs.asdict() == expected.attrs.asdict()
    assert sorted(group.group_keys()) == ["0", "OME"]
    series = group["0"]
    assert isinstance(series, zarr.Group)
    assert series.attrs["ome"]["multiscales"] == expected["0"].attrs["ome"]["multiscales"]
    for level in ("0", "1", "2"):
        array, original = series[level], expected["0"][level]
        assert isinstance(array, zarr.Array) and isinstance(original, zarr.Array)
        assert array.metadata.dimension_names == ("c", "z", "y", "x")
        assert array.attrs.asdict() == original.attrs.asdict()
        assert np.array_equal(array[...], original[...])
    names = [c.to_dict()["name"] for c in series["0"].metadata.codecs]
    assert names[-1] == ("zstd" if codecs == "portable" else "tiffzarr.tiff")


def test_a_series_is_one_multiscale_group(cog: Path) -> None:
    manifests = TiffParser(series=0)(str(cog), local_registry())
    group = zarr.open_group(manifests, mode="r", zarr_format=3)
    assert sorted(group.array_keys()) == ["0", "1", "2"]
    assert [d["path"] for d in group.attrs["ome"]["multiscales"][0]["datasets"]] == ["0", "1", "2"]
    assert np.array_equal(group["1"][...], store_pixels(cog, series=0, level=1))


def test_sparse_tiles_have_no_entry(tmp_path: Path) -> None:
    path = tmp_path / "sparse.tif"
    path.write_bytes(contract_file())
    data, sparse = contract_data()
    vds = virtualizarr.open_virtual_dataset(
        str(path), registry=local_registry(), parser=TiffParser(level=0)
    )
    manifest = vds[ARRAY_NAME].data.manifest
    grid = manifest.shape_chunk_grid
    present = {tuple(int(c) for c in key.split(".")) for key in manifest.dict()}
    absent = {divmod(t, grid[1]) for t in sparse}
    assert absent and present.isdisjoint(absent)
    assert len(present) == grid[0] * grid[1] - len(absent)
    manifests = TiffParser(level=0)(str(path), local_registry())
    ds = xr.open_dataset(manifests, engine="zarr", consolidated=False, zarr_format=3)
    assert np.array_equal(ds[ARRAY_NAME].values, data)


def test_a_sparse_geotiff_round_trips_with_its_nodata_and_crs(tmp_path: Path) -> None:
    rasterio = pytest.importorskip("rasterio")
    from rasterio.windows import Window

    path = tmp_path / "data" / "sparse_geo.tif"
    path.parent.mkdir()
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
        "transform": rasterio.Affine(10.0, 0.0, 1000.0, 0.0, -10.0, 2000.0),
    }
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.full((1, 16, 32), 200, "uint8"), window=Window(16, 16, 32, 16))
    with rasterio.open(path) as ds:
        want = ds.read(1)
    vds = virtualizarr.open_virtual_dataset(
        str(path), registry=local_registry(), parser=TiffParser(series=0)
    )
    assert set(vds["0"].data.manifest.dict()) == {"1.1", "1.2"}  # the two written tiles
    repo = repository(tmp_path / "repo", path.parent)
    session = repo.writable_session("main")
    vds.vz.to_icechunk(session.store)
    session.commit("a sparse GeoTIFF")
    ds = read_back(reopened(tmp_path / "repo", path.parent))
    assert np.array_equal(ds["0"].values, want)
    assert ds.attrs["proj:code"] == "EPSG:3857"
    assert "crs_wkt" in ds["spatial_ref"].attrs


def test_a_short_last_strip_is_referenced_whole(tmp_path: Path) -> None:
    data = np.random.default_rng(4).integers(0, 256, (50, 30), dtype=np.uint8)
    path = tmp_path / "strips.tif"
    tifffile.imwrite(path, data, rowsperstrip=16)  # the last strip has 2 of 16 rows
    with open(path, "ab") as f:  # bytes after it, for a whole strip's reference
        f.write(bytes(1024))
    manifests = TiffParser(level=0)(str(path), local_registry())
    array = zarr.open_array(manifests, path=ARRAY_NAME, mode="r")
    assert [c.to_dict()["name"] for c in array.metadata.codecs] == ["bytes"]
    vds = manifests.to_virtual_dataset()
    lengths = {e["length"] for e in vds[ARRAY_NAME].data.manifest.dict().values()}
    assert lengths == {16 * 30}
    assert np.array_equal(array[...], data)


def test_the_manifest_reads_over_http(cog: Path) -> None:
    with serve(cog.parent) as server:
        url = server.url_for(cog.name)
        http = obstore_store.HTTPStore.from_url(server.url, client_options={"allow_http": True})
        registry = ObjectStoreRegistry({server.url: http})
        vds = virtualizarr.open_virtual_dataset(url, registry=registry, parser=TiffParser(level=1))
        paths = {e["path"] for e in vds[ARRAY_NAME].data.manifest.dict().values()}
        assert paths == {url}
        manifests = TiffParser(level=1)(url, registry)
        ds = xr.open_dataset(manifests, engine="zarr", consolidated=False, zarr_format=3)
        pixels = ds[ARRAY_NAME].values
    assert np.array_equal(pixels, store_pixels(cog, series=0, level=1))


# -- options and errors -------------------------------------------------------------


def test_the_parser_is_a_frozen_virtualizarr_parser() -> None:
    from virtualizarr.parsers.typing import Parser

    parser = TiffParser(series=0, level=1, codecs="tiffzarr")
    assert isinstance(parser, Parser)
    with pytest.raises(AttributeError):
        parser.level = 2
    with pytest.raises(ValueError, match="codecs"):
        TiffParser(codecs="kerchunk")
    with pytest.raises(TypeError, match="level"):
        TiffParser(level=True)
    with pytest.raises(TypeError):
        TiffParser(0)


def test_a_zarr_v2_store_is_refused(cog: Path) -> None:
    store = tiffzarr.open_store(str(cog), zarr_format=2)
    with pytest.raises(UnsupportedError, match="zarr v3"):
        manifest_store_sync(store)


def test_importing_tiffzarr_imports_neither_virtualizarr_nor_icechunk() -> None:
    code = (
        "import sys, tiffzarr; "
        "print(sorted(m for m in ('virtualizarr', 'icechunk', 'obstore') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
