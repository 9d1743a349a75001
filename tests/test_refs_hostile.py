"""Hostile reference sets: decompression bombs in any codec path, deep JSON, inline chunks
larger than their chunk, huge sets, and targets swapped for symbolic links after the open.

Memory is measured with ``tracemalloc`` (peaks, not time).
"""

from __future__ import annotations

import base64
import bz2
import json
import lzma
import os
import tracemalloc
import warnings
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

from tiffzarr import set_config
from tiffzarr._sync import run_sync
from tiffzarr.codecs import SegmentSpec
from tiffzarr.errors import ChunkDecodeError, LimitError, RefsError
from tiffzarr.refs import ReferenceStore, open_references, write_references

CHUNK = (64, 64)  # uint8: 4096 decoded bytes per chunk
MIB = 2**20


def open_sync(refs: Any, **kwargs: Any) -> ReferenceStore:
    return run_sync(open_references(refs, **kwargs))


def read(store: ReferenceStore, zarr_format: int = 2) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numcodecs.* codecs in v3 metadata warn
        array = zarr.open_array(store, path="a", mode="r", zarr_format=zarr_format)  # type: ignore[arg-type]
        return np.asarray(array[...])


def write_set(
    folder: Path,
    data: bytes,
    codec: dict[str, Any] | None,
    *,
    zarr_format: int = 2,
    chunks: tuple[int, ...] = CHUNK,
    extra: dict[str, Any] | None = None,
) -> Path:
    """A JSON reference set of one array ``a`` (one uint8 chunk) whose chunk is ``data``
    in ``data.bin`` beside it, decoded by ``codec`` (v2 compressor, or v3 bytes-to-bytes)."""
    (folder / "data.bin").write_bytes(data)
    if zarr_format == 2:
        doc: dict[str, Any] = {
            "zarr_format": 2,
            "shape": list(chunks),
            "chunks": list(chunks),
            "dtype": "|u1",
            "compressor": codec,
            "filters": None,
            "fill_value": 0,
            "order": "C",
        }
        refs: dict[str, Any] = {
            ".zgroup": json.dumps({"zarr_format": 2}),
            "a/.zarray": json.dumps(doc),
            "a/" + ".".join("0" * len(chunks)): ["{{u}}", 0, len(data)],
        }
    else:
        doc = {
            "zarr_format": 3,
            "node_type": "array",
            "shape": list(chunks),
            "data_type": "uint8",
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunks)}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": 0,
            "codecs": [{"name": "bytes", "configuration": {}}, *([codec] if codec else [])],
            "attributes": {},
        }
        group = {"zarr_format": 3, "node_type": "group", "attributes": {}}
        refs = {
            "zarr.json": json.dumps(group),
            "a/zarr.json": json.dumps(doc),
            "a/c/" + "/".join("0" * len(chunks)): ["{{u}}", 0, len(data)],
        }
    refs.update(extra or {})
    path = folder / "refs.json"
    path.write_text(json.dumps({"version": 1, "templates": {"u": "data.bin"}, "refs": refs}))
    return path


