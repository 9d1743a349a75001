"""The pure format layer: headers, field types, IFD parsing, page layouts."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from tiffzarr.errors import LimitError, TiffFormatError, UnsupportedError
from tiffzarr.format import (
    BIGTIFF,
    CLASSIC,
    DATA_TYPES,
    TagEntry,
    decode_value,
    page_dtype,
    page_layout,
    parse_header,
    parse_ifd,
    tag_name,
)


def make_header(byteorder: str, bigtiff: bool, first: int) -> bytes:
    mark = b"II" if byteorder == "<" else b"MM"
    if bigtiff:
        return mark + struct.pack(byteorder + "HHHQ", 43, 8, 0, first)
    return mark + struct.pack(byteorder + "HI", 42, first)


def make_ifd(
    byteorder: str, bigtiff: bool, entries: list[tuple[int, int, int, bytes]], nxt: int
) -> bytes:
    """An IFD from (code, type, count, value field) entries."""
    layout = BIGTIFF if bigtiff else CLASSIC
    out = struct.pack(byteorder + layout.count_format, len(entries))
    for code, typ, count, field in entries:
        out += struct.pack(byteorder + "HH" + layout.offset_format, code, typ, count)
        out += field.ljust(layout.offset_size, b"\0")
    return out + struct.pack(byteorder + layout.offset_format, nxt)


@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize("bigtiff", [False, True])
def test_header_and_ifd_in_all_four_flavours(byteorder: str, bigtiff: bool) -> None:
    first = 16 if bigtiff else 8
    header = parse_header(make_header(byteorder, bigtiff, first), size=1000)
    assert (header.byteorder, header.bigtiff, header.first_ifd) == (byteorder, bigtiff, first)
    short = struct.pack(byteorder + "H", 300)
    entries = [(256, 3, 1, short), (257, 3, 1, short), (270, 2, 3, b"ab\0")]
    raw = parse_ifd(header, make_ifd(byteorder, bigtiff, entries, 4242), offset=first)
    assert raw.next_offset == 4242
    assert decode_value(header, raw.entries[256]) == 300
    assert decode_value(header, raw.entries[270]) == "ab"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (b"II*", "too short"),
        (b"XX*\0\x08\0\0\0", "byte order"),
        (b"II\x2c\0\x08\0\0\0", "version 44"),
        (b"II*\0\x02\0\0\0", "inside the header"),
        (b"II*\0\xf0\xff\xff\x7f", "past the end"),
        (b"II+\0\x10\0\0\0\x10\0\0\0\0\0\0\0", "offset size 16"),
    ],
)
def test_bad_headers(data: bytes, message: str) -> None:
    with pytest.raises(TiffFormatError, match=message):
        parse_header(data, size=max(len(data), 64), url="x.tif")


def test_every_field_type_decodes() -> None:
    header = parse_header(make_header("<", True, 16), size=1000)
    for code, dt in DATA_TYPES.items():
        values = np.arange(3 * dt.per_value).astype(dt.numpy_dtype("<"))
        raw = values.tobytes()
        entry = TagEntry.make(1000, code, 3, b"\0" * 8, 100)
        value = decode_value(header, entry, raw)
        if dt.name == "ASCII":
            assert value == "\0\x01\x02".rstrip("\0")
        elif dt.name in ("BYTE", "UNDEFINED"):
            assert value == raw
        else:
            assert np.array_equal(np.asarray(value).reshape(-1), values), dt.name


def test_unknown_type_and_missing_bytes() -> None:
    header = parse_header(make_header("<", False, 8), size=100)
    with pytest.raises(TiffFormatError, match="unknown field type 99"):
        decode_value(header, TagEntry.make(256, 99, 1, b"\0" * 4, None))
    with pytest.raises(TiffFormatError, match="missing"):
        decode_value(header, TagEntry.make(273, 4, 10, b"\0" * 4, 8), b"\0" * 8)


def test_tag_count_is_judged_by_the_bytes_it_needs() -> None:
    header = parse_header(make_header("<", False, 8), size=10**6)
    with pytest.raises(TiffFormatError, match="65535 tags needs 786426 bytes"):
        parse_ifd(header, struct.pack("<H", 65535) + bytes(100), offset=8)
    entries = struct.pack("<HHII", 60000, 3, 1, 7) * 5000
    raw = parse_ifd(header, struct.pack("<H", 5000) + entries + bytes(4), offset=8)
    assert raw.ntags == 5000


@pytest.mark.parametrize(
    ("sampleformat", "bits", "dtype"),
    [(1, 1, "bool"), (1, 4, "uint8"), (1, 12, "uint16"), (1, 24, "uint32"), (2, 16, "int16"),
     (3, 16, "float16"), (3, 24, "float32"), (3, 64, "float64"), (5, 32, "complex64"),
     (6, 128, "complex128"), (4, 8, "uint8")],
)  # fmt: skip
def test_page_dtype_table(sampleformat: int, bits: int, dtype: str) -> None:
    assert page_dtype(sampleformat, bits) == np.dtype(dtype)


def test_page_dtype_refuses_nonsense() -> None:
    with pytest.raises(UnsupportedError):
        page_dtype(3, 12)
    with pytest.raises(UnsupportedError):
        page_dtype(1, 0)


def test_strip_layout_with_short_last_strip() -> None:
    lay = page_layout({256: 10, 257: 25, 278: 8, 277: 3, 258: np.array([8, 8, 8])}, nsegments=4)
    assert lay.shape == (25, 10, 3) and lay.axes == "YXS"
    assert lay.chunks == (8, 10, 3) and lay.nsegments == 4
    assert lay.segment_index((3, 0, 0)) == 3


def test_volumetric_planar_tiles() -> None:
    tags = {256: 64, 257: 64, 32997: 8, 322: 32, 323: 16, 32998: 4, 277: 2, 284: 2, 258: 16}
    lay = page_layout(tags)
    assert lay.shape == (2, 8, 64, 64) and lay.axes == "SZYX"
    assert lay.chunks == (1, 4, 16, 32)
    assert lay.grid == (2, 2, 4, 2)
    assert lay.segment_index((1, 1, 3, 1)) == 31


def test_layout_errors_name_the_tag() -> None:
    with pytest.raises(TiffFormatError, match="ImageWidth"):
        page_layout({257: 10})
    with pytest.raises(TiffFormatError, match="segment offsets"):
        page_layout({256: 10, 257: 25, 278: 8}, nsegments=2)
    with pytest.raises(LimitError):
        page_layout({256: 2**31, 257: 2**31, 322: 2**31, 323: 2**31})
    with pytest.raises(TiffFormatError, match="zero"):
        page_layout({256: 16, 257: 16, 322: 0, 323: 0})


def test_tag_names() -> None:
    assert tag_name(324) == "TileOffsets"
    assert tag_name(42113) == "GDAL_NODATA"
    assert tag_name(50839) == "IJMetadata"
    assert tag_name(36867, namespace="exif") == "DateTimeOriginal"
