"""Old-style JPEG (compression 6) without a JPEG header in its segments: GDAL's pixels.

GDAL (libtiff) rebuilds one JPEG stream per image from JPEGInterchangeFormat and
the strips, or from the table tags (519-521: file offsets of the tables), and
converts subsampled YCbCr from libjpeg's raw planes. The corpus files read
exactly as GDAL reads them; files written here from baseline JPEG streams (each
strip its own stream, split into tables and entropy-coded data) read as the
streams decode (grayscale) or as GDAL reads them (YCbCr); hostile table offsets
raise errors naming the tag.
"""

from __future__ import annotations

import hashlib
import json
import struct
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import imagecodecs
import numpy as np
import pytest
import rasterio
import tifffile
import zarr
from rasterio.errors import NotGeoreferencedWarning

import tiffzarr
from tests.conftest import CORPUS, require
from tiffzarr.errors import TiffFormatError

pytestmark = pytest.mark.filterwarnings("ignore", category=NotGeoreferencedWarning)

CORPUS_FILES = [
    "files/image-tiff/libtiffpic/smallliz.tif",  # interchange format holds the whole JPEG
    "files/libtiff/ojpeg_chewey_subsamp21_multi_strip.tiff",  # header, then SOS in strip 0
    "files/libtiff/ojpeg_single_strip_no_rowsperstrip.tiff",  # tables from the tags
    "files/libtiff/ojpeg_zackthecat_subsamp22_single_strip.tiff",  # ... in a tile
]
BLOB_TAG = 65000
"""A private tag whose value holds the tables (and interchange-format bytes) written here."""


def read_page(path: str | Path) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiffzarr.TiffZarrWarning)  # unrelated tag problems
        store = tiffzarr.open_store(str(path), page=0)
    return np.asarray(zarr.open_array(store, mode="r")[...])


def gdal(path: str | Path) -> np.ndarray:
    """GDAL's pixels as (y, x, samples)."""
    with rasterio.open(path) as ds:
        return np.moveaxis(ds.read(), 0, -1)


@pytest.mark.parametrize("relpath", CORPUS_FILES)
def test_corpus_files_read_as_gdal(relpath: str) -> None:
    path = require(CORPUS, "corpus") / relpath
    expected = json.loads((CORPUS / "expected" / f"{relpath}.json").read_text())["expected"]
    got = read_page(path)
    bands = np.ascontiguousarray(np.moveaxis(got, -1, 0))  # GDAL's (bands, y, x)
    assert list(bands.shape) == expected["shape"] and str(bands.dtype) == expected["dtype"]
    assert hashlib.sha256(bands.tobytes()).hexdigest() == expected["sha256"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiffzarr.TiffZarrWarning)
        assert np.array_equal(tiffzarr.imread(str(path)), got)  # the series reads the same


def test_corpus_references_keep_tiffzarr_codec() -> None:
    path = str(require(CORPUS, "corpus") / CORPUS_FILES[1])
    refs = tiffzarr.references(path, page=0)
    assert "old-style JPEG" in refs.fallbacks[""]
    store = tiffzarr.open_references(refs)
    assert np.array_equal(np.asarray(zarr.open_array(store, mode="r")[...]), read_page(path))


# -- files written from baseline JPEG streams ------------------------------------------------


def split(stream: bytes) -> dict[str, Any]:
    """The tables (by id), frame and entropy-coded data of a baseline JPEG stream."""
    out: dict[str, Any] = {"q": {}, "dc": {}, "ac": {}, "segments": []}
    pos = 2
    while True:
        marker, length = stream[pos + 1], struct.unpack(">H", stream[pos + 2 : pos + 4])[0]
        body = stream[pos + 4 : pos + 2 + length]
        if marker == 0xDB:
            for i in range(0, len(body), 65):
                out["q"][body[i]] = body[i + 1 : i + 65]
        elif marker == 0xC4:
            i = 0
            while i < len(body):
                size = 16 + sum(body[i + 1 : i + 17])
                out["ac" if body[i] >> 4 else "dc"][body[i] & 15] = body[i + 1 : i + 1 + size]
                i += 1 + size
        if marker in (0xDB, 0xC4, 0xC0):
            out["segments"].append(stream[pos : pos + 2 + length])
        if marker == 0xDA:
            out["sos"] = stream[pos : pos + 2 + length]
            out["data"] = stream[pos + 2 + length : -2]  # without EOI
            return out
        pos += 2 + length


