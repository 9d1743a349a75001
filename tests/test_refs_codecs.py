"""Issue #5: standard codec chains decode TIFF segments exactly as tiffzarr's codec does.

Each case encodes a segment with tiffzarr's encoder, stores it as the one chunk of a
zarr array whose metadata holds the portable translation, reads it through zarr
(v2: numcodecs compressor and filters; v3: the codecs list) and compares with
``decode_segment``.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pytest
import zarr
from zarr.storage import MemoryStore

from tiffzarr.codecs import SegmentSpec, decode_segment, encode_segment
from tiffzarr.codecs._portable import portable_codecs, register_portable_codecs

register_portable_codecs()

SHAPE = (1, 12, 20, 1)


def spec_for(dtype: str, **fields: Any) -> SegmentSpec:
    native = np.dtype(dtype).newbyteorder("=")
    kind = native.kind
    values: dict[str, Any] = {
        "compression": 1,
        "shape": SHAPE,
        "dtype": native.str,
        "bitspersample": native.itemsize * 8,
        "sampleformat": {"u": 1, "i": 2, "f": 3, "c": 6, "b": 1}[kind],
        "byteorder": "<",
    }
    values.update(fields)
    return SegmentSpec(**values)


def sample(spec: SegmentSpec, seed: int = 0) -> np.ndarray:
    """Values that fit the spec's bits (NaN and infinities included for floats)."""
    rng = np.random.default_rng(seed)
    dtype = spec.numpy_dtype.newbyteorder("=")
    if dtype.kind == "b":
        return rng.integers(0, 2, spec.shape).astype(bool)
    if dtype.kind == "c":
        parts = rng.integers(-100, 100, (*spec.shape, 2)).astype(f"f{dtype.itemsize // 2}")
        return parts.view(dtype).reshape(spec.shape)
    if dtype.kind == "f":
        values = rng.normal(0, 1000, spec.shape).astype(dtype)
        values.flat[:3] = [np.nan, np.inf, -0.0]
        return values
    bits = min(spec.bitspersample, dtype.itemsize * 8)
    low = -(2 ** (bits - 1)) if dtype.kind == "i" else 0
    high = 2 ** (bits - 1) if dtype.kind == "i" else 2**bits
    return rng.integers(low, high, spec.shape, dtype=dtype)


