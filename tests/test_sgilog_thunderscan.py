"""SGILog / SGILog24 (LogL, LogLuv) and ThunderScan 4-bit: GDAL's pixels, and the published
descriptions.

GDAL (through rasterio) is the oracle for the corpus files and for small files written
here from the descriptions (Larson's LogLuv encodings, the ThunderScan codes): libtiff
picks the decoded pixel format from BitsPerSample and SampleFormat, so each format is
checked. A ThunderScan reference decoder written here from the description checks the
corpus file GDAL reads only in part, and synthetic segments that use every code.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
import tifffile
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

import tiffzarr
from tests.conftest import CORPUS, require
from tiffzarr.codecs import SegmentSpec, decode_segment
from tiffzarr.codecs._portable import portable_codecs
from tiffzarr.codecs._sgilog import _UV_COUNTS, _UV_USTART
from tiffzarr.errors import ChunkDecodeError, UnsupportedError

pytestmark = pytest.mark.filterwarnings("ignore", category=NotGeoreferencedWarning)

SGILOG_FILES = [
    "files/image-tiff/libtiffpic/off_l16.tif",
    "files/image-tiff/libtiffpic/off_luv24.tif",
    "files/image-tiff/libtiffpic/off_luv32.tif",
    "files/libtiff/logluv-3c-16b.tiff",
]
THUNDERSCAN_FILE = "files/image-tiff/libtiffpic/text.tif"
LOGL, LOGLUV, SGILOG, SGILOG24, THUNDERSCAN = 32844, 32845, 34676, 34677, 32809


# -- writing small files from the descriptions ---------------------------------------------


def write_tiff(
    path: Path,
    strips: list[bytes],
    *,
    width: int,
    length: int,
    rows: int,
    bits: int,
    sampleformat: int,
    photometric: int,
    compression: int,
    samples: int = 1,
) -> Path:
    """A little-endian classic TIFF holding ``strips`` as they are (one contiguous page)."""
    data = bytearray(8)
    offsets = []
    for strip in strips:
        offsets.append(len(data))
        data += strip + b"\0" * (len(strip) % 2)
    tags = {
        256: [width],
        257: [length],
        258: [bits] * samples,
        259: [compression],
        262: [photometric],
        273: offsets,
        277: [samples],
        278: [rows],
        279: [len(s) for s in strips],
        284: [1],
        339: [sampleformat] * samples,
    }
    longs = {256, 257, 273, 278, 279}
    ifd = len(data)
    extra_at = ifd + 2 + 12 * len(tags) + 4
    entries, extra = bytearray(struct.pack("<H", len(tags))), bytearray()
    for code, values in sorted(tags.items()):
        kind, fmt = (4, "I") if code in longs else (3, "H")
        packed = struct.pack(f"<{len(values)}{fmt}", *values)
        if len(packed) > 4:
            packed, extra = struct.pack("<I", extra_at + len(extra)), extra + packed
        entries += struct.pack("<HHI", code, kind, len(values)) + packed.ljust(4, b"\0")
    data[:8] = b"II*\0" + struct.pack("<I", ifd)
    path.write_bytes(bytes(data + entries + bytes(4) + extra))
    return path


def rle(plane: np.ndarray) -> bytes:
    """One byte plane in SGILog's run-length code: ``126 + n`` then a byte for runs of
    ``n`` (2-129), ``n`` then ``n`` bytes for literals (at most 127)."""
    out, i, literal = bytearray(), 0, bytearray()
    values = plane.tolist()
    while i < len(values):
        n = 1
        while i + n < len(values) and n < 129 and values[i + n] == values[i]:
            n += 1
        if (n >= 3 or len(literal) == 127) and literal:
            out += bytes([len(literal)]) + literal
            literal = bytearray()
        if n >= 3:
            out += bytes([126 + n, values[i]])
            i += n
        else:
            literal.append(values[i])
            i += 1
    if literal:
        out += bytes([len(literal)]) + literal
    return bytes(out)


def sgilog_strip(words: np.ndarray, nplanes: int) -> bytes:
    """Rows of pixel words as SGILog byte planes (most significant first)."""
    out = bytearray()
    for row in words.astype(np.uint32):
        for k in reversed(range(nplanes)):
            out += rle(((row >> (8 * k)) & 0xFF).astype(np.uint8))
    return bytes(out)


def sgilog24_strip(words: np.ndarray) -> bytes:
    shifts = (16, 8, 0)
    return np.stack([(words >> s) & 0xFF for s in shifts], -1).astype(np.uint8).tobytes()


def strips_of(words: np.ndarray, rows: int, compression: int, photometric: int) -> list[bytes]:
    nplanes = 2 if photometric == LOGL else 4
    chunks = [words[i : i + rows] for i in range(0, words.shape[0], rows)]
    if compression == SGILOG24 and photometric == LOGLUV:
        return [sgilog24_strip(c) for c in chunks]
    return [sgilog_strip(c, nplanes) for c in chunks]


def gdal(path: Path | str) -> np.ndarray:
    with rasterio.open(path) as dataset:
        return dataset.read()


def ours(path: Path | str) -> np.ndarray:
    """tiffzarr's series 0 as rasterio lays it out: (bands, y, x)."""
    array = tiffzarr.imread(str(path))
    return array[None] if array.ndim == 2 else np.moveaxis(array, -1, 0)


