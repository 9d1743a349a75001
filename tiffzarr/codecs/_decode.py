"""Decode one TIFF segment (strip or tile); :mod:`tiffzarr.codecs._encode` is the inverse.

One path per segment: bytes → decompress → undo predictor → unpack bits / byte
order → an array of the full segment shape in native byte order. Short strips
and partial image tiles are padded with zeros. Every decompressor writes into a
buffer of the segment's stored size, so no stream can make it allocate more.

Lenient where libtiff (and so GDAL) is, silently (a codec has no way to warn):

- a short last strip whose stream codes a whole strip's rows (some writers'
  Deflate and LZW) decodes, its extra rows dropped: the stream is decoded into
  a whole segment's buffer. A stream coding more than a whole segment is an
  error (libtiff keeps its first bytes; here it is refused, as a stream that
  would inflate without bound), but for LZW, whose decoders (imagecodecs' and,
  for large segments, libtiff's: :mod:`tiffzarr.codecs._lzw`) stop when the
  segment is full and keep its first bytes, as libtiff does;
- CCITT T.4 coding may put fill bits before any EOL code whatever T4Options
  says (libtiff skips any run of zero bits before an EOL).

>>> import numpy as np, zlib
>>> spec = SegmentSpec(compression=8, shape=(1, 2, 3, 1), dtype="<u2",
...                    bitspersample=16, sampleformat=1, byteorder=">")
>>> decode_segment(zlib.compress(bytes([0, 1, 0, 2, 0, 3, 1, 0])), spec)[0, :, :, 0]
array([[  1,   2,   3],
       [256,   0,   0]], dtype=uint16)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import imagecodecs
import numpy as np

from tiffzarr._config import config
from tiffzarr.codecs._ojpeg import decode_old_jpeg
from tiffzarr.codecs._sgilog import decode_sgilog
from tiffzarr.codecs._spec import SegmentSpec
from tiffzarr.codecs._table import (
    JPEG_COLORSPACES,
    NOMINAL_SAMPLES,
    PREDICTORS,
    UNPACKING,
    CompressionCodec,
    PredictorCodec,
    Unpacking,
    compression_codec,
    compression_label,
    image_shape,
)
from tiffzarr.codecs._thunderscan import decode_thunderscan
from tiffzarr.codecs._ycbcr import contiguous_nbytes, unpack_contiguous
from tiffzarr.errors import (
    ChunkDecodeError,
    LimitError,
    TiffZarrError,
    UnsupportedCompressionError,
    UnsupportedError,
)
from tiffzarr.format._enums import Compression
from tiffzarr.format._layout import page_dtype

__all__ = ["decode_segment", "samples_view", "stored_nbytes"]

Buffer = bytes | bytearray | memoryview | np.ndarray
Bytes = np.ndarray
"""A segment's bytes inside the decoder: a flat uint8 array."""

_codecs: Any = imagecodecs
"""imagecodecs, untyped: its stubs say ``bytes`` where any buffer works."""


@dataclass(frozen=True, slots=True)
class _Stored:
    """How a segment's samples are laid out once decompressed."""

    unpacking: Unpacking
    nbytes: int  # bytes of the whole segment as stored
    file_dtype: np.dtype  # the samples' dtype in the file's byte order (direct)


def decode_segment(
    data: Buffer, spec: SegmentSpec, /, *, max_nbytes: int | None = None
) -> np.ndarray:
    """Return the decoded segment: an array of ``spec.shape`` and ``spec.dtype``.

    Parameters
    ----------
    data
        The segment's bytes as stored in the file.
    spec
        What the segment holds.
    max_nbytes
        Refuse segments whose decoded size exceeds this many bytes (default
        ``tiffzarr.config.max_chunk_bytes``), before allocating anything.

    Returns
    -------
    numpy.ndarray
        Native byte order, C-contiguous, writable; short strips and partial
        tiles are padded with zeros.

    Raises
    ------
    UnsupportedCompressionError
        imagecodecs cannot decode ``spec.compression``.
    LimitError
        The segment is larger than ``max_nbytes``.
    ChunkDecodeError
        The bytes do not decode into the segment.

    Examples
    --------
    >>> spec = SegmentSpec(compression=1, shape=(1, 2, 4, 1), dtype="|b1",
    ...                    bitspersample=1, sampleformat=1, byteorder="<")
    >>> decode_segment(b"\\xa0\\x0f", spec)[0, :, :, 0].astype(int)
    array([[1, 0, 1, 0],
           [0, 0, 0, 0]])
    """
    codec = compression_codec(spec.compression)
    _check_spec(spec, config.max_chunk_bytes if max_nbytes is None else max_nbytes)
    view = _as_bytes(data)  # a flat uint8 array; read-only when data is bytes
    try:
        array = _DECODERS[codec.kind](view, spec, codec)
    except TiffZarrError:
        raise
    except Exception as exc:  # imagecodecs, numpy: any failure means corrupt data
        raise ChunkDecodeError(
            f"{compression_label(spec.compression)} segment of {len(view)} bytes does not decode "
            f"to {spec.shape} {spec.dtype}: {type(exc).__name__}: {exc}"
        ) from exc
    return _finish(array, spec)


