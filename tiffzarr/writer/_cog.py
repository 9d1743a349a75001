"""Cloud Optimized GeoTIFF layout: the ghost area and tile leaders and trailers.

A COG starts with the header, then GDAL's "ghost" structural metadata (text
between the header and the first IFD that tells readers how the file is laid
out), then every IFD with its tag values (the main image first, then the
overviews, largest first), then the tiles: smallest overview first, the full
resolution image last. Each tile is preceded by its size as a 4-byte integer
(the *leader*, little-endian as GDAL writes it) and followed by a copy of its
last 4 bytes (the *trailer*), so a reader can check it fetched a complete tile.

>>> text = ghost()
>>> text.splitlines()[0], len(text) - 43
(b'GDAL_STRUCTURAL_METADATA_SIZE=000140 bytes', 140)
>>> leader(b"abcdef"), trailer(b"abcdef"), trailer(b"ab")
(b'\\x06\\x00\\x00\\x00', b'cdef', b'ab\\x00\\x00')
"""

from __future__ import annotations

import struct

__all__ = ["ghost", "leader", "trailer"]

_ITEMS = (
    "LAYOUT=IFDS_BEFORE_DATA",
    "BLOCK_ORDER=ROW_MAJOR",
    "BLOCK_LEADER=SIZE_AS_UINT4",
    "BLOCK_TRAILER=LAST_4_BYTES_REPEATED",
    "KNOWN_INCOMPATIBLE_EDITION=NO",
)


def ghost() -> bytes:
    """The ghost area GDAL writes after the header of a COG (before the first IFD)."""
    body = "".join(f"{item}\n" for item in _ITEMS) + " "
    return f"GDAL_STRUCTURAL_METADATA_SIZE={len(body):06d} bytes\n{body}".encode("ascii")


def leader(data: bytes, /) -> bytes:
    """The 4 bytes before a tile: its size, little-endian whatever the file's byte order."""
    return struct.pack("<I", len(data))


def trailer(data: bytes, /) -> bytes:
    """The 4 bytes after a tile: its last 4 bytes again (zero-padded when shorter)."""
    return bytes(data[-4:]).ljust(4, b"\0")