def streamed(compressor: Any, nbytes: int) -> bytes:
    """``nbytes`` zeros compressed without holding them (a compressobj-like object)."""
    block = bytes(MIB)
    parts = [compressor.compress(block) for _ in range(nbytes // MIB)]
    return b"".join([*parts, compressor.flush()])


def zstd_rle_frame(nbytes: int, *, announce: bool) -> bytes:
    """A zstd frame of ``nbytes`` zeros in RLE blocks (4 bytes per 128 KiB), with or
    without its content size in the header (RFC 8878)."""
    if announce:  # single segment, 8-byte content size
        header = b"\x28\xb5\x2f\xfd" + bytes([0xE0]) + nbytes.to_bytes(8, "little")
    else:  # no content size; a window descriptor of 128 KiB
        header = b"\x28\xb5\x2f\xfd" + bytes([0x00, 7 << 3])
    size = 128 * 1024
    count = nbytes // size
    blocks = [
        (((size << 3) | (1 << 1) | (i == count - 1)).to_bytes(3, "little") + b"\x00")
        for i in range(count)
    ]
    return header + b"".join(blocks)


def peak_of(action: Callable[[], Any]) -> tuple[int, BaseException | None]:
    """Peak traced bytes of ``action`` and the exception it raised."""
    tracemalloc.start()
    try:
        action()
    except BaseException as exc:
        error: BaseException | None = exc
    else:
        error = None
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak, error


# -- decoded-size bounds ------------------------------------------------------------------

BOMBS: dict[str, tuple[int, dict[str, Any], Callable[[], bytes]]] = {
    # name: (zarr format, codec, bomb of 16 MiB or more)
    "v2 zlib": (2, {"id": "zlib", "level": 6}, lambda: streamed(zlib.compressobj(9), 32 * MIB)),
    "v2 gzip": (
        2,
        {"id": "gzip", "level": 6},
        lambda: streamed(zlib.compressobj(9, wbits=31), 32 * MIB),
    ),
    "v2 bz2": (2, {"id": "bz2", "level": 9}, lambda: streamed(bz2.BZ2Compressor(), 16 * MIB)),
    "v2 lzma": (
        2,
        {"id": "lzma", "format": 1, "check": -1, "preset": None, "filters": None},
        lambda: streamed(lzma.LZMACompressor(), 16 * MIB),
    ),
    "v2 zstd announced 1 GiB": (
        2,
        {"id": "zstd", "level": 0, "checksum": False},
        lambda: zstd_rle_frame(2**30, announce=True),
    ),
    "v2 zstd unannounced": (
        2,
        {"id": "zstd", "level": 0, "checksum": False},
        lambda: zstd_rle_frame(256 * MIB, announce=False),
    ),
    "v2 imagecodecs lzw": (2, {"id": "imagecodecs_lzw"}, lambda: _lzw(16 * MIB)),
    "v3 zstd announced 1 GiB": (
        3,
        {"name": "zstd", "configuration": {"level": 0, "checksum": False}},
        lambda: zstd_rle_frame(2**30, announce=True),
    ),
    "v3 gzip": (
        3,
        {"name": "gzip", "configuration": {"level": 6}},
        lambda: streamed(zlib.compressobj(9, wbits=31), 32 * MIB),
    ),
    "v3 numcodecs.zlib": (
        3,
        {"name": "numcodecs.zlib", "configuration": {"level": 6}},
        lambda: streamed(zlib.compressobj(9), 32 * MIB),
    ),
}


def _lzw(nbytes: int) -> bytes:
    import imagecodecs

    return bytes(imagecodecs.lzw_encode(bytes(nbytes)))


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_decompression_bombs_stop_at_the_chunk_size(tmp_path: Path, name: str) -> None:
    zarr_format, codec, bomb = BOMBS[name]
    data = bomb()
    assert len(data) < 40_000  # small enough to pass for a compressed 4 KiB chunk
    store = open_sync(str(write_set(tmp_path, data, codec, zarr_format=zarr_format)))
    peak, error = peak_of(lambda: read(store, zarr_format))
    assert isinstance(error, LimitError | ChunkDecodeError), repr(error)
    assert error.key in ("a/0.0", "a/c/0/0")
    assert error.url == str(tmp_path / "data.bin")
    assert peak < 16 * MIB, f"{peak / MIB:.0f} MiB allocated"


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_the_announced_size_is_refused_before_decoding(tmp_path: Path, zarr_format: int) -> None:
    codec = (
        {"id": "zstd", "level": 0}
        if zarr_format == 2
        else {"name": "zstd", "configuration": {"level": 0, "checksum": False}}
    )
    data = zstd_rle_frame(2**30, announce=True)
    store = open_sync(str(write_set(tmp_path, data, codec, zarr_format=zarr_format)))
    with pytest.raises(LimitError, match=r"announce 1073741824 decoded bytes, more than the 4096"):
        read(store, zarr_format)


def test_a_segment_larger_than_its_chunk_is_refused_before_decoding(tmp_path: Path) -> None:
    """tiffzarr's own codec: a segment description far larger than the chunk."""
    spec = SegmentSpec(
        compression=8,
        shape=(1, 4096, 4096, 1),
        dtype="|u1",
        bitspersample=8,
        sampleformat=1,
        byteorder="<",
    )
    codec = {"id": "tiffzarr.tiff", **spec.to_config()}
    store = open_sync(str(write_set(tmp_path, zlib.compress(bytes(100)), codec)))
    peak, error = peak_of(lambda: read(store))
    assert isinstance(error, LimitError), repr(error)
    assert "16777216" in str(error) and error.key == "a/0.0"
    assert peak < 4 * MIB


def test_an_image_header_larger_than_its_chunk_is_refused_before_decoding(tmp_path: Path) -> None:
    ihdr = (30_000).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    png = b"\x89PNG\r\n\x1a\n" + len(ihdr).to_bytes(4, "big") + b"IHDR" + ihdr
    png += zlib.crc32(b"IHDR" + ihdr).to_bytes(4, "big")
    store = open_sync(str(write_set(tmp_path, png, {"id": "imagecodecs_png"})))
    with pytest.raises(LimitError, match="900000000 decoded bytes") as info:
        read(store)
    assert info.value.key == "a/0.0"


@pytest.mark.filterwarnings("ignore::zarr.errors.ZarrUserWarning")  # numcodecs.* in v3 metadata
@pytest.mark.parametrize("zarr_format", [2, 3])
def test_consolidated_metadata_is_bounded_too(tmp_path: Path, zarr_format: int) -> None:
    codec = BOMBS[f"v{zarr_format} " + ("zlib" if zarr_format == 2 else "numcodecs.zlib")][1]
    bomb = streamed(zlib.compressobj(9), 32 * MIB)
    path = write_set(tmp_path, bomb, codec, zarr_format=zarr_format)
    refs = json.loads(path.read_text())
    if zarr_format == 2:
        members = {k: json.loads(v) for k, v in refs["refs"].items() if ".z" in k}
        consolidated = {"zarr_consolidated_format": 1, "metadata": members}
        refs["refs"][".zmetadata"] = json.dumps(consolidated)
    else:
        group = json.loads(refs["refs"]["zarr.json"])
        members = {"a": json.loads(refs["refs"]["a/zarr.json"])}
        group["consolidated_metadata"] = {"kind": "inline", "must_understand": False}
        group["consolidated_metadata"]["metadata"] = members
        refs["refs"]["zarr.json"] = json.dumps(group)
    path.write_text(json.dumps(refs))
    group = zarr.open_group(open_sync(str(path)), mode="r", use_consolidated=True)
    peak, error = peak_of(lambda: group["a"][...])
    assert isinstance(error, LimitError) and error.key in ("a/0.0", "a/c/0/0"), repr(error)
    assert peak < 16 * MIB


def test_sharded_chunks_are_bounded_inside_the_shard(tmp_path: Path) -> None:
    data = np.arange(64 * 64, dtype="u2").reshape(64, 64)
    written = zarr.create_array(
        str(tmp_path / "z"), name="a", shape=(64, 64), chunks=(16, 16), shards=(32, 32), dtype="u2"
    )
    written[...] = data
    refs = {key: (tmp_path / "z" / key).read_text() for key in ("zarr.json", "a/zarr.json")}
    for shard in (tmp_path / "z" / "a" / "c").rglob("*"):
        if shard.is_file():
            refs[str(shard.relative_to(tmp_path / "z"))] = [str(shard)]
    store = open_sync(refs)
    served = json.loads(run_sync(store.get("a/zarr.json")).to_bytes())  # type: ignore[union-attr]
    inner = served["codecs"][0]["configuration"]["codecs"]
    assert inner[1]["name"] == "tiffzarr.bounded"
    assert inner[1]["configuration"]["max_nbytes"] == 16 * 16 * 2
    assert np.array_equal(zarr.open_array(store, path="a", mode="r")[...], data)


def test_bounded_codecs_describe_themselves_as_the_original(tmp_path: Path) -> None:
    """A copy of the array (its metadata) keeps the codec the reference set names."""
    data = np.arange(4096, dtype="u1")
    path = write_set(tmp_path, zlib.compress(data.tobytes()), {"id": "zlib", "level": 6})
    array = zarr.open_array(open_sync(str(path)), path="a", mode="r")
    assert array.metadata.to_dict()["compressor"] == {"id": "zlib", "level": 6}
    assert np.array_equal(array[...].reshape(-1), data)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_codecs_that_run_code_from_the_data_are_refused(tmp_path: Path, zarr_format: int) -> None:
    codec = {"id": "pickle"} if zarr_format == 2 else {"name": "numcodecs.pickle"}
    path = write_set(tmp_path, b"\x80\x04N.", codec, zarr_format=zarr_format)
    with pytest.raises(RefsError, match="run code from the data") as info:
        open_sync(str(path))
    assert info.value.key is not None and info.value.key.startswith("a/")


# -- JSON depth -----------------------------------------------------------------------------


def test_deep_json_raises_refs_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 10**6 + "]" * 10**6)
    with pytest.raises(RefsError, match="nested 1000000 deep"):
        open_sync(str(path))
    attrs = "[" * 10**5 + "]" * 10**5
    path = write_set(tmp_path, bytes(4096), None, extra={"a/.zattrs": attrs})
    with pytest.raises(RefsError, match="nested 100000 deep") as info:
        open_sync(str(path))
    assert info.value.key == "a/.zattrs"
    with pytest.raises(RefsError, match="nested"):
        open_sync({".zattrs": attrs})


def test_deep_parquet_metadata_raises_refs_error(tmp_path: Path) -> None:
    """The members of .zmetadata are held to the same depth as a JSON reference file."""
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((32, 32), "u1"))
    folder = tmp_path / "refs.parq"
    run_sync(
        write_references(str(tmp_path / "a.tif"), str(folder), format="parquet", series=0, level=0)
    )
    text = (folder / ".zmetadata").read_text()
    deep = '"0/.zattrs": {"deep": ' + "[" * 1000 + "]" * 1000 + "}, "
    (folder / ".zmetadata").write_text(text.replace('"metadata": {', '"metadata": {' + deep, 1))
    with pytest.raises(RefsError, match="nested 1003 deep"):
        open_sync(str(folder))


