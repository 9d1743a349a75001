"""Subsampled YCbCr without JPEG (TIFF 6.0 section 21): upsampled and converted to RGB.

Chroma subsampling stores one Cb and one Cr sample for every block of
``h x v`` luma samples (YCbCrSubSampling ``(h, v)``). Segments decode to RGB
exactly as libtiff's RGBA interface (and so GDAL) gives them: the chroma of a
block is replicated over its pixels (YCbCrPositioning is ignored, as libtiff
does), then converted in libtiff's fixed point with the page's
YCbCrCoefficients and ReferenceBlackWhite.

- Contiguous (PlanarConfiguration 1): each segment is a sequence of *data
  units*, one per block: its ``h * v`` luma samples row by row, then Cb, then
  Cr. Blocks at the right and bottom edges are whole in the file; their luma
  outside the image is dropped.
- Separate planes (PlanarConfiguration 2): the luma plane, then the Cb and Cr
  planes of ``ceil(width / h) x ceil(length / v)`` samples, each plane in its
  own strips or tiles; the chroma segment of a strip (tile) covers the same
  pixels as the luma one, so it holds ``ceil(rows / v)`` rows of
  ``ceil(columns / h)`` samples. libtiff refuses these ("can not handle
  image"); the specification is the reference. A chunk of such a page holds
  the whole page (its three planes' segments, framed).

>>> spec = SegmentSpec(compression=1, shape=(1, 2, 2, 3), dtype="|u1", bitspersample=8,
...                    sampleformat=1, byteorder="<", photometric=6, subsampling=(2, 2))
>>> unpack_contiguous(np.array([90, 90, 90, 90, 128, 128], np.uint8), spec)[0, 0, 0]
array([90, 90, 90], dtype=uint8)
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence

import numpy as np

from tiffzarr.codecs._spec import SegmentSpec
from tiffzarr.codecs._table import COMPRESSIONS
from tiffzarr.errors import ChunkDecodeError, UnsupportedError
from tiffzarr.format._enums import Photometric

__all__ = [
    "YCBCR_REFERENCE",
    "contiguous_nbytes",
    "decode_planes",
    "is_planar_subsampled",
    "unpack_contiguous",
    "ycbcr_tables",
    "ycbcr_to_rgb",
]

YCBCR_REFERENCE = (0.0, 255.0, 128.0, 255.0, 128.0, 255.0)
"""ReferenceBlackWhite when the tag is absent (8-bit YCbCr)."""
SUBSAMPLING_TAG = 530

_Decode = Callable[[bytes, SegmentSpec], np.ndarray]


def is_planar_subsampled(spec: SegmentSpec, /) -> bool:
    """Whether ``spec`` decodes one plane of a subsampled YCbCr page stored in separate
    planes by a byte-stream compression (JPEG codes its subsampling itself).

    >>> spec = SegmentSpec(compression=8, shape=(1, 4, 8, 1), dtype="|u1", bitspersample=8,
    ...                    sampleformat=1, byteorder="<", photometric=6, subsampling=(2, 2))
    >>> contiguous = dataclasses.replace(spec, shape=(1, 4, 8, 3))
    >>> is_planar_subsampled(spec), is_planar_subsampled(contiguous)
    (True, False)
    """
    codec = COMPRESSIONS.get(spec.compression)
    return (
        spec.photometric == Photometric.YCBCR
        and spec.subsampling != (1, 1)
        and spec.shape[3] == 1
        and codec is not None
        and codec.kind in ("none", "bytes")
    )


def _check_subsampling(spec: SegmentSpec, samples: int) -> tuple[int, int]:
    sub_h, sub_v = spec.subsampling
    if (
        spec.shape[3] != samples
        or spec.bitspersample != 8
        or spec.shape[0] != 1
        or sub_h not in (1, 2, 4)
        or sub_v not in (1, 2, 4)
    ):
        raise UnsupportedError(
            f"YCbCr subsampling {spec.subsampling} of {spec.shape} "
            f"{spec.bitspersample}-bit samples",
            tag=SUBSAMPLING_TAG,
        )
    return sub_h, sub_v


def contiguous_nbytes(spec: SegmentSpec, /) -> int:
    """Bytes of a contiguous subsampled segment as stored: whole data units.

    >>> spec = SegmentSpec(compression=1, shape=(1, 3, 5, 3), dtype="|u1", bitspersample=8,
    ...                    sampleformat=1, byteorder="<", photometric=6, subsampling=(2, 2))
    >>> contiguous_nbytes(spec)  # 2 x 3 blocks of 4 luma and 2 chroma samples
    36
    """
    sub_h, sub_v = _check_subsampling(spec, 3)
    _, length, width, _ = spec.shape
    return math.ceil(length / sub_v) * math.ceil(width / sub_h) * (sub_h * sub_v + 2)


def unpack_contiguous(raw: np.ndarray, spec: SegmentSpec, /) -> np.ndarray:
    """RGB of a contiguous subsampled segment (``raw``: its
    :func:`contiguous_nbytes` bytes, decompressed)."""
    sub_h, sub_v = _check_subsampling(spec, 3)
    _, length, width, _ = spec.shape
    rows, cols = math.ceil(length / sub_v), math.ceil(width / sub_h)
    units = raw.reshape(rows, cols, sub_h * sub_v + 2)
    luma = units[..., : sub_h * sub_v].reshape(rows, cols, sub_v, sub_h)
    luma = luma.transpose(0, 2, 1, 3).reshape(rows * sub_v, cols * sub_h)[:length, :width]
    cb, cr = (_upsampled(units[..., sub_h * sub_v + i], spec, (length, width)) for i in (0, 1))
    return _rgb(luma, cb, cr, spec).reshape(spec.shape)


def _upsampled(chroma: np.ndarray, spec: SegmentSpec, shape: tuple[int, int]) -> np.ndarray:
    """Chroma samples replicated over their blocks, cut to ``shape``."""
    sub_h, sub_v = spec.subsampling
    wide = np.repeat(np.repeat(chroma, sub_v, axis=-2), sub_h, axis=-1)
    return wide[..., : shape[0], : shape[1]]


def _rgb(luma: np.ndarray, cb: np.ndarray, cr: np.ndarray, spec: SegmentSpec) -> np.ndarray:
    reference = tuple(spec.referenceblackwhite or YCBCR_REFERENCE)
    return ycbcr_to_rgb(luma, cb, cr, spec.ycbcrcoefficients, reference)  # type: ignore[arg-type]


def _plane_specs(spec: SegmentSpec) -> tuple[SegmentSpec, SegmentSpec]:
    """How one luma segment and one chroma segment of a separate-planes page decode."""
    sub_h, sub_v = spec.subsampling
    depth, rows, cols, _ = spec.shape
    luma = dataclasses.replace(spec, subsampling=(1, 1), grid=None, page=None, crop=None)
    chroma = dataclasses.replace(
        luma, shape=(depth, math.ceil(rows / sub_v), math.ceil(cols / sub_h), 1), lastrows=None
    )
    return luma, chroma


def decode_planes(parts: Sequence[bytes | None], spec: SegmentSpec, decode: _Decode) -> np.ndarray:
    """RGB of a whole separate-planes page from its segments (``None``: sparse), each
    decoded by ``decode``: an array of ``spec.page`` ``(3, 1, length, width, 1)``.

    Pixels whose luma segment is sparse are 0 (fill), as for any sparse segment.
    """
    if spec.grid is None or spec.page is None or spec.grid[0] != 3 or spec.page[0] != 3:
        raise UnsupportedError(
            f"separate-planes YCbCr of {spec.page} samples (3 planes expected)",
            tag=SUBSAMPLING_TAG,
        )
    sub_h, sub_v = _check_subsampling(spec, 1)
    _, gz, gy, gx = spec.grid
    if len(parts) != 3 * gz * gy * gx:
        raise ChunkDecodeError(f"framed page has {len(parts)} segments, expected {spec.grid}")
    _, _, length, width, _ = spec.page
    luma_spec, chroma_spec = _plane_specs(spec)
    chroma_shape = (math.ceil(length / sub_v), math.ceil(width / sub_h))
    planes = [np.zeros(shape, np.uint8) for shape in ((length, width), chroma_shape, chroma_shape)]
    present = np.zeros((length, width), bool)
    for index, part in enumerate(parts):
        if part is None:
            continue
        plane, rest = divmod(index, gy * gx)
        y, x = divmod(rest, gx)
        segment_spec = luma_spec if plane == 0 else chroma_spec
        _, rows, cols, _ = segment_spec.shape
        segment = decode(part, segment_spec)[0, :, :, 0]
        window = planes[plane][y * rows : (y + 1) * rows, x * cols : (x + 1) * cols]
        window[...] = segment[: window.shape[0], : window.shape[1]]
        if plane == 0:
            present[y * rows : (y + 1) * rows, x * cols : (x + 1) * cols] = True
    cb, cr = (_upsampled(planes[i], spec, (length, width)) for i in (1, 2))
    rgb = _rgb(planes[0], cb, cr, spec)
    rgb[~present] = 0
    return np.ascontiguousarray(np.moveaxis(rgb, -1, 0)).reshape(spec.page)


# -- YCbCr → RGB lookup tables (TIFF 6.0 section 21, in libtiff's fixed point) --

_SHIFT = 16
_HALF = 1 << (_SHIFT - 1)


def _fixed(value: np.float32) -> int:
    return int(float(value) * (1 << _SHIFT) + 0.5)


def _code_to_value(code: np.ndarray, black: np.float32, white: np.float32, span: int) -> np.ndarray:
    """Map codes to values, (code - int(black)) * span / (white - black), in float32."""
    range_ = white - black
    scaled = (code - np.int64(np.trunc(black))).astype(np.float32) * np.float32(span)
    values = scaled / (range_ if range_ != 0 else np.float32(1))
    clipped: np.ndarray = np.clip(values, np.float32(-4096), np.float32(4096))
    return clipped.astype(np.int64)


@functools.lru_cache(maxsize=16)
def ycbcr_tables(
    coefficients: tuple[float, float, float],
    referenceblackwhite: tuple[float, float, float, float, float, float],
) -> tuple[np.ndarray, ...]:
    """Return lookup tables (Y, Cr→R, Cb→B, Cr→G, Cb→G) for 8-bit YCbCr → RGB.

    The same fixed-point arithmetic as libtiff (and so GDAL) uses, so the RGB
    values match theirs exactly::

        R = Y + Cr (2 - 2 LumaRed)
        B = Y + Cb (2 - 2 LumaBlue)
        G = Y - (LumaBlue Cb (2 - 2 LumaBlue) + LumaRed Cr (2 - 2 LumaRed)) / LumaGreen

    >>> y, cr_r, cb_b, cr_g, cb_g = ycbcr_tables((0.299, 0.587, 0.114),
    ...                                          (0, 255, 128, 255, 128, 255))
    >>> int(y[200] + cr_r[128]), int(y[200] + cb_b[255])
    (200, 425)
    """
    red, green, blue = (np.float32(c) for c in coefficients)
    f1 = np.float32(2) - np.float32(2) * red
    f3 = np.float32(2) - np.float32(2) * blue
    d1, d3 = (_fixed(np.clip(f, np.float32(0), np.float32(2))) for f in (f1, f3))
    d2, d4 = (
        -_fixed(np.clip(luma * f / green, np.float32(0), np.float32(2)))
        for luma, f in ((red, f1), (blue, f3))
    )
    rb = [np.float32(v) for v in referenceblackwhite]
    offset = np.float32(128)
    chroma = np.arange(-128, 128, dtype=np.int64)
    cr = _code_to_value(chroma, rb[4] - offset, rb[5] - offset, 127)
    cb = _code_to_value(chroma, rb[2] - offset, rb[3] - offset, 127)
    luma_values = _code_to_value(np.arange(256, dtype=np.int64), rb[0], rb[1], 255)
    return (
        luma_values,
        (d1 * cr + _HALF) >> _SHIFT,
        (d3 * cb + _HALF) >> _SHIFT,
        d2 * cr,
        d4 * cb + _HALF,
    )


def ycbcr_to_rgb(
    luma: np.ndarray,
    cb: np.ndarray,
    cr: np.ndarray,
    coefficients: tuple[float, float, float],
    referenceblackwhite: tuple[float, float, float, float, float, float],
) -> np.ndarray:
    """Convert 8-bit Y, Cb, Cr planes to one RGB array (last axis), as libtiff does.

    >>> ycbcr_to_rgb(*(np.array([v], np.uint8) for v in (200, 128, 128)),
    ...              (0.299, 0.587, 0.114), (0, 255, 128, 255, 128, 255))
    array([[200, 200, 200]], dtype=uint8)
    """
    y_tab, cr_r, cb_b, cr_g, cb_g = ycbcr_tables(coefficients, referenceblackwhite)
    y = y_tab[luma]
    rgb = np.empty((*luma.shape, 3), np.uint8)
    rgb[..., 0] = np.clip(y + cr_r[cr], 0, 255)
    rgb[..., 1] = np.clip(y + ((cb_g[cb] + cr_g[cr]) >> _SHIFT), 0, 255)
    rgb[..., 2] = np.clip(y + cb_b[cb], 0, 255)
    return rgb
