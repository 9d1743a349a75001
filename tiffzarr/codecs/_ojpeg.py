"""Decode an old-style JPEG (6) segment after its rebuilt header, as libtiff does.

The segment's bytes continue ``spec.jpegheader``, the header the reader rebuilt
(see :mod:`tiffzarr.format._ojpeg`), whose frame is the segment's size. libtiff's
codec hands out what libjpeg decodes without any colour conversion: the raw
samples, and for subsampled YCbCr the raw (not upsampled) planes as TIFF data
units, which its RGBA interface (and so GDAL) converts to RGB like any
subsampled YCbCr (see :mod:`tiffzarr.codecs._ycbcr`).

imagecodecs' libjpeg always upsamples chroma, with a triangle filter ("fancy
upsampling") for 2:1 ratios and by replication for the others. So the raw
planes come from decoding the same entropy-coded data declared with other
sampling factors, which changes nothing but the upsampling:

- luma 2x2: the four luma blocks of each MCU declared as one row of four (4x1):
  the chroma is replicated four times along rows, and the luma blocks are put
  back in their places;
- luma 2x1 or 1x2: each MCU declared as four components of one block (two luma,
  Cb, Cr), so nothing is upsampled: the chroma planes come out as stored (the
  luma does not: its DC prediction now runs per block column); the luma is
  that of the usual decode;
- any other sampling: libjpeg replicates; a block's first sample is the plane's.

>>> from tiffzarr.format._ojpeg import assemble, read_header, tag_header
>>> q, huffman = bytes([1] * 64), bytes([1] + [0] * 15) + b"\\x00"  # one code: 0
>>> tables = tag_header({0: q}, {0: huffman}, {0: huffman}, samples=1, factors=(1, 1))
>>> header = assemble(tables, height=8, width=8)
>>> spec = SegmentSpec(compression=6, shape=(1, 8, 8, 1), dtype="|u1", bitspersample=8,
...                    sampleformat=1, byteorder="<", photometric=1, jpegheader=header)
>>> decode_old_jpeg(np.zeros(8, np.uint8), spec)[0, :2, :4, 0]  # DC 0, AC end of block
array([[128, 128, 128, 128],
       [128, 128, 128, 128]], dtype=uint8)
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import imagecodecs
import numpy as np

from tiffzarr.codecs._spec import SegmentSpec
from tiffzarr.codecs._ycbcr import unpack_contiguous
from tiffzarr.errors import ChunkDecodeError
from tiffzarr.format._enums import Photometric
from tiffzarr.format._ojpeg import Component, Frame, JpegHeader, assemble, read_header

__all__ = ["decode_old_jpeg"]

_codecs: Any = imagecodecs
_EOI = b"\xff\xd9"
_RAW_COLORSPACES = {1: "GRAY", 3: "YCBCR", 4: "CMYK"}
"""libjpeg colour spaces that make it convert nothing, by number of components."""
_FANCY = frozenset({(2, 1), (1, 2), (2, 2)})
"""Luma sampling factors libjpeg upsamples the chroma of with its triangle filter."""


@functools.lru_cache(maxsize=64)
def _header(data: bytes) -> JpegHeader:
    header = read_header(data)
    if header.frame is None or header.scan is None or header.end != len(data):
        raise ChunkDecodeError("the old-style JPEG header does not end with its scan header")
    return header


def decode_old_jpeg(data: np.ndarray, spec: SegmentSpec, /) -> np.ndarray:
    """The segment ``data`` (a flat uint8 array) decoded after ``spec.jpegheader``: an
    array of ``spec.shape``, RGB for YCbCr as libtiff's RGBA interface gives it."""
    if spec.jpegheader is None:
        raise ChunkDecodeError("an old-style JPEG segment needs its rebuilt JPEG header")
    header = _header(spec.jpegheader)
    frame = header.frame
    assert frame is not None
    depth, rows, cols, samples = spec.shape
    if (depth, frame.height, frame.width, len(frame.components)) != (1, rows, cols, samples):
        raise ChunkDecodeError(
            f"JPEG frame of {frame.height}x{frame.width}x{len(frame.components)} does not "
            f"match the {spec.shape} segment"
        )
    body = data.tobytes() + _EOI
    if spec.photometric != Photometric.YCBCR or samples != 3:
        image = _decode(spec.jpegheader + body, _RAW_COLORSPACES.get(samples))
        return image.reshape(spec.shape)
    factors = _raw_factors(frame)
    luma, cb, cr = _planes(header, body, factors)
    return _converted(luma, cb, cr, spec, factors)


