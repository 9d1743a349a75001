"""Contracts of tiffzarr.codecs.

1. Every sampled segment of the third-party corpus decodes to tifffile's pixels.
2. Hypothesis round trips: tifffile writes, decode_segment reads; encode ↔ decode.
3. The numcodecs (zarr v2) and zarr v3 faces: config, pickling, entry points, reads.
4. Codec-level hostile inputs fail cleanly, fast and with bounded memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import math
import pickle
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest
import tifffile
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from zarr.core.buffer import cpu

import tiffzarr
from tests._codec_helpers import (
    BUDGET,
    assemble,
    page_spec,
    pages,
    random_samples,
    read,
    sample_indices,
    tiled_file,
)
from tests.conftest import CORPUS, HOSTILE, ROOT, TALLIES, corpus_params, manifest, require
from tiffzarr.codecs import (
    COMPRESSIONS,
    SegmentSpec,
    TiffCodec,
    TiffZarrCodec,
    decode_segment,
    encode_segment,
    register_codecs,
)
from tiffzarr.errors import (
    ChunkDecodeError,
    LimitError,
    TiffZarrError,
    UnsupportedCompressionError,
)

# -- 1. corpus conformance ---------------------------------------------------------

CORPUS_ROWS = manifest(CORPUS)
TALLY = "codec segments vs tifffile"

# Corpus files whose segments tiffzarr decodes differently from tifffile, with the reason.
KNOWN: dict[str, str] = {}


def _same(ours: np.ndarray, theirs: np.ndarray, spec: SegmentSpec) -> str | None:
    """None when ``ours`` holds ``theirs`` in its top-left corner and zeros elsewhere."""
    if ours.shape != spec.shape or ours.dtype != spec.numpy_dtype:
        return f"decoded {ours.shape} {ours.dtype} for {spec.shape} {spec.dtype}"
    if theirs.dtype != ours.dtype and spec.compression in (2, 3, 4):
        theirs = theirs.astype(ours.dtype)  # tifffile returns CCITT bilevel as uint8
    if theirs.dtype != ours.dtype:
        return f"dtype {ours.dtype} where tifffile gives {theirs.dtype}"
    corner = tuple(slice(0, n) for n in theirs.shape)
    if ours[corner].tobytes() != np.ascontiguousarray(theirs).tobytes():
        return "pixels differ"
    rest = ours.copy()
    rest[corner] = 0
    return "padding is not zero" if rest.any() else None


def _compare_page(page: tifffile.TiffPage, fh: Any) -> list[str]:
    tally = TALLIES[TALLY]
    failures = []
    spec = page_spec(page)
    for index in sample_indices(len(page.dataoffsets)):
        offset, count = page.dataoffsets[index], page.databytecounts[index]
        if offset == 0 and count == 0:
            tally["sparse"] += 1
            continue
        data = read(fh, offset, count)
        try:
            theirs = page.decode(
                data, index, jpegtables=page.jpegtables, jpegheader=page.jpegheader
            )[0]
        except Exception:  # tifffile cannot decode it: not part of the comparison
            tally["tifffile cannot decode"] += 1
            continue
        try:
            why = _same(decode_segment(data, spec), theirs, spec)
        except TiffZarrError as exc:
            why = f"raised {exc!r:.200}"
        tally["failed" if why else "passed"] += 1
        if why:
            failures.append(f"page {page.index} segment {index}: {why}")
    return failures


@pytest.mark.parametrize(
    "relpath",
    corpus_params(CORPUS_ROWS, KNOWN) or ["(no corpus)"],
)
def test_corpus_segments_match_tifffile(relpath: str) -> None:
    corpus = require(CORPUS, "corpus")
    path = corpus / relpath
    try:
        tf = tifffile.TiffFile(path)
    except Exception as exc:  # tifffile cannot open it: not part of the comparison
        pytest.skip(f"tifffile cannot open: {exc!r:.80}")
    failures = []
    with tf, open(path, "rb") as fh:
        for page in pages(tf):
            failures += _compare_page(page, fh)
    assert not failures, "\n".join(failures[:10])


def test_corpus_summary() -> None:
    """At least 99% of the compared corpus segments decode exactly as tifffile's."""
    tally = TALLIES[TALLY]
    compared = tally["passed"] + tally["failed"]
    if not compared:
        pytest.skip("the corpus segment comparison did not run")
    print(f"\ncorpus segments: {compared} compared, {dict(tally)}")
    assert tally["passed"] >= 0.99 * compared


