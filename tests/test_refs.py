"""Issue #5: kerchunk reference sets are the store serialised, and read back equal.

Structure (keys, templates, sparse chunks, inline data, relative URLs), the
features peers refuse (partial strips, packed bits, big-endian predictors, YCbCr
JPEG), parquet, remote targets (loopback HTTP, moto S3), request counts, hostile
reference files, kerchunk's MultiZarrToZarr, and the CLI.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr
from fsspec.implementations.reference import ReferenceFileSystem
from zarr.storage import FsspecStore

import tiffzarr
from tests.conftest import CORPUS, HOSTILE, manifest, require
from tests.test_refs_codecs import split_jpeg
from tiffzarr._sync import run_sync
from tiffzarr.codecs._portable import register_portable_codecs
from tiffzarr.errors import RefsError, SourceError
from tiffzarr.model import WINDOW
from tiffzarr.refs import (
    ReferenceSet,
    nest_references,
    open_references,
    references,
    write_references,
)
from tiffzarr.testing import StoreContract, contract_data, contract_file, moto_server, serve

register_portable_codecs()


def one_array(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The selection of the file's one array, unless the call selects something."""
    if {"series", "level", "page"} & set(kwargs):
        return kwargs
    return {"series": 0, "level": 0, **kwargs}


def refs_sync(url: Any, **kwargs: Any) -> ReferenceSet:
    """References of the file's one array (or of what ``kwargs`` select)."""
    return run_sync(references(url, **one_array(kwargs)))


def open_sync(refs: Any, **kwargs: Any) -> FsspecStore:
    return run_sync(open_references(refs, **kwargs))


def read(store: Any, path: str = "") -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numcodecs.* codecs in v3 metadata warn
        return np.asarray(zarr.open_array(store, path=path, mode="r")[...])


def store_pixels(url: str | tiffzarr.TiffIndex, **kwargs: Any) -> np.ndarray:
    return read(tiffzarr.open_store(url, zarr_format=2, **one_array(kwargs)))


def plain_fsspec_store(refs: dict[str, Any]) -> FsspecStore:
    """The recipe of docs/references.md: fsspec and zarr only (no tiffzarr)."""
    fs = ReferenceFileSystem(refs, remote_protocol="file", asynchronous=True)
    return FsspecStore(fs, read_only=True, path="")


@pytest.fixture
def contract(tmp_path: Path) -> Path:
    path = tmp_path / "contract.tif"
    path.write_bytes(contract_file())
    return path


# -- structure ------------------------------------------------------------------


@pytest.mark.parametrize("zarr_format", [2, 3])
async def test_keys_and_metadata_are_the_stores(contract: Path, zarr_format: int) -> None:
    store = await tiffzarr.api.asynchronous.open_store(str(contract), zarr_format=zarr_format)
    refs = await references(str(contract), zarr_format=zarr_format, codecs="tiffzarr")
    chunks = {k: v for k, v in refs["refs"].items() if isinstance(v, list)}
    assert {k for k in refs["refs"] if k not in chunks} == set(store.metadata)
    for key, doc in store.metadata.items():
        assert refs["refs"][key] == doc.decode()
    located = {key: (offset, nbytes) async for key, _, offset, nbytes in store.chunk_locations()}
    assert {k: (v[1], v[2]) for k, v in chunks.items()} == located
    assert refs["templates"] == {"u": str(contract)}
    assert all(v[0] == "{{u}}" for v in chunks.values())


def test_sparse_segments_have_no_entry(contract: Path) -> None:
    refs = refs_sync(str(contract), version=0)
    _, sparse = contract_data()
    keys = [f"{y}.{x}" for y in range(6) for x in range(5)]
    for i, key in enumerate(keys):
        assert (key in refs) == (i not in sparse)
    assert all(v[2] > 0 for k, v in refs.items() if isinstance(v, list))
    assert np.array_equal(read(open_sync(refs)), contract_data()[0])


def test_version_0_and_1_read_the_same(contract: Path) -> None:
    v0, v1 = refs_sync(str(contract), version=0), refs_sync(str(contract), version=1)
    assert "version" not in v0 and v1["version"] == 1
    assert v0["0.0"] == [str(contract), *v1["refs"]["0.0"][1:]]
    assert np.array_equal(read(plain_fsspec_store(v0)), read(plain_fsspec_store(v1)))