def read_through_zarr(spec: SegmentSpec, data: bytes, zarr_format: int) -> np.ndarray:
    """The one chunk ``data`` read by zarr with the portable codecs of ``spec``."""
    fields = portable_codecs(spec, zarr_format=zarr_format).fields  # type: ignore[arg-type]
    assert fields is not None
    dtype = spec.numpy_dtype.newbyteorder("=")
    shape = list(spec.shape)
    if zarr_format == 2:
        doc = {
            "zarr_format": 2,
            "shape": shape,
            "chunks": shape,
            "dtype": dtype.str,
            "fill_value": None,
            "order": "C",
            "dimension_separator": ".",
            **fields,
        }
        entries = {".zarray": json.dumps(doc).encode(), "0.0.0.0": data}
    else:
        doc = {
            "zarr_format": 3,
            "node_type": "array",
            "shape": shape,
            "data_type": dtype.name,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": shape}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": [0.0, 0.0] if dtype.kind == "c" else 0,
            **fields,
        }
        entries = {"zarr.json": json.dumps(doc).encode(), "c/0/0/0/0": data}
    from zarr.core.buffer import cpu

    store = MemoryStore({k: cpu.Buffer.from_bytes(v) for k, v in entries.items()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numcodecs.* in v3 metadata warns
        return np.asarray(zarr.open_array(store, mode="r")[...])


def assert_exact(spec: SegmentSpec, zarr_format: int = 2, data: bytes | None = None) -> None:
    if data is None:
        data = encode_segment(sample(spec), spec)
    want = decode_segment(data, spec)
    got = read_through_zarr(spec, data, zarr_format)
    assert got.dtype == want.dtype
    assert np.array_equal(got.view(np.uint8), want.view(np.uint8)), spec  # bit exact (NaN too)


STREAM_CASES = [
    pytest.param(
        dtype,
        compression,
        predictor,
        byteorder,
        id=f"{dtype}-{compression}-p{predictor}-{byteorder}",
    )
    for dtype in ("u1", "u2", "i4", "u8", "f2", "f4", "f8", "c8")
    for compression in (1, 5, 8, 32773, 34925, 50000)
    for predictor in (1, 2, 3, 34892, 34893, 34894)
    for byteorder in ("<", ">")
    if not (predictor in (3, 34894) and dtype[0] != "f")
    and not (predictor != 1 and dtype == "c8")
    and not (byteorder == ">" and dtype == "u1")
]


@pytest.mark.parametrize(("dtype", "compression", "predictor", "byteorder"), STREAM_CASES)
def test_byte_streams_are_exact_in_v2(
    dtype: str, compression: int, predictor: int, byteorder: str
) -> None:
    spec = spec_for(dtype, compression=compression, predictor=predictor, byteorder=byteorder)
    result = portable_codecs(spec, zarr_format=2)
    if predictor in (34892, 34893):
        assert not result.portable and "distance" in (result.reason or "")
        return
    assert result.portable, result.reason
    assert_exact(spec, 2)


@pytest.mark.parametrize("compression", [1, 8, 34925, 50000])
@pytest.mark.parametrize("dtype", ["u1", "i2", "u4", "f4", "f8", "c8", "c16"])
@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_byte_streams_without_predictor_are_exact_in_v3(
    compression: int, dtype: str, byteorder: str
) -> None:
    spec = spec_for(dtype, compression=compression, byteorder=byteorder)
    result = portable_codecs(spec, zarr_format=3)
    assert result.portable, result.reason
    assert_exact(spec, 3)


@pytest.mark.parametrize(
    ("fields", "label"),
    [
        ({"bitspersample": 1, "dtype": "|b1"}, "bilevel"),
        ({"bitspersample": 4, "dtype": "|u1"}, "4-bit"),
        ({"bitspersample": 12, "dtype": "<u2"}, "12-bit"),
        ({"bitspersample": 12, "dtype": "<u2", "byteorder": ">"}, "12-bit big-endian"),
        ({"bitspersample": 24, "dtype": "<u4", "compression": 8}, "24-bit deflate"),
        ({"bitspersample": 24, "sampleformat": 3, "dtype": "<f4"}, "float24"),
        ({"bitspersample": 24, "sampleformat": 3, "dtype": "<f4", "byteorder": ">"}, "float24 BE"),
        ({"bitspersample": 16, "sampleformat": 5, "dtype": "<c8"}, "complex int8"),
        ({"bitspersample": 32, "sampleformat": 5, "dtype": "<c8", "byteorder": ">"}, "cint16 BE"),
        ({"bitspersample": 64, "sampleformat": 5, "dtype": "<c16", "compression": 5}, "cint32"),
        ({"bitspersample": 32, "sampleformat": 6, "dtype": "<c8"}, "complex half"),
        ({"fillorder": 2, "compression": 8}, "FillOrder 2 deflate"),
        ({"fillorder": 2, "compression": 1, "predictor": 2}, "FillOrder 2 raw"),
        ({"fillorder": 2, "compression": 5, "bitspersample": 4}, "FillOrder 2 packed"),
        ({"shape": (4, 6, 10, 3), "compression": 8, "predictor": 2}, "volumetric RGB"),
    ],
)
def test_unpacking_is_exact_in_v2(fields: dict[str, Any], label: str) -> None:
    fields = dict(fields)
    spec = spec_for(fields.pop("dtype", "u1"), **fields)
    result = portable_codecs(spec, zarr_format=2)
    assert result.portable, result.reason
    assert_exact(spec, 2)
    assert not portable_codecs(spec, zarr_format=3).portable or spec.fillorder == 1


@pytest.mark.parametrize(
    ("compression", "samples", "dtype"),
    [
        (34933, 1, "u1"),  # PNG
        (34933, 3, "u2"),
        (50001, 3, "u1"),  # WebP (lossless default)
        (50001, 4, "u1"),
        (34712, 1, "u2"),  # JPEG 2000 (reversible)
        (34712, 3, "u1"),
        (50002, 3, "u1"),  # JPEG XL (lossless)
        (34887, 1, "f4"),  # LERC
        (34934, 1, "u1"),  # JPEG XR
        (7, 1, "u1"),  # JPEG grayscale
    ],
)
def test_image_codecs_are_exact_in_v2(compression: int, samples: int, dtype: str) -> None:
    shape = (1, 32, 48, samples)
    photometric = 2 if samples >= 3 else 1
    spec = spec_for(dtype, compression=compression, shape=shape, photometric=photometric)
    if compression == 7 and photometric == 2:
        pytest.skip("RGB JPEG is not portable")
    try:
        data = encode_segment(sample(spec), spec)
    except Exception as exc:  # an imagecodecs build without this encoder
        pytest.skip(f"cannot encode: {exc!r:.80}")
    result = portable_codecs(spec, zarr_format=2)
    assert result.portable, result.reason
    assert_exact(spec, 2, data)
    assert not portable_codecs(spec, zarr_format=3).portable


def test_ycbcr_jpeg_with_tables_is_exact() -> None:
    """An abbreviated JPEG stream plus JPEGTables, subsampled YCbCr converted to RGB."""
    import imagecodecs

    rgb = np.random.default_rng(1).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    stream = imagecodecs.jpeg8_encode(
        rgb, level=90, colorspace="RGB", outcolorspace="YCBCR", subsampling=(2, 2)
    )
    tables, abbreviated = split_jpeg(bytes(stream))
    spec = spec_for(
        "u1",
        compression=7,
        shape=(1, 32, 48, 3),
        photometric=6,
        jpegtables=tables,
        subsampling=(2, 2),
    )
    assert portable_codecs(spec).portable
    assert_exact(spec, 2, abbreviated)


def split_jpeg(stream: bytes) -> tuple[bytes, bytes]:
    """(tables-only stream, abbreviated image stream) from a complete JPEG stream."""
    pos, tables, image = 2, [b"\xff\xd8"], [b"\xff\xd8"]
    while stream[pos + 1] != 0xDA:
        length = int.from_bytes(stream[pos + 2 : pos + 4])
        segment = stream[pos : pos + 2 + length]
        (tables if stream[pos + 1] in (0xDB, 0xC4) else image).append(segment)
        pos += 2 + length
    tables.append(b"\xff\xd9")
    image.append(stream[pos:])
    return b"".join(tables), b"".join(image)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        (
            {"compression": 1, "photometric": 6, "subsampling": (2, 2), "shape": (1, 8, 8, 3)},
            "YCbCr subsampled",
        ),
        ({"compression": 6, "photometric": 6, "shape": (1, 8, 8, 3)}, "old-style JPEG"),
        ({"compression": 7, "photometric": 2, "shape": (1, 8, 8, 3)}, "JFIF"),
        ({"compression": 34661}, "has no decoder"),
        ({"compression": 1, "grid": (1, 1, 2, 1), "page": (1, 1, 24, 20, 1)}, "whole page"),
    ],
)
def test_not_portable_says_why(fields: dict[str, Any], fragment: str) -> None:
    result = portable_codecs(spec_for("u1", **fields), zarr_format=2)
    assert not result.portable and result.fields is None
    assert fragment in (result.reason or "")


