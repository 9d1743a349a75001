"""Whole-slide test files built from the format descriptions: SVS and NDPI.

- :func:`write_svs` writes an Aperio-like slide with tifffile: a tiled JPEG
  baseline, a strip thumbnail, two tiled reduced levels, an LZW label and a JPEG
  macro, each with an Aperio ImageDescription.
- :func:`ndpi_file` builds a Hamamatsu-like NDPI file: each pyramid level one
  JPEG strip with restart markers (Pillow's encoder), the MCU starts found by
  scanning for the RST markers, the NDPI tags 65420... and 64-bit next-IFD
  pointers, all IFDs before the pixel data.
- :func:`read_pages` / :func:`write_pages` take a classic little-endian TIFF
  apart and write it again with every IFD before the pixel data.
"""

from __future__ import annotations

import io
import itertools
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

BYTE, ASCII, SHORT, LONG, RATIONAL, SLONG, FLOAT = 1, 2, 3, 4, 5, 9, 11
SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 16: 8}
PACK = {SHORT: "H", LONG: "I", RATIONAL: "I", SLONG: "i", FLOAT: "f"}
SEGMENT_TAGS = {273: 279, 324: 325}
"""Offsets tag → byte counts tag."""


@dataclass
class Entry:
    """An IFD entry with its value's bytes (little-endian)."""

    code: int
    type: int
    count: int
    value: bytes