# -- SGILog: GDAL --------------------------------------------------------------------------


@pytest.mark.parametrize("relpath", SGILOG_FILES)
def test_corpus_sgilog_reads_as_gdal(relpath: str) -> None:
    corpus = require(CORPUS, "corpus")
    expected = json.loads((corpus / "expected" / f"{relpath}.json").read_text())["expected"]
    got = np.ascontiguousarray(ours(corpus / relpath))
    assert (list(got.shape), str(got.dtype)) == (expected["shape"], expected["dtype"])
    assert hashlib.sha256(got.tobytes()).hexdigest() == expected["sha256"]


def random_words(photometric: int, compression: int, shape: tuple[int, int]) -> np.ndarray:
    """Pixel words covering the encodings: every LogLuv24 chroma index, signs, zeros, runs."""
    rng = np.random.default_rng(15)
    if photometric == LOGL:
        words = rng.integers(0, 1 << 16, shape)
    elif compression == SGILOG24:
        index = np.resize(rng.permutation(1 << 14), shape)
        words = (rng.integers(0, 1 << 10, shape) << 14) | index
    else:
        words = rng.integers(0, 1 << 32, shape, dtype=np.uint64)
    words = words.astype(np.uint32)
    words[0, :4] = 0  # zero luminance
    words[1, 5:40] = words[1, 5]  # runs in every byte plane, longer than one run code
    words[2, :] = words[2, 0] & 0xFFFF00FF  # a run in one plane only
    return words


FORMATS = [
    # photometric, compression, bits, sampleformat, samples: libtiff's guessed format
    (LOGL, SGILOG, 16, 2, 1),  # 16-bit LogL
    (LOGL, SGILOG, 16, 1, 1),
    (LOGL, SGILOG, 32, 3, 1),  # float Y
    (LOGL, SGILOG, 8, 1, 1),  # 8-bit gray
    (LOGL, SGILOG24, 16, 2, 1),  # LogL is run-length coded in either compression
    (LOGLUV, SGILOG, 16, 2, 3),  # Le, u', v' as 16-bit integers
    (LOGLUV, SGILOG, 32, 3, 3),  # float XYZ
    (LOGLUV, SGILOG, 8, 1, 3),  # 8-bit RGB
    (LOGLUV, SGILOG, 32, 1, 1),  # the encoded pixel
    (LOGLUV, SGILOG24, 16, 2, 3),
    (LOGLUV, SGILOG24, 32, 3, 3),
    (LOGLUV, SGILOG24, 8, 1, 3),
    (LOGLUV, SGILOG24, 32, 1, 1),
]