def test_portable_and_tiffzarr_codecs(contract: Path) -> None:
    portable = refs_sync(str(contract))
    own = refs_sync(str(contract), codecs="tiffzarr")
    assert portable.fallbacks == {} and own.fallbacks == {}
    assert json.loads(portable["refs"][".zarray"])["compressor"]["id"] == "zlib"
    assert json.loads(own["refs"][".zarray"])["compressor"]["id"] == "tiffzarr.tiff"
    assert np.array_equal(read(open_sync(own)), read(open_sync(portable)))


def test_reference_set_is_a_plain_dict(contract: Path) -> None:
    refs = refs_sync(str(contract), codecs="portable")
    assert isinstance(refs, dict)
    assert json.loads(json.dumps(refs)) == dict(refs)
    clone = pickle.loads(pickle.dumps(refs))
    assert clone == refs and clone.fallbacks == refs.fallbacks


def test_inline_threshold_inlines_small_chunks(contract: Path) -> None:
    sizes = [v[2] for v in refs_sync(str(contract), version=0).values() if isinstance(v, list)]
    threshold = sorted(sizes)[len(sizes) // 2]
    refs = refs_sync(str(contract), inline_threshold=threshold)
    inline = [v for v in refs["refs"].values() if isinstance(v, str) and v.startswith("base64:")]
    assert len(inline) == sum(size < threshold for size in sizes) > 0
    assert np.array_equal(read(plain_fsspec_store(refs)), contract_data()[0])


def test_target_url_makes_urls_relative(tmp_path: Path, contract: Path) -> None:
    refs = refs_sync(str(contract), target_url=str(tmp_path / "refs.json"))
    assert refs["templates"] == {"u": "contract.tif"}
    elsewhere = refs_sync(str(contract), target_url=str(tmp_path / "sub" / "refs.json"))
    assert elsewhere["templates"] == {"u": str(contract)}  # above the reference file
    (tmp_path / "refs.json").write_text(json.dumps(refs))
    assert np.array_equal(read(open_sync(str(tmp_path / "refs.json"))), contract_data()[0])
    # plain fsspec: relative URLs need the template overridden
    fs = ReferenceFileSystem(
        refs, template_overrides={"u": str(contract)}, asynchronous=True, remote_protocol="file"
    )
    assert np.array_equal(read(FsspecStore(fs, read_only=True, path="")), contract_data()[0])


def test_relative_local_paths_are_written_absolute(
    contract: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(contract.parent)
    assert refs_sync("contract.tif")["templates"]["u"] == str(contract)


def test_bad_options_are_refused(contract: Path) -> None:
    with pytest.raises(ValueError, match="version"):
        refs_sync(str(contract), version=2)
    with pytest.raises(ValueError, match="codecs"):
        refs_sync(str(contract), codecs="standard")
    with pytest.raises(ValueError, match="inline_threshold"):
        refs_sync(str(contract), inline_threshold=-1)
    with pytest.raises(ValueError, match="parquet"):
        run_sync(write_references(str(contract), "x.parq", format="parquet", zarr_format=3))
    with pytest.raises(ValueError, match="format"):
        run_sync(write_references(str(contract), "x.txt", format="text"))  # type: ignore[arg-type]


def test_nest_references_moves_the_root_array(contract: Path) -> None:
    for zarr_format in (2, 3):
        refs = refs_sync(str(contract), zarr_format=zarr_format)
        nested = nest_references(refs, "image")
        group = zarr.open_group(open_sync(nested), mode="r")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert np.array_equal(group["image"][...], contract_data()[0])
    with pytest.raises(ValueError):
        nest_references(refs, "/")


def test_pyramid_and_series_selection(tmp_path: Path) -> None:
    path = tmp_path / "pyramid.tif"
    base = np.random.default_rng(3).integers(0, 2**16, (128, 96), dtype=np.uint16)
    with tifffile.TiffWriter(path) as tw:
        tw.write(base, tile=(32, 32), compression="zlib", subifds=1)
        tw.write(base[::2, ::2], tile=(32, 32), compression="zlib", subfiletype=1)
    store = tiffzarr.open_store(str(path), zarr_format=2)
    refs_store = plain_fsspec_store(refs_sync(str(path), series=None))
    assert len(store.hierarchy.arrays) == 2 and store.hierarchy.groups
    for group_path, attrs in store.hierarchy.groups.items():
        group = zarr.open_group(refs_store, path=group_path, mode="r")
        assert group.attrs.asdict() == json.loads(json.dumps(attrs))
    for array_path in store.hierarchy.arrays:
        assert np.array_equal(read(refs_store, array_path), read(store, array_path))
    level = refs_sync(str(path), series=0, level=1)
    assert np.array_equal(read(plain_fsspec_store(level)).squeeze(), base[::2, ::2])


def test_store_references_of_an_open_index(contract: Path) -> None:
    index = tiffzarr.open_tiff(str(contract))
    assert refs_sync(index) == refs_sync(str(contract))


def test_arrays_over_several_files_get_one_template_per_file(tmp_path: Path) -> None:
    """As a multi-file OME series: one array whose pages live in two files."""
    from tiffzarr.model import array_from_pages
    from tiffzarr.refs import store_references
    from tiffzarr.store import Hierarchy

    frames = [np.full((32, 40), i + 1, np.uint16) for i in range(2)]
    indices = []
    for i, frame in enumerate(frames):
        tifffile.imwrite(tmp_path / f"p{i}.tif", frame, tile=(16, 16), compression="zlib")
        indices.append(tiffzarr.open_tiff(str(tmp_path / f"p{i}.tif")))
    array = array_from_pages(
        [index.pages[0] for index in indices],
        urls=tuple(index.url for index in indices),
        byteorder="<",
        shape=(2, 32, 40),
        axes="TYX",
        sources=(0, 1),
    )
    store = tiffzarr.TiffStore(indices[0], hierarchy=Hierarchy({}, {"": array}), zarr_format=2)
    refs = run_sync(store_references(store, target_url=str(tmp_path / "refs.json")))
    assert refs["templates"] == {"u0": "p0.tif", "u1": "p1.tif"}
    assert {v[0] for v in refs["refs"].values() if isinstance(v, list)} == {"{{u0}}", "{{u1}}"}
    (tmp_path / "refs.json").write_text(json.dumps(refs))
    assert np.array_equal(read(open_sync(str(tmp_path / "refs.json"))), np.stack(frames))


class TestReferenceStoreContract(StoreContract):
    """The read-only store contract, on a JSON reference set (zarr v2, portable codecs)."""

    @pytest.fixture
    def store(self, contract: Path) -> Any:
        refs = refs_sync(str(contract), target_url=str(contract.parent / "refs.json"))
        (contract.parent / "refs.json").write_text(json.dumps(refs))
        return open_sync(str(contract.parent / "refs.json"))


@pytest.mark.filterwarnings("ignore::zarr.errors.ZarrUserWarning")  # numcodecs.* in v3 metadata
class TestReferenceStoreContractV3(StoreContract):
    """The same contract on zarr v3 references held in a dict."""

    @pytest.fixture
    def store(self, contract: Path) -> Any:
        store = open_sync(refs_sync(str(contract), zarr_format=3))
        assert store.zarr_format == 3
        return store


# -- features other reference writers refuse ---------------------------------------


def write_case(path: Path, name: str) -> np.ndarray:
    """A file of one feature; returns the pixels tifffile reads back."""
    rng = np.random.default_rng(len(name))
    data16 = rng.integers(0, 2**16, (3, 50, 37), dtype=np.uint16)
    cases: dict[str, tuple[np.ndarray, dict[str, Any]]] = {
        "partial_strips_deflate": (data16[0], {"rowsperstrip": 8, "compression": "zlib"}),
        "partial_strips_raw": (data16[0], {"rowsperstrip": 8}),
        "bigendian_predictor": (
            data16,
            {
                "byteorder": ">",
                "compression": "zlib",
                "predictor": 2,
                "rowsperstrip": 10,
                "photometric": "minisblack",
            },
        ),
        "bigendian_float_predictor": (
            rng.normal(size=(40, 30)).astype(">f4"),
            {"byteorder": ">", "compression": "zlib", "predictor": 3, "tile": (16, 16)},
        ),
        "packed_12bit": (
            (data16[0] >> 4).astype(np.uint16),
            {"bitspersample": 12, "rowsperstrip": 10},
        ),
        "bilevel": (rng.integers(0, 2, (40, 37)).astype(bool), {"rowsperstrip": 8}),
        "planar_rgb_lzw": (
            rng.integers(0, 255, (3, 32, 40), dtype=np.uint8),
            {
                "photometric": "rgb",
                "planarconfig": "separate",
                "compression": "lzw",
                "tile": (16, 16),
            },
        ),
        "jpeg_ycbcr_stack": (
            rng.integers(0, 255, (2, 32, 48, 3), dtype=np.uint8),
            {"photometric": "ycbcr", "compression": "jpeg", "tile": (16, 16)},
        ),
    }
    if name == "jpeg_tables_multipage":
        write_jpeg_tables(path, rng.integers(0, 255, (3, 32, 48, 3), dtype=np.uint8))
        return tifffile.imread(path)
    data, options = cases[name]
    tifffile.imwrite(path, data, **options, metadata=None)
    return tifffile.imread(path)


def write_jpeg_tables(path: Path, pages: np.ndarray) -> None:
    """YCbCr JPEG tiles as abbreviated streams sharing one JPEGTables tag, page by page."""
    import imagecodecs

    tables = b""
    with tifffile.TiffWriter(path) as tw:
        for page in pages:
            tiles = []
            for y in range(0, page.shape[0], 16):
                for x in range(0, page.shape[1], 16):
                    stream = imagecodecs.jpeg8_encode(
                        page[y : y + 16, x : x + 16],
                        level=90,
                        colorspace="RGB",
                        outcolorspace="YCBCR",
                        subsampling=(2, 2),
                    )
                    tables, abbreviated = split_jpeg(bytes(stream))
                    tiles.append(abbreviated)
            tw.write(
                iter(tiles),
                shape=page.shape,
                dtype=page.dtype,
                tile=(16, 16),
                compression="jpeg",
                photometric="ycbcr",
                subsampling=(2, 2),
                extratags=[(347, 7, len(tables), tables, True)],
                metadata=None,
            )


FEATURES = [
    ("partial_strips_deflate", False),
    ("partial_strips_raw", False),
    ("bigendian_predictor", True),
    ("bigendian_float_predictor", True),
    ("packed_12bit", True),
    ("bilevel", True),
    ("planar_rgb_lzw", True),
    ("jpeg_ycbcr_stack", True),
    ("jpeg_tables_multipage", True),
]


@pytest.mark.parametrize(("name", "portable"), FEATURES)
def test_features_read_back_in_every_form(tmp_path: Path, name: str, portable: bool) -> None:
    path = tmp_path / f"{name}.tif"
    want = write_case(path, name)
    pixels = store_pixels(str(path))
    assert pixels.size == want.size
    refs = refs_sync(str(path))
    assert (refs.fallbacks == {}) == portable, refs.fallbacks
    assert np.array_equal(read(plain_fsspec_store(refs)), pixels)
    assert np.array_equal(read(open_sync(refs_sync(str(path), zarr_format=3))), pixels)
    parquet_path = str(tmp_path / "refs.parq")
    run_sync(write_references(str(path), parquet_path, series=0, level=0, format="parquet"))
    parquet = open_sync(parquet_path, allow_external=True)
    assert np.array_equal(read(parquet, "0"), pixels)


@pytest.mark.parametrize(
    ("relpath", "portable"),
    [
        ("files/rioxarray/input/cint16.tif", True),  # complex int16
        ("files/pillow/g4-fillorder-test.tif", True),  # CCITT G4, FillOrder 2
        ("files/pillow/16bit.r.tif", True),  # 16-bit, FillOrder 2
        ("files/pillow/tiff_gray_2_4_bpp/hopper2IR.tif", True),  # 2-bit, FillOrder 2
        ("files/libtiff/test_float64_predictor2_be_lzw.tif", True),  # big-endian float64
        ("files/exampletiffs/shapes_lzw.tif", True),  # big-endian, horizontal predictor
        ("files/exampletiffs/shapes_lzw_12bps.tif", True),  # packed 12-bit RGB
        ("files/exampletiffs/shapes_lzw_planar_10bps.tif", True),  # packed 10-bit planes
        ("files/image-tiff/libtiffpic/ycbcr-cat.tif", False),  # subsampled YCbCr, LZW
        ("files/image-tiff/libtiffpic/quad-jpeg.tif", True),  # YCbCr JPEG, JPEGTables
        ("files/image-tiff/images/tiled-jpeg-ycbcr.tif", False),  # ... with a short last strip
    ],
)
def test_corpus_features_read_back_whole(relpath: str, portable: bool) -> None:
    path = str(require(CORPUS, "corpus") / relpath)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiffzarr.TiffZarrWarning)
        index = tiffzarr.open_tiff(path)
    pixels = store_pixels(index)
    refs = refs_sync(index)
    assert (refs.fallbacks == {}) == portable, refs.fallbacks
    assert np.array_equal(read(plain_fsspec_store(refs)), pixels)
    assert np.array_equal(read(open_sync(refs_sync(index, zarr_format=3))), pixels)


def test_uncompressed_last_strip_grows_into_the_following_bytes(tmp_path: Path) -> None:
    """The short last strip of an uncompressed page is referenced whole when the file
    has bytes after it: they decode to rows beyond the image, which zarr drops."""
    path = tmp_path / "raw.tif"
    write_case(path, "partial_strips_raw")
    assert refs_sync(str(path)).fallbacks  # the last strip ends the file
    path.write_bytes(path.read_bytes() + bytes(4096))
    refs = refs_sync(str(path), version=0)
    assert refs.fallbacks == {}
    assert refs["6.0"][2] == refs["0.0"][2] == 8 * 37 * 2
    assert np.array_equal(read(plain_fsspec_store(refs)), store_pixels(str(path)))
    v3 = refs_sync(str(path), zarr_format=3)
    assert v3.fallbacks == {}
    assert np.array_equal(read(open_sync(v3)), store_pixels(str(path)))


# -- open_references ---------------------------------------------------------------


def test_open_references_checks_entries(tmp_path: Path, contract: Path) -> None:
    good = refs_sync(str(contract), target_url=str(tmp_path / "r.json"))

    def opened(change: dict[str, Any]) -> None:
        refs = json.loads(json.dumps(good))
        refs["refs"].update(change)
        (tmp_path / "r.json").write_text(json.dumps(refs))
        open_sync(str(tmp_path / "r.json"))

    cases = [
        ({"0.0": ["{{u}}", 10]}, "0.0", "url, offset, length"),
        ({"0.0": ["{{u}}", 1.5, 10]}, "0.0", "not an integer"),
        ({"0.0": ["{{v}}", 0, 10]}, "0.0", "undefined template"),
        ({"0.0": ["{% if 1 %}x{% endif %}", 0, 10]}, "0.0", "template statement"),
        ({"0.0": 17}, "0.0", "not inline data"),
        ({"0.0": "base64:???"}, "0.0", "base64"),
        ({"0.0": ["{{u}}", 2**53, 10]}, "0.0", "beyond 2"),
        ({".zarray": "{not json"}, ".zarray", "not valid JSON"),
        ({".zarray": "[1, 2]"}, ".zarray", "not a JSON object"),
        ({".zattrs": 5}, ".zattrs", "not a JSON document"),
    ]
    for change, key, fragment in cases:
        with pytest.raises(RefsError, match=fragment) as info:
            opened(change)
        assert info.value.key == key
    zarray = json.loads(good["refs"][".zarray"])
    for field, value, fragment in [
        ("dtype", "<x9", "data type"),
        ("shape", [96, -80], "shape"),
        ("chunks", [16], "rank"),
        ("filters", {"id": "zlib"}, "filters"),
    ]:
        with pytest.raises(RefsError, match=fragment):
            opened({".zarray": json.dumps({**zarray, field: value})})


def test_open_references_refuses_bad_files(tmp_path: Path, contract: Path) -> None:
    good = refs_sync(str(contract))
    cases = [
        ("[1, 2]", "JSON object"),
        ("{nope", "not a JSON reference file"),
        (json.dumps({**good, "version": 7}), "version"),
        (json.dumps({**good, "gen": [{"key": "x"}]}), "gen"),
        (json.dumps({**good, "templates": {"u": "{{v}}"}}), "template"),
    ]
    for text, fragment in cases:
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(RefsError, match=fragment):
            open_sync(str(tmp_path / "bad.json"))
    with pytest.raises(FileNotFoundError):
        open_sync(str(tmp_path / "missing.json"))


def test_symbolic_links_out_of_the_folder_are_refused(tmp_path: Path, contract: Path) -> None:
    folder = tmp_path / "published"
    folder.mkdir()
    (folder / "link.tif").symlink_to(contract)  # contract.tif lies outside the folder
    refs = refs_sync(str(folder / "link.tif"), target_url=str(folder / "refs.json"))
    assert refs["templates"] == {"u": "link.tif"}
    (folder / "refs.json").write_text(json.dumps(refs))
    with pytest.raises(RefsError, match="outside"):
        open_sync(str(folder / "refs.json"))
    store = open_sync(str(folder / "refs.json"), allow_external=True)
    assert np.array_equal(read(store), contract_data()[0])


def test_zero_length_references_are_absent_chunks(contract: Path) -> None:
    refs = refs_sync(str(contract), version=0)
    refs["0.0"] = [str(contract), 0, 0]
    got = read(open_sync(refs))
    assert not got[:16, :16].any() and np.array_equal(got[16:], contract_data()[0][16:])


def test_dict_references_have_no_base(contract: Path) -> None:
    refs = refs_sync(str(contract), target_url=str(contract.parent / "r.json"))
    with pytest.raises(RefsError, match="relative"):
        open_sync(refs)
    absolute = refs_sync(str(contract))
    assert np.array_equal(read(open_sync(absolute)), contract_data()[0])


def test_unreadable_targets_name_the_key(tmp_path: Path, contract: Path) -> None:
    refs = refs_sync(str(contract), version=0)
    refs["0.1"] = [str(tmp_path / "gone.tif"), 0, 100]  # must not read as fill
    refs["1.0"] = [refs["1.0"][0], contract.stat().st_size - 10, 100]  # past the end
    array = zarr.open_array(open_sync(refs), mode="r")
    with pytest.raises(SourceError) as info:
        array[:16, 16:32]
    assert info.value.key == "0.1"
    with pytest.raises(SourceError, match="returned 10 bytes") as info:
        array[16:32, :16]
    assert info.value.key == "1.0"


# -- parquet -------------------------------------------------------------------------


def test_parquet_layout_and_sparse_chunks(tmp_path: Path, contract: Path) -> None:
    folder = tmp_path / "refs.parq"
    run_sync(
        write_references(
            str(contract), str(folder), series=0, level=0, format="parquet", inline_threshold=100
        )
    )
    meta = json.loads((folder / ".zmetadata").read_text())
    assert meta["record_size"] == 10_000
    assert set(meta["metadata"]) == {".zgroup", ".zattrs", "0/.zarray", "0/.zattrs"}
    assert (folder / "0" / "refs.0.parq").is_file()
    store = open_sync(str(folder), allow_external=True)
    assert np.array_equal(read(store, "0"), contract_data()[0])
    # the folder is replaced, but not another folder with other files
    run_sync(write_references(str(contract), str(folder), series=0, level=0, format="parquet"))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError):
        run_sync(
            write_references(
                str(contract), str(tmp_path / "other"), series=0, level=0, format="parquet"
            )
        )