def encode(image: np.ndarray, subsampling: tuple[int, int] | None) -> bytes:
    if subsampling is None:
        return bytes(imagecodecs.jpeg8_encode(image, level=80))
    return bytes(
        imagecodecs.jpeg8_encode(
            image, level=80, colorspace="RGB", outcolorspace="YCbCr", subsampling=subsampling
        )
    )


def write_ojpeg(
    path: Path,
    segments: Sequence[bytes],
    *,
    shape: tuple[int, ...],
    tables: dict[str, Any],
    subsampling: tuple[int, int] | None,
    rows: int | None = None,
    tile: tuple[int, int] | None = None,
    interchange: bytes | None = None,
) -> Path:
    """A compression 6 TIFF of the segments, with table tags 519-521 (one table per
    sample, a repeated offset reusing a table) and the interchange-format bytes;
    grayscale when ``subsampling`` is ``None``, else YCbCr."""
    samples = 1 if subsampling is None else 3
    photometric = "minisblack" if subsampling is None else "ycbcr"
    ids = [0] + [1] * (samples - 1)  # luma, chroma tables as libjpeg writes them
    blob = b"".join(tables[kind][i] for kind in ("q", "dc", "ac") for i in sorted(set(ids)))
    blob += interchange or b""
    extratags = [(BLOB_TAG, 7, len(blob), blob, True), (512, 3, 1, 1, True)]
    extratags += [(code, 4, samples, [0] * samples, True) for code in (519, 520, 521)]
    if interchange is not None:
        extratags += [(513, 4, 1, 0, True), (514, 4, 1, len(interchange), True)]
    tifffile.imwrite(
        path,
        iter(segments),
        shape=shape,
        dtype="uint8",
        compression=8,  # patched to 6 below (tifffile writes no compression 6, and for
        photometric=photometric,  # JPEG (7) it changes
        rowsperstrip=rows,  # RowsPerStrip); YCbCrSubSampling is patched too
        tile=tile,
        extratags=extratags,
        metadata=None,
    )
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages[0].tags
        where = {c: tags[c].valueoffset for c in (259, 519, 520, 521, 513, 530) if c in tags}
        base = tags[BLOB_TAG].valueoffset
    data = bytearray(path.read_bytes())
    struct.pack_into("<H", data, where[259], 6)
    if subsampling is not None:
        struct.pack_into("<2H", data, where[530], *subsampling)
    start = base
    for code, kind in ((519, "q"), (520, "dc"), (521, "ac")):
        offsets = {}
        for i in sorted(set(ids)):
            offsets[i] = start
            start += len(tables[kind][i])
        struct.pack_into(f"<{samples}I", data, where[code], *(offsets[i] for i in ids))
    if interchange is not None:
        struct.pack_into("<I", data, where[513], start)
    path.write_bytes(bytes(data))
    return path