def samples_view(data: Buffer, spec: SegmentSpec, /) -> np.ndarray | None:
    """The segment's samples as a read-only view of ``data`` where decoding it would
    only copy them, else ``None``: an uncompressed segment of whole-byte samples in
    native byte order (or of single bytes), no predictor, all its bytes present.

    For callers that copy the decoded segment anyway (into a larger output).

    >>> spec = SegmentSpec(compression=1, shape=(1, 1, 2, 1), dtype="<u2", bitspersample=16,
    ...                    sampleformat=1, byteorder="<")
    >>> samples_view(bytes([1, 0, 2, 0]), spec)[0, 0, :, 0].tolist()
    [1, 2]
    >>> samples_view(bytes([1, 0]), spec) is None  # short: decoding pads it
    True
    """
    if spec.compression != 1 or spec.predictor != 1 or spec.fillorder != 1:
        return None
    _check_spec(spec, config.max_chunk_bytes)
    if spec.photometric == 6 and spec.subsampling != (1, 1):
        return None
    stored = _stored(spec)
    file_dtype = stored.file_dtype
    if stored.unpacking != "direct" or not (file_dtype.isnative or file_dtype.itemsize == 1):
        return None
    view = _as_bytes(data)
    if view.size < stored.nbytes:
        return None
    return view[: stored.nbytes].view(file_dtype.newbyteorder("=")).reshape(spec.shape)


# -- checks -------------------------------------------------------------------


def _check_spec(spec: SegmentSpec, max_nbytes: int) -> None:
    if len(spec.shape) != 4 or any(
        not isinstance(n, int | np.integer) or n < 1 for n in spec.shape
    ):
        raise ChunkDecodeError(f"segment shape {spec.shape} is not four positive integers")
    try:
        np.dtype(spec.dtype)
    except TypeError as exc:
        raise ChunkDecodeError(f"segment dtype {spec.dtype!r} is not a numpy dtype") from exc
    if spec.byteorder not in ("<", ">"):
        raise ChunkDecodeError(f"byte order {spec.byteorder!r} is not '<' or '>'")
    if spec.nbytes > max_nbytes:
        raise LimitError(
            f"decoded segment of {spec.shape} {spec.dtype} ({spec.nbytes} bytes) exceeds "
            f"{max_nbytes} bytes"
        )


def _as_bytes(data: Buffer) -> Bytes:
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    return np.frombuffer(data, np.uint8)


def _finish(array: np.ndarray, spec: SegmentSpec) -> np.ndarray:
    dtype = spec.numpy_dtype.newbyteorder("=")
    if array.dtype != dtype:
        raise ChunkDecodeError(f"decoded {array.dtype} where {spec.dtype} was expected")
    if array.shape != spec.shape:
        array = array.reshape(spec.shape)
    if not (array.flags.c_contiguous and array.flags.writeable):
        array = np.array(array, order="C")
    return array


def stored_nbytes(spec: SegmentSpec, /) -> int:
    """Bytes of the segment as stored before compression (bit-packed rows, float24...).

    >>> stored_nbytes(SegmentSpec(compression=1, shape=(1, 2, 3, 1), dtype="|u1",
    ...                           bitspersample=4, sampleformat=1, byteorder="<"))
    4
    """
    return _stored(spec).nbytes