def test_parquet_refuses_outside_targets_when_read(tmp_path: Path, contract: Path) -> None:
    folder = tmp_path / "sub" / "refs.parq"
    run_sync(write_references(str(contract), str(folder), series=0, level=0, format="parquet"))
    store = open_sync(str(folder))  # metadata is checked now, chunk references when read
    with pytest.raises(RefsError, match="outside") as info:
        read(store, "0")
    assert info.value.key is not None and info.value.key.startswith("0/")


@pytest.mark.xfail(
    strict=True,
    reason="fsspec's LazyReferenceMapper expects None for a missing path, pandas >= 3 reads "
    "NaN, and ReferenceFileSystem fails on it (tiffzarr.open_references treats it as absent)",
)
def test_plain_fsspec_reads_parquet_with_sparse_chunks(tmp_path: Path, contract: Path) -> None:
    from fsspec.implementations.reference import LazyReferenceMapper

    folder = tmp_path / "refs.parq"
    run_sync(write_references(str(contract), str(folder), series=0, level=0, format="parquet"))
    mapper = LazyReferenceMapper(str(folder), engine="pyarrow")
    fs = ReferenceFileSystem(mapper, remote_protocol="file", asynchronous=True)
    group = zarr.open_group(FsspecStore(fs, read_only=True, path=""), mode="r", zarr_format=2)
    assert np.array_equal(group["0"][...], contract_data()[0])


