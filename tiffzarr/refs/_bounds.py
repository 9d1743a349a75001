"""How many bytes a decode step of a referenced chunk may produce, and decoders that stop there.

A reference set names its own codecs, so a hostile one can make a 33 KB zstd
frame claim 1 GiB, or a 1.5 MB zlib stream inflate to 1.5 GB. Each decode step
of a chunk gets a bound: the chunk's bytes (its shape times the itemsize) for
the step that yields the array, :func:`encoded_bound` of them for the steps
before it. The bound is checked

- before decoding, where the data announce their size (:func:`check_announced`:
  zstd frame content size, blosc and lz4 headers, JPEG/PNG/WebP headers,
  tiffzarr's segment description);
- while decoding, where the codec can stop (:func:`bounded_decoder`: zlib, gzip,
  bz2 and lzma with a maximum output length, zstd into a buffer of the bound);
- after decoding, for every codec (:func:`check_decoded`).

>>> import zlib
>>> bomb = np.frombuffer(zlib.compress(bytes(10**6)), np.uint8)
>>> len(bounded_decoder("zlib")(bomb, {}, 10**6))
1000000
>>> bounded_decoder("zlib")(bomb, {}, 4096)  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tiffzarr.errors.LimitError: zlib data decode to more than the 4096 bytes this step ...
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import imagecodecs
import numpy as np

from tiffzarr.codecs._spec import SegmentSpec
from tiffzarr.codecs._table import image_shape
from tiffzarr.errors import ChunkDecodeError, LimitError

__all__ = [
    "SLACK",
    "bounded_decoder",
    "check_announced",
    "check_decoded",
    "decoded_nbytes",
    "encoded_bound",
]

SLACK = 64 * 2**10
"""Bytes an encoded chunk may take beyond twice its decoded size (codec headers,
JPEG tables, metadata segments of tiny images)."""

Data = np.ndarray
"""A chunk's bytes as a flat uint8 array."""

_codecs: Any = imagecodecs
"""imagecodecs, untyped: its stubs say ``bytes`` where any buffer works."""

Decoder = Callable[[Data, Mapping[str, Any], int], Any]


def encoded_bound(nbytes: int, /) -> int:
    """The most bytes a chunk of ``nbytes`` decoded bytes plausibly takes encoded (or
    between two decode steps): twice its size (incompressible data, widening
    filters) plus :data:`SLACK`.

    >>> encoded_bound(4096)
    73728
    """
    return 2 * nbytes + SLACK


def decoded_nbytes(value: Any, /) -> int:
    """Bytes of a decode step's output (bytes, a buffer or an array).

    >>> decoded_nbytes(b"abc"), decoded_nbytes(np.zeros((2, 3), "u2"))
    (3, 12)
    """
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    return memoryview(value).nbytes


def check_decoded(codec_id: str, nbytes: int, limit: int, /) -> None:
    """Refuse a decode step's output larger than its bound."""
    if nbytes > limit:
        raise LimitError(
            f"{codec_id} data decode to more than the {limit} bytes this step of the chunk may hold"
        )


def check_announced(codec_id: str, config: Mapping[str, Any], data: Data, limit: int, /) -> None:
    """Refuse data whose header announces more than ``limit`` decoded bytes (before
    anything is allocated); data that announce nothing pass."""
    probe = _ANNOUNCED.get(codec_id)
    announced = None if probe is None else probe(data, config)
    if announced is not None and announced > limit:
        raise LimitError(
            f"{codec_id} data announce {announced} decoded bytes, more than the {limit} bytes "
            "this step of the chunk may hold"
        )


def bounded_decoder(codec_id: str, /) -> Decoder | None:
    """A decoder of ``codec_id`` data (numcodecs' codec id and configuration) that never
    produces more than its ``limit``, or ``None`` when there is none."""
    return _BOUNDED.get(codec_id)


# -- announced sizes ---------------------------------------------------------------


def _uint(data: Data, start: int, size: int) -> int | None:
    field = data[start : start + size]
    return int.from_bytes(field.tobytes(), "little") if len(field) == size else None