def _stored(spec: SegmentSpec) -> _Stored:
    """Classify how samples are stored; reject dtypes that do not fit the tags."""
    bps, fmt = spec.bitspersample, spec.sampleformat
    dtype = spec.numpy_dtype.newbyteorder("=")
    expected = page_dtype(fmt, bps)
    if expected != dtype and not (expected == np.bool_ and dtype == np.uint8):  # 1-bit as 0/1
        raise ChunkDecodeError(
            f"dtype {spec.dtype} does not hold SampleFormat {fmt} with {bps} bits per sample"
        )
    if spec.photometric == 6 and spec.subsampling != (1, 1):
        return _ycbcr_stored(spec)
    default: Unpacking = "direct" if bps == dtype.itemsize * 8 else "packed"
    depth, length, width, samples = spec.shape
    rowbytes = (width * samples * bps + 7) // 8
    return _Stored(
        UNPACKING.get((fmt, bps), default),
        depth * length * rowbytes,
        dtype.newbyteorder(spec.byteorder),
    )


def _ycbcr_stored(spec: SegmentSpec) -> _Stored:
    return _Stored("ycbcr", contiguous_nbytes(spec), np.dtype("u1"))


# -- byte-stream codecs ---------------------------------------------------------


def _decode_stream(data: Bytes, spec: SegmentSpec, codec: CompressionCodec) -> np.ndarray:
    stored = _stored(spec)
    predictor = _predictor(spec, stored)
    if spec.fillorder == 2:
        data = _codecs.bitorder_decode(data)
    decompress = None if codec.kind == "none" else codec.decode
    if stored.unpacking == "direct":
        array = np.empty(spec.shape, stored.file_dtype)
        _fill(array.reshape(-1).view(np.uint8), data, decompress)
        return _undo_direct(array, predictor)
    raw = np.empty(stored.nbytes, np.uint8)
    _fill(raw, data, decompress)
    array = _UNPACKERS[stored.unpacking](raw, spec)
    if predictor is not None:
        _undo_horizontal(array, predictor.distance)
    return array


def _fill(buffer: np.ndarray, data: Bytes, decompress: Callable[..., Any] | None) -> None:
    """Decompress ``data`` into ``buffer`` (never beyond it) and zero the rest.

    ``buffer`` may be uninitialised: filling it once costs less than zeroing it
    first (decoders return the part of ``out`` they wrote).
    """
    if decompress is None:
        size = min(len(data), buffer.size)
        buffer[:size] = np.frombuffer(data, np.uint8, count=size)
    else:
        written = np.asarray(decompress(data, out=buffer)).reshape(-1).view(np.uint8)
        size = written.size
        if size > buffer.size:
            raise ChunkDecodeError(f"decoded {size} bytes into a {buffer.size}-byte segment")
        if not (written.ctypes.data == buffer.ctypes.data or size == 0):
            buffer[:size] = written  # a decoder that did not write into ``out``
    buffer[size:] = 0


def _predictor(spec: SegmentSpec, stored: _Stored) -> PredictorCodec | None:
    if spec.predictor not in PREDICTORS:
        raise UnsupportedError(f"predictor {spec.predictor}", tag=317)
    predictor = PREDICTORS[spec.predictor]
    if predictor is None:
        return None
    kind = spec.numpy_dtype.kind
    if predictor.kind == "floatingpoint":
        ok = kind == "f" and stored.unpacking == "direct"
    else:
        ok = kind in "uif" and stored.unpacking in ("direct", "packed")
    if not ok:
        raise ChunkDecodeError(
            f"{predictor.name} predictor ({predictor.code}) does not apply to "
            f"SampleFormat {spec.sampleformat} with {spec.bitspersample} bits per sample"
        )
    return predictor


def _undo_direct(array: np.ndarray, predictor: PredictorCodec | None) -> np.ndarray:
    native = array.dtype.newbyteorder("=")
    if predictor is not None and predictor.kind == "floatingpoint":
        # byte planes, most significant first, whatever the file's byte order; the
        # output is native. It cannot be undone in place.
        result = np.empty(array.shape, native)
        _codecs.floatpred_decode(array.view(native), axis=-2, dist=predictor.distance, out=result)
        return result
    if not array.dtype.isnative:
        array = array.byteswap(inplace=True).view(native)
    if predictor is not None:
        _undo_horizontal(array, predictor.distance)
    return array


def _undo_horizontal(array: np.ndarray, distance: int) -> None:
    """Undo horizontal differencing in place: each sample adds the one ``distance`` pixels left.

    Sums wrap around in the samples' integer width (floats by their bit patterns).
    """
    if distance == 1:
        _codecs.delta_decode(array, axis=-2, out=array)
        return
    bits = array.view(f"=u{array.dtype.itemsize}")
    for start in range(distance):
        columns = bits[..., start::distance, :]
        np.cumsum(columns, axis=-2, dtype=bits.dtype, out=columns)