def test_plain_fsspec_reads_parquet_without_sparse_chunks(tmp_path: Path) -> None:
    from fsspec.implementations.reference import LazyReferenceMapper

    path = tmp_path / "dense.tif"
    data = np.arange(40 * 30, dtype=np.uint16).reshape(40, 30)
    tifffile.imwrite(path, data, tile=(16, 16), compression="zlib")
    run_sync(write_references(str(path), str(tmp_path / "refs.parq"), format="parquet"))
    mapper = LazyReferenceMapper(str(tmp_path / "refs.parq"), engine="pyarrow")
    fs = ReferenceFileSystem(mapper, remote_protocol="file", asynchronous=True)
    group = zarr.open_group(FsspecStore(fs, read_only=True, path=""), mode="r", zarr_format=2)
    assert np.array_equal(group["0/0"][...], data)


# -- remote targets ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def contract_bytes() -> bytes:
    return contract_file()


def test_http_targets_read_back_equal(contract_bytes: bytes) -> None:
    with serve({"data/contract.tif": contract_bytes}) as server:
        url = server.url_for("data/contract.tif")
        refs_url = server.url_for("data/refs.json")
        refs = refs_sync(url, target_url=refs_url)
        assert refs["templates"] == {"u": "contract.tif"}
        server.add("data/refs.json", json.dumps(refs).encode())
        assert np.array_equal(read(open_sync(refs_url)), contract_data()[0])
        absolute = refs_sync(url)
        assert absolute["templates"] == {"u": url}
        assert np.array_equal(read(open_sync(absolute)), contract_data()[0])
        # a reference file served elsewhere may not point into data/ ...
        server.add("other/refs.json", json.dumps(absolute).encode())
        with pytest.raises(RefsError, match="outside"):
            open_sync(server.url_for("other/refs.json"))
        # ... unless allowed; nor may percent-escaped dots climb out of its folder
        assert open_sync(server.url_for("other/refs.json"), allow_external=True) is not None
        sneaky = json.loads(json.dumps(refs))
        sneaky["templates"]["u"] = "%2e%2e/data/contract.tif"
        server.add("data/sub/refs.json", json.dumps(sneaky).encode())
        with pytest.raises(RefsError, match="outside"):
            open_sync(server.url_for("data/sub/refs.json"))


