"""What makes files of a sequence alike: the byte ranges that define the first file's image.

Files written one after another by the same program (a camera, a microscope, a
tiling job) usually share their layout byte for byte: the same header, IFDs at
the same offsets with the same entries, the pixels at the same places. Then the
other files need no parsing: their bytes in these ranges are read with their
first pixels (one request per file) and must equal the first file's.
"""

from __future__ import annotations

from tiffzarr.errors import UnsupportedError
from tiffzarr.format import Compression
from tiffzarr.model import ArrayModel, FileReference, HeldPages, TiffIndex
from tiffzarr.reader._pages import GEOMETRY_TAGS

__all__ = ["MAX_REFERENCE_BYTES", "file_reference"]

LAYOUT_TAGS = GEOMETRY_TAGS | {292, 293, 347, 529, 532}
"""Tags whose values decide how segments decode (T4/T6 options, JPEG tables, YCbCr)."""
SEGMENT_TAGS = frozenset({273, 279, 324, 325})
"""Segment offsets and byte counts: inline ones are part of the IFD, others are read
from each file itself."""
MAX_REFERENCE_BYTES = 1 << 20
"""Largest set of layout bytes compared per file."""


def file_reference(index: TiffIndex, array: ArrayModel, /) -> FileReference:
    """The layout ranges of ``array``'s pages in the file of ``index``.

    The header, every IFD of those pages (entries and next pointer) and the
    out-of-line values of the tags that decide decoding. Values of other tags
    (dates, descriptions) are not compared: files may differ there.

    Raises :class:`~tiffzarr.errors.UnsupportedError` when the pages are
    compressed (their byte counts differ from file to file, so their IFDs do too)
    or the ranges exceed :data:`MAX_REFERENCE_BYTES`.
    """
    if array.manifest.layout.compression != Compression.NONE:
        raise UnsupportedError("compressed files cannot be predicted", url=index.url)
    held = HeldPages([array.manifest.tables])
    layout = index.header.layout
    spans = [(0, layout.header_size)]
    for page in held.pages(index.pages, held=True):
        ifd = page.ifd
        spans.append((ifd.offset, layout.ifd_size(len(ifd.entries))))
        spans += [
            (entry.value_offset, entry.nbytes)
            for code, entry in ifd.entries.items()
            if entry.value_offset is not None
            and code in LAYOUT_TAGS - SEGMENT_TAGS
            and entry.nbytes > 0
        ]
    if sum(n for _, n in spans) > MAX_REFERENCE_BYTES:
        raise UnsupportedError(
            f"more than {MAX_REFERENCE_BYTES} bytes define the layout", url=index.url
        )
    return FileReference(index.url, index.size, tuple(spans))