def _unpack_packed(raw: np.ndarray, spec: SegmentSpec) -> np.ndarray:
    _, _, width, samples = spec.shape
    dtype = spec.numpy_dtype.newbyteorder("=")
    array = _codecs.packints_decode(raw, dtype, spec.bitspersample, runlen=width * samples)
    return np.asarray(array).reshape(spec.shape)


def _unpack_float24(raw: np.ndarray, spec: SegmentSpec) -> np.ndarray:
    array = _codecs.float24_decode(raw, byteorder=spec.byteorder)
    return np.asarray(array).reshape(spec.shape)


def _unpack_complexint(raw: np.ndarray, spec: SegmentSpec) -> np.ndarray:
    dtype = spec.numpy_dtype.newbyteorder("=")
    parts = raw.view(f"{spec.byteorder}i{spec.bitspersample // 16}")
    return parts.astype(f"=f{dtype.itemsize // 2}").view(dtype).reshape(spec.shape)


def _unpack_complexhalf(raw: np.ndarray, spec: SegmentSpec) -> np.ndarray:
    return raw.view(f"{spec.byteorder}f2").astype("=f4").view("=c8").reshape(spec.shape)


_UNPACKERS: dict[str, Callable[[np.ndarray, SegmentSpec], np.ndarray]] = {
    "packed": _unpack_packed,
    "float24": _unpack_float24,
    "complexint": _unpack_complexint,
    "complexhalf": _unpack_complexhalf,
    "ycbcr": unpack_contiguous,
}


# -- image codecs ---------------------------------------------------------------


def _image_target(array: np.ndarray) -> np.ndarray:
    """The segment as an image codec returns it: (rows, columns[, samples])."""
    depth, length, width, samples = array.shape
    shape = (depth * length, width) if samples == 1 else (depth * length, width, samples)
    return array.reshape(shape)


def _decode_into(
    array: np.ndarray,
    data: Bytes,
    decode: Callable[..., Any],
    header: tuple[int, int, int] | None,
    **kwargs: Any,
) -> np.ndarray:
    """Decode an image into ``array`` without allocating more than its size.

    ``header`` is the image's (rows, columns, components) when known before
    decoding (0 components: unknown). An image smaller than the segment fills its
    top-left corner; one with the segment's samples in another frame shape (DNG
    lossless JPEG) is reshaped.
    """
    target = _image_target(array)
    rows, cols = target.shape[:2]
    if header is None:
        try:
            decode(data, out=target, **kwargs)
            return array
        except ValueError:
            header = image_shape(data)
            if header is None or header[:2] == (rows, cols):
                raise
    elif header[:2] == (rows, cols):
        decode(data, out=target, **kwargs)
        return array
    height, width, components = header
    if 0 < height <= rows and 0 < width <= cols and components <= array.shape[3]:
        image = np.asarray(decode(data, **kwargs))
        corner = target[:height, :width]
        corner[...] = image.reshape(corner.shape)
    elif height * width * components == target.size:
        frame = (height, width) if components == 1 else (height, width, components)
        decode(data, out=target.reshape(frame), **kwargs)
    else:
        raise ChunkDecodeError(
            f"encoded image of {height}x{width} pixels does not fit the {rows}x{cols} segment"
        )
    return array


def _decode_image(data: Bytes, spec: SegmentSpec, codec: CompressionCodec) -> np.ndarray:
    array = np.zeros(spec.shape, spec.numpy_dtype.newbyteorder("="))
    kwargs: dict[str, Any] = {}
    if codec.decoder == "webp_decode" and spec.shape[3] == 4:
        kwargs["hasalpha"] = True  # WebP may drop an all-opaque alpha channel
    return _decode_into(array, data, codec.decode, None, **kwargs)


def _jpeg_colorspaces(spec: SegmentSpec, data: Bytes) -> tuple[Any, Any]:
    """(JPEG, output) colour spaces; ``None`` leaves them to libjpeg (grayscale, one plane
    of a separate-planes image, images with extra samples)."""
    photometric = -1 if spec.photometric is None else spec.photometric
    if photometric not in JPEG_COLORSPACES or spec.shape[3] != NOMINAL_SAMPLES[photometric]:
        return None, None
    colorspace, outcolorspace = JPEG_COLORSPACES[photometric]
    if data[6:10].tobytes() == b"JFIF":  # JFIF streams are YCbCr whatever the tags say
        colorspace = None
    return colorspace, outcolorspace