def test_s3_targets_read_back_equal(tmp_path: Path, contract_bytes: bytes) -> None:
    with moto_server() as s3:
        url = s3.put("bucket", "data/contract.tif", contract_bytes)
        options = s3.storage_options
        target = "s3://bucket/data/refs.json"
        run_sync(
            write_references(
                url, target, storage_options=options, target_url=target, target_options=options
            )
        )
        store = open_sync(target, storage_options=options)
        assert np.array_equal(read(store, "0/0"), contract_data()[0])
        parquet = str(tmp_path / "refs.parq")
        run_sync(write_references(url, parquet, format="parquet", storage_options=options))
        store = open_sync(parquet, remote_options=options, allow_external=True)
        assert np.array_equal(read(store, "0/0"), contract_data()[0])


# -- requests -----------------------------------------------------------------------------


def segment_windows(index: tiffzarr.TiffIndex) -> tuple[int, int]:
    """(segment-table windows, predicted pages not yet checked) of every series."""
    windows = checks = 0
    seen: set[tuple[int, int]] = set()
    for series in index.series:
        for level in series.levels:
            for table in level.manifest.tables:
                if table is None or table.key in seen:
                    continue
                seen.add(table.key)
                for values in (table.offsets, table.bytecounts):
                    if values.offset is not None:  # out of line: loaded lazily
                        windows += math.ceil(values.count / WINDOW)
                check = getattr(table, "check", None)
                checks += check is not None and not check.verified
    return windows, checks