# Files tifffile cannot read whose whole page tiffzarr's segments reproduce exactly,
# compared with the fallback reader's (GDAL's) sha256 in expected/<relpath>.json.
BEYOND_TIFFFILE = [
    "files/libtiff/deflate-last-strip-extra-data.tiff",  # deflate data after the stream end
    "files/image-tiff/libtiffpic/ycbcr-cat.tif",  # YCbCr 4:2:0, LZW, big-endian
    "files/image-tiff/libtiffpic/dscf0013.tif",  # YCbCr 4:2:2, uncompressed
]


@pytest.mark.parametrize("relpath", BEYOND_TIFFFILE)
def test_corpus_beyond_tifffile(relpath: str) -> None:
    corpus = require(CORPUS, "corpus")
    expected = json.loads((corpus / "expected" / f"{relpath}.json").read_text())["expected"]
    path = corpus / relpath
    with tifffile.TiffFile(path) as tf, open(path, "rb") as fh:
        page = tf.pages[0]
        spec = page_spec(page)
        image = assemble(page, fh, lambda data: decode_segment(data, spec))
    bands = image if image.ndim == 2 else np.moveaxis(image, -1, 0)  # rasterio: (bands, y, x)
    assert hashlib.sha256(np.ascontiguousarray(bands).tobytes()).hexdigest() == expected["sha256"]


# -- 2. round trips ------------------------------------------------------------------

DTYPES = ["u1", "u2", "u4", "i2", "f2", "f4", "f8", "c8"]
TIFFFILE_COMPRESSIONS = [None, "zlib", "lzw", "packbits", "zstd", "lzma", "deflate"]


@st.composite
def tifffile_cases(draw: st.DrawFn) -> dict[str, Any]:
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    samples = draw(st.sampled_from([1, 3]))
    height, width = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    shape = (height, width, samples) if samples > 1 else (height, width)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    raw = rng.integers(0, 256, math.prod(shape) * dtype.itemsize, dtype=np.uint8)
    data = raw.view(dtype).reshape(shape)
    if dtype.kind in "fc":
        data = np.where(np.isfinite(data), data, 0).astype(dtype)
    integer, floating = [None, 2], [None, 3, 34894, 34895]  # imagecodecs: no integer X2/X4
    predictors = {"u": integer, "i": integer, "f": floating, "c": [None]}[dtype.kind]
    kwargs: dict[str, Any] = {
        "byteorder": draw(st.sampled_from("<>")),
        "compression": draw(st.sampled_from(TIFFFILE_COMPRESSIONS)),
        "predictor": draw(st.sampled_from(predictors)),
        "photometric": "rgb" if samples == 3 else "minisblack",
        "planarconfig": draw(st.sampled_from(["contig", "separate"])) if samples > 1 else None,
    }
    stride = {34894: 2, 34895: 4}.get(kwargs["predictor"], 1)
    if kwargs["compression"] is None or width % stride:
        kwargs["predictor"] = None  # imagecodecs: X2/X4 rows hold whole pixel pairs/quads
    if kwargs["planarconfig"] == "separate":
        data = np.ascontiguousarray(np.moveaxis(data, -1, 0))
    if draw(st.booleans()):
        kwargs["tile"] = (draw(st.sampled_from([16, 32])), draw(st.sampled_from([16, 32])))
    else:
        kwargs["rowsperstrip"] = draw(st.integers(1, height))
    return {"data": data, "kwargs": kwargs}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=tifffile_cases())
def test_tifffile_written_segments_decode(case: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, case["data"], **case["kwargs"])
    buffer.seek(0)
    with tifffile.TiffFile(buffer) as tf:
        page = tf.pages[0]
        spec = page_spec(page)
        image = assemble(page, buffer, lambda data: decode_segment(data, spec))
    expected = case["data"]
    assert image.dtype == expected.dtype.newbyteorder("=")
    assert image.tobytes() == expected.tobytes()


