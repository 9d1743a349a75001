"""SGILog and SGILog24 (compressions 34676 and 34677): Larson's LogLuv pixels, in numpy.

Greg Ward Larson's LogLuv encodings (1998) store high-dynamic-range pixels as
the logarithm of their luminance and their CIE (u', v') chromaticity:

- LogL (Photometric 32844): a sign bit and 15 bits ``Le``, Y = 2^((Le + 0.5)/256 - 64).
- LogLuv32 (Photometric 32845, SGILog): LogL in the upper 16 bits, then 8-bit
  ``ue`` and ``ve``, u' = (ue + 0.5)/410.
- LogLuv24 (SGILog24): 10 bits ``Le'``, Y = 2^((Le' + 0.5)/64 - 12), then a 14-bit
  index into a table of u'v' cells of side 0.0035 covering the visible gamut.

SGILog codes each row as byte planes, most significant first, each one
run-length coded: a byte ``n`` of 128 or more repeats the next byte ``n - 126``
times, a smaller one is followed by ``n`` literal bytes. SGILog24 stores three
bytes a pixel. LogL pages use the run-length planes whatever their compression.

What a decoded pixel holds is libtiff's SGILOGDATAFMT as libtiff guesses it from
BitsPerSample and SampleFormat (GDAL lets it guess; libtiff writes 16-bit INT):

===========  ===============  =====================================  =====================
bits         SampleFormat     LogL (1 sample)                        LogLuv (3 samples)
===========  ===============  =====================================  =====================
16           int, uint, void  ``Le`` with its sign (int16)           Le, u'·2^15, v'·2^15
32           float            Y                                      X, Y, Z
8            uint, void       gray 256·√Y (display)                  RGB, gamma 2 (display)
32           int, uint, void  —                                      the encoded pixel
===========  ===============  =====================================  =====================

The arithmetic is libtiff's, in double precision (its exponentials are tables
computed with the C library's ``exp``), so the values are GDAL's.

>>> spec = SegmentSpec(compression=34676, shape=(1, 1, 3, 1), dtype="<i2",
...                    bitspersample=16, sampleformat=2, byteorder="<", photometric=32844)
>>> from tiffzarr.codecs._table import compression_codec
>>> codec = compression_codec(34676)
>>> # high bytes: a run of 3 x 0x40; low bytes: 3 literals
>>> decode_sgilog(np.frombuffer(b"\\x81\\x40\\x03\\x00\\x01\\x02", np.uint8), spec, codec).ravel()
array([16384, 16385, 16386], dtype=int16)
"""

from __future__ import annotations

import array
import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import imagecodecs
import numpy as np

from tiffzarr.codecs._rows import segment_from_rows
from tiffzarr.codecs._spec import SegmentSpec
from tiffzarr.codecs._table import CompressionCodec
from tiffzarr.errors import ChunkDecodeError, UnsupportedError
from tiffzarr.format._enums import Compression, Photometric, SampleFormat

__all__ = ["SGILOG_FORMATS", "decode_sgilog"]

DataFormat = Literal["16bit", "float", "8bit", "raw"]
"""libtiff's SGILOGDATAFMT: what a decoded pixel holds."""

_INTS = (SampleFormat.UINT, SampleFormat.INT, SampleFormat.VOID)
_UNSIGNED = (SampleFormat.UINT, SampleFormat.VOID)
_LOGL, _LOGLUV, _FLOAT = Photometric.LOGL, Photometric.LOGLUV, SampleFormat.IEEEFP

SGILOG_FORMATS: Mapping[tuple[int, int, int, int], DataFormat] = MappingProxyType(
    {
        (_LOGL, 1, 32, _FLOAT): "float",
        **{(_LOGL, 1, 16, f): "16bit" for f in _INTS},
        **{(_LOGL, 1, 8, f): "8bit" for f in _UNSIGNED},
        (_LOGLUV, 3, 32, _FLOAT): "float",
        **{(_LOGLUV, 3, 16, f): "16bit" for f in _INTS},
        **{(_LOGLUV, 3, 8, f): "8bit" for f in _UNSIGNED},
        **{(_LOGLUV, 1, 32, f): "raw" for f in _INTS},
    }
)
"""(Photometric, samples per pixel, bits per sample, SampleFormat) → data format."""

_LN2 = math.log(2.0)
_UVSCALE = 410.0
_NEUTRAL = (0.210526316, 0.473684211)
"""(u', v') of the white point, for LogLuv24 indices past the table."""
_NONZERO = re.compile(rb"[^\x00]")
_XYZ_TO_RGB = ((2.690, -1.276, -0.414), (-1.022, 1.978, 0.044), (0.061, -0.224, 1.163))
"""XYZ → linear RGB with CCIR-709 primaries, as libtiff's 8-bit output."""

