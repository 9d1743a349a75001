"""The TIFF file header: byte order and classic or BigTIFF layout, as data."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from tiffzarr.errors import LimitError, TiffFormatError
from tiffzarr.format._types import ByteOrder

__all__ = ["BIGTIFF", "CLASSIC", "Header", "IfdLayout", "parse_header"]


@dataclass(frozen=True, slots=True)
class IfdLayout:
    """Sizes and struct formats of the IFD structures of one TIFF flavour."""

    name: str
    version: int
    header_size: int
    offset_size: int
    count_size: int
    entry_size: int
    offset_format: str
    count_format: str

    @property
    def inline_size(self) -> int:
        """Bytes a tag value may occupy inside its entry."""
        return self.offset_size

    def ifd_size(self, ntags: int) -> int:
        """Bytes of an IFD with ``ntags`` entries, next-IFD pointer included."""
        return self.count_size + ntags * self.entry_size + self.offset_size


CLASSIC = IfdLayout("classic", 42, 8, 4, 2, 12, "I", "H")
BIGTIFF = IfdLayout("bigtiff", 43, 16, 8, 8, 20, "Q", "Q")
_LAYOUTS = {layout.version: layout for layout in (CLASSIC, BIGTIFF)}
_BYTEORDERS: dict[bytes, ByteOrder] = {b"II": "<", b"MM": ">"}


@dataclass(frozen=True, slots=True)
class Header:
    """A parsed TIFF header.

    >>> h = parse_header(b"II*\\x00\\x08\\x00\\x00\\x00", size=100)
    >>> h.byteorder, h.layout.name, h.first_ifd
    ('<', 'classic', 8)
    """

    byteorder: ByteOrder
    layout: IfdLayout
    first_ifd: int

    @property
    def bigtiff(self) -> bool:
        return self.layout is BIGTIFF


def parse_header(data: bytes | memoryview, /, *, size: int, url: str | None = None) -> Header:
    """Parse the first bytes of a file (at least 16 when available).

    Raises :class:`~tiffzarr.errors.TiffFormatError` for anything that is not a
    classic or BigTIFF header whose first IFD lies inside the file.
    """
    data = bytes(data[:16])
    if len(data) < 8:
        raise TiffFormatError(f"file too short for a TIFF header ({len(data)} bytes)", url=url)
    byteorder = _BYTEORDERS.get(data[:2])
    if byteorder is None:
        raise TiffFormatError(f"not a TIFF file: byte order mark {data[:2]!r}", url=url)
    version = struct.unpack_from(byteorder + "H", data, 2)[0]
    layout = _LAYOUTS.get(version)
    if layout is None:
        raise TiffFormatError(f"not a TIFF file: version {version}", url=url, offset=2)
    if len(data) < layout.header_size:
        raise TiffFormatError(
            f"file too short for a {layout.name} TIFF header ({len(data)} bytes)", url=url
        )
    if layout is BIGTIFF:
        offsetsize, reserved = struct.unpack_from(byteorder + "HH", data, 4)
        if offsetsize != 8 or reserved != 0:
            raise TiffFormatError(
                f"BigTIFF header has offset size {offsetsize} and reserved {reserved}",
                url=url,
                offset=4,
            )
    first_ifd = struct.unpack_from(
        byteorder + layout.offset_format, data, layout.header_size - layout.offset_size
    )[0]
    if first_ifd < layout.header_size:
        raise TiffFormatError(
            f"first IFD offset {first_ifd} lies inside the header", url=url, offset=first_ifd
        )
    if first_ifd + layout.count_size > size:
        raise LimitError(
            f"first IFD offset {first_ifd} is past the end of the file ({size} bytes)",
            url=url,
            offset=first_ifd,
        )
    return Header(byteorder, layout, first_ifd)


_GHOST_PREFIX = b"GDAL_STRUCTURAL_METADATA_SIZE="
_GHOST_MAX = 64 * 1024


def parse_ghost(data: bytes | memoryview, header: Header, /) -> dict[str, str]:
    """The ``KEY=VALUE`` lines of GDAL's COG "ghost area" right after the header.

    Returns ``{}`` when there is none, or when it does not fit in ``data``.

    >>> head = b"II*\\x00\\x50\\x00\\x00\\x00GDAL_STRUCTURAL_METADATA_SIZE=000024 bytes\\n"
    >>> head += b"LAYOUT=IFDS_BEFORE_DATA\\n"
    >>> parse_ghost(head, parse_header(head, size=100))
    {'LAYOUT': 'IFDS_BEFORE_DATA'}
    """
    start = header.layout.header_size
    view = bytes(data[start : start + len(_GHOST_PREFIX) + 14])
    if not view.startswith(_GHOST_PREFIX):
        return {}
    digits, sep, _ = view[len(_GHOST_PREFIX) :].partition(b" bytes\n")
    if not sep or not digits.isdigit() or int(digits) > _GHOST_MAX:
        return {}
    body_start = start + len(_GHOST_PREFIX) + len(digits) + len(sep)
    body = bytes(data[body_start : body_start + int(digits)])
    if len(body) < int(digits):
        return {}
    out = {}
    for line in body.decode("ascii", "replace").splitlines():
        key, eq, value = line.partition("=")
        if eq and key.strip():
            out[key.strip()] = value.strip()
    return out
