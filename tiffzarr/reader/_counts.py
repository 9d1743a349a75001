"""Segment byte counts as libtiff (and so GDAL) reads them where a file's counts lie.

Decided when the page is built, each with a warning naming what the file breaks:

- The one strip of a page has a byte count of 0 (or none: StripByteCounts
  missing) but an offset: libtiff estimates it. An uncompressed strip is its
  stored size; a compressed one is taken to end at the next thing after it that
  the file places (another strip, the page's IFD, the next IFD) or at the end
  of the file (libtiff's estimate of "the file less its directories" ends
  there; the decoders stop at the end of their stream). Without byte counts,
  one compressed strip per plane is estimated so too; more is an error, as in
  libtiff. A count of 0 among several segments stays a sparse segment (fill),
  as libtiff, GDAL and tifffile read it.
- An uncompressed segment whose byte count is smaller than its stored size is
  read at its stored size: libtiff reads a whole uncompressed strip whatever
  its count says (GDAL does so). Not for subsampled YCbCr, whose stored size
  is not the layout's.
- StripOffsets (TileOffsets) holding more values than the page has segments
  (a RowsPerStrip larger than the image): the first are used, as libtiff does.

Only counts loaded with the IFD are looked at; a count array loaded later (a
large one) is used as stored. Old-style JPEG's counts are left alone (as libtiff
leaves them).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tiffzarr.format import Compression, PageLayout, tag_name
from tiffzarr.format._enums import Photometric
from tiffzarr.model import Ifd, TagArray, format_path

__all__ = ["estimated_counts", "repaired_counts", "stored_counts"]

Warn = Callable[[str], None]


def stored_counts(layout: PageLayout, /) -> np.ndarray:
    """Bytes of each uncompressed segment as stored (a short last strip holds its rows).

    >>> from tiffzarr.format import page_layout
    >>> stored_counts(page_layout({256: 4, 257: 5, 258: 8, 278: 2}, nsegments=3)).tolist()
    [8, 8, 4]
    """
    depth, rows, _, _ = layout.segment_shape
    counts = np.full(layout.grid, layout.stored_nbytes, dtype="<u8")
    if not layout.tiled:
        last_rows = layout.length - (layout.grid[2] - 1) * rows
        counts[:, :, -1, :] = depth * last_rows * layout.row_nbytes
    return counts.reshape(-1)


def _ends(offsets: np.ndarray, ifd: Ifd, size: int) -> np.ndarray:
    """Where segments at ``offsets`` end at the latest: the next offset the file
    places after each (of a segment, this IFD, the next one), or the file's end."""
    known = np.array([ifd.offset, ifd.next_offset, size], "<u8")
    marks = np.unique(np.concatenate([offsets.astype("<u8"), known]))
    marks = marks[marks <= size]
    after = np.searchsorted(marks, offsets, side="right")
    return np.where(after < len(marks), marks[np.minimum(after, len(marks) - 1)], size)


def estimated_counts(
    layout: PageLayout, offsets: TagArray, /, *, ifd: Ifd, size: int, warn: Warn
) -> TagArray | None:
    """Counts for a page without byte counts whose segments are compressed: one strip
    per plane, estimated as libtiff does (``None``: more segments, or offsets not
    loaded)."""
    n = layout.nsegments
    if layout.compression == Compression.OJPEG or layout.tiled or layout.grid[1:] != (1, 1, 1):
        return None
    if not offsets.loaded(0, n):
        return None
    starts = offsets.values()[:n]
    ends = _ends(starts, ifd, size)
    warn(
        f"IFD {format_path(ifd.path)}: StripByteCounts is missing; each strip is read up "
        "to the next offset in the file or its end, as libtiff does"
    )
    return TagArray.from_values(np.where(ends > starts, ends - starts, 0))


def repaired_counts(
    layout: PageLayout, offsets: TagArray, counts: TagArray, /, *, ifd: Ifd, size: int, warn: Warn
) -> TagArray:
    """The byte counts to read, ``counts`` where they hold (see the module)."""
    n = layout.nsegments
    where = f"IFD {format_path(ifd.path)}"
    if offsets.count > n > 0:
        warn(
            f"{where}: {tag_name(273 if not layout.tiled else 324)} holds {offsets.count} "
            f"values for {n} segments; the first {n} are used, as libtiff does"
        )
    if n == 0 or offsets.count < n or counts.count < n:
        return counts  # none, or too few values (refused by the caller)
    if layout.compression == Compression.OJPEG or not (
        offsets.loaded(0, n) and counts.loaded(0, n)
    ):
        return counts  # libtiff leaves old-style JPEG's counts alone
    if n == 1 and not layout.tiled and counts[0] == 0 and 0 < offsets[0] < size:
        return _one_strip(layout, offsets[0], ifd=ifd, size=size, warn=warn, where=where)
    subsampled = layout.photometric == Photometric.YCBCR and layout.subsampling != (1, 1)
    if layout.compression != Compression.NONE or subsampled or layout.stored_nbytes > size:
        return counts  # (a segment larger than the file is refused by the caller)
    if n == 1 and not 0 < counts[0] < stored_counts(layout)[0]:
        return counts  # the common single strip, without more numpy
    starts, claimed = offsets.values()[:n], counts.values()[:n]
    stored = stored_counts(layout)
    short = (claimed > 0) & (claimed < stored) & (starts > 0) & (starts < size)
    if not short.any():
        return counts
    first = int(np.argmax(short))
    warn(
        f"{where}: {int(short.sum())} uncompressed segments have byte counts smaller than "
        f"their stored size (segment {first}: {int(claimed[first])} of {int(stored[first])} "
        f"bytes); they are read at their stored size, as libtiff does"
    )
    room = np.where(starts < size, np.uint64(size) - np.minimum(starts, np.uint64(size)), 0)
    repaired = np.where(short, np.minimum(stored, room), claimed)
    return TagArray.from_values(np.concatenate([repaired, counts.values()[n:]]))


def _one_strip(
    layout: PageLayout, offset: int, /, *, ifd: Ifd, size: int, warn: Warn, where: str
) -> TagArray:
    if layout.compression == Compression.NONE:
        nbytes = min(layout.stored_nbytes, size - offset)
        how = "its stored size"
    else:
        nbytes = int(_ends(np.array([offset], "<u8"), ifd, size)[0]) - offset
        how = "the next offset in the file or its end"
    warn(
        f"{where}: StripByteCounts is 0 for the page's only strip (at offset {offset}); "
        f"it is read as {nbytes} bytes ({how}), as libtiff does"
    )
    return TagArray.from_values([nbytes])