# -- the LogLuv24 chromaticity table (Larson, 1997): rows of u'v' cells ---------------
_UV_SIZE = np.float32(0.0035)
_UV_VSTART = np.float32(0.01694)
_UV_USTART = np.array(
    [
        0.247663, 0.243779, 0.241684, 0.237874, 0.235906, 0.232153, 0.228352, 0.226259,
        0.222371, 0.220410, 0.214710, 0.212714, 0.210721, 0.204976, 0.202986, 0.199245,
        0.195525, 0.193560, 0.189878, 0.186216, 0.186216, 0.182592, 0.179003, 0.175466,
        0.172001, 0.172001, 0.168612, 0.168612, 0.163575, 0.158642, 0.158642, 0.158642,
        0.153815, 0.153815, 0.149097, 0.149097, 0.142746, 0.142746, 0.142746, 0.138270,
        0.138270, 0.138270, 0.132166, 0.132166, 0.126204, 0.126204, 0.126204, 0.120381,
        0.120381, 0.120381, 0.120381, 0.112962, 0.112962, 0.112962, 0.107450, 0.107450,
        0.107450, 0.107450, 0.100343, 0.100343, 0.100343, 0.095126, 0.095126, 0.095126,
        0.095126, 0.088276, 0.088276, 0.088276, 0.088276, 0.081523, 0.081523, 0.081523,
        0.081523, 0.074861, 0.074861, 0.074861, 0.074861, 0.068290, 0.068290, 0.068290,
        0.068290, 0.063573, 0.063573, 0.063573, 0.063573, 0.057219, 0.057219, 0.057219,
        0.057219, 0.050985, 0.050985, 0.050985, 0.050985, 0.050985, 0.044859, 0.044859,
        0.044859, 0.044859, 0.040571, 0.040571, 0.040571, 0.040571, 0.036339, 0.036339,
        0.036339, 0.036339, 0.032139, 0.032139, 0.032139, 0.032139, 0.027947, 0.027947,
        0.027947, 0.023739, 0.023739, 0.023739, 0.023739, 0.019504, 0.019504, 0.019504,
        0.016976, 0.016976, 0.016976, 0.016976, 0.012639, 0.012639, 0.012639, 0.009991,
        0.009991, 0.009991, 0.009016, 0.009016, 0.009016, 0.006217, 0.006217, 0.005097,
        0.005097, 0.005097, 0.003909, 0.003909, 0.002340, 0.002389, 0.001068, 0.001653,
        0.000717, 0.001614, 0.000270, 0.000484, 0.001103, 0.001242, 0.001188, 0.001011,
        0.000709, 0.000301, 0.002416, 0.003251, 0.003246, 0.004141, 0.005963, 0.008839,
        0.010490, 0.016994, 0.023659,
    ],
    np.float32,
)  # fmt: skip
"""The u' where each row of cells starts (row i at v' = VSTART + (i + 0.5) SIZE)."""
_UV_COUNTS = np.array(
    [
        4, 6, 7, 9, 10, 12, 14, 15, 17, 18, 21, 22, 23, 26, 27, 29, 31, 32, 34, 36, 36, 38,
        40, 42, 44, 44, 46, 46, 49, 52, 52, 52, 55, 55, 58, 58, 62, 62, 62, 65, 65, 65, 69,
        69, 73, 73, 73, 77, 77, 77, 77, 82, 82, 82, 86, 86, 86, 86, 91, 91, 91, 95, 95, 95,
        95, 100, 100, 100, 100, 105, 105, 105, 105, 110, 110, 110, 110, 115, 115, 115, 115,
        119, 119, 119, 119, 124, 124, 124, 124, 129, 129, 129, 129, 129, 134, 134, 134, 134,
        138, 138, 138, 138, 142, 142, 142, 142, 146, 146, 146, 146, 150, 150, 150, 154, 154,
        154, 154, 158, 158, 158, 161, 161, 161, 161, 165, 165, 165, 168, 168, 168, 170, 170,
        170, 173, 173, 175, 175, 175, 177, 177, 177, 170, 164, 157, 150, 143, 136, 129, 123,
        115, 109, 103, 97, 89, 82, 76, 69, 62, 55, 47, 40, 31, 21,
    ],
    np.int64,
)  # fmt: skip
"""Cells in each row; a pixel's index counts cells row by row (16,289 in all)."""


@functools.cache
def _logl16_table() -> np.ndarray:
    """Y of each 15-bit ``Le`` (0 for 0), by the C library's ``exp`` as libtiff."""
    table = [math.exp(_LN2 / 256.0 * (le + 0.5) - _LN2 * 64.0) for le in range(1 << 15)]
    table[0] = 0.0
    return np.array(table)