def _raw_factors(frame: Frame) -> tuple[int, int]:
    """The subsampling of the raw planes libtiff hands out: the luma sampling factors,
    or (1, 1) when the chroma has more than one block per MCU or the factors are
    not TIFF's (libtiff lets libjpeg upsample then)."""
    luma, *chroma = (c.factors for c in frame.components)
    h, v = luma >> 4, luma & 15
    if any(f != 0x11 for f in chroma) or h not in (1, 2, 4) or v not in (1, 2, 4):
        return (1, 1)
    return h, v


def _decode(stream: bytes, colorspace: str | None) -> np.ndarray:
    return np.asarray(_codecs.jpeg8_decode(stream, colorspace=colorspace, outcolorspace=colorspace))


def _planes(
    header: JpegHeader, body: bytes, factors: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The raw Y, Cb and Cr planes (whole MCUs) of a YCbCr segment."""
    frame, scan = header.frame, header.scan
    assert frame is not None and scan is not None
    h, v = factors
    across, down = math.ceil(frame.width / (8 * h)), math.ceil(frame.height / (8 * v))
    if factors == (2, 2):
        y, cb, cr = frame.components
        row = dataclasses.replace(frame, components=(dataclasses.replace(y, factors=0x41), cb, cr))
        stream = assemble(header, height=8 * down, width=32 * across, frame=row) + body
        image = _decode(stream, "YCBCR")
        blocks = image[..., 0].reshape(down, 8, across, v, h, 8).transpose(0, 3, 1, 2, 4, 5)
        luma = blocks.reshape(8 * v * down, 8 * h * across)
        return luma, image[:, ::4, 1], image[:, ::4, 2]
    image = _decode(assemble(header, height=frame.height, width=frame.width) + body, "YCBCR")
    if factors not in _FANCY:  # replicated: one sample of each block
        return image[..., 0], image[::v, ::h, 1], image[::v, ::h, 2]
    y, cb, cr = frame.components
    sy, scb, scr = scan
    ids = range(1, 5)
    split = dataclasses.replace(
        frame,
        components=tuple(
            Component(i, 0x11, c.table) for i, c in zip(ids, (y, y, cb, cr), strict=True)
        ),
    )
    tables = (sy.table, sy.table, scb.table, scr.table)
    units = tuple(Component(i, 0, t) for i, t in zip(ids, tables, strict=True))
    stream = assemble(header, height=8 * down, width=8 * across, frame=split, scan=units) + body
    chroma = _decode(stream, "CMYK")
    return image[..., 0], chroma[..., 2], chroma[..., 3]


def _converted(
    luma: np.ndarray, cb: np.ndarray, cr: np.ndarray, spec: SegmentSpec, factors: tuple[int, int]
) -> np.ndarray:
    """RGB from raw planes, through the TIFF data units libtiff's codec hands out."""
    h, v = factors
    _, rows, cols, _ = spec.shape
    down, across = math.ceil(rows / v), math.ceil(cols / h)
    pad = ((0, max(0, down * v - luma.shape[0])), (0, max(0, across * h - luma.shape[1])))
    blocks = (
        np.pad(luma, pad, mode="edge")[: down * v, : across * h]
        .reshape(down, v, across, h)
        .transpose(0, 2, 1, 3)
    )
    units = np.empty((down, across, h * v + 2), np.uint8)
    units[..., : h * v] = blocks.reshape(down, across, h * v)
    units[..., h * v] = cb[:down, :across]
    units[..., h * v + 1] = cr[:down, :across]
    subsampled = dataclasses.replace(spec, subsampling=factors)
    return unpack_contiguous(units.reshape(-1), subsampled)
