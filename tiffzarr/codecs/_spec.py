"""What a codec needs to know to turn one TIFF segment's bytes into an array."""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np

__all__ = ["SegmentSpec"]

_BINARY = ("jpegtables", "jpegheader")
"""Fields holding bytes, base64-encoded in the JSON config."""
_TUPLES = (
    "shape",
    "subsampling",
    "ycbcrcoefficients",
    "referenceblackwhite",
    "grid",
    "page",
    "crop",
)
"""Fields holding tuples, lists in the JSON config."""


@dataclass(frozen=True, slots=True)
class SegmentSpec:
    """Everything needed to decode (or encode) one strip or tile, as plain data.

    ``shape`` is the full decoded segment ``(depth, length, width, samples)``;
    ``dtype`` the native-order numpy dtype string of the decoded array (for
    example ``"<u2"``, ``"|b1"``, ``"<c8"``). A segment that stores fewer rows
    (the last strip of a page) decodes to the same shape, padded with zeros;
    ``lastrows`` is that strip's row count when it is shorter (``None``: every
    segment stores ``shape[1]`` rows), the only other frame height a JPEG
    segment may have.
    ``byteorder`` is the byte order of the file's samples. ``t4options`` is the
    T4Options tag (CCITT Group 3: 2-D coding, fill bits). ``jpegheader`` is a
    JPEG header that the segment's bytes continue (NDPI tiles cut from one JPEG
    stream at restart markers; old-style JPEG segments after the header the reader
    rebuilt); the decoder appends an end-of-image marker.
    ``ycbcrcoefficients`` and ``referenceblackwhite`` (``None``: the TIFF
    default) convert subsampled YCbCr segments that are not JPEG to RGB.

    ``grid`` and ``page`` describe a chunk that holds a whole page (chunk mode
    ``"page"``): the chunk's bytes frame all the page's segments, ``grid``
    segments along ``(planes, depth, length, width)``, assembled into ``page``
    ``(planes, depth, length, width, samples)``; ``shape`` stays one segment's.

    ``crop`` ``(depth, length, width)`` is the part of the segment a chunk holds when
    the image is smaller than one tile (a small pyramid level): the decoded
    segment's leading corner; ``None`` when the chunk is the whole segment.

    >>> spec = SegmentSpec(compression=8, shape=(1, 16, 32, 1), dtype="<u2",
    ...                    bitspersample=16, sampleformat=1, byteorder=">", predictor=2)
    >>> SegmentSpec.from_config(spec.to_config()) == spec
    True
    """

    compression: int
    shape: tuple[int, int, int, int]
    dtype: str
    bitspersample: int
    sampleformat: int
    byteorder: Literal["<", ">"]
    predictor: int = 1
    fillorder: int = 1
    photometric: int | None = None
    jpegtables: bytes | None = None
    subsampling: tuple[int, int] = (1, 1)
    t4options: int = 0
    jpegheader: bytes | None = None
    ycbcrcoefficients: tuple[float, float, float] = (0.299, 0.587, 0.114)
    referenceblackwhite: tuple[float, float, float, float, float, float] | None = None
    grid: tuple[int, int, int, int] | None = None
    page: tuple[int, int, int, int, int] | None = None
    lastrows: int | None = None
    crop: tuple[int, int, int] | None = None

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    @property
    def nbytes(self) -> int:
        """Size of the decoded segment in bytes."""
        return math.prod(self.shape) * self.numpy_dtype.itemsize

    @property
    def chunk_shape(self) -> tuple[int, ...]:
        """The shape of a decoded chunk: a whole page, one segment, or its ``crop``.

        >>> SegmentSpec(compression=1, shape=(1, 16, 16, 3), dtype="|u1", bitspersample=8,
        ...             sampleformat=1, byteorder="<", crop=(1, 5, 7)).chunk_shape
        (1, 5, 7, 3)
        """
        if self.page is not None:
            return self.page
        if self.crop is not None:
            return (*self.crop, self.shape[3])
        return self.shape

    @property
    def chunk_nbytes(self) -> int:
        """Size of the decoded chunk in bytes: a segment (or its ``crop``), or a whole
        page. A cropped segment is decoded whole first (``nbytes``)."""
        return math.prod(self.chunk_shape) * self.numpy_dtype.itemsize

    def to_config(self) -> dict[str, Any]:
        """Plain JSON-able dict (bytes base64-encoded, tuples as lists)."""
        config = {f.name: getattr(self, f.name) for f in fields(self)}  # asdict deep-copies
        for key in _TUPLES:
            if config[key] is not None:
                config[key] = list(config[key])
        for key in _BINARY:
            if config[key] is not None:
                config[key] = base64.b64encode(config[key]).decode("ascii")
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], /) -> SegmentSpec:
        config = dict(config)
        for key in _BINARY:
            if isinstance(config.get(key), str):
                config[key] = base64.b64decode(config[key])
        for key in _TUPLES:
            if config.get(key) is not None:
                config[key] = tuple(config[key])
        return cls(**config)