@functools.cache
def _logl10_table() -> np.ndarray:
    """Y of each 10-bit ``Le'`` (0 for 0)."""
    table = [math.exp(_LN2 / 64.0 * (le + 0.5) - _LN2 * 12.0) for le in range(1 << 10)]
    table[0] = 0.0
    return np.array(table)


@functools.cache
def _uv24_table() -> tuple[np.ndarray, np.ndarray]:
    """(u', v') of each 14-bit LogLuv24 index: its cell's centre, or the white point."""
    first = np.cumsum(_UV_COUNTS) - _UV_COUNTS
    index = np.arange(1 << 14)
    row = np.searchsorted(first, index, side="right") - 1
    size = np.float64(_UV_SIZE)
    u = _UV_USTART[row].astype(np.float64) + (index - first[row] + 0.5) * size
    v = np.float64(_UV_VSTART) + (row + 0.5) * size
    outside = index >= _UV_COUNTS.sum()
    u[outside], v[outside] = _NEUTRAL
    return u, v


# -- the three pixel encodings ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Encoding:
    """How one encoding's pixel words (uint32) hold luminance and chromaticity."""

    luminance: Callable[[np.ndarray], np.ndarray]  # Y, float64
    log16: Callable[[np.ndarray], np.ndarray]  # the 16-bit LogL, int16
    chroma: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None  # u', v'


def _logl16(words: np.ndarray) -> np.ndarray:
    return words.astype(np.uint16).view(np.int16)


def _logl16_y(words: np.ndarray) -> np.ndarray:
    y = _logl16_table()[words & 0x7FFF]
    signed: np.ndarray = np.where(words & 0x8000, -y, y)
    return signed