def test_partial_segments_are_not_portable() -> None:
    result = portable_codecs(spec_for("u2", compression=8), partial_segments=True)
    assert not result.portable and "fewer rows" in (result.reason or "")


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"predictor": 2}, "horizontal predictor"),
        ({"compression": 5}, "LZW"),
        ({"fillorder": 2}, "FillOrder 2"),
        ({"bitspersample": 12}, "unpack"),
        ({"compression": 7, "photometric": 1}, "JPEG"),
    ],
)
def test_v3_falls_back_without_a_standard_codec(fields: dict[str, Any], fragment: str) -> None:
    result = portable_codecs(spec_for("u2", **fields), zarr_format=3)
    assert not result.portable
    assert fragment in (result.reason or ""), result.reason


def test_v2_chain_order() -> None:
    """Decode order: bit order, decompress, byte swap, predictor."""
    spec = spec_for("u2", compression=8, predictor=2, byteorder=">", fillorder=2)
    fields = portable_codecs(spec).fields
    assert fields is not None and fields["compressor"] is None
    assert [f["id"] for f in reversed(fields["filters"])] == [
        "imagecodecs_bitorder",
        "zlib",
        "astype",
        "imagecodecs_delta",
    ]
    plain = portable_codecs(spec_for("u1")).fields
    assert plain == {"compressor": None, "filters": None}
