"""Derive a page's array geometry from its tags: shape, dtype, axes, chunk grid.

A page is stored as segments (strips or tiles, one set per sample plane when
PlanarConfiguration is 2). Each segment is one chunk of the page's array; the
chunk grid and the map between chunk coordinates and segment indices are
computed here, without I/O.

Shapes follow the usual TIFF-reader convention (and tifffile's): the page's
dimensions are ``(S, Z, Y, X)`` for separate planes or ``(Z, Y, X, S)`` for
interleaved samples, with ``S`` and ``Z`` dropped when they are 1.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np

from tiffzarr.errors import LimitError, TiffFormatError, UnsupportedError
from tiffzarr.format._enums import Compression, Photometric, PlanarConfig, SampleFormat
from tiffzarr.format._ifd import TagValue

__all__ = ["MAX_SEGMENT_BYTES", "PageLayout", "page_dtype", "page_layout"]

MAX_SEGMENT_BYTES = 2**31 - 1
"""Largest decoded size of one strip or tile; larger ones are refused."""
MAX_PAGE_ITEMS = 2**48
"""Largest number of samples in one page."""

# (SampleFormat, bits per sample) → numpy type character, as data.
_UINT_SIZES = ((8, "u1"), (16, "u2"), (32, "u4"), (64, "u8"))
_INT_SIZES = ((8, "i1"), (16, "i2"), (32, "i4"), (64, "i8"))
_FLOAT_DTYPES = {16: "f2", 24: "f4", 32: "f4", 64: "f8"}
_COMPLEX_DTYPES = {
    (SampleFormat.COMPLEXINT, 16): "c8",
    (SampleFormat.COMPLEXINT, 32): "c8",
    (SampleFormat.COMPLEXINT, 64): "c16",
    (SampleFormat.COMPLEXIEEEFP, 32): "c8",
    (SampleFormat.COMPLEXIEEEFP, 64): "c8",
    (SampleFormat.COMPLEXIEEEFP, 128): "c16",
}


def page_dtype(sampleformat: int, bitspersample: int) -> np.dtype:
    """Return the native numpy dtype that holds samples of this format and size.

    >>> page_dtype(1, 12), page_dtype(3, 24), page_dtype(5, 32), page_dtype(1, 1)
    (dtype('uint16'), dtype('float32'), dtype('complex64'), dtype('bool'))
    """
    if bitspersample < 1 or bitspersample > 128:
        raise UnsupportedError(f"{bitspersample} bits per sample", tag=258)
    if sampleformat in (SampleFormat.UINT, SampleFormat.VOID) and bitspersample <= 64:
        if bitspersample == 1:
            return np.dtype("?")
        return np.dtype(next(c for size, c in _UINT_SIZES if bitspersample <= size))
    if sampleformat == SampleFormat.INT and bitspersample <= 64:
        return np.dtype(next(c for size, c in _INT_SIZES if bitspersample <= size))
    if sampleformat == SampleFormat.IEEEFP and bitspersample in _FLOAT_DTYPES:
        return np.dtype(_FLOAT_DTYPES[bitspersample])
    key = (sampleformat, bitspersample)
    if key in _COMPLEX_DTYPES:
        return np.dtype(_COMPLEX_DTYPES[key])
    raise UnsupportedError(
        f"SampleFormat {sampleformat} with {bitspersample} bits per sample", tag=339
    )


@dataclass(frozen=True)
class PageLayout:
    """The array geometry of one page and its segments.

    ``shaped`` is the full 5-D view ``(separate samples, depth, length, width,
    contiguous samples)``; ``segment_shape`` the 4-D decoded shape of one segment
    ``(depth, length, width, samples)``; ``grid`` the number of segments along the
    first four dimensions of ``shaped``.
    """

    width: int
    length: int
    depth: int
    samples: int
    bitspersample: int
    sampleformat: int
    planar: int
    photometric: int | None
    compression: int
    predictor: int
    fillorder: int
    extrasamples: tuple[int, ...]
    tiled: bool
    tile: tuple[int, int, int]
    subsampling: tuple[int, int]
    dtype: np.dtype

    # -- derived geometry ------------------------------------------------
    @functools.cached_property
    def has_samples(self) -> bool:
        """True when the page's shape has a sample axis (RGB always has one)."""
        return self.samples > 1 or self.photometric == Photometric.RGB

    @functools.cached_property
    def separate(self) -> bool:
        return self.planar == PlanarConfig.SEPARATE and self.has_samples

    @functools.cached_property
    def shaped(self) -> tuple[int, int, int, int, int]:
        s = self.samples
        return (
            s if self.separate else 1,
            self.depth,
            self.length,
            self.width,
            1 if self.separate else s,
        )

    @functools.cached_property
    def segment_shape(self) -> tuple[int, int, int, int]:
        return (*self.tile, 1 if self.separate else self.samples)

    @functools.cached_property
    def grid(self) -> tuple[int, int, int, int]:
        sep, depth, length, width, _ = self.shaped
        td, tl, tw = self.tile
        return (sep, _ceildiv(depth, td), _ceildiv(length, tl), _ceildiv(width, tw))

    @functools.cached_property
    def nsegments(self) -> int:
        return math.prod(self.grid)

    @functools.cached_property
    def _keep(self) -> tuple[bool, bool, bool, bool, bool]:
        samples = self.has_samples
        return (
            samples and self.separate,
            self.depth > 1,
            True,
            True,
            samples and not self.separate,
        )

    @functools.cached_property
    def shape(self) -> tuple[int, ...]:
        return tuple(n for n, keep in zip(self.shaped, self._keep, strict=True) if keep)

    @functools.cached_property
    def axes(self) -> str:
        return "".join(a for a, keep in zip("SZYXS", self._keep, strict=True) if keep)

    @functools.cached_property
    def chunks(self) -> tuple[int, ...]:
        full = (1, *self.tile, self.shaped[4])
        return tuple(max(1, n) for n, keep in zip(full, self._keep, strict=True) if keep)

    @functools.cached_property
    def row_nbytes(self) -> int:
        """Bytes of one uncompressed segment row as stored (rows start on a byte)."""
        _, _, width, samples = self.segment_shape
        return -(-width * samples * self.bitspersample // 8)

    @functools.cached_property
    def stored_nbytes(self) -> int:
        """Bytes of one full uncompressed segment as stored."""
        depth, rows, _, _ = self.segment_shape
        return depth * rows * self.row_nbytes

    @functools.cached_property
    def page_nbytes(self) -> int:
        """Bytes of the whole page stored uncompressed in strips, one after another."""
        sep, depth, length, _, _ = self.shaped
        return sep * depth * length * self.row_nbytes

    @functools.cached_property
    def repairs_byte_count(self) -> bool:
        """A byte count past the end of the file is read at the stored size.

        Only for the one strip of an uncompressed page, as libtiff repairs a
        common writer bug; elsewhere such a count is an error.
        """
        return self.compression == Compression.NONE and self.nsegments == 1

    @functools.cached_property
    def segment_nbytes(self) -> int:
        """Bytes of one decoded segment in the page's dtype."""
        return math.prod(self.segment_shape) * self.dtype.itemsize

    def segment_index(self, chunk: tuple[int, ...], /) -> int:
        """Map chunk coordinates (in ``chunks`` units, rank of ``shape``) to a segment.

        >>> lay = page_layout({256: 100, 257: 100, 322: 64, 323: 32, 277: 3, 284: 2, 258: 8},
        ...                   nsegments=24)
        >>> lay.shape, lay.chunks, lay.segment_index((2, 3, 1))
        ((3, 100, 100), (1, 32, 64), 23)
        """
        full = iter(chunk)
        s, z, y, x = (next(full) if keep else 0 for keep in self._keep[:4])
        _, gz, gy, gx = self.grid
        return ((s * gz + z) * gy + y) * gx + x


LAYOUT_TAGS = (256, 257, 258, 259, 262, 266, 277, 278, 284, 317, 322, 323, 338, 339, 530,
               32997, 32998)  # fmt: skip
"""The tags a page's layout depends on."""


KeyValue: TypeAlias = int | float | str | bytes | tuple[Any, ...]
"""A tag value as a layout's key holds it: arrays as tuples of their items."""


def page_layout(tags: Mapping[int, TagValue], /, *, nsegments: int | None = None) -> PageLayout:
    """Build a :class:`PageLayout` from decoded tag values (code → value).

    ``nsegments`` is the count of the StripOffsets or TileOffsets tag; when given
    it must cover the segments the geometry implies. Pages with equal layout
    tags share one layout object.
    """
    key: tuple[tuple[int, KeyValue], ...] = tuple(
        (code, tuple(v.tolist()) if isinstance(v, np.ndarray) else v)
        for code in LAYOUT_TAGS
        if (v := tags.get(code)) is not None
    )
    layout = _layout_from_key(key)
    if nsegments is not None and nsegments < layout.nsegments:
        raise TiffFormatError(
            f"{nsegments} segment offsets for {layout.nsegments} segments",
            tag=324 if layout.tiled else 273,
        )
    return layout


@functools.lru_cache(maxsize=256)
def _layout_from_key(key: tuple[tuple[int, KeyValue], ...]) -> PageLayout:
    tags = dict(key)
    width = _uint(tags, 256, required=True)
    length = _uint(tags, 257, required=True)
    depth = _uint(tags, 32997, default=1)
    compression = _uint(tags, 259, default=1)
    if compression == Compression.OJPEG:
        tags = dict(_ojpeg_defaults(tags))
    samples = _uint(tags, 277, default=1)
    if samples < 1:
        raise TiffFormatError("SamplesPerPixel is 0", tag=277)
    bps = _uniform(tags, 258, samples, default=1)
    sampleformat = _uniform(tags, 339, samples, default=1)
    photometric = _uint(tags, 262) if 262 in tags else None
    dtype = page_dtype(sampleformat, bps)
    if math.prod((width, length, max(depth, 1), samples)) > MAX_PAGE_ITEMS:
        raise LimitError(
            f"page of {width}x{length}x{depth}x{samples} samples is too large", tag=256
        )
    tiled = 322 in tags or 323 in tags
    if tiled:
        tile = (
            _uint(tags, 32998, default=1),
            _uint(tags, 323, required=True),
            _uint(tags, 322, required=True),
        )
        if min(tile) < 1:
            raise TiffFormatError(f"tile size {tile} has a zero dimension", tag=322)
    else:
        rows = _rows_per_strip(tags, length)
        if rows < 1 and length > 0:
            raise TiffFormatError("RowsPerStrip is 0", tag=278)
        tile = (1, max(1, min(rows, length)), max(1, width))
    planar = _uint(tags, 284, default=1)
    if planar not in (1, 2):
        raise TiffFormatError(f"PlanarConfiguration is {planar}", tag=284)
    layout = PageLayout(
        width=width,
        length=length,
        depth=depth,
        samples=samples,
        bitspersample=bps,
        sampleformat=sampleformat,
        planar=planar,
        photometric=photometric,
        compression=compression,
        predictor=_uint(tags, 317, default=1),
        fillorder=_uint(tags, 266, default=1),
        extrasamples=tuple(int(v) for v in _items(tags.get(338, ()))),
        tiled=tiled,
        tile=tile,
        subsampling=_subsampling(tags, photometric),
        dtype=dtype,
    )
    if layout.segment_nbytes > MAX_SEGMENT_BYTES:
        raise LimitError(
            f"one segment of {layout.segment_shape} {dtype} samples exceeds "
            f"{MAX_SEGMENT_BYTES} bytes",
            tag=322 if tiled else 278,
        )
    return layout


def _ceildiv(a: int, b: int) -> int:
    return -(-a // b)


def _items(value: KeyValue) -> tuple[Any, ...]:
    """The items of a tag's value (one for a scalar)."""
    return value if isinstance(value, tuple) else (value,)


def _uint(
    tags: Mapping[int, KeyValue], code: int, *, default: int | None = None, required: bool = False
) -> int:
    if code not in tags:
        if required or default is None:
            raise TiffFormatError("required tag is missing", tag=code)
        return default
    value = tags[code]
    if isinstance(value, tuple):
        if not _integers(value):
            raise TiffFormatError("tag must hold an integer", tag=code)
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TiffFormatError(f"tag must hold an integer, not {type(value).__name__}", tag=code)
    if value < 0:
        raise TiffFormatError(f"tag holds a negative value {value}", tag=code)
    return value


def _integers(values: tuple[Any, ...]) -> bool:
    """Whether ``values`` (the items of one array, all of one type) are integers."""
    return bool(values) and isinstance(values[0], int) and not isinstance(values[0], bool)


def _rows_per_strip(tags: Mapping[int, KeyValue], length: int) -> int:
    """RowsPerStrip; missing or given per strip (count > 1) means one strip."""
    value = tags.get(278)
    if value is None or (isinstance(value, tuple) and len(value) > 1):
        return max(1, length)
    return _uint(tags, 278)


def _ojpeg_defaults(tags: Mapping[int, KeyValue]) -> dict[int, KeyValue]:
    """Old-style JPEG files often omit tags; fill them in as libtiff does."""
    fixed = dict(tags)
    if fixed.get(262, Photometric.RGB) == Photometric.RGB:
        fixed[262] = int(Photometric.YCBCR)
    fixed.setdefault(258, 8)
    if 277 not in fixed and fixed[262] in (0, 1, 2, 6):
        fixed[277] = 3
    return fixed


def _uniform(tags: Mapping[int, KeyValue], code: int, samples: int, *, default: int) -> int:
    """A per-sample tag whose values must all be equal (BitsPerSample, SampleFormat).

    Values beyond the number of samples are ignored (some writers store more).
    """
    value = tags.get(code, default)
    if isinstance(value, tuple):
        value = value[:samples]
        if not _integers(value):
            raise TiffFormatError("tag must hold integers", tag=code)
        if any(v != value[0] for v in value):
            raise UnsupportedError(f"samples of different types {list(value)}", tag=code)
    return _uint({code: value}, code)


def _subsampling(tags: Mapping[int, KeyValue], photometric: int | None) -> tuple[int, int]:
    if photometric != Photometric.YCBCR:
        return (1, 1)
    pair = _items(tags.get(530, (2, 2)))
    if len(pair) != 2 or not all(int(v) in (1, 2, 4) for v in pair):
        raise TiffFormatError(f"YCbCrSubSampling {list(pair)} is invalid", tag=530)
    return (int(pair[0]), int(pair[1]))