def _luv32_chroma(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = (1.0 / _UVSCALE) * (np.arange(256) + 0.5)
    return scale[(words >> 8) & 0xFF], scale[words & 0xFF]


def _luv24_chroma(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    u, v = _uv24_table()
    index = words & 0x3FFF
    return u[index], v[index]


_LOGL_WORDS = _Encoding(_logl16_y, _logl16, None)
_LUV32_WORDS = _Encoding(lambda w: _logl16_y(w >> 16), lambda w: _logl16(w >> 16), _luv32_chroma)
_LUV24_WORDS = _Encoding(
    lambda w: _logl10_table()[(w >> 14) & 0x3FF],
    lambda w: (((w >> 12) & 0xFFD) + 13314).astype(np.int16),  # libtiff's mask, bit 12 kept
    _luv24_chroma,
)


def _xyz(luminance: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """CIE XYZ (float32, last axis) from Y and (u', v'); 0 where Y is not positive."""
    s = 1.0 / (6.0 * u - 16.0 * v + 12.0)
    x = 9.0 * u * s
    y = 4.0 * v * s
    xyz = np.stack((x / y * luminance, luminance, (1.0 - x - y) / y * luminance), axis=-1)
    xyz[luminance <= 0] = 0.0
    return xyz.astype(np.float32)


def _display(values: np.ndarray) -> np.ndarray:
    """8-bit display values, gamma 2: 0 at or below 0, 255 at or above 1."""
    scaled = (256.0 * np.sqrt(np.clip(values, 0.0, 1.0))).astype(np.intp)
    return np.where(values <= 0.0, 0, np.where(values >= 1.0, 255, scaled)).astype(np.uint8)


def _rgb(xyz: np.ndarray) -> np.ndarray:
    x, y, z = (xyz[..., i].astype(np.float64) for i in range(3))
    return np.stack([_display(a * x + b * y + c * z) for a, b, c in _XYZ_TO_RGB], axis=-1)


def _q15(values: np.ndarray) -> np.ndarray:
    return np.trunc(values * 32768.0).astype(np.int16)


def _pixels(words: np.ndarray, encoding: _Encoding, data_format: DataFormat) -> np.ndarray:
    """Decoded pixels ``(rows, width, samples)`` from pixel words ``(rows, width)``."""
    if data_format == "raw":
        return words[..., None]
    if encoding.chroma is None:
        if data_format == "16bit":
            return encoding.log16(words)[..., None]
        y = encoding.luminance(words)
        return (y.astype(np.float32) if data_format == "float" else _display(y))[..., None]
    u, v = encoding.chroma(words)
    if data_format == "16bit":
        return np.stack((encoding.log16(words), _q15(u), _q15(v)), axis=-1)
    xyz = _xyz(encoding.luminance(words), u, v)
    return xyz if data_format == "float" else _rgb(xyz)


# -- the stored bytes -------------------------------------------------------------------


def _code_chain(data: np.ndarray) -> np.ndarray:
    """Positions of the run-length control bytes that code pixels, from byte 0 on.

    Each control byte says where the next one is, so they are found one by one:
    a loop of one step a code (up to 129 pixels), not a pixel. Empty literals (0
    bytes, which zero-filled data is made of) are skipped in one step a stretch.
    """
    stream = data.tobytes()
    size, position, positions = len(stream), 0, array.array("q")
    while position < size:
        control = stream[position]
        if control == 0:  # an empty literal; zero-filled bytes are a stretch of them
            position += 1
            if position < size and stream[position] == 0:
                found = _NONZERO.search(stream, position)
                position = size if found is None else found.start()
            continue
        positions.append(position)
        position += 2 if control >= 128 else control + 1
    return np.frombuffer(positions, np.int64).astype(np.intp, copy=False)


def _byte_planes(data: np.ndarray, nplanes: int, rows: int, width: int) -> np.ndarray:
    """The run-length coded byte planes of the segment's complete rows: ``(n, nplanes, width)``.

    As libtiff: a run past the end of a plane is cut there; a literal past it
    (never written by an encoder; libtiff would read its remaining bytes as
    control bytes) is refused.
    """
    codes = _code_chain(data)
    control = data[codes].astype(np.intp)
    run = control >= 128
    left = data.size - 1 - codes  # bytes after each control byte
    counts = np.where(run, np.where(left > 0, control - 126, 0), np.minimum(control, left))
    ends = np.cumsum(counts)
    base, group_ends = 0, []
    for _ in range(rows * nplanes):
        last = int(np.searchsorted(ends, base + width))
        if last == ends.size:
            break  # the bytes end inside this plane
        over = int(ends[last]) - base - width
        if over and not run[last]:
            raise ChunkDecodeError(
                f"SGILog literal of {control[last]} bytes at byte {codes[last]} runs past the "
                f"end of its {width}-pixel row plane"
            )
        counts[last] -= over
        base = int(ends[last])
        group_ends.append(last)
    done = len(group_ends) // nplanes
    used = group_ends[done * nplanes - 1] + 1 if done else 0
    counts, first = counts[:used], codes[:used] + 1
    start = np.repeat(np.cumsum(counts) - counts, counts)
    literal = np.repeat(~run[:used], counts)
    source = np.repeat(first, counts) + (np.arange(start.size) - start) * literal
    picked: np.ndarray = data[source]
    return picked.reshape(done, nplanes, width)


def _words(data: np.ndarray, rows: int, width: int, nplanes: int, packed: bool) -> np.ndarray:
    """Pixel words (uint32) of the complete rows: packed 3-byte pixels or byte planes."""
    if packed:
        done = min(rows, data.size // (3 * width))
        planes = data[: done * width * 3].reshape(done, width, 3).transpose(0, 2, 1)
    else:
        planes = _byte_planes(data, nplanes, rows, width)
    words = np.zeros((planes.shape[0], width), np.uint32)
    for k in range(planes.shape[1]):
        words = (words << 8) | planes[:, k]
    return words


def _data_format(spec: SegmentSpec) -> DataFormat:
    key = (spec.photometric or 0, spec.shape[3], spec.bitspersample, spec.sampleformat)
    data_format = SGILOG_FORMATS.get(key)
    if data_format is None:
        raise UnsupportedError(
            f"SGILog pixels as Photometric {key[0]} with {key[1]} samples of {key[2]} bits, "
            f"SampleFormat {key[3]} (libtiff decodes LogL 32844 and LogLuv 32845 of 8, 16 or "
            "32 bits, contiguous)",
            tag=262,
        )
    return data_format


def decode_sgilog(data: np.ndarray, spec: SegmentSpec, codec: CompressionCodec) -> np.ndarray:
    """Decode one SGILog or SGILog24 segment into an array of ``spec.shape``.

    Raises :class:`~tiffzarr.errors.UnsupportedError` for pixel formats libtiff
    does not decode, :class:`~tiffzarr.errors.ChunkDecodeError` when the bytes
    end before the segment's rows (or its last strip's rows).
    """
    data_format = _data_format(spec)
    if spec.fillorder == 2:
        data = np.asarray(imagecodecs.bitorder_decode(data))
    depth, length, width, _ = spec.shape
    if spec.photometric == Photometric.LOGL:
        encoding, nplanes, packed = _LOGL_WORDS, 2, False
    elif codec.code == Compression.SGILOG24:
        encoding, nplanes, packed = _LUV24_WORDS, 3, True
    else:
        encoding, nplanes, packed = _LUV32_WORDS, 4, False
    words = _words(data, depth * length, width, nplanes, packed)
    return segment_from_rows(_pixels(words, encoding, data_format), spec, codec.name)