@pytest.mark.parametrize(
    ("shape", "options"),
    [((500, 8, 8), {}), ((2048, 2048), {"tile": (16, 16)})],
    ids=["500-page stack", "16k tiles"],
)
def test_references_cost_no_per_chunk_requests(
    shape: tuple[int, ...], options: dict[str, Any]
) -> None:
    """Emitting references costs what opening costs, plus loading the segment tables.

    Opening reads the IFDs; StripOffsets/TileOffsets and their byte counts are loaded
    later, in windows of ``WINDOW`` values (a window of offsets and the window of byte
    counts beside it share one request). Pages that the reader predicted from their
    neighbours are checked against the file before their chunks are referenced: the
    store checks 256 pages at a time and merges each batch's reads into one request
    (the pages of these files lie within its merge gap). So references may cost at
    most one request per window and one per batch of predicted pages; never one per
    chunk.
    """
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, np.zeros(shape, np.uint8), **options)
    with serve({"f.tif": buffer.getvalue()}) as server:
        url = server.url_for("f.tif")
        server.stats.reset()
        index = tiffzarr.open_tiff(url)
        opening = server.stats.requests
        windows, checks = segment_windows(index)
        server.stats.reset()
        refs = refs_sync(url)
        emitting = server.stats.requests
    chunks = sum(isinstance(v, list) for v in refs["refs"].values())
    assert chunks == (500 if len(shape) == 3 else 16384)
    assert emitting - opening <= windows + math.ceil(checks / 256)
    assert emitting - opening < chunks / 100
    if len(shape) == 2:
        assert windows == 4  # 2 windows of offsets, 2 of byte counts