@pytest.mark.parametrize("case", FORMATS)
def test_sgilog_formats_read_as_gdal(tmp_path: Path, case: tuple[int, int, int, int, int]) -> None:
    photometric, compression, bits, sampleformat, samples = case
    length, width, rows = 70, 241, 16  # 16,870 pixels; a short last strip of 6 rows
    words = random_words(photometric, compression, (length, width))
    path = write_tiff(
        tmp_path / "sgilog.tif",
        strips_of(words, rows, compression, photometric),
        width=width,
        length=length,
        rows=rows,
        bits=bits,
        sampleformat=sampleformat,
        photometric=photometric,
        compression=compression,
        samples=samples,
    )
    want, got = gdal(path), ours(path)
    if bits == 8:  # GDAL reads 8-bit LogL/LogLuv through libtiff's RGBA interface
        assert np.all(want[3] == 255)
        if samples == 1:  # gray as R = G = B
            assert np.array_equal(want[0], want[1]) and np.array_equal(want[0], want[2])
        want = want[:samples]
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_sgilog_run_past_a_plane_is_cut_and_empty_literals_skipped_as_libtiff(
    tmp_path: Path,
) -> None:
    # high plane: an empty literal, a run of 6 for a 4-pixel row (cut at 4);
    # low plane: an empty literal, 4 literals
    row = bytes([0, 0x84, 0x41, 0, 4, 1, 2, 3, 4])
    path = write_tiff(
        tmp_path / "cut.tif",
        [row * 2],
        width=4,
        length=2,
        rows=2,
        bits=16,
        sampleformat=2,
        photometric=LOGL,
        compression=SGILOG,
    )
    want = gdal(path)
    np.testing.assert_array_equal(ours(path), want)
    assert want[0, 1].tolist() == [0x4101, 0x4102, 0x4103, 0x4104]


# -- SGILog: Larson's formulas -------------------------------------------------------------


def spec_for(
    compression: int,
    photometric: int | None,
    shape: tuple[int, int, int, int],
    dtype: str,
    /,
    *,
    bits: int,
    sampleformat: int,
    **changes: object,
) -> SegmentSpec:
    spec = SegmentSpec(
        compression=compression,
        shape=shape,
        dtype=dtype,
        bitspersample=bits,
        sampleformat=sampleformat,
        byteorder="<",
        photometric=photometric,
    )
    return replace(spec, **changes)  # type: ignore[arg-type]


def decode_float(words: np.ndarray, compression: int, photometric: int) -> np.ndarray:
    samples = 1 if photometric == LOGL else 3
    data = strips_of(words[None], 1, compression, photometric)[0]
    spec = spec_for(
        compression, photometric, (1, 1, words.size, samples), "<f4", bits=32, sampleformat=3
    )
    return decode_segment(data, spec)[0, 0]


