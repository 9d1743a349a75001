"""Subsampled YCbCr without JPEG, and the lenient reads libtiff does.

- Contiguous subsampled YCbCr (TIFF 6.0 section 21) reads as GDAL's RGB, exactly, for
  every subsampling, odd sizes, several strips, tiles, ReferenceBlackWhite and
  YCbCrCoefficients; and within 3 of the specification's formulas (libtiff's fixed
  point). Where GDAL differs (libtiff truncates 4x4 strips), the reason is pinned.
- Separate-planes subsampled YCbCr (luma plane, then the subsampled Cb and Cr planes),
  which libtiff refuses: the specification is the oracle; the same samples stored
  contiguously read by GDAL give the same RGB.
- Lenient reads, each with a TiffFormatWarning where the file breaks the
  specification, compared with GDAL: StripByteCounts of 0 (or missing) for a page's one
  strip, uncompressed strips with too small byte counts, StripOffsets longer than the
  strips (RowsPerStrip larger than the image), a last Deflate strip coding a whole
  strip; CCITT T.4 with fill bits that T4Options does not declare.
"""

from __future__ import annotations

import math
import struct
import warnings
import zlib
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import rasterio
import zarr
from PIL import Image
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

import tiffzarr
from tests.conftest import CORPUS, require
from tiffzarr.errors import ChunkDecodeError, TiffFormatWarning, UnsupportedError

SHORT, LONG, RATIONAL = 3, 4, 5
STRIP_OFFSETS, STRIP_BYTE_COUNTS, TILE_OFFSETS, TILE_BYTE_COUNTS = 273, 279, 324, 325
Tags = dict[int, tuple[int, list]]


# -- a TIFF writer for layouts no library writes ------------------------------------------


def tiff_bytes(
    tags: Tags,
    segments: list[bytes],
    *,
    byteorder: str = "<",
    tiled: bool = False,
    counts: list[int] | None = None,
) -> bytes:
    """A classic TIFF of one IFD (``tags``: code → (type, values)) right after the header,
    its out-of-line values, then ``segments`` back to back. ``counts`` replaces the byte
    counts (``[]``: no byte-count tag)."""
    tags = dict(tags)
    offsets_code, counts_code = (
        (TILE_OFFSETS, TILE_BYTE_COUNTS) if tiled else (STRIP_OFFSETS, STRIP_BYTE_COUNTS)
    )
    tags[offsets_code] = (LONG, [0] * len(segments))
    counts = [len(s) for s in segments] if counts is None else counts
    if counts:
        tags[counts_code] = (LONG, counts)
    codes = sorted(tags)
    bo = byteorder
    packed = {code: _pack(*tags[code], bo) for code in codes}
    values_at = 8 + 2 + 12 * len(codes) + 4
    data_at = values_at + sum(len(p) + len(p) % 2 for p in packed.values() if len(p) > 4)
    starts = np.cumsum([data_at] + [len(s) for s in segments])[:-1]
    packed[offsets_code] = struct.pack(f"{bo}{len(segments)}I", *starts)
    out = bytearray((b"II" if bo == "<" else b"MM") + struct.pack(bo + "HIH", 42, 8, len(codes)))
    extra = bytearray()
    for code in codes:
        value = packed[code]
        field = value.ljust(4, b"\0")
        if len(value) > 4:
            field = struct.pack(bo + "I", values_at + len(extra))
            extra += value + b"\0" * (len(value) % 2)
        out += struct.pack(bo + "HHI", code, tags[code][0], len(tags[code][1])) + field
    return bytes(out + bytes(4) + extra + b"".join(segments))


def _pack(kind: int, values: list, bo: str) -> bytes:
    if kind == RATIONAL:
        return b"".join(struct.pack(bo + "II", *pair) for pair in values)
    return struct.pack(f"{bo}{len(values)}{'H' if kind == SHORT else 'I'}", *values)


def rationals(values: tuple[float, ...], denominator: int = 10000) -> list[tuple[int, int]]:
    return [(round(v * denominator), denominator) for v in values]


def gdal_bands(path: Path) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as dataset:
            return dataset.read()


