"""Encode one TIFF segment: the inverse of :func:`~tiffzarr.codecs._decode.decode_segment`.

>>> import numpy as np
>>> from tiffzarr.codecs._decode import decode_segment
>>> spec = SegmentSpec(compression=8, shape=(1, 2, 3, 1), dtype="<u2",
...                    bitspersample=16, sampleformat=1, byteorder=">")
>>> a = np.arange(6, dtype="<u2").reshape(spec.shape)
>>> np.array_equal(decode_segment(encode_segment(a, spec), spec), a)
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tiffzarr.codecs._decode import _codecs, _image_target, _predictor, _stored
from tiffzarr.codecs._spec import SegmentSpec
from tiffzarr.codecs._table import (
    JPEG_ENCODE_COLORSPACES,
    CompressionCodec,
    PredictorCodec,
    compression_codec,
)
from tiffzarr.errors import UnsupportedError

__all__ = ["encode_segment"]


def encode_segment(array: Any, spec: SegmentSpec, /, *, level: float | None = None) -> bytes:
    """Return the bytes that :func:`decode_segment` decodes back to ``array``.

    Parameters
    ----------
    array
        The segment: ``spec.shape`` (or the same number of elements) of
        ``spec.dtype`` in any byte order.
    spec
        How to store it: compression, predictor, bit packing, byte order, fill
        order.
    level
        Compression level or quality. ``None`` selects the codec's default, which
        for WebP, JPEG 2000, JPEG XL, LERC and PNG is their lossless mode (JPEG
        uses quality 90).

    Raises
    ------
    UnsupportedCompressionError
        imagecodecs cannot encode ``spec.compression``.
    ValueError
        ``array`` does not have the spec's size and dtype.

    Examples
    --------
    >>> spec = SegmentSpec(compression=32773, shape=(1, 1, 8, 1), dtype="|u1",
    ...                    bitspersample=8, sampleformat=1, byteorder="<")
    >>> encode_segment(np.zeros(8, np.uint8), spec)
    b'\\xf9\\x00'
    """
    codec = compression_codec(spec.compression, encode=True)
    dtype = spec.numpy_dtype.newbyteorder("=")
    data = np.asarray(array)
    if data.size != math.prod(spec.shape) or data.dtype.newbyteorder("=") != dtype:
        raise ValueError(f"cannot encode {data.shape} {data.dtype} as {spec.shape} {spec.dtype}")
    data = np.ascontiguousarray(data, dtype=dtype).reshape(spec.shape)
    return bytes(_ENCODERS[codec.kind](data, spec, codec, level))


def _encode_stream(
    array: np.ndarray, spec: SegmentSpec, codec: CompressionCodec, level: float | None
) -> Any:
    stored = _stored(spec)
    predictor = _predictor(spec, stored)
    if stored.unpacking == "ycbcr":
        raise UnsupportedError("encoding subsampled YCbCr without JPEG", tag=530)
    if predictor is not None and stored.unpacking != "direct":
        raise UnsupportedError(
            f"encoding the {predictor.name} predictor for {spec.bitspersample}-bit samples",
            tag=317,
        )
    raw = _PACKERS[stored.unpacking](_predict(array, predictor), spec)
    if codec.kind != "none":
        if codec.row_wise:
            raw = np.frombuffer(raw, np.uint8).reshape(spec.shape[0] * spec.shape[1], -1)
        kwargs = {"level": level} if level is not None and codec.takes_level else {}
        raw = codec.encode(raw, **kwargs)
    if spec.fillorder == 2:  # bit order applies to the stored (compressed) bytes
        raw = _codecs.bitorder_encode(np.frombuffer(raw, np.uint8))
    return raw


def _predict(array: np.ndarray, predictor: PredictorCodec | None) -> np.ndarray:
    if predictor is None:
        return array
    if predictor.kind == "floatingpoint":
        # byte planes, most significant first: written as they are (see _undo_direct)
        encoded = _codecs.floatpred_encode(array, axis=-2, dist=predictor.distance)
        return np.asarray(encoded).view(np.uint8)
    if predictor.distance == 1:
        return np.asarray(_codecs.delta_encode(array, axis=-2))
    bits = array.view(f"=u{array.dtype.itemsize}")
    differences = bits.copy()
    differences[..., predictor.distance :, :] -= bits[..., : -predictor.distance, :]
    return differences.view(array.dtype)


def _pack_direct(array: np.ndarray, spec: SegmentSpec) -> Any:
    if array.dtype == np.uint8:  # bytes already (or floating-point predictor output)
        return array
    return array.astype(array.dtype.newbyteorder(spec.byteorder), copy=False)


def _pack_packed(array: np.ndarray, spec: SegmentSpec) -> Any:
    _, _, width, samples = spec.shape
    return _codecs.packints_encode(array, spec.bitspersample, runlen=width * samples)


def _pack_float24(array: np.ndarray, spec: SegmentSpec) -> Any:
    return _codecs.float24_encode(array, byteorder=spec.byteorder)


def _pack_complexint(array: np.ndarray, spec: SegmentSpec) -> Any:
    parts = array.view(f"=f{array.dtype.itemsize // 2}")
    return np.rint(parts).astype(f"{spec.byteorder}i{spec.bitspersample // 16}")


def _pack_complexhalf(array: np.ndarray, spec: SegmentSpec) -> Any:
    return array.view("=f4").astype(f"{spec.byteorder}f2")


_PACKERS: dict[str, Callable[[np.ndarray, SegmentSpec], Any]] = {
    "direct": _pack_direct,
    "packed": _pack_packed,
    "float24": _pack_float24,
    "complexint": _pack_complexint,
    "complexhalf": _pack_complexhalf,
}


def _encode_image(
    array: np.ndarray, spec: SegmentSpec, codec: CompressionCodec, level: float | None
) -> Any:
    kwargs = dict(codec.encode_options) if level is None else {"level": level}
    return codec.encode(_image_target(array), **kwargs)


def _encode_jpeg(
    array: np.ndarray, spec: SegmentSpec, codec: CompressionCodec, level: float | None
) -> Any:
    photometric = -1 if spec.photometric is None else spec.photometric
    kwargs = dict(JPEG_ENCODE_COLORSPACES.get((photometric, spec.shape[3]), {}))
    if photometric == 6:
        kwargs["subsampling"] = spec.subsampling
    return codec.encode(
        _image_target(array),
        level=90 if level is None else level,
        bitspersample=spec.bitspersample,
        **kwargs,
    )


# CCITT has no encoder: compression_codec(..., encode=True) refuses it.
_ENCODERS: dict[str, Callable[[np.ndarray, SegmentSpec, CompressionCodec, float | None], Any]] = {
    "none": _encode_stream,
    "bytes": _encode_stream,
    "image": _encode_image,
    "jpeg": _encode_jpeg,
    "pixarlog": _encode_image,
}