def _decode_jpeg(data: Bytes, spec: SegmentSpec, codec: CompressionCodec) -> np.ndarray:
    if spec.jpegheader is not None and codec.code == Compression.OJPEG:
        return decode_old_jpeg(data, spec)  # the header the reader rebuilt, as libtiff
    if spec.jpegheader is not None:  # NDPI: the segment continues a shared header
        stream = b"".join((spec.jpegheader, data.tobytes(), b"\xff\xd9"))
        data = np.frombuffer(stream, np.uint8)
    header = image_shape(data)
    if header is None and codec.code == Compression.OJPEG:
        raise UnsupportedCompressionError(
            "old-style JPEG (6) segment without its own JPEG header (SOF marker)", tag=259
        )
    if header is None:
        raise ChunkDecodeError("JPEG segment has no frame header (SOF marker)")
    _check_frame(header, spec)
    colorspace, outcolorspace = _jpeg_colorspaces(spec, data)
    array = np.zeros(spec.shape, spec.numpy_dtype.newbyteorder("="))
    options = {"tables": spec.jpegtables, "colorspace": colorspace, "outcolorspace": outcolorspace}
    return _decode_into(array, data, codec.decode, header, **options)


def _check_frame(header: tuple[int, int, int], spec: SegmentSpec) -> None:
    """Refuse a JPEG frame whose size is not the segment's (as tifffile and libtiff do).

    A short last strip (``spec.lastrows``) fits, and so does a frame holding the
    segment's samples in another shape (DNG lossless JPEG); anything else would
    leave part of the segment as zeros, or be cropped.

    >>> spec = SegmentSpec(compression=7, shape=(1, 16, 32, 3), dtype="|u1",
    ...                    bitspersample=8, sampleformat=1, byteorder="<", lastrows=5)
    >>> _check_frame((5, 32, 3), spec)
    >>> try:
    ...     _check_frame((8, 32, 3), spec)
    ... except ChunkDecodeError as exc:
    ...     print(exc)
    JPEG frame of 8x32 pixels does not match the 16x32 segment (or the 5x32 last strip)
    """
    depth, length, width, samples = spec.shape
    height, columns, components = header
    rows = depth * length
    if columns == width and height in (rows, spec.lastrows):
        return
    if height * columns * components == rows * width * samples:
        return
    last = f" (or the {spec.lastrows}x{width} last strip)" if spec.lastrows else ""
    raise ChunkDecodeError(
        f"JPEG frame of {height}x{columns} pixels does not match the {rows}x{width} segment{last}"
    )


T4_FILL_BITS = 4
"""T4Options bit 2: fill bits before EOL codes. libtiff skips fill bits whatever the
tag says, imagecodecs only with this bit (else it fails, or decodes wrong rows)."""


def _decode_ccitt(data: Bytes, spec: SegmentSpec, codec: CompressionCodec) -> np.ndarray:
    depth, length, width, samples = spec.shape
    if depth != 1 or samples != 1 or spec.bitspersample != 1:
        raise ChunkDecodeError(f"CCITT coding of a {spec.shape} segment is not bilevel")
    if spec.fillorder == 2:
        data = _codecs.bitorder_decode(data)
    options = {name: getattr(spec, name) for name in codec.spec_options}
    if "t4options" in options:
        options["t4options"] |= T4_FILL_BITS
    image = np.asarray(codec.decode(data, length, width, **options))
    if image.ndim != 2 or image.shape[1] != width or image.shape[0] > length:
        raise ChunkDecodeError(f"CCITT decoded {image.shape} for {length}x{width} pixels")
    array = np.zeros(spec.shape, spec.numpy_dtype)  # bool, or 0/1 bytes
    array[0, : image.shape[0], :, 0] = image
    return array


def _decode_pixarlog(data: Bytes, spec: SegmentSpec, codec: CompressionCodec) -> np.ndarray:
    array = np.zeros(spec.shape, spec.numpy_dtype.newbyteorder("="))
    target = _image_target(array)
    codec.decode(data, shape=target.shape, dtype=target.dtype, out=target)
    return array


_DECODERS: dict[str, Callable[[Bytes, SegmentSpec, CompressionCodec], np.ndarray]] = {
    "none": _decode_stream,
    "bytes": _decode_stream,
    "image": _decode_image,
    "jpeg": _decode_jpeg,
    "ccitt": _decode_ccitt,
    "pixarlog": _decode_pixarlog,
    "sgilog": decode_sgilog,
    "thunderscan": decode_thunderscan,
}