def entry(code: int, type: int, values: Sequence[float] | str | bytes) -> Entry:
    """An entry of ``type`` holding ``values`` (text for ASCII)."""
    if isinstance(values, str):
        data = values.encode() + b"\x00"
        return Entry(code, ASCII, len(data), data)
    if isinstance(values, bytes):
        return Entry(code, 7, len(values), values)
    data = struct.pack(f"<{len(values)}{PACK[type]}", *values)
    return Entry(code, type, len(values) // (2 if type == RATIONAL else 1), data)


@dataclass
class RawPage:
    """One IFD: its entries (segment offsets and counts filled in when written) and the
    bytes of its segments."""

    entries: list[Entry]
    segments: list[bytes] = field(default_factory=list)


def read_pages(data: bytes, *, next_size: int = 4) -> list[RawPage]:
    """The pages of a classic little-endian TIFF (no SubIFDs), with their segments."""
    assert data[:4] == b"II*\x00"
    pages = []
    offset = int.from_bytes(data[4 : 4 + next_size], "little")
    while offset:
        (count,) = struct.unpack_from("<H", data, offset)
        entries = {}
        for k in range(count):
            code, type_, n, field_ = struct.unpack_from("<HHI4s", data, offset + 2 + 12 * k)
            size = SIZES[type_] * n
            at = struct.unpack("<I", field_)[0]
            entries[code] = Entry(
                code, type_, n, field_[:size] if size <= 4 else data[at : at + size]
            )
        segments = []
        for offsets, counts in SEGMENT_TAGS.items():
            if offsets in entries:
                starts, sizes = (_ints(entries[c]) for c in (offsets, counts))
                segments = [data[o : o + n] for o, n in zip(starts, sizes, strict=True)]
        pages.append(RawPage(list(entries.values()), segments))
        at = offset + 2 + 12 * count
        offset = int.from_bytes(data[at : at + next_size], "little")
    return pages


def _ints(item: Entry) -> list[int]:
    return list(struct.unpack(f"<{item.count}{'H' if item.type == SHORT else 'I'}", item.value))


def write_pages(pages: Sequence[RawPage], *, next_size: int = 4) -> bytes:
    """A classic little-endian TIFF of ``pages``: the header, every IFD followed by its
    values, then the pages' segments in order. ``next_size`` 8 writes NDPI's 64-bit
    next-IFD pointers (and the high 32 bits of each entry's field after them, all 0)."""
    start = 4 + next_size  # NDPI's first-IFD pointer is 64-bit too
    high = 4 if next_size == 8 else 0  # NDPI: the high 32 bits of each entry's field
    blocks, data_at = [], start
    for page in pages:
        entries = _with_segment_tags(page)
        values = sum(len(e.value) + len(e.value) % 2 for e in entries if len(e.value) > 4)
        blocks.append(entries)
        data_at += 2 + 12 * len(entries) + next_size + high * len(entries) + values
    out = bytearray(b"II*\x00" + start.to_bytes(next_size, "little"))
    position = data_at
    placed = []
    for page in pages:
        placed.append(
            [position + sum(map(len, page.segments[:k])) for k in range(len(page.segments))]
        )
        position += sum(map(len, page.segments))
    for n, entries in enumerate(blocks):
        ifd_at = len(out)
        values_at = ifd_at + 2 + 12 * len(entries) + next_size + high * len(entries)
        head, tail = bytearray(struct.pack("<H", len(entries))), bytearray()
        for item in entries:
            value = item.value
            if item.code in SEGMENT_TAGS:
                value = struct.pack(f"<{len(placed[n])}I", *placed[n])
            if len(value) > 4:
                head += struct.pack(
                    "<HHII", item.code, item.type, item.count, values_at + len(tail)
                )
                tail += value + b"\x00" * (len(value) % 2)
            else:
                head += struct.pack("<HHI", item.code, item.type, item.count) + value.ljust(
                    4, b"\0"
                )
        following = values_at + len(tail) if n + 1 < len(pages) else 0
        out += head + following.to_bytes(next_size, "little") + bytes(high * len(entries)) + tail
    assert len(out) == data_at
    for page in pages:
        out += b"".join(page.segments)
    return bytes(out)


def _with_segment_tags(page: RawPage) -> list[Entry]:
    """The page's entries, sorted, with segment offsets and counts as LONGs."""
    entries = {e.code: e for e in page.entries}
    offsets = next((c for c in SEGMENT_TAGS if c in entries), 273)
    sizes = [len(s) for s in page.segments]
    entries[offsets] = entry(offsets, LONG, [0] * len(sizes))
    entries[SEGMENT_TAGS[offsets]] = entry(SEGMENT_TAGS[offsets], LONG, sizes)
    return [entries[c] for c in sorted(entries)]


def ifds_first(path: Path) -> bytes:
    """The TIFF at ``path`` rewritten with all its IFDs before the pixel data."""
    return write_pages(read_pages(path.read_bytes()))


# -- pixels ------------------------------------------------------------------------


def slide_pixels(
    rng: np.random.Generator, height: int, width: int, gray: bool = False
) -> np.ndarray:
    """Smooth, seeded image content (blocks of 16 pixels plus a gradient)."""
    coarse = rng.integers(0, 200, (-(-height // 16), -(-width // 16), 1 if gray else 3))
    image = np.repeat(np.repeat(coarse, 16, 0), 16, 1)[:height, :width]
    ramp = np.linspace(0, 55, width)[None, :, None]
    out = (image + ramp).astype(np.uint8)
    return out[..., 0] if gray else out


def downsampled(image: np.ndarray, factor: int) -> np.ndarray:
    return np.ascontiguousarray(image[::factor, ::factor])


# -- SVS ---------------------------------------------------------------------------

APERIO = "Aperio Image Library v12.0.5"
PROPERTIES = "AppMag = 20|StripeWidth = 1024|ScanScope ID = SS1234|MPP = 0.4990|Left = 25.6"


def write_svs(path: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """An Aperio-like SVS file; returns the images written, by series name."""
    base = slide_pixels(rng, 1024, 1536)
    images = {
        "Baseline": base,
        "Thumbnail": downsampled(base, 8),
        "Label": slide_pixels(rng, 120, 100),
        "Macro": slide_pixels(rng, 100, 300),
    }
    size = f"{base.shape[1]}x{base.shape[0]}"
    jpeg = {
        "compression": "jpeg",
        "compressionargs": {"level": 90},
        "photometric": "rgb",
        "metadata": None,
    }
    with tifffile.TiffWriter(path) as tw:
        head = f"{APERIO}\r\n{size} [0,0 {size}] (256x256) JPEG/RGB Q=90"
        tw.write(base, tile=(256, 256), description=f"{head}|{PROPERTIES}", **jpeg)
        thumb = images["Thumbnail"]
        tw.write(
            thumb,
            rowsperstrip=16,
            description=f"{APERIO}\r\n{size} -> 192x128 - |{PROPERTIES}",
            **jpeg,
        )
        for factor in (2, 4):
            level = downsampled(base, factor)
            text = f"{APERIO}\r\n{size} -> {level.shape[1]}x{level.shape[0]} - |{PROPERTIES}"
            tw.write(level, tile=(256, 256), description=text, **jpeg)
        tw.write(
            images["Label"], rowsperstrip=8, compression="lzw", photometric="rgb", subfiletype=1,
            description=f"{APERIO}\nlabel 100x120", metadata=None,
        )  # fmt: skip
        tw.write(
            images["Macro"],
            rowsperstrip=16,
            subfiletype=9,
            description=f"{APERIO}\nmacro 300x100",
            **jpeg,
        )
    return images


# -- NDPI --------------------------------------------------------------------------

NDPI_PROPERTIES = "Objective.Lens.Magnificant=20.00\r\nPSHV=179\r\nEmpty=\r\nProduct=C13210\r\n"


def restart_jpeg(image: np.ndarray, *, blocks: int, quality: int = 90) -> bytes:
    """``image`` as a 4:4:4 JPEG with a restart marker every ``blocks`` MCUs."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(
        buffer, "JPEG", quality=quality, subsampling=0, restart_marker_blocks=blocks
    )
    return buffer.getvalue()


def scan_start(jpeg: bytes) -> int:
    """Where the entropy-coded data start: after the start-of-scan segment."""
    pos = 2
    while jpeg[pos + 1] != 0xDA:
        pos += 2 + struct.unpack_from(">H", jpeg, pos + 2)[0]
    return pos + 2 + struct.unpack_from(">H", jpeg, pos + 2)[0]


def mcu_starts(jpeg: bytes) -> list[int]:
    """The start of each restart interval: the scan's start, then after each RST marker."""
    start = scan_start(jpeg)
    starts = [start]
    pos = jpeg.find(b"\xff", start)
    while 0 <= pos < len(jpeg) - 2:
        if 0xD0 <= jpeg[pos + 1] <= 0xD7:
            starts.append(pos + 2)
        pos = jpeg.find(b"\xff", pos + 2)
    return starts


def wide_strip(columns: Sequence[np.ndarray], *, blocks: int) -> tuple[bytes, list[int]]:
    """One JPEG strip (header of the first column, frame width unset) holding
    ``columns`` side by side, each ``blocks`` MCUs wide: intervals taken from each
    column's own JPEG and laid out row by row, restart markers renumbered."""
    streams = [restart_jpeg(c, blocks=blocks) for c in columns]
    header = streams[0][: scan_start(streams[0])]
    assert all(s[: scan_start(s)] == header for s in streams)  # same tables everywhere
    pieces = []
    for stream in streams:
        starts = [*mcu_starts(stream), len(stream) - 2]  # the last interval ends before EOI
        pieces.append([stream[a:b] for a, b in itertools.pairwise(starts)])
    out, starts = bytearray(header), []
    number = 0
    for row in range(len(pieces[0])):
        for column in pieces:
            starts.append(len(out))
            body = column[row]
            if 0xD0 <= body[-1] <= 0xD7 and body[-2] == 0xFF:
                body = body[:-2]
            out += body + bytes((0xFF, 0xD0 + number % 8))
            number += 1
    return bytes(out[:-2]) + b"\xff\xd9", starts


@dataclass
class NdpiLevel:
    """A pyramid level: its pixels, magnification and the restart interval in MCUs."""

    image: np.ndarray
    lens: float
    blocks: int = 0


def ndpi_page(
    image: np.ndarray,
    lens: float,
    strip: bytes,
    *,
    starts: Sequence[int] | None,
    extra: Sequence[Entry] = (),
) -> RawPage:
    """One NDPI page over one strip (JPEG, or uncompressed when ``image`` is gray)."""
    height, width = image.shape[:2]
    gray = image.ndim == 2
    per_cm = int(1097 * lens) if lens > 0 else 156  # pixels per centimetre
    entries = [
        entry(256, LONG, [width]),
        entry(257, LONG, [height]),
        entry(258, SHORT, [8] if gray else [8, 8, 8]),
        entry(259, SHORT, [1 if gray else 7]),
        entry(262, SHORT, [1 if gray else 6]),
        entry(271, ASCII, "Hamamatsu"),
        entry(272, ASCII, "C13210"),
        entry(277, SHORT, [1 if gray else 3]),
        entry(278, LONG, [height]),
        entry(282, RATIONAL, [per_cm, 1]),
        entry(283, RATIONAL, [per_cm, 1]),
        entry(296, SHORT, [3]),
        entry(305, ASCII, "NDP.scan 3.2.12"),
        entry(65420, LONG, [1]),
        entry(65421, FLOAT, [lens]),
        entry(65422, SLONG, [1234567]),
        entry(65423, SLONG, [-7654]),
        entry(65424, SLONG, [0]),
        entry(65449, ASCII, NDPI_PROPERTIES),
        *extra,
    ]
    if not gray:
        entries.append(entry(530, SHORT, [1, 1]))
    if starts is not None:
        entries.append(entry(65426, LONG, list(starts)))
    return RawPage(entries, [strip])


def ndpi_file(levels: Sequence[NdpiLevel], macro: np.ndarray, map_: np.ndarray) -> bytes:
    """An NDPI file: the levels (strips with restart markers and MCU starts), a macro
    image (a JPEG strip, magnification -1) and a map (gray, uncompressed, -2)."""
    pages = []
    for level in levels:
        jpeg = restart_jpeg(level.image, blocks=level.blocks)
        pages.append(ndpi_page(level.image, level.lens, jpeg, starts=mcu_starts(jpeg)))
    pages.append(ndpi_page(macro, -1.0, restart_jpeg(macro, blocks=0), starts=None))
    pages.append(ndpi_page(map_, -2.0, map_.tobytes(), starts=None))
    return write_pages(pages, next_size=8)
