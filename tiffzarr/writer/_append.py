"""Appending to an existing TIFF: its byte order, flavour and the end of its IFD chain.

>>> import os, tempfile, numpy as np, tifffile
>>> path = os.path.join(tempfile.mkdtemp(), "a.tif")
>>> tifffile.imwrite(path, np.zeros((2, 8, 8), "uint8"), metadata=None)
>>> found = existing_file(path)
>>> found.header.byteorder, found.pages, found.description is None
('<', 2, True)
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from tiffzarr.errors import IfdCycleError, TiffFormatError
from tiffzarr.format import Header, decode_value, parse_header, parse_ifd

__all__ = ["ExistingFile", "existing_file"]

_MAX_PAGES = 2**24


@dataclass(frozen=True, slots=True)
class ExistingFile:
    """The parts of an existing file that appending needs."""

    header: Header
    last_next: int
    """Offset of the next-IFD pointer of the last IFD (the header's when there is none)."""
    pages: int
    description: str | None
    """ImageDescription of the first IFD."""

    @property
    def has_metadata(self) -> bool:
        """True for ImageJ and OME files, whose metadata an append would contradict."""
        text = (self.description or "").lstrip()
        return text.startswith(("ImageJ=", "<?xml")) or "<OME" in text[:512]


def existing_file(path: str, /) -> ExistingFile:
    """Walk the main IFD chain of the TIFF at ``path`` (raises for non-TIFF files)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        header = parse_header(os.pread(fd, 16, 0), size=size, url=path)
        layout = header.layout
        pointer = layout.header_size - layout.offset_size
        offset, pages, seen, description = header.first_ifd, 0, set(), None
        while offset:
            if offset in seen or pages >= _MAX_PAGES:
                raise IfdCycleError("the IFD chain loops", url=path, offset=offset)
            seen.add(offset)
            count_bytes = os.pread(fd, layout.count_size, offset)
            ntags = struct.unpack(header.byteorder + layout.count_format, count_bytes)[0]
            data = os.pread(fd, layout.ifd_size(ntags), offset)
            ifd = parse_ifd(header, data, offset=offset, url=path, ifd=pages)
            if pages == 0:
                description = _description(fd, header, ifd.entries.get(270))
            pointer = offset + layout.count_size + ntags * layout.entry_size
            offset, pages = ifd.next_offset, pages + 1
            if offset >= size:
                raise TiffFormatError("next IFD offset is past the end", url=path, offset=offset)
        return ExistingFile(header, pointer, pages, description)
    finally:
        os.close(fd)


def _description(fd: int, header: Header, entry: object) -> str | None:
    from tiffzarr.format import TagEntry

    if not isinstance(entry, TagEntry):
        return None
    data = None
    if entry.value_offset is not None:
        data = os.pread(fd, min(entry.nbytes, 1 << 20), entry.value_offset)
    try:
        value = decode_value(header, entry, data)
    except TiffFormatError:
        return None
    return value if isinstance(value, str) else None
