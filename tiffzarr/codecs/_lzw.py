"""LZW segments decoded by libtiff, through imagecodecs' ``tiff_decode``.

imagecodecs has two LZW decoders: its own ``lzw_decode`` and the one in the
libtiff it wraps. libtiff's decodes about twice as fast (an 8192-byte-wide strip
of 16 rows: 0.43 ms against 0.70 ms with ``out=``; 64 such strips on 2 threads:
15 ms against 24 ms), which is how GDAL reads LZW faster. :func:`lzw_decode`
wraps the segment in the smallest TIFF that holds it — a header and one IFD
describing a single row of 8-bit samples as long as the output buffer, one
LZW strip, no predictor — and has libtiff decode it straight into ``out``, so the
rest of the segment path (predictor, unpacking, byte order) is unchanged.

Opening a TIFF costs libtiff about 12 µs, more than decoding a small segment, so
segments under :data:`LIBTIFF_BYTES` keep ``lzw_decode``. Whatever libtiff does
not decode in full (a stream shorter than the segment, a corrupt code) is decoded
again by ``lzw_decode``, so short last strips and errors behave as before.
libtiff, like GDAL, keeps the first bytes of a stream that codes more than the
segment.

>>> import imagecodecs, numpy as np
>>> data = bytes(range(256)) * 256
>>> out = np.empty(len(data), np.uint8)
>>> bytes(lzw_decode(imagecodecs.lzw_encode(data), out=out)) == data
True
"""

from __future__ import annotations

import struct
from typing import Any

import imagecodecs
import numpy as np

__all__ = ["LIBTIFF_BYTES", "lzw_decode"]

LIBTIFF_BYTES = 32 * 1024
"""Decoded size from which libtiff decodes a segment (below it, ``lzw_decode``)."""

_codecs: Any = imagecodecs
"""imagecodecs, untyped: its stubs say ``out`` is bytes where any buffer works."""
_HAVE_LIBTIFF = bool(getattr(getattr(imagecodecs, "TIFF", None), "available", False))

_TAGS = (  # (tag, type), in order; the values are filled in per segment
    (256, 4),  # ImageWidth: the output size
    (257, 3),  # ImageLength: 1
    (258, 3),  # BitsPerSample: 8
    (259, 3),  # Compression: LZW
    (262, 3),  # PhotometricInterpretation: MinIsBlack
    (273, 4),  # StripOffsets: just after the IFD
    (277, 3),  # SamplesPerPixel: 1
    (278, 4),  # RowsPerStrip: 1
    (279, 4),  # StripByteCounts: the stream's length
)
_IFD_BYTES = 2 + 12 * len(_TAGS) + 4
_LONG = 0xFFFFFFFF
_LAYOUT = struct.Struct("<4sI H" + "HHI4s" * len(_TAGS) + "I")


def _header(width: int, nbytes: int) -> bytes:
    """A little-endian classic TIFF up to its one strip: ``width`` samples, ``nbytes``."""
    values = (width, 1, 8, 5, 1, 8 + _IFD_BYTES, 1, 1, nbytes)
    fields: list[Any] = []
    for (tag, kind), value in zip(_TAGS, values, strict=True):
        packed = struct.pack("<H2x", value) if kind == 3 else struct.pack("<I", value)
        fields += (tag, kind, 1, packed)
    return _LAYOUT.pack(b"II*\x00", 8, len(_TAGS), *fields, 0)


def lzw_decode(data: Any, /, *, out: np.ndarray) -> Any:
    """Decode the LZW stream ``data`` into the flat uint8 buffer ``out``.

    Returns what was written, as ``imagecodecs.lzw_decode(data, out=out)``
    does: ``out`` itself when libtiff decoded all of it, else ``lzw_decode``'s
    result.
    """
    fits = out.size <= _LONG and len(data) <= _LONG - 8 - _IFD_BYTES  # TIFF LONG offsets
    if _HAVE_LIBTIFF and out.size >= LIBTIFF_BYTES and fits:
        tiff = b"".join((_header(out.size, len(data)), data))
        try:
            _codecs.tiff_decode(tiff, out=out.reshape(1, -1))
        except _codecs.TiffError:
            pass  # short or corrupt: decoded (or refused) below, as without libtiff
        else:
            return out
    return _codecs.lzw_decode(data, out=out)
