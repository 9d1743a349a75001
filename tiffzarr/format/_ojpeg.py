"""Old-style JPEG (TIFF compression 6): the JPEG header libtiff rebuilds for each segment.

TIFF 6.0 (section 22, replaced by TIFF Technical Note 2) let writers spread a JPEG
stream over tags and strips: ``JPEGInterchangeFormat`` (513) and its length (514)
may point at a JPEG header (SOI, tables, frame, perhaps the scan header and even
the entropy-coded data), or the header is missing and only the tables are given,
as file offsets: ``JPEGQTables`` (519, 64 quantisation values each),
``JPEGDCTables`` and ``JPEGACTables`` (520, 521: 16 code counts and the values), one
offset per sample (a repeated offset reuses the table). libtiff's reader reads
the stream as the interchange-format bytes followed by the strips, keeps the
tables, frame and scan header it finds before the entropy-coded data, builds
from the tags what is missing (frame: the strip size and ``YCbCrSubsampling``;
component ids 0, 1, 2) and feeds libjpeg one stream per image, with a restart
marker between strips: each strip is one restart interval. So each segment
decodes as the rebuilt header (its frame patched to the segment's size), the
segment's entropy-coded data and an end-of-image marker.

This module is the pure half: reading the markers of a stream's start
(:func:`read_header`), the header from the table tags (:func:`tag_header`) and
the header bytes (:func:`assemble`).

>>> qtable = bytes(range(1, 65))
>>> dc = bytes([0, 1] + [0] * 14) + bytes([0])
>>> header = tag_header({0: qtable}, {0: dc}, {0: dc}, samples=1, factors=(1, 1))
>>> data = assemble(header, height=8, width=16)
>>> frame = read_header(data).frame
>>> frame.height, frame.width, frame.components
(8, 16, (Component(id=0, factors=17, table=0),))
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

__all__ = [
    "HUFFMAN_COUNTS",
    "JPEG_ACTABLES",
    "JPEG_DCTABLES",
    "JPEG_INTERCHANGE_FORMAT",
    "JPEG_INTERCHANGE_FORMAT_LENGTH",
    "JPEG_PROC",
    "JPEG_QTABLES",
    "JPEG_RESTART_INTERVAL",
    "LOSSLESS_PROC",
    "MAX_HUFFMAN_VALUES",
    "QTABLE_BYTES",
    "TABLE_TAGS",
    "Component",
    "Frame",
    "JpegHeader",
    "assemble",
    "huffman_size",
    "read_header",
    "table_choice",
    "tag_header",
]

JPEG_PROC = 512
JPEG_INTERCHANGE_FORMAT = 513
JPEG_INTERCHANGE_FORMAT_LENGTH = 514
JPEG_RESTART_INTERVAL = 515
JPEG_QTABLES = 519
JPEG_DCTABLES = 520
JPEG_ACTABLES = 521
TABLE_TAGS = (JPEG_QTABLES, JPEG_DCTABLES, JPEG_ACTABLES)
"""The tags holding the file offsets of the quantisation, DC and AC Huffman tables."""
LOSSLESS_PROC = 14
"""``JPEGProc`` of lossless (predictive) coding; 1 is baseline sequential."""
QTABLE_BYTES = 64
HUFFMAN_COUNTS = 16
"""A Huffman table in the file: 16 code counts (codes of 1 … 16 bits), then the values."""
MAX_HUFFMAN_VALUES = 256

_SOI, _EOI, _SOS, _DQT, _DHT, _DRI = 0xD8, 0xD9, 0xDA, 0xDB, 0xC4, 0xDD
_FRAMES = frozenset({0xC0, 0xC1, 0xC3})
"""Start-of-frame markers libtiff accepts: baseline, extended sequential, lossless."""
_SKIPPED = frozenset({0xFE, *range(0xE0, 0xF0)})
"""Comment and application markers: their data is of no use to the decoder."""


@dataclass(frozen=True, slots=True)
class Component:
    """A component of a frame (``table``: its quantisation table) or of a scan
    (``table``: DC table << 4 | AC table); ``factors`` is H << 4 | V (frames only)."""

    id: int
    factors: int
    table: int


@dataclass(frozen=True, slots=True)
class Frame:
    """A start-of-frame segment."""

    marker: int
    precision: int
    height: int
    width: int
    components: tuple[Component, ...]


@dataclass(frozen=True, slots=True)
class JpegHeader:
    """What a JPEG header holds, as libtiff keeps it.

    ``qtables``, ``dctables`` and ``actables`` map a table id to the table as a
    DQT or DHT segment holds it (its id byte first); ``restart`` is the restart
    interval (``None``: no DRI); ``frame`` and ``scan`` are ``None`` when the
    stream has none. ``end`` is where the entropy-coded data starts in the bytes
    read (after the scan header, or at the first byte that is no marker);
    ``None`` when the bytes end among the markers.
    """

    qtables: Mapping[int, bytes]
    dctables: Mapping[int, bytes]
    actables: Mapping[int, bytes]
    restart: int | None = None
    frame: Frame | None = None
    scan: tuple[Component, ...] | None = None
    end: int | None = None


def read_header(data: bytes, /) -> JpegHeader:
    """The markers at the start of an old-style JPEG stream, read up to its scan header.

    Markers are read until the scan header (SOS) or the first byte that is no
    marker; SOI, APPn and COM are skipped. Raises :class:`ValueError` for a
    marker that is corrupt or that libtiff does not accept there.

    >>> dri, sof = "ffdd00040010", "ffc0000b080008000801011100"  # every 16 MCUs; 8x8, gray
    >>> h = read_header(bytes.fromhex("ffd8" + dri + sof + "ffda000801010000" "3f00") + b"\\x12")
    >>> h.restart, h.frame.components, h.scan, h.end
    (16, (Component(id=1, factors=17, table=0),), (Component(id=1, factors=0, table=0),), 31)
    >>> read_header(b"\\x12\\x34").end
    0
    """
    tables: dict[int, dict[int, bytes]] = {_DQT: {}, 0: {}, 1: {}}
    restart = frame = None
    pos = 0
    while pos < len(data):
        if data[pos] != 0xFF:
            return _header(tables, restart, frame, None, pos)
        while pos < len(data) and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= len(data):
            break
        marker = data[pos]
        pos += 1
        if marker == _SOI:
            continue
        if pos + 2 > len(data):
            break
        length = struct.unpack_from(">H", data, pos)[0]
        body = data[pos + 2 : pos + length]
        if length < 2 or len(body) != length - 2:
            if length < 2:
                raise ValueError(f"JPEG marker {marker:#04x} has a length of {length}")
            break
        pos += length
        if marker == _SOS:
            if frame is None:
                raise ValueError("the JPEG scan header (SOS) comes before any frame (SOF)")
            return _header(tables, restart, frame, _scan(body), pos)
        if marker == _DQT:
            tables[_DQT].update(_qtables(body))
        elif marker == _DHT:
            for cls, index, table in _huffman_tables(body):
                tables[cls][index] = table
        elif marker == _DRI:
            if length != 4:
                raise ValueError(f"the JPEG restart interval (DRI) has a length of {length}")
            restart = struct.unpack(">H", body)[0]
        elif marker in _FRAMES:
            if frame is not None:
                raise ValueError("the JPEG stream has a second frame header (SOF)")
            frame = _frame(marker, body)
        elif marker not in _SKIPPED:
            raise ValueError(f"JPEG marker {marker:#04x} is not expected in the header")
    return _header(tables, restart, frame, None, None)


def _header(
    tables: dict[int, dict[int, bytes]],
    restart: int | None,
    frame: Frame | None,
    scan: tuple[Component, ...] | None,
    end: int | None,
) -> JpegHeader:
    return JpegHeader(tables[_DQT], tables[0], tables[1], restart, frame, scan, end)


def _qtables(body: bytes) -> dict[int, bytes]:
    """The quantisation tables of a DQT segment by id (8- or 16-bit values)."""
    out = {}
    pos = 0
    while pos < len(body):
        size = 1 + QTABLE_BYTES * (2 if body[pos] >> 4 else 1)
        index = body[pos] & 15
        if index > 3 or pos + size > len(body):
            raise ValueError("the JPEG quantisation table segment (DQT) is corrupt")
        out[index] = body[pos : pos + size]
        pos += size
    return out


def _huffman_tables(body: bytes) -> list[tuple[int, int, bytes]]:
    """The (class, id, table) of each Huffman table of a DHT segment."""
    out = []
    pos = 0
    while pos < len(body):
        cls, index = body[pos] >> 4, body[pos] & 15
        if cls > 1 or index > 3 or pos + 1 + HUFFMAN_COUNTS > len(body):
            raise ValueError("the JPEG Huffman table segment (DHT) is corrupt")
        size = 1 + huffman_size(body[pos + 1 : pos + 1 + HUFFMAN_COUNTS])
        if pos + size > len(body):
            raise ValueError("the JPEG Huffman table segment (DHT) is cut short")
        out.append((cls, index, body[pos : pos + size]))
        pos += size
    return out


def _frame(marker: int, body: bytes) -> Frame:
    if len(body) < 6 or len(body) != 6 + 3 * body[5]:
        raise ValueError("the JPEG frame header (SOF) is corrupt")
    precision, height, width, count = struct.unpack_from(">BHHB", body)
    components = tuple(Component(*body[6 + 3 * i : 9 + 3 * i]) for i in range(count))
    return Frame(marker, precision, height, width, components)


def _scan(body: bytes) -> tuple[Component, ...]:
    if not body or len(body) != 4 + 2 * body[0]:
        raise ValueError("the JPEG scan header (SOS) is corrupt")
    return tuple(Component(body[1 + 2 * i], 0, body[2 + 2 * i]) for i in range(body[0]))


def huffman_size(counts: bytes, /) -> int:
    """Bytes of a Huffman table from its 16 code counts: the counts and the values.

    >>> huffman_size(bytes([0, 1, 5, 1, 1, 1, 1, 1, 1] + [0] * 7))
    28
    """
    if len(counts) != HUFFMAN_COUNTS:
        raise ValueError(f"a Huffman table has {HUFFMAN_COUNTS} code counts, not {len(counts)}")
    values = sum(counts)
    if values > MAX_HUFFMAN_VALUES:
        raise ValueError(f"a Huffman table of {values} values (at most {MAX_HUFFMAN_VALUES})")
    return HUFFMAN_COUNTS + values


def table_choice(offsets: Sequence[int], samples: int, /) -> tuple[int, ...]:
    """Which table each sample uses, from a table tag's offsets (as libtiff chooses).

    Sample ``m`` has table ``m`` at ``offsets[m]``, unless that offset is 0,
    missing or the previous sample's: then it uses the previous sample's table.
    Raises :class:`ValueError` for more than three offsets, a first offset of 0,
    or an offset that repeats an earlier table's other than the previous one.

    >>> table_choice([34, 103, 103], 3), table_choice([34], 3)
    ((0, 1, 1), (0, 0, 0))
    """
    if not 0 < len(offsets) <= 3:
        raise ValueError(f"{len(offsets)} table offsets (one to three)")
    if offsets[0] == 0:
        raise ValueError("the first table offset is 0")
    choice = [0]
    for m in range(1, samples):
        offset = offsets[m] if m < len(offsets) else 0
        if offset == 0 or offset == offsets[m - 1]:
            choice.append(choice[-1])
        elif offset in offsets[: m - 1]:
            raise ValueError(f"table offset {offset} repeats an earlier table's")
        else:
            choice.append(m)
    return tuple(choice)


def tag_header(
    qtables: Mapping[int, bytes],
    dctables: Mapping[int, bytes],
    actables: Mapping[int, bytes],
    *,
    samples: int,
    factors: tuple[int, int],
    restart: int | None = None,
) -> JpegHeader:
    """The header libtiff builds from the table tags, for a stream that has no frame.

    The tables map an id to the bytes read at the tag's offset: 64 quantisation
    values, or a Huffman table's code counts and values; the ids are those
    :func:`table_choice` gives each sample (ids missing from a map are the
    previous sample's). ``factors`` is (horizontal, vertical) subsampling of the
    first component; the frame's size is set by :func:`assemble`.
    """
    q, dc, ac = (_chosen(tables, samples) for tables in (qtables, dctables, actables))
    luma = factors[0] << 4 | factors[1]
    components = tuple(Component(m, luma if m == 0 else 0x11, q[m]) for m in range(samples))
    frame = Frame(0xC0, 8, 0, 0, components)  # the size is the segment's (see assemble)
    scan = tuple(Component(m, 0, dc[m] << 4 | ac[m]) for m in range(samples))
    return JpegHeader(
        qtables={i: bytes([i]) + t for i, t in qtables.items()},
        dctables={i: bytes([i]) + t for i, t in dctables.items()},
        actables={i: bytes([0x10 | i]) + t for i, t in actables.items()},
        restart=restart,
        frame=frame,
        scan=scan,
    )


def _chosen(tables: Mapping[int, bytes], samples: int) -> list[int]:
    """The table id of each sample: its own, or the previous sample's."""
    out: list[int] = []
    for m in range(samples):
        out.append(m if m in tables or not out else out[-1])
    return out


def assemble(
    header: JpegHeader,
    /,
    *,
    height: int,
    width: int,
    frame: Frame | None = None,
    scan: tuple[Component, ...] | None = None,
) -> bytes:
    """The header bytes libjpeg is given, through the scan header.

    SOI, the quantisation tables, the DC and the AC Huffman tables (each by id),
    the restart interval, the frame (``frame``, default the header's, with its
    size set to ``height`` by ``width``) and the scan header (``scan``, default the
    header's; the whole spectrum, no successive approximation, as libtiff writes).
    """
    frame = frame if frame is not None else header.frame
    scan = scan if scan is not None else header.scan
    if frame is None or scan is None:
        raise ValueError("the JPEG header has no frame or no scan header")
    parts = [b"\xff\xd8"]
    parts += [_segment(_DQT, header.qtables[i]) for i in sorted(header.qtables)]
    parts += [_segment(_DHT, header.dctables[i]) for i in sorted(header.dctables)]
    parts += [_segment(_DHT, header.actables[i]) for i in sorted(header.actables)]
    if header.restart:
        parts.append(_segment(_DRI, struct.pack(">H", header.restart)))
    frame = replace(frame, height=height, width=width)
    sof = struct.pack(">BHHB", frame.precision, height, width, len(frame.components))
    sof += b"".join(bytes((c.id, c.factors, c.table)) for c in frame.components)
    parts.append(_segment(frame.marker, sof))
    sos = bytes([len(scan)]) + b"".join(bytes((c.id, c.table)) for c in scan) + b"\x00\x3f\x00"
    parts.append(_segment(_SOS, sos))
    return b"".join(parts)


def _segment(marker: int, body: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body