def strips_of(
    image: np.ndarray, rows: int, subsampling: tuple[int, int] | None
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Each strip of ``image`` as a split JPEG stream, and what the streams decode to."""
    parts, decoded = [], []
    for top in range(0, image.shape[0], rows):
        stream = encode(image[top : top + rows], subsampling)
        parts.append(split(stream))
        decoded.append(imagecodecs.jpeg8_decode(stream))
    assert all(p["q"] == parts[0]["q"] and p["dc"] == parts[0]["dc"] for p in parts)
    return parts, np.concatenate(decoded)


def test_grayscale_strips_read_as_their_jpeg_streams(tmp_path: Path) -> None:
    image = np.random.default_rng(1).integers(0, 256, (40, 24), np.uint8)
    parts, decoded = strips_of(image, 16, None)
    path = write_ojpeg(
        tmp_path / "gray.tif",
        [p["data"] for p in parts],
        shape=image.shape,
        tables=parts[0],
        subsampling=None,
        rows=16,
    )
    assert np.array_equal(read_page(path), decoded)


def test_grayscale_tiles_read_as_their_jpeg_streams(tmp_path: Path) -> None:
    image = np.random.default_rng(2).integers(0, 256, (32, 32), np.uint8)
    tiles = [image[y : y + 16, x : x + 16] for y in (0, 16) for x in (0, 16)]
    streams = [encode(t, None) for t in tiles]
    parts = [split(s) for s in streams]
    path = write_ojpeg(
        tmp_path / "tiles.tif",
        [p["data"] for p in parts],
        shape=(30, 20),
        tables=parts[0],
        subsampling=None,
        tile=(16, 16),
    )
    decoded = [imagecodecs.jpeg8_decode(s) for s in streams]
    expected = np.block([[decoded[0], decoded[1]], [decoded[2], decoded[3]]])
    assert np.array_equal(read_page(path), expected[:30, :20])


def smooth_rgb(length: int, width: int, seed: int) -> np.ndarray:
    """An RGB image with strong, varied chroma (where upsampling methods differ most)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (length // 4 + 2, width // 4 + 2, 3)).astype(float)
    wide = np.repeat(np.repeat(coarse, 4, 0), 4, 1)[:length, :width]
    return np.clip(wide + rng.normal(0, 4, wide.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    ("subsampling", "length", "width", "rows"),
    [
        ((2, 2), 37, 30, 16),
        ((2, 1), 20, 44, 8),
        ((1, 2), 32, 21, 16),  # not allowed in TIFF; libtiff reads it
        ((4, 1), 12, 40, 8),
        ((1, 1), 17, 19, 16),
    ],
)
def test_ycbcr_from_table_tags_reads_as_gdal(
    tmp_path: Path, subsampling: tuple[int, int], length: int, width: int, rows: int
) -> None:
    image = smooth_rgb(length, width, seed=sum(subsampling))
    parts, _ = strips_of(image, rows, subsampling)
    path = write_ojpeg(
        tmp_path / "ycbcr.tif",
        [p["data"] for p in parts],
        shape=image.shape,
        tables=parts[0],
        subsampling=subsampling,
        rows=rows,
    )
    got, want = read_page(path), gdal(path)
    assert np.array_equal(got, want), f"max difference {np.abs(got - want.astype(int)).max()}"
    assert np.abs(got.astype(int) - image).mean() < 12  # and it is the image


def test_interchange_header_and_scan_header_in_the_first_strip(tmp_path: Path) -> None:
    """As Wang's writer: the interchange-format bytes hold SOI, tables and frame (of the
    whole image); the first strip starts with the scan header."""
    image = smooth_rgb(24, 40, seed=7)
    parts, _ = strips_of(image, 8, (2, 1))
    frame = bytearray(next(s for s in parts[0]["segments"] if s[1] == 0xC0))
    struct.pack_into(">H", frame, 5, image.shape[0])
    interchange = b"\xff\xd8" + b"".join(s for s in parts[0]["segments"] if s[1] != 0xC0)
    segments = [parts[0]["sos"] + parts[0]["data"], *(p["data"] for p in parts[1:])]
    path = write_ojpeg(
        tmp_path / "wang.tif",
        segments,
        shape=image.shape,
        tables=parts[0],
        subsampling=(2, 1),
        rows=8,
        interchange=interchange + bytes(frame),
    )
    index = tiffzarr.open_tiff(str(path))
    table = index.pages[0].segments
    assert table is not None and table.locate(0)[1] == len(parts[0]["data"])  # after the SOS
    got, want = read_page(path), gdal(path)
    assert np.array_equal(got, want), f"max difference {np.abs(got - want.astype(int)).max()}"


@pytest.mark.parametrize(("code", "name"), [(519, "JPEGQTables"), (521, "JPEGACTables")])
def test_table_offset_outside_the_file_names_the_tag(tmp_path: Path, code: int, name: str) -> None:
    image = np.random.default_rng(3).integers(0, 256, (16, 16), np.uint8)
    parts, _ = strips_of(image, 16, None)
    path = write_ojpeg(
        tmp_path / "hostile.tif",
        [parts[0]["data"]],
        shape=image.shape,
        tables=parts[0],
        subsampling=None,
        rows=16,
    )
    with tifffile.TiffFile(path) as tif:
        where = tif.pages[0].tags[code].valueoffset
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, where, len(data) - 4)  # a table cut by the end of the file
    path.write_bytes(bytes(data))
    with pytest.raises(TiffFormatError, match=f"tag {code} {name}"):
        tiffzarr.open_tiff(str(path))