def chromaticity(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CIE (u', v') of XYZ values."""
    x, y, z = xyz.T.astype(np.float64)
    s = x + 15 * y + 3 * z
    return 4 * x / s, 9 * y / s


def test_logl_is_larsons_log_luminance() -> None:
    magnitudes = np.geomspace(1e-15, 1e15, 61)
    y = np.concatenate([magnitudes, -magnitudes, [0.0]])
    le = np.floor(256 * (np.log2(np.abs(y[:-1])) + 64)).astype(np.uint32)
    words = np.append(le | np.where(y[:-1] < 0, 0x8000, 0), 0).astype(np.uint32)
    got = decode_float(words, SGILOG, LOGL)[:, 0]
    assert got[-1] == 0.0
    np.testing.assert_allclose(got, y, rtol=2 ** (0.5 / 256) - 1 + 1e-7)


def random_xyz(count: int, low: float = 1e-3, high: float = 1e3) -> np.ndarray:
    """Colours inside the gamut: positive mixes of three primaries, scaled from ``low``
    to ``high``."""
    rng = np.random.default_rng(1998)
    primaries = np.array([[0.41, 0.21, 0.02], [0.36, 0.72, 0.12], [0.18, 0.07, 0.95]])
    weights = rng.uniform(0.05, 1.0, (count, 3))
    return weights @ primaries * np.geomspace(low, high, count)[:, None]


def test_logluv32_is_larsons_log_luminance_and_chromaticity() -> None:
    xyz = random_xyz(500)
    u, v = chromaticity(xyz)
    le = np.floor(256 * (np.log2(xyz[:, 1]) + 64)).astype(np.uint32)
    ue, ve = (np.floor(410 * c).astype(np.uint32) for c in (u, v))
    got = decode_float((le << 16) | (ue << 8) | ve, SGILOG, LOGLUV)
    np.testing.assert_allclose(got[:, 1], xyz[:, 1], rtol=2 ** (0.5 / 256) - 1 + 1e-6)
    got_u, got_v = chromaticity(got)
    assert np.abs(got_u - u).max() <= 0.5 / 410 + 1e-6
    assert np.abs(got_v - v).max() <= 0.5 / 410 + 1e-6


def test_logluv24_is_larsons_log_luminance_and_chromaticity_cells() -> None:
    xyz = random_xyz(500, 1e-2, 8.0)  # Y within the 10-bit range, 2^-12 to 2^4
    u, v = chromaticity(xyz)
    le = np.floor(64 * (np.log2(xyz[:, 1]) + 12)).astype(np.uint32)
    row = np.floor((v - np.float32(0.01694)) / 0.0035).astype(int)  # the published cell table
    column = np.floor((u - _UV_USTART[row]) / 0.0035).astype(int)
    assert np.all((column >= 0) & (column < _UV_COUNTS[row]))
    index = (np.cumsum(_UV_COUNTS) - _UV_COUNTS)[row] + column
    got = decode_float((le << 14) | index.astype(np.uint32), SGILOG24, LOGLUV)
    np.testing.assert_allclose(got[:, 1], xyz[:, 1], rtol=2 ** (0.5 / 64) - 1 + 1e-6)
    got_u, got_v = chromaticity(got)
    assert np.abs(got_u - u).max() <= 0.0035 + 1e-6
    assert np.abs(got_v - v).max() <= 0.0035 + 1e-6


# -- SGILog: refusals ----------------------------------------------------------------------


def logluv_spec(compression: int, rows: int = 4, width: int = 50, **changes: object) -> SegmentSpec:
    return spec_for(
        compression, LOGLUV, (1, rows, width, 3), "<i2", bits=16, sampleformat=2, **changes
    )


@pytest.mark.parametrize("compression", [SGILOG, SGILOG24])
def test_sgilog_truncated_segments_raise(compression: int) -> None:
    words = random_words(LOGLUV, compression, (4, 50))
    data = strips_of(words, 4, compression, LOGLUV)[0]
    spec = logluv_spec(compression)
    full = decode_segment(data, spec)
    assert np.array_equal(decode_segment(data + b"\x00" * 9, spec), full)  # extra bytes: ignored
    for cut in range(0, len(data), 7):
        with pytest.raises(ChunkDecodeError, match="ends after"):
            decode_segment(data[:cut], spec)
    short = decode_segment(data[: len(data) * 3 // 4], replace(spec, lastrows=2))
    assert np.array_equal(short[0, :2], full[0, :2]) and not short[0, 3].any()


def test_sgilog_literal_past_a_plane_raises() -> None:
    spec = spec_for(SGILOG, LOGL, (1, 1, 4, 1), "<i2", bits=16, sampleformat=2)
    with pytest.raises(ChunkDecodeError, match="literal of 6 bytes"):
        decode_segment(bytes([6, 1, 2, 3, 4, 5, 6, 4, 1, 2, 3, 4]), spec)


def test_sgilog_random_bytes_decode_or_raise() -> None:
    rng = np.random.default_rng(7)
    spec = logluv_spec(SGILOG, rows=8, width=64)
    for size in rng.integers(0, 4000, 60):
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        with contextlib.suppress(ChunkDecodeError):
            assert decode_segment(data, spec).shape == spec.shape


@pytest.mark.parametrize(
    ("photometric", "samples", "bits", "sampleformat"),
    [(LOGL, 3, 16, 2), (LOGLUV, 3, 32, 1), (LOGLUV, 1, 16, 2), (2, 3, 16, 2), (None, 1, 16, 2)],
)
def test_sgilog_formats_libtiff_refuses(
    photometric: int | None, samples: int, bits: int, sampleformat: int
) -> None:
    dtype = {16: "<i2", 32: "<u4"}[bits]
    spec = spec_for(
        SGILOG, photometric, (1, 1, 1, samples), dtype, bits=bits, sampleformat=sampleformat
    )
    with pytest.raises(UnsupportedError, match="SGILog pixels"):
        decode_segment(bytes(16), spec)


def test_sgilog_fillorder_2_reverses_bits() -> None:
    words = random_words(LOGLUV, SGILOG, (4, 50))
    data = strips_of(words, 4, SGILOG, LOGLUV)[0]
    spec = logluv_spec(SGILOG)
    reversed_bits = bytes(int(f"{b:08b}"[::-1], 2) for b in data)
    assert np.array_equal(
        decode_segment(reversed_bits, replace(spec, fillorder=2)), decode_segment(data, spec)
    )


@pytest.mark.parametrize("compression", [SGILOG, SGILOG24, THUNDERSCAN])
@pytest.mark.parametrize("zarr_format", [2, 3])
def test_references_keep_tiffzarrs_codec(compression: int, zarr_format: int) -> None:
    spec = thunderscan_spec(4, 50) if compression == THUNDERSCAN else logluv_spec(compression)
    result = portable_codecs(spec, zarr_format=zarr_format)  # type: ignore[arg-type]
    assert not result.portable and str(compression) in (result.reason or "")


# -- ThunderScan ---------------------------------------------------------------------------

TWO_BIT, THREE_BIT = (0, 1, None, -1), (0, 1, 2, 3, None, -3, -2, -1)


def thunderscan_reference(data: bytes, width: int, rows: int) -> tuple[np.ndarray, int]:
    """Decode ThunderScan rows one byte at a time, as the description says: the pixels
    and the number of complete rows. A run past the end of a row raises ValueError."""
    out, pos = np.zeros((rows, width), np.uint8), 0
    for row in range(rows):
        last, n = 0, 0
        while pos < len(data) and n < width:
            byte = data[pos]
            pos += 1
            code, low = byte >> 6, byte & 0x3F
            if code == 0:
                if n + low > width:
                    raise ValueError("run past the end of the row")
                out[row, n : n + low], n = last, n + low
                continue
            if code == 3:
                fields, last_is_raw = [low & 0xF], True
            elif code == 1:
                fields, last_is_raw = [TWO_BIT[(low >> s) & 3] for s in (4, 2, 0)], False
            else:
                fields, last_is_raw = [THREE_BIT[(low >> s) & 7] for s in (3, 0)], False
            for field in fields:
                if field is None:
                    continue
                last = field if last_is_raw else (last + field) % 16
                if n < width:
                    out[row, n], n = last, n + 1
        if n < width:
            return out, row
    return out, rows


def thunderscan_stream(rng: np.random.Generator, width: int, rows: int) -> bytes:
    """Random rows that use every code: runs (some empty), 2- and 3-bit deltas with
    skips, raw pixels, and deltas that spill past the end of a row."""
    out = bytearray()
    for _ in range(rows):
        n = 0
        while n < width:
            code = int(rng.integers(0, 4))
            low = int(rng.integers(0, 64))
            if code == 0:
                low = min(low, width - n)
                n += low
            elif code == 1:
                n += sum(((low >> s) & 3) != 2 for s in (4, 2, 0))
            elif code == 2:
                n += sum(((low >> s) & 7) != 4 for s in (3, 0))
            else:
                n += 1
            out.append(code << 6 | low)
    return bytes(out)


def thunderscan_spec(rows: int, width: int, **changes: object) -> SegmentSpec:
    return spec_for(THUNDERSCAN, 1, (1, rows, width, 1), "|u1", bits=4, sampleformat=1, **changes)


def test_thunderscan_corpus_file_as_the_description_and_gdal() -> None:
    path = require(CORPUS, "corpus") / THUNDERSCAN_FILE
    with tifffile.TiffFile(path) as tf:
        page = tf.pages[0]
        width, length, rows = page.imagewidth, page.imagelength, page.rowsperstrip
        where = list(zip(page.dataoffsets, page.databytecounts, strict=True))
    data = path.read_bytes()
    strips = [data[offset : offset + count] for offset, count in where]
    spec = thunderscan_spec(rows, width, lastrows=length % rows)
    complete, grays = 0, set()
    with rasterio.open(path) as dataset:
        for i, strip in enumerate(strips):
            want, done = thunderscan_reference(strip, width, rows)
            window = ((i * rows, min(length, (i + 1) * rows)), (0, width))
            if done < min(rows, length - i * rows):  # the last strip holds 36 of its 39 rows
                with pytest.raises(ChunkDecodeError, match="ends after 36 complete rows"):
                    decode_segment(strip, spec)
                with pytest.raises(RasterioIOError):
                    dataset.read(1, window=window)
                continue
            got = decode_segment(strip, spec)[0, :, :, 0]
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(
                got[: window[0][1] - window[0][0]], dataset.read(1, window=window)
            )
            complete, grays = complete + 1, grays | set(np.unique(got).tolist())
    assert complete == len(strips) - 1
    assert grays == set(range(16))


def test_thunderscan_every_code_as_the_description_and_gdal(tmp_path: Path) -> None:
    rng = np.random.default_rng(32809)
    width, length, rows = 57, 40, 16
    strips = [thunderscan_stream(rng, width, min(rows, length - r)) for r in range(0, length, rows)]
    # hand-made rows: raw, a run at an odd pixel, wrapping deltas, skips, an empty run,
    # and deltas past the row's end (dropped)
    head = bytes([0xCF, 0x03, 0b01_01_01_10, 0b10_011_100, 0x00, 0b01_10_10_10, 0xC0, 0x05])
    strips[0] = head + bytes([0b01_11_11_11] * 15) + strips[0][_row_end(strips[0], width) :]
    path = write_tiff(
        tmp_path / "thunder.tif",
        strips,
        width=width,
        length=length,
        rows=rows,
        bits=4,
        sampleformat=1,
        photometric=1,
        compression=THUNDERSCAN,
    )
    want = np.concatenate([thunderscan_reference(s, width, rows)[0] for s in strips])[:length]
    np.testing.assert_array_equal(ours(path)[0], want)
    np.testing.assert_array_equal(gdal(path)[0], want)


def _row_end(stream: bytes, width: int) -> int:
    """The byte that starts the second row of a ThunderScan stream."""
    for end in range(1, len(stream) + 1):
        if thunderscan_reference(stream[:end], width, 1)[1] == 1:
            return end
    raise AssertionError("no complete row")


def test_thunderscan_random_streams_as_the_description() -> None:
    rng = np.random.default_rng(4)
    for width in (1, 2, 7, 64, 333):
        stream = thunderscan_stream(rng, width, 9)
        want, done = thunderscan_reference(stream, width, 9)
        assert done == 9
        got = decode_segment(stream, thunderscan_spec(9, width))[0, :, :, 0]
        np.testing.assert_array_equal(got, want)


def test_thunderscan_run_past_a_row_raises_as_libtiff(tmp_path: Path) -> None:
    data = bytes([0xC3, 0x05, 0xC1])  # a raw pixel, then a run of 5 for a 4-pixel row
    with pytest.raises(ChunkDecodeError, match="run of 5 pixels"):
        decode_segment(data, thunderscan_spec(1, 4))
    path = write_tiff(
        tmp_path / "run.tif",
        [data],
        width=4,
        length=1,
        rows=1,
        bits=4,
        sampleformat=1,
        photometric=1,
        compression=THUNDERSCAN,
    )
    with pytest.raises(RasterioIOError):
        gdal(path)


def test_thunderscan_truncated_and_random_segments_raise() -> None:
    rng = np.random.default_rng(5)
    stream = thunderscan_stream(rng, 40, 6)
    spec = thunderscan_spec(6, 40)
    for cut in range(0, len(stream) - 1, 5):
        if thunderscan_reference(stream[:cut], 40, 6)[1] < 6:
            with pytest.raises(ChunkDecodeError, match="ends after"):
                decode_segment(stream[:cut], spec)
    for size in rng.integers(0, 3000, 60):
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        try:
            want = thunderscan_reference(data, 40, 6)
        except ValueError:
            with pytest.raises(ChunkDecodeError):
                decode_segment(data, spec)
            continue
        if want[1] == 6:
            np.testing.assert_array_equal(decode_segment(data, spec)[0, :, :, 0], want[0])
        else:
            with pytest.raises(ChunkDecodeError):
                decode_segment(data, spec)


def test_thunderscan_needs_4_bit_gray() -> None:
    with pytest.raises(UnsupportedError, match="one 4-bit sample"):
        decode_segment(b"\xc1", replace(thunderscan_spec(1, 1), bitspersample=8))
    with pytest.raises(UnsupportedError, match="one 4-bit sample"):
        decode_segment(b"\xc1", replace(thunderscan_spec(1, 1), shape=(1, 1, 1, 3)))