# (bitspersample, sampleformat, dtype) that encode_segment stores, beyond whole bytes.
SAMPLE_TYPES = [
    (1, 1, "|b1"),
    (4, 1, "|u1"),
    (8, 2, "|i1"),
    (12, 1, "<u2"),
    (16, 1, "<u2"),
    (16, 3, "<f2"),
    (24, 1, "<u4"),
    (24, 3, "<f4"),
    (32, 2, "<i4"),
    (32, 3, "<f4"),
    (32, 5, "<c8"),
    (64, 3, "<f8"),
    (64, 6, "<c8"),
]
LOSSLESS_STREAMS = sorted(c.code for c in COMPRESSIONS.values() if c.kind in ("none", "bytes"))
LOSSLESS_IMAGES = sorted(
    c.code for c in COMPRESSIONS.values() if c.kind == "image" and c.lossless and c.can_encode
)


def _valid_predictors(bps: int, fmt: int) -> list[int]:
    if fmt == 3 and bps in (16, 32, 64):
        return [1, 2, 3, 34892, 34893, 34894, 34895]
    if fmt in (1, 2) and bps in (8, 16, 32, 64):
        return [1, 2, 34892, 34893]
    return [1]


@st.composite
def stream_cases(draw: st.DrawFn) -> tuple[np.ndarray, SegmentSpec]:
    bps, fmt, dtype_str = draw(st.sampled_from(SAMPLE_TYPES))
    samples = 1 if bps == 1 else draw(st.sampled_from([1, 3]))
    predictor = draw(st.sampled_from(_valid_predictors(bps, fmt)))
    stride = {34894: 2, 34895: 4}.get(predictor, 1)  # imagecodecs: whole pixel pairs/quads
    width = stride * draw(st.integers(1, 17 // stride))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 17)), width, samples)
    spec = SegmentSpec(
        compression=draw(st.sampled_from(LOSSLESS_STREAMS)),
        shape=shape,
        dtype=np.dtype(dtype_str).newbyteorder("=").str,
        bitspersample=bps,
        sampleformat=fmt,
        byteorder=draw(st.sampled_from("<>")),
        predictor=predictor,
        fillorder=draw(st.sampled_from([1, 2])),
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return random_samples(rng, shape, spec.numpy_dtype, bps), spec


@settings(max_examples=300, deadline=None)
@given(case=stream_cases())
def test_encode_decode_round_trip(case: tuple[np.ndarray, SegmentSpec]) -> None:
    array, spec = case
    decoded = decode_segment(encode_segment(array, spec), spec)
    assert decoded.dtype == spec.numpy_dtype and decoded.shape == spec.shape
    assert decoded.flags.c_contiguous and decoded.flags.writeable
    assert decoded.tobytes() == array.tobytes()


@pytest.mark.parametrize("compression", LOSSLESS_IMAGES)
@pytest.mark.parametrize("samples", [1, 3])
def test_image_codecs_round_trip(compression: int, samples: int) -> None:
    if COMPRESSIONS[compression].decoder == "webp_decode" and samples == 1:
        pytest.skip("WebP holds RGB(A) only")
    spec = SegmentSpec(
        compression=compression,
        shape=(1, 32, 48, samples),
        dtype="|u1",
        bitspersample=8,
        sampleformat=1,
        byteorder="<",
        photometric=2 if samples == 3 else 1,
    )
    array = np.random.default_rng(compression).integers(0, 256, spec.shape).astype(np.uint8)
    assert np.array_equal(decode_segment(encode_segment(array, spec), spec), array)


def test_pixarlog_round_trip() -> None:
    spec = SegmentSpec(
        compression=32909, shape=(1, 8, 12, 3), dtype="|u1", bitspersample=8, sampleformat=1,
        byteorder="<", photometric=2,
    )  # fmt: skip
    array = (np.arange(8 * 12 * 3) % 200).astype(np.uint8).reshape(spec.shape)
    assert np.array_equal(decode_segment(encode_segment(array, spec), spec), array)


@pytest.mark.parametrize(("photometric", "subsampling"), [(6, (2, 2)), (6, (1, 1)), (2, (1, 1))])
def test_jpeg_round_trip_is_close(photometric: int, subsampling: tuple[int, int]) -> None:
    spec = SegmentSpec(
        compression=7,
        shape=(1, 32, 48, 3),
        dtype="|u1",
        bitspersample=8,
        sampleformat=1,
        byteorder="<",
        photometric=photometric,
        subsampling=subsampling,
    )
    ramp = np.linspace(0, 255, 48)[None, :, None] * np.linspace(0.2, 1, 32)[:, None, None]
    array = np.broadcast_to(ramp * [1.0, 0.6, 0.3], (32, 48, 3)).astype(np.uint8)[None]
    decoded = decode_segment(encode_segment(array, spec, level=95), spec)
    assert np.abs(decoded.astype(int) - array).max() <= 8


@pytest.mark.parametrize(
    ("bps", "options", "tolerance"),
    [(12, {"level": 95}, 2), (12, {"lossless": True}, 0), (16, {"lossless": True}, 0)],
)
def test_jpeg_12_bit_and_lossless(bps: int, options: dict[str, Any], tolerance: int) -> None:
    import imagecodecs

    image = np.linspace(0, 2**bps - 1, 32 * 48).astype(np.uint16).reshape(32, 48)
    encoded = imagecodecs.jpeg8_encode(image, bitspersample=bps, **options)
    spec = SegmentSpec(
        compression=7, shape=(1, 32, 48, 1), dtype="<u2", bitspersample=bps, sampleformat=1,
        byteorder="<", photometric=1,
    )  # fmt: skip
    decoded = decode_segment(encoded, spec)[0, :, :, 0]
    assert np.abs(decoded.astype(int) - image).max() <= tolerance


def test_jpeg_plane_of_separate_rgb_decodes_as_grayscale() -> None:
    spec = SegmentSpec(
        compression=7, shape=(1, 16, 24, 1), dtype="|u1", bitspersample=8, sampleformat=1,
        byteorder="<", photometric=2,
    )  # fmt: skip
    plane = np.full(spec.shape, 77, np.uint8)
    assert np.abs(decode_segment(encode_segment(plane, spec), spec).astype(int) - 77).max() <= 1


def test_short_strip_is_padded_with_zeros() -> None:
    spec = SegmentSpec(
        compression=5, shape=(1, 8, 5, 1), dtype="<u2", bitspersample=16, sampleformat=1,
        byteorder=">", predictor=2,
    )  # fmt: skip
    rows = np.arange(15, dtype="<u2").reshape(1, 3, 5, 1)
    short = replace(spec, shape=(1, 3, 5, 1))
    decoded = decode_segment(encode_segment(rows, short), spec)
    assert np.array_equal(decoded[:, :3], rows) and not decoded[:, 3:].any()


@pytest.mark.parametrize("rows", [4, 40])  # under and over LIBTIFF_BYTES decoded
@pytest.mark.parametrize("predictor", [1, 2])
def test_lzw_segments_decode_through_libtiff_as_through_imagecodecs(
    rows: int, predictor: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import imagecodecs

    from tiffzarr.codecs import _lzw

    spec = SegmentSpec(
        compression=5, shape=(1, rows, 512, 1), dtype="<u2", bitspersample=16, sampleformat=1,
        byteorder="<", predictor=predictor,
    )  # fmt: skip
    noise = np.random.default_rng(rows).integers(0, 64, spec.shape, dtype="<u2")
    plane = np.cumsum(noise, axis=2, dtype="<u2")
    encoded = encode_segment(plane, spec)
    calls: list[int] = []
    plain = imagecodecs.lzw_decode

    def counted(data: Any, out: Any = None) -> Any:
        calls.append(len(data))
        return plain(data, out=out)

    monkeypatch.setattr(imagecodecs, "lzw_decode", counted)
    assert np.array_equal(decode_segment(encoded, spec), plane)
    libtiff = plane.nbytes >= _lzw.LIBTIFF_BYTES
    assert calls == ([] if libtiff else [len(encoded)])  # small segments skip libtiff


def test_lzw_short_or_corrupt_streams_fall_back_from_libtiff() -> None:
    spec = SegmentSpec(
        compression=5, shape=(1, 64, 1024, 1), dtype="|u1", bitspersample=8, sampleformat=1,
        byteorder="<",
    )  # fmt: skip
    rows = np.random.default_rng(5).integers(0, 8, (1, 24, 1024, 1), dtype=np.uint8)
    short = encode_segment(rows, replace(spec, shape=rows.shape))  # 24 of 64 rows coded
    decoded = decode_segment(short, spec)
    assert np.array_equal(decoded[:, :24], rows) and not decoded[:, 24:].any()
    with pytest.raises(ChunkDecodeError, match="LZW"):
        decode_segment(bytes(np.random.default_rng(6).integers(0, 255, 4096, dtype=np.uint8)),
                       spec)  # fmt: skip


def test_uncompressed_native_segments_are_views_of_their_bytes() -> None:
    from tiffzarr.codecs import chunk_view

    spec = SegmentSpec(
        compression=1, shape=(1, 4, 6, 1), dtype="<u2", bitspersample=16, sampleformat=1,
        byteorder="<",
    )  # fmt: skip
    data = np.arange(24, dtype="<u2").tobytes()
    view = chunk_view(data, spec)
    assert view is not None and np.shares_memory(view, np.frombuffer(data, np.uint8))
    assert np.array_equal(view, decode_segment(data, spec))
    swapped = np.arange(24, dtype=">u2").tobytes()
    for other, payload in [
        (replace(spec, byteorder=">"), swapped),  # needs a byte swap
        (replace(spec, predictor=2), data),  # needs the predictor undone
        (replace(spec, compression=8), data),  # compressed
        (replace(spec, crop=(1, 2, 3)), data),  # cropped: a copy
        (spec, data[:-2]),  # short: padded with zeros
    ]:
        assert chunk_view(payload, other) is None
    one_byte = replace(spec, dtype="|u1", bitspersample=8, byteorder=">")
    assert chunk_view(bytes(24), one_byte) is not None  # single bytes have no order


def test_jpeg_frame_smaller_than_the_segment_raises_unless_a_short_last_strip() -> None:
    small = SegmentSpec(
        compression=7, shape=(1, 16, 32, 1), dtype="|u1", bitspersample=8, sampleformat=1,
        byteorder="<", photometric=1,
    )  # fmt: skip
    encoded = encode_segment(np.full(small.shape, 200, np.uint8), small, level=100)
    for shape in ((1, 32, 32, 1), (1, 16, 48, 1)):  # a tile, or a strip of another width
        with pytest.raises(ChunkDecodeError, match="JPEG frame of 16x32 pixels"):
            decode_segment(encoded, replace(small, shape=shape))
    decoded = decode_segment(encoded, replace(small, shape=(1, 32, 32, 1), lastrows=16))
    assert abs(int(decoded[0, :16].mean()) - 200) <= 1 and not decoded[0, 16:].any()


def test_store_names_the_tile_whose_jpeg_frame_is_too_small(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 255, (40, 64, 3), dtype=np.uint8)
    strips, tiles = tmp_path / "strips.tif", tmp_path / "tiles.tif"
    tifffile.imwrite(strips, rgb, rowsperstrip=16, compression="jpeg", photometric="rgb")
    tifffile.imwrite(tiles, rgb, tile=(32, 32), compression="jpeg", photometric="rgb")
    ours = zarr.open_array(tiffzarr.open_store(str(strips), series=0, level=0), mode="r")
    np.testing.assert_array_equal(ours[...], tifffile.imread(strips))  # an 8-row last strip
    data = bytearray(tiles.read_bytes())
    with tifffile.TiffFile(tiles) as tf:
        start = tf.pages[0].dataoffsets[1]
    sof = data.index(b"\xff\xc0", start)
    data[sof + 5 : sof + 7] = (16).to_bytes(2, "big")  # tile 1's frame: 16 of 32 rows
    tiles.write_bytes(bytes(data))
    with pytest.raises(Exception, match="cannot be reshaped"):
        tifffile.imread(tiles)
    ours = zarr.open_array(tiffzarr.open_store(str(tiles), series=0, level=0), mode="r")
    with pytest.raises(ChunkDecodeError, match=r"16x32 pixels .* 32x32 segment .*tiles.tif.*1/0"):
        ours[...]


@pytest.mark.parametrize("code", [9, 32766, 34661, 65000, 48124, 12345])
def test_unsupported_compression_names_the_code(code: int) -> None:
    spec = SegmentSpec(
        compression=code, shape=(1, 1, 1, 1), dtype="|u1", bitspersample=8, sampleformat=1,
        byteorder="<",
    )  # fmt: skip
    with pytest.raises(UnsupportedCompressionError, match=str(code)):
        decode_segment(b"\0", spec)


def test_deflate_bomb_fails_fast_for_a_small_tile() -> None:
    import zlib

    bomb = zlib.compress(bytes(64 << 20), 9)  # 64 MiB of zeros in ~64 KB
    spec = SegmentSpec(
        compression=8, shape=(1, 256, 256, 1), dtype="|u1", bitspersample=8, sampleformat=1,
        byteorder="<",
    )  # fmt: skip
    with pytest.raises(ChunkDecodeError):
        decode_segment(bomb, spec)
    with pytest.raises(LimitError):
        decode_segment(bomb, replace(spec, shape=(1, 8192, 8192, 1)),
                       max_nbytes=BUDGET)  # fmt: skip


# -- 3. numcodecs and zarr faces -------------------------------------------------------


def test_codec_configs_round_trip_and_pickle() -> None:
    _, _, spec = tiled_file()
    spec = replace(spec, jpegtables=b"\xff\xd8\xff\xd9")
    v2 = TiffCodec(spec)
    config = v2.get_config()
    assert json.loads(json.dumps(config)) == config
    assert config["id"] == "tiffzarr.tiff" and isinstance(config["jpegtables"], str)
    assert TiffCodec.from_config(config) == v2
    assert numcodecs.get_codec(config) == v2
    assert pickle.loads(pickle.dumps(v2)) == v2
    v3 = TiffZarrCodec(spec)
    assert json.loads(json.dumps(v3.to_dict())) == v3.to_dict()
    assert TiffZarrCodec.from_dict(v3.to_dict()) == v3
    assert pickle.loads(pickle.dumps(v3)) == v3


def test_entry_points_resolve_without_registration() -> None:
    """A fresh interpreter finds both codecs by name before tiffzarr is imported."""
    config = TiffCodec(tiled_file()[2]).get_config()
    script = (
        "import json, sys, numcodecs, zarr.registry\n"
        "assert 'tiffzarr' not in sys.modules\n"
        "codec = numcodecs.get_codec(json.loads(sys.argv[1]))\n"
        "cls = zarr.registry.get_codec_class('tiffzarr.tiff')\n"
        "print(type(codec).__name__, cls.__name__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(config)],
        capture_output=True, text=True, check=True, cwd="/",
    )  # fmt: skip
    assert result.stdout.split() == ["TiffCodec", "TiffZarrCodec"]
    register_codecs()
    register_codecs()
    assert zarr.registry.get_codec_class("tiffzarr.tiff") is TiffZarrCodec
    assert type(numcodecs.get_codec(config)) is TiffCodec


def _store(entries: dict[str, bytes]) -> zarr.storage.MemoryStore:
    return zarr.storage.MemoryStore({k: cpu.Buffer.from_bytes(v) for k, v in entries.items()})


@pytest.mark.parametrize("byteorder", "<>")
def test_zarr_v2_array_reads_raw_segments(byteorder: str) -> None:
    data, chunks, spec = tiled_file(byteorder)
    zarray = {
        "zarr_format": 2,
        "shape": list(data.shape),
        "chunks": [32, 32],
        "dtype": np.dtype("=u2").str,  # the codec returns native byte order
        "compressor": TiffCodec(spec).get_config(),
        "fill_value": None,
        "filters": None,
        "order": "C",
    }
    store = _store({".zarray": json.dumps(zarray).encode(), **chunks})
    array = zarr.open_array(store, mode="r", zarr_format=2)
    assert np.array_equal(array[:], data)
    assert np.array_equal(array[40:, 60:], data[40:, 60:])


@pytest.mark.parametrize("leading", [(), (1,)])
def test_zarr_v3_array_reads_raw_segments(leading: tuple[int, ...]) -> None:
    data, chunks, spec = tiled_file()
    metadata = {
        "zarr_format": 3,
        "node_type": "array",
        "shape": [*leading, *data.shape],
        "data_type": "uint16",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [*leading, 32, 32]}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "codecs": [TiffZarrCodec(spec).to_dict()],
        "fill_value": 0,
        "dimension_names": [*(["c"] if leading else []), "y", "x"],
    }
    prefix = "c/0/" if leading else "c/"
    entries = {f"{prefix}{key.replace('.', '/')}": value for key, value in chunks.items()}
    store = _store({"zarr.json": json.dumps(metadata).encode(), **entries})
    array = zarr.open_array(store, mode="r")
    assert np.array_equal(array[:].reshape(data.shape), data)


def test_zarr_v3_codec_encodes() -> None:
    data, _, spec = tiled_file("<")
    array = zarr.create_array(
        zarr.storage.MemoryStore(), shape=data.shape, chunks=(32, 32), dtype="uint16",
        serializer=TiffZarrCodec(spec), compressors=None, fill_value=0,
    )  # fmt: skip
    array[:] = data
    assert np.array_equal(array[:], data)
    with pytest.raises(NotImplementedError):
        TiffZarrCodec(spec).compute_encoded_size(100, None)  # type: ignore[arg-type]


def test_v3_codec_decodes_in_a_worker_thread() -> None:
    data, chunks, spec = tiled_file()
    codec = TiffZarrCodec(spec)
    from zarr.core.array_spec import ArrayConfig, ArraySpec
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.dtype import UInt16

    chunk_spec = ArraySpec(
        shape=(32, 32), dtype=UInt16(), fill_value=0,
        config=ArrayConfig.from_dict({}), prototype=default_buffer_prototype(),
    )  # fmt: skip
    buffers = [cpu.Buffer.from_bytes(chunks["0.0"]), cpu.Buffer.from_bytes(chunks["1.2"])]
    decoded = asyncio.run(codec.decode([(b, chunk_spec) for b in buffers]))
    first, last = (d.as_numpy_array() for d in decoded if d is not None)
    assert np.array_equal(first, data[:32, :32])
    assert np.array_equal(last[:18, :6], data[32:, 64:])


# -- 4. hostile inputs ---------------------------------------------------------------

HOSTILE_ROWS = {
    r["name"]: r for r in manifest(HOSTILE) if r["class"] in ("decomp_bomb", "codec_corrupt")
}


@pytest.fixture(scope="module")
def hostile_records() -> dict[str, list[dict[str, Any]]]:
    """Decode every codec-level hostile segment in a fresh interpreter (its own peak RSS)."""
    folder = require(HOSTILE, "hostile")
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "_codec_helpers.py"), str(folder)],
        capture_output=True, text=True, check=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    records: dict[str, list[dict[str, Any]]] = {}
    for line in result.stdout.splitlines():
        record = json.loads(line)
        records.setdefault(record["name"], []).append(record)
    return records


def _tifffile_sha(name: str, index: int) -> str | None:
    assert HOSTILE is not None
    path = HOSTILE / "files" / name
    try:
        with tifffile.TiffFile(path) as tf, open(path, "rb") as fh:
            page = tf.pages[0]
            data = read(fh, page.dataoffsets[index], page.databytecounts[index])
            segment = page.decode(data, index, jpegtables=page.jpegtables, _fullsize=True)[0]
            return hashlib.sha256(segment.tobytes()).hexdigest()
    except Exception:  # tifffile cannot decode it either
        return None


@pytest.mark.parametrize("name", sorted(HOSTILE_ROWS) or ["(no hostile files)"])
def test_hostile_segments_fail_cleanly(
    name: str, hostile_records: dict[str, list[dict[str, Any]]]
) -> None:
    row = HOSTILE_ROWS[name]
    records = hostile_records.get(name)
    assert records, f"no segment of {name} was decoded"
    tally = TALLIES["codec hostile segments"]
    for record in records:
        where = f"{name} segment {record['index']} ({record['variant']})"
        assert record["seconds"] < 1.0, where
        if row["class"] == "decomp_bomb":
            assert record["rss_growth_mb"] < 50, where
        if record["outcome"] == "raised":
            assert record["error"].startswith("tiffzarr.errors."), f"{where}: {record}"
            tally[f"raised {record['error'].rsplit('.', 1)[1]}"] += 1
            assert row["expect"] != "valid", f"{where} must read: {record['message']}"
            continue
        tally["returned an array"] += 1
        if row["expect"] == "valid":
            assert record["sha256"] == row["expected_sha256"], where
        elif row["class"] == "decomp_bomb":
            # The budget refuses the claimed tiles; what decodes is a stream that really fits
            # (bomb_65535sq_rgba16_sparse's one 8 MiB tile, the tiny streams in a 64 KiB tile).
            assert math.prod(record["shape"]) * 8 <= BUDGET, where
        else:
            assert row["expect"] == "partial", f"{where} must raise, returned an array"
            expected = _tifffile_sha(name, record["index"])
            if expected is not None:
                assert record["sha256"] == expected, f"{where} differs from tifffile"
