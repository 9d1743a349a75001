"""The whole-slide data sets: an Aperio SVS and a Hamamatsu NDPI, laid out as the
scanners write them, so that openslide and tiffslide recognise their vendors.

- ``svs``: tifffile writes the TIFF; the level tiles are JPEG (RGB-coded, Q=70,
  240² as Aperio's ScanScope writes them) encoded here, their quantisation and
  Huffman tables moved into ``JPEGTables`` as Aperio does; a thumbnail page of
  JPEG strips after level 0, reduced levels in 4x steps, a label page (LZW strips)
  and a macro page (JPEG strips), with Aperio's ImageDescription on every page.
- ``ndpi``: written here (tifffile cannot write NDPI's 64-bit IFD pointers): each
  level, in 2x steps, is one baseline JPEG strip (YCbCr 4:2:2, Pillow) whose
  entropy-coded data restart every 32 MCUs (8 x 512 pixels), the restart intervals listed in
  ``McuStarts`` (65426); Hamamatsu's tags (65420 format flag, 65421 lens, offsets,
  focal plane, property map) and a macro page (lens -1).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy

from benchmarks._data import Dataset, _image, _levels, _tile_window, pattern

__all__ = [
    "SLIDE_DATASETS",
    "aperio_description",
    "restart_offsets",
    "slide_datasets",
    "split_jpeg_tables",
    "write_ndpi",
    "write_svs",
]

SLIDE_DATASETS = ("svs", "ndpi")
"""The whole-slide data sets (reported with the COG in their own section)."""
APERIO = "Aperio Image Library v12.0.15"
APERIO_PROPERTIES = (
    "AppMag = 20|StripeWidth = 2040|ScanScope ID = SS0001|Filename = tiffzarr-benchmark"
    "|Date = 01/02/26|Time = 12:00:00|Time Zone = GMT+0000|MPP = 0.25|Left = 20.000000"
    "|Top = 20.000000|LineCameraSkew = 0.000000|Focus Offset = 0.000000|ImageID = 1"
)
"""The key-value part of Aperio's description (``|``-separated ``Key = value``)."""
SLIDE_NOISE = 4.0
"""Noise of the slides' pixels (in counts): the SVS tiles compress ~14:1, as tissue does."""
NDPI_RESTART_MCUS = 32
"""MCUs per restart interval of the NDPI levels (8 x 512 pixels with 4:2:2: openslide
decodes an interval alone, which 4:2:0's vertical upsampling would read beyond)."""