# -- hostile reference files ----------------------------------------------------------------


def hostile_rows() -> list[dict[str, str]]:
    return [r for r in manifest(HOSTILE) if r["class"] == "reference_json"]


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("ref_offset_2e62.json", "0.0"),
        ("ref_negative.json", "0.0"),
        ("ref_traversal_rel.json", "0.0"),
        ("ref_traversal_abs.json", "0.0"),
        ("ref_http_loopback_closed.json", "0.0"),
        ("ref_huge_shape.json", ".zarray"),
        ("ref_bad_dtype.json", ".zarray"),
    ],
)
def test_hostile_reference_files_are_refused(name: str, key: str) -> None:
    folder = require(HOSTILE, "hostile") / "files"
    assert name in {r["name"] for r in hostile_rows()}
    with pytest.raises(RefsError) as info:
        open_sync(str(folder / name))
    assert info.value.key == key
    assert key in str(info.value)


def test_hostile_traversal_never_reads_the_canary(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins
    import os

    folder = require(HOSTILE, "hostile") / "files"
    opened: list[str] = []

    def spy(real: Any) -> Any:
        def wrapper(file: Any, *args: Any, **kwargs: Any) -> Any:
            opened.append(os.fspath(file) if not isinstance(file, int) else str(file))
            return real(file, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(builtins, "open", spy(builtins.open))
    monkeypatch.setattr(os, "open", spy(os.open))
    for name in ("ref_traversal_rel.json", "ref_traversal_abs.json"):
        with pytest.raises(RefsError, match="outside"):
            open_sync(str(folder / name))
    assert any(f.endswith(".json") for f in opened)  # the spy sees the reference files
    assert not any("canary" in f or f == "/etc/passwd" for f in opened)


def test_hostile_closed_loopback_port_errors_clearly() -> None:
    folder = require(HOSTILE, "hostile") / "files"
    store = open_sync(str(folder / "ref_http_loopback_closed.json"), allow_external=True)
    array = zarr.open_array(store, mode="r")
    assert array[64:, :].any()  # the other chunks point into ref_target.tif
    with pytest.raises(SourceError, match=r"127\.0\.0\.1:9") as info:
        array[:64, :64]
    assert info.value.key == "0.0"


def test_hostile_target_reads_exactly() -> None:
    folder = require(HOSTILE, "hostile") / "files"
    want = next(r for r in hostile_rows() if r["name"] == "ref_target.tif")["expected_sha256"]
    refs = refs_sync(str(folder / "ref_target.tif"))
    assert refs.fallbacks == {}
    got = read(plain_fsspec_store(refs))
    assert hashlib.sha256(got.tobytes()).hexdigest() == want


# -- kerchunk -------------------------------------------------------------------------------


def test_multizarrtozarr_stacks_three_files(tmp_path: Path) -> None:
    from kerchunk.combine import MultiZarrToZarr

    rng = np.random.default_rng(5)
    frames = [rng.integers(0, 2**16, (40, 56), dtype=np.uint16) for _ in range(3)]
    parts = []
    for i, frame in enumerate(frames):
        path = tmp_path / f"t{i}.tif"
        tifffile.imwrite(path, frame, tile=(16, 16), compression="zlib")
        parts.append(nest_references(refs_sync(str(path)), "image"))
    combined = MultiZarrToZarr(
        parts, concat_dims=["T"], coo_map={"T": "INDEX"}, remote_protocol="file"
    ).translate()
    group = zarr.open_group(plain_fsspec_store(combined), mode="r")
    assert group["image"].shape == (3, 40, 56)
    assert np.array_equal(group["image"][...], np.stack(frames))
    assert list(group["T"][...]) == [0, 1, 2]
    assert group["image"].attrs["_ARRAY_DIMENSIONS"] == ["T", "Y", "X"]


# -- command line ---------------------------------------------------------------------------


def test_cli_writes_json_and_parquet(
    tmp_path: Path, contract: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tiffzarr.cli import main

    out = tmp_path / "c.json"
    assert main(["refs", str(contract), "-o", str(out), "--zarr-format", "3"]) == 0
    refs = json.loads(out.read_text())
    assert "zarr.json" in refs["refs"] and refs["version"] == 1
    store = open_sync(str(out), allow_external=True)
    assert np.array_equal(read(store, "0/0"), contract_data()[0])
    assert main(["refs", str(contract), "-o", str(tmp_path / "c.parq"), "--parquet"]) == 0
    store = open_sync(str(tmp_path / "c.parq"), allow_external=True)
    assert np.array_equal(read(store, "0/0"), contract_data()[0])
    assert (
        main(["refs", str(contract), "-o", str(out), "--codecs", "tiffzarr", "--version", "0"]) == 0
    )
    zarray = json.loads(json.loads(out.read_text())["0/0/.zarray"])
    assert zarray["compressor"]["id"] == "tiffzarr.tiff"
    odd = tmp_path / "odd.tif"
    write_case(odd, "partial_strips_deflate")
    assert main(["refs", str(odd), "-o", str(tmp_path / "odd.json")]) == 0
    assert "keeps tiffzarr's codec" in capsys.readouterr().err
    assert main(["refs", str(tmp_path / "missing.tif"), "-o", str(out)]) == 4  # I/O error