def our_bands(path: Path) -> np.ndarray:
    """Page 0 through the store, bands first as rasterio reads it."""
    store = tiffzarr.open_store(str(path), page=0)
    axes = next(iter(store.hierarchy.arrays.values())).axes
    array = np.asarray(zarr.open_array(store, mode="r")[...])
    return array[np.newaxis] if "S" not in axes else np.moveaxis(array, axes.index("S"), 0)


# -- YCbCr fixtures -------------------------------------------------------------------------


class Samples:
    """Seeded Y, Cb, Cr planes of an image of ``length x width`` pixels subsampled ``sub``."""

    def __init__(self, length: int, width: int, sub: tuple[int, int], seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.sub = sub
        self.length, self.width = length, width
        h, v = sub
        self.y = self.rng.integers(0, 256, (length, width), dtype=np.uint8)
        chroma = (math.ceil(length / v), math.ceil(width / h))
        self.cb, self.cr = (self.rng.integers(0, 256, chroma, dtype=np.uint8) for _ in "bc")

    def regions(self, rows: int, cols: int) -> list[tuple[int, int]]:
        """Top-left corners of the segments (strips when ``cols`` is the width)."""
        return [(r, c) for r in range(0, self.length, rows) for c in range(0, self.width, cols)]

    def _cut(
        self, plane: np.ndarray, corner: tuple[int, int], size: tuple[int, int], *, pad: bool
    ) -> np.ndarray:
        """A segment's part of ``plane`` (``size`` samples from ``corner``), padded with
        noise to ``size`` when ``pad`` (tiles)."""
        (r0, c0), (rows, cols) = corner, size
        part = plane[r0 : r0 + rows, c0 : c0 + cols]
        if not pad:
            return part
        out = self.rng.integers(0, 256, (rows, cols), dtype=np.uint8)
        out[: part.shape[0], : part.shape[1]] = part
        return out

    def contiguous(self, rows: int, cols: int, *, tiled: bool) -> list[bytes]:
        """Segments of data units: per block its luma row by row, then Cb and Cr."""
        h, v = self.sub
        out = []
        for r0, c0 in self.regions(rows, cols):
            corner, size = (r0 // v, c0 // h), (rows // v, -(-cols // h))
            cb, cr = (self._cut(p, corner, size, pad=tiled) for p in (self.cb, self.cr))
            down, across = cb.shape
            luma = self.rng.integers(0, 256, (down * v, across * h), dtype=np.uint8)  # padding
            part = self.y[r0 : r0 + rows, c0 : c0 + cols]
            luma[: part.shape[0], : part.shape[1]] = part
            units = luma.reshape(down, v, across, h).transpose(0, 2, 1, 3).reshape(down, across, -1)
            out.append(np.concatenate([units, cb[..., None], cr[..., None]], -1).tobytes())
        return out

    def planar(self, rows: int, cols: int, *, tiled: bool) -> list[bytes]:
        """Segments of the luma plane, then of the Cb plane, then of the Cr plane."""
        h, v = self.sub
        corners = self.regions(rows, cols)
        luma = [self._cut(self.y, corner, (rows, cols), pad=tiled) for corner in corners]
        size = (-(-rows // v), -(-cols // h))
        chroma = [
            [self._cut(p, (r // v, c // h), size, pad=tiled) for r, c in corners]
            for p in (self.cb, self.cr)
        ]
        return [s.tobytes() for s in luma + chroma[0] + chroma[1]]

    def spec_rgb(
        self, coefficients: tuple[float, float, float], reference: tuple[float, ...]
    ) -> np.ndarray:
        """RGB ``(3, length, width)`` by TIFF 6.0 section 21's formulas, in floating point."""
        h, v = self.sub
        up = [
            np.repeat(np.repeat(c, v, 0), h, 1)[: self.length, : self.width]
            for c in (self.cb, self.cr)
        ]
        luma = (self.y - reference[0]) * 255 / (reference[1] - reference[0])
        cb = (up[0] - reference[2]) * 127 / (reference[3] - reference[2])
        cr = (up[1] - reference[4]) * 127 / (reference[5] - reference[4])
        red_, green_, blue_ = coefficients
        red = cr * (2 - 2 * red_) + luma
        blue = cb * (2 - 2 * blue_) + luma
        green = (luma - blue_ * blue - red_ * red) / green_
        return np.clip(np.rint(np.stack([red, green, blue])), 0, 255).astype(np.uint8)


def ycbcr_tags(s: Samples, segment: tuple[int, int], *, planar: bool, tiled: bool,
               compression: int = 1, extra: Tags | None = None) -> Tags:  # fmt: skip
    tags: Tags = {
        256: (LONG, [s.width]), 257: (LONG, [s.length]), 258: (SHORT, [8, 8, 8]),
        259: (SHORT, [compression]), 262: (SHORT, [6]), 277: (SHORT, [3]),
        284: (SHORT, [2 if planar else 1]), 530: (SHORT, list(s.sub)),
    }  # fmt: skip
    if tiled:
        tags[322], tags[323] = (LONG, [segment[1]]), (LONG, [segment[0]])
    else:
        tags[278] = (LONG, [segment[0]])
    return {**tags, **(extra or {})}


def write_ycbcr(path: Path, s: Samples, segment: tuple[int, int], *, planar: bool = False,
                tiled: bool = False, compression: int = 1, byteorder: str = "<",
                extra: Tags | None = None) -> Path:  # fmt: skip
    rows, cols = segment
    segments = (s.planar if planar else s.contiguous)(rows, cols, tiled=tiled)
    if compression == 8:
        segments = [zlib.compress(seg) for seg in segments]
    elif compression == 5:
        segments = [imagecodecs.lzw_encode(seg) for seg in segments]
    tags = ycbcr_tags(s, segment, planar=planar, tiled=tiled, compression=compression,
                      extra=extra)  # fmt: skip
    path.write_bytes(tiff_bytes(tags, segments, byteorder=byteorder, tiled=tiled))
    return path


# -- 1. contiguous subsampled YCbCr: as GDAL ---------------------------------------------

BT709 = (0.2125, 0.7154, 0.0721)
FOOTROOM = (16.0, 235.0, 128.0, 240.0, 128.0, 240.0)
FRACTIONAL = (10.5, 250.0, 120.0, 250.0, 135.5, 230.0)
DEFAULT_REFERENCE = (0.0, 255.0, 128.0, 255.0, 128.0, 255.0)
DEFAULT_COEFFICIENTS = (0.299, 0.587, 0.114)

CONTIGUOUS = [
    # (length, width, subsampling, segment rows x columns, tiled, compression, byte order)
    (10, 10, (2, 2), (4, 10), False, 1, "<"),
    (9, 11, (2, 2), (4, 11), False, 8, ">"),
    (9, 11, (2, 1), (3, 11), False, 5, "<"),
    (7, 13, (4, 2), (4, 13), False, 1, ">"),
    (8, 9, (4, 1), (2, 9), False, 8, "<"),
    (9, 11, (1, 2), (4, 11), False, 1, "<"),
    (13, 16, (4, 4), (8, 16), False, 8, "<"),  # an even number of blocks per row
    (37, 45, (2, 2), (16, 16), True, 8, "<"),
    (33, 50, (4, 2), (16, 32), True, 8, ">"),
]
"""(GDAL reads no uncompressed subsampled tile whose size is not a multiple of 1024 bytes:
libtiff's sanity check compares it with the raw buffer it rounded up.)"""
SPEC_TOLERANCE = 3
"""libtiff's fixed point, and its whole-number black levels (``int(10.5)``), against the
specification's formulas in floating point."""


@pytest.mark.parametrize("reference", [None, FOOTROOM, FRACTIONAL])
@pytest.mark.parametrize("case", CONTIGUOUS, ids=lambda c: f"{c[0]}x{c[1]}-{c[2]}-{c[3]}-{c[5]}")
def test_contiguous_ycbcr_reads_as_gdal(
    tmp_path: Path, case: tuple, reference: tuple[float, ...] | None
) -> None:
    length, width, sub, segment, tiled, compression, byteorder = case
    s = Samples(length, width, sub, seed=length * width)
    extra: Tags = {} if reference is None else {532: (RATIONAL, rationals(reference, 10))}
    if reference == FOOTROOM:
        extra[529] = (RATIONAL, rationals(BT709))
    path = write_ycbcr(tmp_path / "c.tif", s, segment, tiled=tiled, compression=compression,
                       byteorder=byteorder, extra=extra)  # fmt: skip
    ours = our_bands(path)
    np.testing.assert_array_equal(ours, gdal_bands(path))
    coefficients = BT709 if reference == FOOTROOM else DEFAULT_COEFFICIENTS
    spec = s.spec_rgb(coefficients, reference or DEFAULT_REFERENCE)
    assert np.abs(ours.astype(int) - spec).max() <= SPEC_TOLERANCE


def test_gdal_loses_the_last_block_of_4x4_strips_with_odd_blocks(tmp_path: Path) -> None:
    """Why GDAL differs for 4x4 (and 2x4, 1x4) subsampling with an odd number of blocks
    per row: libtiff's scanline size (a block row's bytes / 4) is truncated, so it reads
    the last data unit of each strip short and converts it with Cb = Cr = 0. tiffzarr
    follows the specification there (and GDAL elsewhere)."""
    s = Samples(13, 10, (4, 4), seed=3)  # 3 blocks of 18 bytes a row: 54 / 4 is no integer
    path = write_ycbcr(tmp_path / "odd.tif", s, (8, 10))
    ours, gdal = our_bands(path), gdal_bands(path)
    differs = (ours != gdal).any(axis=0)
    expected = np.zeros_like(differs)
    expected[4:8, 8:10] = expected[12:13, 8:10] = True  # each strip's last block
    np.testing.assert_array_equal(differs, expected)
    spec = s.spec_rgb(DEFAULT_COEFFICIENTS, DEFAULT_REFERENCE)
    assert np.abs(ours.astype(int) - spec).max() <= SPEC_TOLERANCE


@pytest.mark.parametrize(
    "relpath",
    ["files/image-tiff/libtiffpic/dscf0013.tif", "files/image-tiff/libtiffpic/ycbcr-cat.tif"],
)
def test_corpus_ycbcr_reads_as_gdal(relpath: str) -> None:
    path = require(CORPUS, "corpus") / relpath
    np.testing.assert_array_equal(our_bands(path), gdal_bands(path))


# -- 2. separate planes: the specification ----------------------------------------------

PLANAR = [
    (8, 8, (2, 2), (4, 8), False, 1),
    (9, 11, (2, 2), (4, 11), False, 8),
    (9, 11, (2, 1), (3, 11), False, 5),
    (13, 10, (4, 4), (8, 10), False, 8),
    (7, 9, (4, 2), (2, 9), False, 1),
    (37, 45, (2, 2), (16, 16), True, 8),
]


@pytest.mark.parametrize("case", PLANAR, ids=lambda c: f"{c[0]}x{c[1]}-{c[2]}-{c[3]}-{c[5]}")
def test_planar_ycbcr_is_rgb_by_the_specification(tmp_path: Path, case: tuple) -> None:
    length, width, sub, segment, tiled, compression = case
    s = Samples(length, width, sub, seed=7 * length + width)
    extra: Tags = {532: (RATIONAL, rationals(FOOTROOM, 10)), 529: (RATIONAL, rationals(BT709))}
    planar = write_ycbcr(tmp_path / "p.tif", s, segment, planar=True, tiled=tiled,
                         compression=compression, extra=extra)  # fmt: skip
    ours = our_bands(planar)
    assert np.abs(ours.astype(int) - s.spec_rgb(BT709, FOOTROOM)).max() <= SPEC_TOLERANCE
    if sub != (4, 4):  # (GDAL loses a block of 4x4 strips, see above)
        samples = Samples(length, width, sub, seed=7 * length + width)  # the same samples
        contiguous = write_ycbcr(tmp_path / "c.tif", samples, segment, tiled=tiled,
                                 compression=8, extra=extra)  # fmt: skip
        np.testing.assert_array_equal(ours, gdal_bands(contiguous))
    with pytest.raises(RasterioIOError):  # libtiff: "Sorry, can not handle image"
        gdal_bands(planar)


def test_planar_ycbcr_page_is_one_chunk(tmp_path: Path) -> None:
    """The planes convert together, so a chunk holds the page; the group lists it."""
    s = Samples(9, 11, (2, 2), seed=1)
    path = write_ycbcr(tmp_path / "p.tif", s, (4, 11), planar=True, compression=8)
    group = zarr.open_group(tiffzarr.open_store(str(path)), mode="r")
    array = group["0/0"]
    assert array.shape == array.chunks == (3, 9, 11)
    assert [name for name, _ in group.members(max_depth=None)] == ["0", "0/0"]
    with pytest.raises(UnsupportedError, match="whole-page chunks"):
        tiffzarr.references(str(path), series=0, level=0)


def test_planar_ycbcr_sparse_luma_is_fill(tmp_path: Path) -> None:
    s = Samples(8, 8, (2, 2), seed=2)
    segments = s.planar(4, 8, tiled=False)
    tags = ycbcr_tags(s, (4, 8), planar=True, tiled=False)
    counts = [len(seg) for seg in segments]
    counts[1] = 0  # the luma of the second strip
    path = tmp_path / "sparse.tif"
    path.write_bytes(tiff_bytes(tags, segments, counts=counts))
    ours = our_bands(path)
    assert not ours[:, 4:].any()
    spec = s.spec_rgb(DEFAULT_COEFFICIENTS, DEFAULT_REFERENCE)
    assert np.abs(ours[:, :4].astype(int) - spec[:, :4]).max() <= SPEC_TOLERANCE


# -- 3. byte counts as libtiff reads them --------------------------------------------------

GRAY = {256: (LONG, [10]), 257: (LONG, [12]), 258: (SHORT, [8]), 262: (SHORT, [1]),
        277: (SHORT, [1])}  # fmt: skip
IMAGE = np.random.default_rng(11).integers(0, 256, (12, 10), dtype=np.uint8)


def gray_file(path: Path, *, compression: int, rows: int, counts=None) -> Path:
    strips = [IMAGE[r : r + rows].tobytes() for r in range(0, 12, rows)]
    if compression == 8:
        strips = [zlib.compress(s) for s in strips]
    tags = {**GRAY, 259: (SHORT, [compression]), 278: (LONG, [rows])}
    claimed = None if counts is None else counts([len(s) for s in strips])
    path.write_bytes(tiff_bytes(tags, strips, counts=claimed))
    return path


def opened(path: Path, match: str) -> tiffzarr.TiffIndex:
    with pytest.warns(TiffFormatWarning, match=match):
        return tiffzarr.open_tiff(str(path))


@pytest.mark.parametrize("compression", [1, 8])
def test_zero_byte_count_of_the_only_strip_is_estimated(tmp_path: Path, compression: int) -> None:
    path = gray_file(tmp_path / "z.tif", compression=compression, rows=12, counts=lambda c: [0])
    index = opened(path, "StripByteCounts is 0 for the page's only strip")
    assert "as libtiff does" in index.warnings[-1]
    np.testing.assert_array_equal(our_bands(path), gdal_bands(path))
    np.testing.assert_array_equal(our_bands(path)[0], IMAGE)


@pytest.mark.parametrize("compression", [1, 8])
def test_zero_byte_count_among_strips_is_sparse(tmp_path: Path, compression: int) -> None:
    """As GDAL and tifffile read it: the strip is fill."""
    path = gray_file(tmp_path / "z.tif", compression=compression, rows=4,
                     counts=lambda c: [c[0], 0, c[2]])  # fmt: skip
    ours = our_bands(path)
    np.testing.assert_array_equal(ours, gdal_bands(path))
    assert not ours[0, 4:8].any()


def test_missing_byte_counts_of_one_compressed_strip_are_estimated(tmp_path: Path) -> None:
    path = gray_file(tmp_path / "m.tif", compression=8, rows=12, counts=lambda c: [])
    opened(path, "StripByteCounts is missing")
    np.testing.assert_array_equal(our_bands(path), gdal_bands(path))


def test_missing_byte_counts_of_compressed_strips_are_refused(tmp_path: Path) -> None:
    """libtiff refuses them too ("MissingRequired")."""
    path = gray_file(tmp_path / "m.tif", compression=8, rows=4, counts=lambda c: [])
    with pytest.raises(tiffzarr.TiffZarrError, match="no segment byte counts"):
        tiffzarr.open_tiff(str(path))


def test_short_uncompressed_counts_read_the_stored_size(tmp_path: Path) -> None:
    path = gray_file(tmp_path / "s.tif", compression=1, rows=4, counts=lambda c: [c[0], 7, c[2]])
    index = opened(path, r"1 uncompressed segments .* \(segment 1: 7 of 40 bytes\)")
    assert index.pages[0].segments is not None
    np.testing.assert_array_equal(our_bands(path), gdal_bands(path))
    np.testing.assert_array_equal(our_bands(path)[0], IMAGE)


def test_overflowing_rows_per_strip_reads_as_gdal() -> None:
    """RowsPerStrip 2**31 + 1 for 374 rows, 39 strips listed for 3 planes of 8062 bytes:
    libtiff takes the first 3 and reads each plane whole from its offset."""
    path = require(CORPUS, "corpus") / "files/pillow/tiff_overflow_rows_per_strip.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TiffFormatWarning)  # may be parsed before: cached
        index = tiffzarr.open_tiff(str(path))
    assert any("holds 39 values for 3 segments" in w for w in index.warnings)
    assert any("read at their stored size" in w for w in index.warnings)
    np.testing.assert_array_equal(our_bands(path), gdal_bands(path))


def test_last_deflate_strip_coding_a_whole_strip(tmp_path: Path) -> None:
    """Its extra rows are dropped, as libtiff drops them; a stream coding more than a whole
    strip is refused."""
    rows = 5
    strips = [IMAGE[r : r + rows].tobytes() for r in range(0, 12, rows)]
    strips[-1] = strips[-1] + bytes(range(256))[: 3 * 10]  # 2 rows coded as 5
    tags = {**GRAY, 259: (SHORT, [8]), 278: (LONG, [rows])}
    path = tmp_path / "d.tif"
    path.write_bytes(tiff_bytes(tags, [zlib.compress(s) for s in strips]))
    np.testing.assert_array_equal(our_bands(path), gdal_bands(path))
    strips[-1] = bytes(60)  # 6 rows in a 5-row strip
    path.write_bytes(tiff_bytes(tags, [zlib.compress(s) for s in strips]))
    with pytest.raises(ChunkDecodeError):
        our_bands(path)


def test_deflate_last_strip_extra_data_corpus_file() -> None:
    path = require(CORPUS, "corpus") / "files/libtiff/deflate-last-strip-extra-data.tiff"
    np.testing.assert_array_equal(our_bands(path), gdal_bands(path))


# -- 4. CCITT T.4 fill bits that T4Options does not declare ---------------------------------


@pytest.mark.parametrize(("written", "claimed"), [(5, 1), (4, 0), (1, 5), (0, 4), (5, 5)])
def test_t4_fill_bits_whatever_t4options_says(tmp_path: Path, written: int, claimed: int) -> None:
    """libtiff (Pillow's writer) codes 1-D or 2-D with fill bits (T4Options 4, 5); with the
    tag saying otherwise imagecodecs alone fails or decodes wrong rows, libtiff does not."""
    rng = np.random.default_rng(written)
    image = np.kron(rng.random((40, 64)) > 0.7, np.ones((1, 3), bool))[:, :150]
    path = tmp_path / "g3.tif"
    Image.fromarray(image).save(path, compression="group3", tiffinfo={292: written})
    data = bytearray(path.read_bytes())
    entry = _entry(data, 292)
    struct.pack_into("<I", data, entry + 8, claimed)
    path.write_bytes(bytes(data))
    np.testing.assert_array_equal(gdal_bands(path)[0], image)
    np.testing.assert_array_equal(our_bands(path)[0], image)


def _entry(data: bytearray, code: int) -> int:
    """Where the IFD entry of ``code`` is in a little-endian classic TIFF."""
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    for i in range(count):
        at = ifd + 2 + 12 * i
        if struct.unpack_from("<H", data, at)[0] == code:
            return at
    raise LookupError(code)