# -- inline and referenced chunk sizes ------------------------------------------------------------


def inline_forms(nbytes: int) -> dict[str, Any]:
    return {
        "base64": "base64:" + base64.b64encode(bytes(nbytes)).decode(),
        "raw string": "x" * nbytes,
        "reference": ["{{u}}", 0, nbytes],
    }


@pytest.mark.parametrize("form", sorted(inline_forms(1)))
def test_chunks_larger_than_their_chunk_can_encode_to_are_refused_at_open(
    tmp_path: Path, form: str
) -> None:
    # a chunk of 4096 bytes encodes to at most 2 * 4096 + 64 KiB = 73728 bytes
    (tmp_path / "data.bin").write_bytes(bytes(200_000))
    big = write_set(tmp_path, bytes(4096), None, extra={"a/0.0": inline_forms(200_000)[form]})
    with pytest.raises(RefsError, match="more than a chunk of 4096 bytes can encode to") as info:
        open_sync(str(big))
    assert info.value.key == "a/0.0"
    fits = write_set(tmp_path, bytes(4096), None, extra={"a/0.0": inline_forms(73_728)[form]})
    assert isinstance(open_sync(str(fits)), ReferenceStore)


def test_parquet_inline_chunks_are_checked_when_read(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tifffile.imwrite(tmp_path / "a.tif", np.zeros((64, 64), "u1"), tile=(16, 16))
    folder = tmp_path / "refs.parq"
    run_sync(
        write_references(str(tmp_path / "a.tif"), str(folder), format="parquet", series=0, level=0)
    )
    table = pq.read_table(folder / "0" / "refs.0.parq").to_pydict()
    table["raw"][0] = bytes(200_000)
    pq.write_table(pa.table(table), folder / "0" / "refs.0.parq")
    with pytest.raises(RefsError, match="can encode to") as info:
        zarr.open_array(open_sync(str(folder)), path="0", mode="r")[...]
    assert info.value.key == "0/0.0"


# -- huge reference sets ------------------------------------------------------------------


def many_entries(folder: Path, count: int) -> Path:
    doc = {"zarr_format": 2, "shape": [count * 16], "chunks": [16], "dtype": "|u1"}
    doc.update(compressor=None, filters=None, fill_value=0, order="C")
    refs: dict[str, Any] = {".zgroup": json.dumps({"zarr_format": 2}), "a/.zarray": json.dumps(doc)}
    refs.update({f"a/{i}": ["{{u}}", 2**31 + 16 * i, 16] for i in range(count)})
    (folder / "data.bin").write_bytes(b"")
    path = folder / "refs.json"
    path.write_text(json.dumps({"version": 1, "templates": {"u": "data.bin"}, "refs": refs}))
    return path


def test_the_number_of_references_is_capped_before_parsing(tmp_path: Path) -> None:
    path = many_entries(tmp_path, 200_000)
    with set_config(max_references=100_000):
        peak, error = peak_of(lambda: open_sync(str(path)))
        assert isinstance(error, LimitError) and "max_references" in str(error), repr(error)
        # refused before parsing: the text and its outline, not 200,000 parsed entries
        assert peak < 3 * path.stat().st_size
        refs = json.loads(path.read_text())
        with pytest.raises(LimitError, match="max_references"):
            open_sync({**refs, "templates": {"u": str(tmp_path / "data.bin")}})
    assert open_sync(str(path)) is not None


@pytest.mark.parametrize("form", ["file", "dict"])
def test_memory_per_reference(tmp_path: Path, form: str) -> None:
    """Traced peak of opening 100,000 entries of ~39 bytes of JSON each: the parsed
    entries are checked in place (a file) and never copied again by fsspec."""
    count = 100_000
    path = many_entries(tmp_path, count)
    refs = None
    if form == "dict":
        refs = {**json.loads(path.read_text()), "templates": {"u": str(tmp_path / "data.bin")}}
    peak, error = peak_of(lambda: open_sync(str(path) if refs is None else refs))
    assert error is None, repr(error)
    limit = 400 if form == "file" else 150  # bytes per entry (before: 480 and 350)
    assert peak / count < limit, f"{peak / count:.0f} bytes per entry"


# -- targets replaced after the open -----------------------------------------------------------


@pytest.fixture
def published(tmp_path: Path) -> Iterator[tuple[Path, np.ndarray]]:
    """A folder with ``a.tif`` and its references (``refs.json``, ``refs.parq``)."""
    folder = tmp_path / "published"
    folder.mkdir()
    data = np.arange(64 * 64, dtype="u1").reshape(64, 64)
    tifffile.imwrite(folder / "a.tif", data, tile=(16, 16))
    for target, form in (("refs.json", "json"), ("refs.parq", "parquet")):
        run_sync(
            write_references(
                str(folder / "a.tif"),
                str(folder / target),
                format=form,  # type: ignore[arg-type]
                series=0,
                level=0,
                target_url=str(folder / target),
            )
        )
    yield folder, data


@pytest.mark.parametrize("name", ["refs.json", "refs.parq"])
def test_a_target_swapped_for_a_link_out_of_the_folder_is_refused(
    tmp_path: Path, published: tuple[Path, np.ndarray], name: str
) -> None:
    folder, data = published
    path = "" if name == "refs.json" else "0"
    array = zarr.open_array(open_sync(str(folder / name)), path=path, mode="r")
    assert np.array_equal(array[...], data)
    secret = np.full((64, 64), 7, "u1")
    tifffile.imwrite(tmp_path / "secret.tif", secret, tile=(16, 16))
    os.replace(folder / "a.tif", tmp_path / "moved.tif")
    (folder / "a.tif").symlink_to(tmp_path / "secret.tif")
    with pytest.raises(RefsError, match="outside the reference file's folder") as info:
        array[:16, :16]
    assert info.value.key in ("0.0", "0/0.0") and info.value.url == str(folder / "a.tif")


def test_links_inside_the_folder_still_read(published: tuple[Path, np.ndarray]) -> None:
    folder, data = published
    os.replace(folder / "a.tif", folder / "real.tif")
    (folder / "a.tif").symlink_to("real.tif")
    array = zarr.open_array(open_sync(str(folder / "refs.json")), mode="r")
    assert np.array_equal(array[...], data)