def _zstd_content_size(data: Data, config: Mapping[str, Any] | None = None) -> int | None:
    """The content size in the first zstd frame header (RFC 8878, 3.1.1.1), if it has one."""
    start = 0
    while (magic := _uint(data, start, 4)) is not None and 0x184D2A50 <= magic <= 0x184D2A5F:
        skipped = _uint(data, start + 4, 4)  # a skippable frame
        if skipped is None:
            return None
        start += 8 + skipped
    if magic != 0xFD2FB528 or len(data) <= start + 4:
        return None
    descriptor = int(data[start + 4])
    single_segment = (descriptor >> 5) & 1
    size = (single_segment, 2, 4, 8)[descriptor >> 6]
    if size == 0:
        return None
    field = start + 5 + (1 - single_segment) + (0, 1, 2, 4)[descriptor & 3]
    value = _uint(data, field, size)
    return None if value is None else value + (256 if size == 2 else 0)


def _blosc_nbytes(data: Data, config: Mapping[str, Any]) -> int | None:
    return _uint(data, 4, 4) if len(data) >= 16 else None


def _lz4_nbytes(data: Data, config: Mapping[str, Any]) -> int | None:
    return _uint(data, 0, 4)  # numcodecs' LZ4 prefixes the decoded size


def _image_nbytes(data: Data, config: Mapping[str, Any]) -> int | None:
    """At least one byte per sample of the image its header describes."""
    shape = image_shape(data)
    return None if shape is None else shape[0] * shape[1] * max(shape[2], 1)


def _segment_nbytes(data: Data, config: Mapping[str, Any]) -> int | None:
    spec = SegmentSpec.from_config({k: v for k, v in config.items() if k != "id"})
    return spec.chunk_nbytes


_ANNOUNCED: Mapping[str, Callable[[Data, Mapping[str, Any]], int | None]] = {
    "zstd": _zstd_content_size,
    "imagecodecs_zstd": _zstd_content_size,
    "blosc": _blosc_nbytes,
    "lz4": _lz4_nbytes,
    "imagecodecs_jpeg": _image_nbytes,
    "imagecodecs_jpeg8": _image_nbytes,
    "imagecodecs_png": _image_nbytes,
    "imagecodecs_webp": _image_nbytes,
    "tiffzarr.tiff": _segment_nbytes,
}
"""numcodecs codec id → the decoded size its data announce (``None``: not said)."""


# -- bounded decoders ----------------------------------------------------------------


def _zlib(data: Data, config: Mapping[str, Any], limit: int) -> bytes:
    """As ``zlib.decompress`` (numcodecs' zlib): one stream, trailing bytes ignored."""
    stream = zlib.decompressobj()
    out = stream.decompress(data.data, limit + 1)
    check_decoded("zlib", len(out), limit)
    if not stream.eof:
        raise ChunkDecodeError("zlib stream is incomplete or truncated")
    return out


def _read_within(name: str, reader: Callable[[io.BytesIO], Any], data: Data, limit: int) -> bytes:
    """Read at most ``limit + 1`` decoded bytes through a decompressing file object."""
    with reader(io.BytesIO(data.data)) as stream:
        out: bytes = stream.read(limit + 1)
    check_decoded(name, len(out), limit)
    return out


def _gzip(data: Data, config: Mapping[str, Any], limit: int) -> bytes:
    """As numcodecs' gzip (``GzipFile``: several members, zero padding)."""
    return _read_within("gzip", lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"), data, limit)


def _bz2(data: Data, config: Mapping[str, Any], limit: int) -> bytes:
    return _read_within("bz2", bz2.BZ2File, data, limit)


def _lzma(data: Data, config: Mapping[str, Any], limit: int) -> bytes:
    """As numcodecs' lzma (its ``format`` and ``filters``; streams after the first
    that are not LZMA are ignored, as ``lzma.decompress`` does)."""
    fmt, filters = config.get("format", lzma.FORMAT_XZ), config.get("filters")
    return _read_within(
        "lzma", lambda raw: lzma.LZMAFile(raw, format=fmt, filters=filters), data, limit
    )


def _zstd(data: Data, config: Mapping[str, Any], limit: int) -> np.ndarray:
    """libzstd's one-shot decoding (as numcodecs') into the announced size, or into
    ``limit`` bytes when the frame does not say."""
    announced = _zstd_content_size(data)
    out = np.empty(limit if announced is None else announced, np.uint8)
    decoded = np.asarray(_codecs.zstd_decode(data, out=out))
    return decoded if announced is not None else decoded.copy()


_BOUNDED: Mapping[str, Decoder] = {
    "zlib": _zlib,
    "gzip": _gzip,
    "bz2": _bz2,
    "lzma": _lzma,
    "zstd": _zstd,
    "imagecodecs_zstd": _zstd,
}
"""numcodecs codec id → a decoder with the same results that stops at the bound."""
