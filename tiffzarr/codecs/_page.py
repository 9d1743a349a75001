"""Chunks that hold a whole page: the page's segments framed in one byte string.

Frame: a little-endian ``uint32`` count, then one ``uint64`` length per segment,
then the segments' bytes in order. A length of 0 is a sparse segment (zeros).

>>> frame_segments([b"ab", None, b"c"])[:4]
b'\\x03\\x00\\x00\\x00'
>>> split_frame(frame_segments([b"ab", None, b"c"]))
[b'ab', None, b'c']
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Sequence

import numpy as np

from tiffzarr._config import config
from tiffzarr.codecs._decode import decode_segment, samples_view
from tiffzarr.codecs._encode import encode_segment
from tiffzarr.codecs._spec import SegmentSpec
from tiffzarr.codecs._ycbcr import decode_planes, is_planar_subsampled
from tiffzarr.errors import ChunkDecodeError, LimitError

__all__ = ["chunk_view", "decode_chunk", "encode_chunk", "frame_segments", "split_frame"]


def frame_segments(parts: Sequence[bytes | None], /) -> bytes:
    """Frame segment bytes (``None`` for sparse ones) into one chunk."""
    lengths = [0 if p is None else len(p) for p in parts]
    head = struct.pack(f"<I{len(parts)}Q", len(parts), *lengths)
    return head + b"".join(p for p in parts if p)


def split_frame(data: bytes | memoryview, /) -> list[bytes | None]:
    """The segments of a framed chunk (``None`` for sparse ones)."""
    view = memoryview(data).cast("B")
    if len(view) < 4:
        raise ChunkDecodeError("framed page chunk is shorter than its header")
    (count,) = struct.unpack_from("<I", view, 0)
    start = 4 + 8 * count
    if start > len(view):
        raise ChunkDecodeError(f"framed page chunk claims {count} segments but is too short")
    lengths = struct.unpack_from(f"<{count}Q", view, 4)
    if start + sum(lengths) != len(view):
        raise ChunkDecodeError("framed page chunk lengths do not add up to its size")
    out: list[bytes | None] = []
    for n in lengths:
        out.append(bytes(view[start : start + n]) if n else None)
        start += n
    return out


def chunk_view(data: bytes | memoryview | np.ndarray, spec: SegmentSpec, /) -> np.ndarray | None:
    """:func:`decode_chunk`'s result as a read-only view of ``data`` where decoding would
    only copy (an uncompressed segment, see :func:`~tiffzarr.codecs._decode.samples_view`;
    not a framed page, not cropped), else ``None``."""
    if spec.page is not None or spec.crop is not None:
        return None
    return samples_view(data, spec)


def decode_chunk(data: bytes | memoryview | np.ndarray, spec: SegmentSpec, /) -> np.ndarray:
    """Decode a chunk: one segment, or (``spec.page`` set) a framed whole page.

    A page decodes to ``spec.page`` ``(planes, depth, length, width, samples)``, a
    segment to ``spec.shape`` cut to ``spec.crop``.

    >>> spec = SegmentSpec(compression=1, shape=(1, 2, 4, 1), dtype="|u1", bitspersample=8,
    ...                    sampleformat=1, byteorder="<", crop=(1, 1, 3))
    >>> decode_chunk(bytes(range(8)), spec)[0, :, :, 0]
    array([[0, 1, 2]], dtype=uint8)
    """
    if spec.page is None or spec.grid is None:
        segment = decode_segment(data, spec)
        if spec.crop is None:
            return segment
        depth, rows, cols = _crop(spec)
        return np.ascontiguousarray(segment[:depth, :rows, :cols])
    if spec.chunk_nbytes > config.max_chunk_bytes:
        raise LimitError(
            f"decoded page of {spec.page} {spec.dtype} exceeds max_chunk_bytes "
            f"({config.max_chunk_bytes})"
        )
    raw = data.tobytes() if isinstance(data, np.ndarray) else data
    parts = split_frame(raw)
    if is_planar_subsampled(spec):  # the planes convert to RGB together
        return decode_planes(parts, spec, decode_segment)
    planes, gz, gy, gx = spec.grid
    if len(parts) != planes * gz * gy * gx:
        raise ChunkDecodeError(f"framed page has {len(parts)} segments, expected {spec.grid}")
    out = np.zeros(spec.page, spec.numpy_dtype)
    depth, rows, cols, _ = spec.shape
    single = dataclasses.replace(spec, grid=None, page=None)
    for index, part in enumerate(parts):
        if part is None:
            continue
        s, rest = divmod(index, gz * gy * gx)
        z, rest = divmod(rest, gy * gx)
        y, x = divmod(rest, gx)
        segment = decode_segment(part, single)
        target = out[s, z * depth :, y * rows :, x * cols :]
        d, r, c = (min(a, b) for a, b in zip(target.shape[:3], segment.shape[:3], strict=True))
        target[:d, :r, :c] = segment[:d, :r, :c]
    return out


def _crop(spec: SegmentSpec) -> tuple[int, int, int]:
    crop = spec.crop
    if (
        crop is None
        or len(crop) != 3
        or not all(0 < c <= n for c, n in zip(crop, spec.shape[:3], strict=True))
    ):
        raise ChunkDecodeError(f"crop {crop} is not a corner of the {spec.shape} segment")
    return crop


def encode_chunk(array: np.ndarray, spec: SegmentSpec, /) -> bytes:
    """Encode a chunk of one segment (:func:`encode_segment`); a cropped chunk is padded
    with zeros to the whole segment first.

    >>> spec = SegmentSpec(compression=1, shape=(1, 2, 4, 1), dtype="|u1", bitspersample=8,
    ...                    sampleformat=1, byteorder="<", crop=(1, 1, 3))
    >>> encode_chunk(np.array([1, 2, 3], "u1"), spec)
    b'\\x01\\x02\\x03\\x00\\x00\\x00\\x00\\x00'
    """
    if spec.crop is None:
        return encode_segment(array, spec)
    depth, rows, cols = _crop(spec)
    whole = np.zeros(spec.shape, spec.numpy_dtype.newbyteorder("="))
    whole[:depth, :rows, :cols] = np.asarray(array).reshape(depth, rows, cols, spec.shape[3])
    return encode_segment(whole, spec)
