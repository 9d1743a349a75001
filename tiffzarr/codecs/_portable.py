"""Standard codec chains that decode a TIFF segment exactly as tiffzarr's codec does.

A reference file is most useful when its readers need nothing but numcodecs and
imagecodecs. :func:`portable_codecs` translates a :class:`SegmentSpec` into the
metadata fields of such a chain: ``compressor`` and ``filters`` for zarr v2,
``codecs`` for zarr v3. Whenever a segment is not exactly expressible that way
(a short last strip that only tiffzarr pads, subsampled YCbCr without JPEG, an
RGB JPEG whose colour space each segment decides, ...) it returns no fields and
the reason, and the caller keeps tiffzarr's own codec.

zarr v2 decodes ``compressor`` first and then the ``filters`` in reverse order,
so a chain of decode steps maps onto it directly. zarr v3 has standard names
only for a few byte codecs (``bytes`` with either endianness, ``zstd``, and the
``numcodecs.*`` wrappers zarr 3.1 registers); imagecodecs registers none, so the
v3 translation covers uncompressed, Deflate, ZSTD and LZMA segments without
predictor.

>>> spec = SegmentSpec(compression=8, shape=(1, 16, 16, 1), dtype="<u2",
...                    bitspersample=16, sampleformat=1, byteorder=">", predictor=2)
>>> fields = portable_codecs(spec, zarr_format=2).fields
>>> fields["compressor"]["id"], [f["id"] for f in fields["filters"]]
('zlib', ['imagecodecs_delta', 'astype'])
>>> portable_codecs(spec, zarr_format=3).reason
'horizontal predictor (2): zarr v3 has no standard codec for it'
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from tiffzarr.codecs._decode import _predictor, _stored
from tiffzarr.codecs._spec import SegmentSpec
from tiffzarr.codecs._table import (
    COMPRESSIONS,
    JPEG_COLORSPACES,
    NOMINAL_SAMPLES,
    CompressionCodec,
    compression_label,
)
from tiffzarr.errors import TiffZarrError

__all__ = ["PortableCodecs", "portable_codecs", "register_portable_codecs"]

Config = dict[str, Any]
"""One numcodecs configuration (``{"id": ..., ...}``) or zarr v3 codec (``{"name": ...}``)."""


@dataclass(frozen=True, slots=True)
class PortableCodecs:
    """The outcome of translating one segment description into standard codecs.

    ``fields`` are the metadata fields that replace tiffzarr's codec
    (``compressor`` and ``filters`` for zarr v2, ``codecs`` for zarr v3), or
    ``None`` when no exact standard chain exists; ``reason`` then says why.
    """

    fields: Mapping[str, Any] | None
    reason: str | None = None

    @property
    def portable(self) -> bool:
        return self.fields is not None


class _NotPortable(Exception):
    """Raised inside the translation with the reason the segment is not portable."""


def portable_codecs(
    spec: SegmentSpec,
    /,
    *,
    zarr_format: Literal[2, 3] = 2,
    partial_segments: bool = False,
) -> PortableCodecs:
    """Translate ``spec`` into standard codecs when that is exact.

    Parameters
    ----------
    spec
        The segment description (an array's ``ArrayModel.codec``).
    zarr_format
        2 for numcodecs ``compressor``/``filters``, 3 for a zarr v3 ``codecs`` list.
    partial_segments
        Whether some segments of the array store fewer rows than the chunk (the
        last strip of a page whose length is not a multiple of RowsPerStrip).
        tiffzarr's codec pads them; no standard codec does.

    Returns
    -------
    PortableCodecs
        The metadata fields, or ``None`` and the reason.

    Examples
    --------
    >>> spec = SegmentSpec(compression=5, shape=(1, 8, 8, 3), dtype="|u1",
    ...                    bitspersample=8, sampleformat=1, byteorder="<")
    >>> portable_codecs(spec).fields
    {'compressor': {'id': 'imagecodecs_lzw'}, 'filters': None}
    >>> portable_codecs(spec, partial_segments=True).portable
    False
    """
    try:
        if getattr(spec, "page", None) is not None:
            raise _NotPortable("a chunk holds a whole page of framed segments")
        if spec.crop is not None:
            raise _NotPortable(
                "a chunk holds part of a segment (the image is smaller than one tile); "
                "only tiffzarr's codec crops it"
            )
        codec = COMPRESSIONS.get(spec.compression)
        if codec is None or not codec.available:
            raise _NotPortable(f"compression {compression_label(spec.compression)} has no decoder")
        if zarr_format == 2:
            fields: dict[str, Any] = _v2_fields(spec, codec)
        elif zarr_format == 3:
            fields = {"codecs": _v3_codecs(spec, codec)}
        else:
            raise ValueError(f"zarr_format must be 2 or 3, not {zarr_format!r}")
        if partial_segments:
            raise _NotPortable(
                "the last strip of a page stores fewer rows than a chunk; "
                "only tiffzarr's codec pads it"
            )
    except _NotPortable as exc:
        return PortableCodecs(None, str(exc))
    return PortableCodecs(fields)


def register_portable_codecs() -> None:
    """Make the ``imagecodecs_*`` codecs of the v2 translations known to numcodecs.

    imagecodecs does not register them through entry points; a reader of
    portable references calls ``imagecodecs.numcodecs.register_codecs()`` once,
    which is what this does (quietly).
    """
    from imagecodecs import numcodecs as imagecodecs_numcodecs

    imagecodecs_numcodecs.register_codecs(verbose=False)


# -- zarr v2: compressor and filters ---------------------------------------------------


def _v2_fields(spec: SegmentSpec, codec: CompressionCodec) -> dict[str, Any]:
    """``compressor`` (the first decode step, when it decompresses) and ``filters``.

    zarr v2 decodes the compressor first and the filters in reverse order, so the
    remaining steps are the filters reversed; a chain that starts with something
    else (bit reversal, a byte swap) has no compressor.
    """
    if codec.kind in ("none", "bytes"):
        steps, decompresses = _stream_steps(spec, codec)
    else:
        steps = _image_steps(spec, codec)
        decompresses = steps[0]["id"] != "imagecodecs_bitorder"
    if not steps:
        return {"compressor": None, "filters": None}
    compressor, rest = (steps[0], steps[1:]) if decompresses else (None, steps)
    return {"compressor": compressor, "filters": list(reversed(rest)) or None}


_V2_BYTES: Mapping[str, Config] = MappingProxyType(
    {
        "lzw_decode": {"id": "imagecodecs_lzw"},
        "deflate_decode": {"id": "zlib", "level": 6},
        "packbits_decode": {"id": "imagecodecs_packbits"},
        "lzma_decode": {"id": "lzma", "format": 0, "check": -1, "preset": None, "filters": None},
        "zstd_decode": {"id": "zstd", "level": 0, "checksum": False},
    }
)
"""imagecodecs decoder of a TIFF byte-stream compression → the numcodecs codec that
decodes the same streams (standard numcodecs where one exists). LZMA ``format`` 0
detects the container, as imagecodecs does."""


def _stream_steps(spec: SegmentSpec, codec: CompressionCodec) -> tuple[list[Config], bool]:
    """Decode steps of a byte-stream segment, in decode order; and whether step 0 decompresses."""
    try:
        stored = _stored(spec)
        predictor = _predictor(spec, stored)
    except TiffZarrError as exc:
        raise _NotPortable(exc.message) from exc
    steps: list[Config] = []
    if spec.fillorder == 2:
        steps.append({"id": "imagecodecs_bitorder"})
    decompressor = codec.kind != "none"
    if decompressor:
        config = _V2_BYTES.get(codec.decoder or "")
        if config is None:
            raise _NotPortable(
                f"compression {compression_label(spec.compression)} has no numcodecs codec"
            )
        steps.append(dict(config))
    steps.extend(_UNPACK_STEPS[stored.unpacking](spec, stored.file_dtype, predictor is not None))
    if predictor is not None:
        steps.append(_predictor_step(spec, predictor.kind, predictor.distance))
    return steps, decompressor and spec.fillorder == 1


def _native(spec: SegmentSpec) -> np.dtype:
    return spec.numpy_dtype.newbyteorder("=")


def _direct(spec: SegmentSpec, file_dtype: np.dtype, predicted: bool) -> list[Config]:
    native = _native(spec)
    if file_dtype.itemsize == 1 or file_dtype.isnative:
        return []
    if predicted and spec.predictor in _FLOAT_PREDICTORS:
        return []  # byte planes are most significant first in either byte order
    return [{"id": "astype", "encode_dtype": file_dtype.str, "decode_dtype": native.str}]


def _packed(spec: SegmentSpec, file_dtype: np.dtype, predicted: bool) -> list[Config]:
    _, _, width, samples = spec.shape
    return [
        {
            "id": "imagecodecs_packints",
            "dtype": _native(spec).str,
            "bitspersample": spec.bitspersample,
            "runlen": width * samples,
        }
    ]


def _float24(spec: SegmentSpec, file_dtype: np.dtype, predicted: bool) -> list[Config]:
    return [{"id": "imagecodecs_float24", "byteorder": spec.byteorder}]


def _complex_parts(spec: SegmentSpec, stored: str) -> list[Config]:
    """Two real parts per sample, converted to the complex dtype's float parts."""
    half = np.dtype(f"=f{_native(spec).itemsize // 2}")
    return [{"id": "astype", "encode_dtype": np.dtype(stored).str, "decode_dtype": half.str}]


def _complexint(spec: SegmentSpec, file_dtype: np.dtype, predicted: bool) -> list[Config]:
    return _complex_parts(spec, f"{spec.byteorder}i{spec.bitspersample // 16}")


def _complexhalf(spec: SegmentSpec, file_dtype: np.dtype, predicted: bool) -> list[Config]:
    return _complex_parts(spec, f"{spec.byteorder}f2")


def _ycbcr(spec: SegmentSpec, file_dtype: np.dtype, predicted: bool) -> list[Config]:
    raise _NotPortable(
        f"YCbCr subsampled {spec.subsampling} without JPEG: no standard codec upsamples it"
    )


_UNPACK_STEPS: Mapping[str, Callable[[SegmentSpec, np.dtype, bool], list[Config]]] = (
    MappingProxyType(
        {
            "direct": _direct,
            "packed": _packed,
            "float24": _float24,
            "complexint": _complexint,
            "complexhalf": _complexhalf,
            "ycbcr": _ycbcr,
        }
    )
)
"""How decompressed samples become the decoded array (see ``codecs._table.UNPACKING``),
as numcodecs steps. zarr views the last step's output as the array's dtype, which
turns float pairs into complex numbers."""

_FLOAT_PREDICTORS = frozenset({3, 34894, 34895})


def _predictor_step(spec: SegmentSpec, kind: str, distance: int) -> Config:
    native = _native(spec)
    if kind == "floatingpoint":
        return {
            "id": "imagecodecs_floatpred",
            "shape": list(spec.shape),
            "dtype": native.str,
            "axis": -2,
            "dist": distance,
        }
    if distance != 1:
        raise _NotPortable(
            f"horizontal predictor with distance {distance}: imagecodecs' delta codec "
            "implements distance 1 only"
        )
    return {
        "id": "imagecodecs_delta",
        "shape": list(spec.shape),
        "dtype": native.str,
        "axis": -2,
        "dist": 1,
    }


# -- zarr v2: image codecs -------------------------------------------------------------


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _jpeg(spec: SegmentSpec) -> Config:
    photometric = -1 if spec.photometric is None else spec.photometric
    colorspace: int | str | None = None
    outcolorspace: int | str | None = None
    if photometric in JPEG_COLORSPACES and spec.shape[3] == NOMINAL_SAMPLES[photometric]:
        colorspace, outcolorspace = JPEG_COLORSPACES[photometric]
        if colorspace is not None:
            raise _NotPortable(
                f"JPEG with Photometric {photometric}: each segment's JFIF marker decides "
                "its colour space"
            )
    return {
        "id": "imagecodecs_jpeg",
        "tables": _b64(spec.jpegtables),
        "header": _b64(spec.jpegheader),
        "colorspace_jpeg": colorspace,
        "colorspace_data": outcolorspace,
    }


def _webp(spec: SegmentSpec) -> Config:
    return {"id": "imagecodecs_webp", "hasalpha": True if spec.shape[3] == 4 else None}


def _ccitt(name: str) -> Callable[[SegmentSpec], Config]:
    def config(spec: SegmentSpec) -> Config:
        depth, length, width, samples = spec.shape
        if depth != 1 or samples != 1 or spec.bitspersample != 1:
            raise _NotPortable(f"CCITT coding of a {spec.shape} segment is not bilevel")
        out: Config = {"id": f"imagecodecs_{name}", "height": length, "width": width}
        if name == "ccittfax3":
            out["t4options"] = spec.t4options
        return out

    return config


def _plain(codec_id: str) -> Callable[[SegmentSpec], Config]:
    return lambda spec: {"id": codec_id}


_V2_IMAGES: Mapping[str, Callable[[SegmentSpec], Config]] = MappingProxyType(
    {
        "jpeg_decode": _jpeg,
        "jpeg8_decode": _jpeg,
        "jpeg2k_decode": _plain("imagecodecs_jpeg2k"),
        "webp_decode": _webp,
        "png_decode": _plain("imagecodecs_png"),
        "jpegxl_decode": _plain("imagecodecs_jpegxl"),
        "jpegxr_decode": _plain("imagecodecs_jpegxr"),
        "lerc_decode": _plain("imagecodecs_lerc"),
        "ccittrle_decode": _ccitt("ccittrle"),
        "ccittfax3_decode": _ccitt("ccittfax3"),
        "ccittfax4_decode": _ccitt("ccittfax4"),
    }
)
"""imagecodecs decoder of a TIFF image compression → its numcodecs configuration.
Each codec returns the decoded image, as tiffzarr's decoder does for whole segments."""


def _image_steps(spec: SegmentSpec, codec: CompressionCodec) -> list[Config]:
    if codec.code == 6:
        raise _NotPortable("old-style JPEG (6) streams need tiffzarr's repairs")
    builder = _V2_IMAGES.get(codec.decoder or "")
    if builder is None:
        raise _NotPortable(
            f"compression {compression_label(spec.compression)} has no numcodecs codec"
        )
    steps: list[Config] = []
    if spec.fillorder == 2 and codec.kind == "ccitt":
        steps.append({"id": "imagecodecs_bitorder"})
    steps.append({k: v for k, v in builder(spec).items() if v is not None})
    return steps


# -- zarr v3 ------------------------------------------------------------------------------

_V3_BYTES: Mapping[str, Config] = MappingProxyType(
    {
        "deflate_decode": {"name": "numcodecs.zlib", "configuration": {"level": 6}},
        "zstd_decode": {"name": "zstd", "configuration": {"level": 0, "checksum": False}},
        "lzma_decode": {
            "name": "numcodecs.lzma",
            "configuration": {"format": 0, "check": -1, "preset": None, "filters": None},
        },
    }
)
"""TIFF byte-stream compressions with a codec name zarr 3.1 itself resolves."""


def _v3_codecs(spec: SegmentSpec, codec: CompressionCodec) -> list[Config]:
    label = compression_label(spec.compression)
    if codec.kind not in ("none", "bytes"):
        raise _NotPortable(f"compression {label}: zarr v3 has no standard codec for it")
    if codec.kind == "bytes" and (codec.decoder or "") not in _V3_BYTES:
        raise _NotPortable(f"compression {label}: zarr v3 has no standard codec for it")
    try:
        stored = _stored(spec)
        predictor = _predictor(spec, stored)
    except TiffZarrError as exc:
        raise _NotPortable(exc.message) from exc
    if predictor is not None:
        raise _NotPortable(
            f"{predictor.name} predictor ({predictor.code}): zarr v3 has no standard codec for it"
        )
    if spec.fillorder == 2:
        raise _NotPortable("FillOrder 2: zarr v3 has no standard bit-reversal codec")
    if stored.unpacking != "direct":
        raise _NotPortable(
            f"{spec.bitspersample}-bit SampleFormat {spec.sampleformat} samples "
            f"({stored.unpacking}): zarr v3 has no standard codec to unpack them"
        )
    configuration = {}
    if stored.file_dtype.itemsize > 1:
        configuration["endian"] = "big" if spec.byteorder == ">" else "little"
    codecs: list[Config] = [{"name": "bytes", "configuration": configuration}]
    if codec.kind == "bytes":
        assert codec.decoder is not None
        template = _V3_BYTES[codec.decoder]
        codecs.append({"name": template["name"], "configuration": dict(template["configuration"])})
    return codecs