def slide_datasets(*, quick: bool) -> list[Dataset]:
    """The ``svs`` and ``ndpi`` data sets, full size or (``quick``) tiny."""
    tile = 240
    size = (1920, 2400) if quick else (12000, 16000)  # rows, columns
    shape: tuple[int, ...] = (*size, 3)
    svs = Dataset(
        "svs",
        "slide.svs",
        "tiled",
        f"Aperio SVS RGB {size[1]}x{size[0]}, JPEG tiles {tile} (RGB, Q=70, JPEGTables),"
        " thumbnail, 4x levels, label, macro (tifffile)",
        shape,
        "uint8",
        (tile, tile, 3),
        _tile_window(shape, tile),
        False,
        {
            "size": size,
            "tile": tile,
            "quality": 70,
            "levels": 2,
            "thumbnail": 256 if quick else 1024,
            "noise": SLIDE_NOISE,
        },
    )
    size = (1536, 2048) if quick else (12288, 16384)
    side = 512 if quick else 2048
    y0, x0 = ((n - side) // 2 // 512 * 512 for n in size)  # on the 512-pixel grid
    ndpi = Dataset(
        "ndpi",
        "slide.ndpi",
        "strips",
        f"Hamamatsu NDPI RGB {size[1]}x{size[0]}, one JPEG strip per level (YCbCr 4:2:2, Q=85),"
        f" restart every {NDPI_RESTART_MCUS} MCUs (8x512), 2x levels, macro",
        (*size, 3),
        "uint8",
        (8, 16 * NDPI_RESTART_MCUS, 3),
        ((y0, y0 + side), (x0, x0 + side)),
        False,
        {
            "size": size,
            "quality": 85,
            "levels": 2 if quick else 3,
            "restart": NDPI_RESTART_MCUS,
            "noise": SLIDE_NOISE,
        },
    )
    return [svs, ndpi]


# -- JPEG -------------------------------------------------------------------------


def _segments(jpeg: bytes) -> Iterator[tuple[int, int, int]]:
    """``(marker, start, stop)`` of each marker segment before the scan data (SOS last)."""
    at = 2  # after SOI
    while True:
        marker = jpeg[at + 1]
        (length,) = struct.unpack_from(">H", jpeg, at + 2)
        yield marker, at, at + 2 + length
        if marker == 0xDA:
            return
        at += 2 + length


def split_jpeg_tables(jpeg: bytes) -> tuple[bytes, bytes]:
    """A JPEG as ``(tables, abbreviated)``: its DQT and DHT segments as a tables-only
    stream (TIFF's ``JPEGTables``) and the image without them.

    >>> import imagecodecs
    >>> tile = imagecodecs.jpeg8_encode(numpy.zeros((16, 16, 3), "uint8"), level=70)
    >>> tables, rest = split_jpeg_tables(tile)
    >>> tables[:2] == rest[:2] == b"\\xff\\xd8", tables[-2:] == b"\\xff\\xd9"
    (True, True)
    >>> len(tables) + len(rest) == len(tile) + 4
    True
    """
    tables, rest = [b"\xff\xd8"], [b"\xff\xd8"]
    for marker, start, stop in _segments(jpeg):
        if marker == 0xDA:
            rest.append(jpeg[start:])
        else:
            (tables if marker in (0xDB, 0xC4) else rest).append(jpeg[start:stop])
    return b"".join(tables) + b"\xff\xd9", b"".join(rest)


def restart_offsets(jpeg: bytes) -> list[int]:
    """Where each restart interval's entropy-coded data start in a JPEG (NDPI's
    ``McuStarts``): after the scan header, then after every ``RSTn`` marker.

    >>> scan = b"ab\\xff\\xd0cd\\xff\\x00\\xff\\xd1e"  # RST0, a stuffed 0xFF, RST1
    >>> restart_offsets(b"\\xff\\xd8\\xff\\xda\\x00\\x02" + scan + b"\\xff\\xd9")
    [6, 10, 16]
    """
    scan = next(stop for marker, _, stop in _segments(jpeg) if marker == 0xDA)
    data = numpy.frombuffer(jpeg, numpy.uint8, offset=scan)
    ff = numpy.flatnonzero(data[:-1] == 0xFF)
    follows = data[ff + 1]
    restarts = ff[(follows >= 0xD0) & (follows <= 0xD7)]
    return [scan, *(int(r) + scan + 2 for r in restarts)]


def _padded_tiles(level: numpy.ndarray, tile: int) -> Iterator[numpy.ndarray]:
    """The level's tiles in row-major order, edge tiles padded by repeating the edge."""
    rows, cols = level.shape[:2]
    for y in range(0, rows, tile):
        for x in range(0, cols, tile):
            block = level[y : y + tile, x : x + tile]
            pad = ((0, tile - block.shape[0]), (0, tile - block.shape[1]), (0, 0))
            yield numpy.pad(block, pad, mode="edge") if any(p[1] for p in pad) else block


def _aperio_tiles(level: numpy.ndarray, tile: int, quality: int) -> tuple[bytes, list[bytes]]:
    """``(JPEGTables, abbreviated tiles)``: RGB-coded JPEG tiles sharing one set of tables."""
    import imagecodecs

    tables: set[bytes] = set()
    tiles = []
    for block in _padded_tiles(level, tile):
        jpeg = imagecodecs.jpeg8_encode(
            numpy.ascontiguousarray(block), level=quality, colorspace="RGB", outcolorspace="RGB"
        )
        shared, abbreviated = split_jpeg_tables(bytes(jpeg))
        tables.add(shared)
        tiles.append(abbreviated)
    if len(tables) != 1:
        raise ValueError(f"{len(tables)} different JPEG tables for one level")
    return tables.pop(), tiles


# -- SVS ----------------------------------------------------------------------------


def aperio_description(
    size: tuple[int, int], *, tile: int | None, reduced: tuple[int, int] | None, quality: int
) -> str:
    """Aperio's ImageDescription of a level (``tile``) or thumbnail page (``reduced``
    to that width x height), for a base image of ``size`` (width, height).

    >>> aperio_description((4, 3), tile=240, reduced=None, quality=70).split("|")[0]
    'Aperio Image Library v12.0.15 \\r\\n4x3 [0,0 4x3] (240x240) JPEG/RGB Q=70'
    """
    w, h = size
    head = f"{APERIO} \r\n{w}x{h} [0,0 {w}x{h}]"
    if tile is not None:
        head += f" ({tile}x{tile})"
    if reduced is not None:
        head += f" -> {reduced[0]}x{reduced[1]}"
    return f"{head} JPEG/RGB Q={quality}|{APERIO_PROPERTIES}"


def _thumbnail(base: numpy.ndarray, width: int) -> numpy.ndarray:
    rows, cols = base.shape[:2]
    height = round(rows * width / cols)
    ys = numpy.linspace(0, rows - 1, height).astype(numpy.intp)
    xs = numpy.linspace(0, cols - 1, width).astype(numpy.intp)
    return numpy.ascontiguousarray(base[ys][:, xs])


def write_svs(ds: Dataset, target: Path) -> None:
    """Write ``ds`` as Aperio lays out an SVS file (page order: level 0, thumbnail,
    reduced levels, label, macro)."""
    import tifffile

    rows, cols = ds.params["size"]
    tile, quality = ds.params["tile"], ds.params["quality"]
    base = _image(rows, cols, samples=3, dtype="uint8", seed=5, noise=ds.params["noise"])
    levels = [base, *list(_levels(base, 2 * ds.params["levels"]))[1::2]]  # 4x steps
    jpeg_rgb: dict[str, Any] = {"compression": "jpeg", "photometric": "rgb", "subsampling": (1, 1)}
    strips: dict[str, Any] = {
        **jpeg_rgb,
        "rowsperstrip": 16,
        "compressionargs": {"level": quality, "outcolorspace": "rgb"},
    }
    with tifffile.TiffWriter(target) as tif:
        for index, level in enumerate(levels):
            tables, tiles = _aperio_tiles(level, tile, quality)
            reduced = None if index == 0 else (level.shape[1], level.shape[0])
            tif.write(
                iter(tiles),
                shape=level.shape,
                dtype="uint8",
                tile=(tile, tile),
                jpegtables=tables,
                compressionargs={"outcolorspace": "rgb"},
                description=aperio_description(
                    (cols, rows), tile=tile, reduced=reduced, quality=quality
                ),
                metadata=None,
                **jpeg_rgb,
            )
            if index == 0:
                thumbnail = _thumbnail(base, ds.params["thumbnail"])
                size = (thumbnail.shape[1], thumbnail.shape[0])
                description = aperio_description(
                    (cols, rows), tile=None, reduced=size, quality=quality
                )
                tif.write(thumbnail, description=description, metadata=None, **strips)
        label = pattern(0, 463, 387, samples=3, seed=7)
        tif.write(
            label,
            compression="lzw",
            predictor=True,
            photometric="rgb",
            rowsperstrip=16,
            subfiletype=1,
            description=f"{APERIO}\r\nlabel 387x463",
            metadata=None,
        )
        macro = pattern(0, 431, 1280, samples=3, seed=8)
        tif.write(
            macro, subfiletype=9, description=f"{APERIO}\r\nmacro 1280x431", metadata=None, **strips
        )


# -- NDPI ---------------------------------------------------------------------------

_TYPES = {"B": 1, "s": 2, "H": 3, "I": 4, "R": 5, "i": 9, "f": 11}
"""TIFF field types by the struct letter of their values (``R``: rationals as I/I)."""


def _entry(code: int, kind: str, values: Any) -> tuple[int, int, int, bytes]:
    """``(tag, type, count, value bytes)`` of one IFD entry."""
    if kind == "s":
        data = values.encode("ascii") + b"\0"
        return code, _TYPES[kind], len(data), data
    values = list(values) if isinstance(values, (list, tuple, numpy.ndarray)) else [values]
    if kind == "R":
        return code, _TYPES[kind], len(values), b"".join(struct.pack("<II", *v) for v in values)
    return code, _TYPES[kind], len(values), struct.pack(f"<{len(values)}{kind}", *values)


def _ndpi_ifd(entries: list[tuple[int, int, int, bytes]], at: int) -> tuple[bytes, int]:
    """An NDPI IFD to be written at offset ``at``: the entries (values longer than
    4 bytes after the IFD), a 64-bit next-IFD pointer (zero; patched when linking) and
    the high 32 bits of every entry's value (zero: the file is below 4 GiB).
    Returns the bytes and where the next-IFD pointer sits in them."""
    entries = sorted(entries)
    size = 2 + 12 * len(entries) + 8 + 4 * len(entries)
    table, values = [struct.pack("<H", len(entries))], []
    extra = at + size
    for code, kind, count, data in entries:
        if len(data) <= 4:
            table.append(struct.pack("<HHI", code, kind, count) + data.ljust(4, b"\0"))
        else:
            table.append(struct.pack("<HHII", code, kind, count, extra))
            values.append(data + b"\0" * (len(data) % 2))
            extra += len(values[-1])
    pointer = 2 + 12 * len(entries)
    head = b"".join(table) + b"\0" * 8 + b"\0" * (4 * len(entries))
    return head + b"".join(values), pointer


def _ndpi_page(image: numpy.ndarray, lens: float, quality: int, restart: int) -> tuple[bytes, list]:
    """``(JPEG strip, entries without the strip's offset)`` of one NDPI page."""
    from PIL import Image

    buffer = io.BytesIO()
    options = {"restart_marker_blocks": restart} if restart else {}
    Image.fromarray(image).save(buffer, "JPEG", quality=quality, subsampling="4:2:2", **options)
    jpeg = buffer.getvalue()
    rows, cols = image.shape[:2]
    pixels_per_cm = round(10_000 / 0.25 * lens / 20) if lens > 0 else 1000  # MPP 0.25 at 20x
    entries = [
        _entry(256, "I", cols),
        _entry(257, "I", rows),
        _entry(258, "H", (8, 8, 8)),
        _entry(259, "H", 7),  # JPEG
        _entry(262, "H", 6),  # YCbCr
        _entry(271, "s", "Hamamatsu"),
        _entry(272, "s", "C13210"),
        _entry(277, "H", 3),
        _entry(278, "I", rows),
        _entry(279, "I", len(jpeg)),
        _entry(282, "R", [(pixels_per_cm, 1)]),
        _entry(283, "R", [(pixels_per_cm, 1)]),
        _entry(296, "H", 3),  # centimetre
        _entry(305, "s", "NDP.scan 3.2.15"),
        _entry(530, "H", (2, 1)),
        _entry(532, "I", (0, 255, 128, 255, 128, 255)),
        _entry(65420, "H", 1),
        _entry(65421, "f", lens),
        _entry(65422, "i", 0),
        _entry(65423, "i", 0),
        _entry(65449, "s", "Created=2026/01/02\r\nProduct=C13210\r\nNDP.S/N=000001\r\n"),
    ]
    if lens > 0:
        entries += [_entry(65424, "i", 0), _entry(65426, "I", restart_offsets(jpeg))]
    return jpeg, entries


def write_ndpi(ds: Dataset, target: Path) -> None:
    """Write ``ds`` as a Hamamatsu NDPI file: the levels, then the macro page."""
    rows, cols = ds.params["size"]
    quality, restart = ds.params["quality"], ds.params["restart"]
    base = _image(rows, cols, samples=3, dtype="uint8", seed=6, noise=ds.params["noise"])
    pages = [
        (level, 20.0 / 2**i) for i, level in enumerate([base, *_levels(base, ds.params["levels"])])
    ]
    pages.append((pattern(0, 400, 1200, samples=3, seed=9), -1.0))
    with open(target, "wb") as out:
        out.write(b"II*\0" + b"\0" * 8)  # the first IFD's offset, 64-bit
        pointer = 4
        for image, lens in pages:
            jpeg, entries = _ndpi_page(image, lens, quality, restart if lens > 0 else 0)
            strip = out.tell()
            out.write(jpeg + b"\0" * (len(jpeg) % 2))
            ifd = out.tell()
            data, next_pointer = _ndpi_ifd([*entries, _entry(273, "I", strip)], ifd)
            out.write(data)
            out.seek(pointer)
            out.write(struct.pack("<Q", ifd))
            out.seek(0, io.SEEK_END)
            pointer = ifd + next_pointer
