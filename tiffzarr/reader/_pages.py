"""Turn walked IFDs into pages: array layout plus the segment table."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from tiffzarr.errors import TiffFormatError, TiffZarrError
from tiffzarr.format import Compression, Header, PageLayout, TagValue, page_layout
from tiffzarr.format._lsm import CZ_LSMINFO_TAG, misplaced_bitspersample
from tiffzarr.format._template import IfdTemplate
from tiffzarr.model import Ifd, OffsetFix, Page, PageCheck, SegmentTable, TagArray, format_path
from tiffzarr.reader._cache import ByteCache
from tiffzarr.reader._counts import estimated_counts, repaired_counts, stored_counts
from tiffzarr.reader._ifdread import WalkedIfd

__all__ = [
    "GEOMETRY_TAGS",
    "build_page",
    "is_lsm",
    "read_counts",
    "segment_codes",
    "stored_outside",
    "too_large",
]

GEOMETRY_TAGS = frozenset(
    {256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 284, 317, 322, 323, 324, 325, 338, 339,
     530, 32997, 32998}
)  # fmt: skip


def is_lsm(chain: Sequence[WalkedIfd], /) -> bool:
    """Whether the first IFD says the file is a Zeiss LSM file."""
    return bool(chain) and CZ_LSMINFO_TAG in chain[0].ifd.entries


def segment_codes(entries: Mapping[int, object], /) -> tuple[int, int] | None:
    """The entries holding a page's segment offsets and byte counts (``None``: neither).

    Some writers store tiles under StripOffsets, or strips under TileOffsets.
    """
    if 324 not in entries and 273 not in entries:
        return None
    offsets = 324 if 324 in entries else 273
    own = 325 if offsets == 324 else 279
    return offsets, next((c for c in (own, 325, 279) if c in entries), own)


def build_page(
    walked: WalkedIfd,
    *,
    cache: ByteCache,
    header: Header,
    url: str,
    ndpi: bool,
    checks: Mapping[int, tuple[IfdTemplate, int]] | None = None,
    lsm: bool = False,
    warn: Callable[[str], None],
) -> Page:
    """Build the page (and its SubIFD pages) of an image IFD.

    A page whose tags do not describe a readable image keeps the error that
    says why, instead of raising: other pages of the file stay usable. ``lsm``:
    the file is a Zeiss LSM file (its BitsPerSample may be misplaced). Byte
    counts that libtiff repairs are repaired with a ``warn`` (see
    :mod:`tiffzarr.reader._counts`).
    """
    ifd = walked.ifd
    try:
        layout, segments = _geometry(
            walked, cache=cache, header=header, ndpi=ndpi, lsm=lsm, warn=warn
        )
        predicted = (checks or {}).get(ifd.offset)
        if predicted is not None:
            segments = dataclasses.replace(segments, check=PageCheck(*predicted))
        error = None
    except TiffZarrError as exc:
        layout, segments = None, None
        error = exc.located(url=url, ifd=format_path(ifd.path))
    subifds = tuple(
        None
        if sub is None
        else build_page(
            sub, cache=cache, header=header, url=url, ndpi=ndpi, checks=checks, lsm=lsm, warn=warn
        )
        for sub in walked.subifds
    )
    offsets = ifd.values.get(330)
    subifd_offsets = (
        tuple(int(v) for v in np.atleast_1d(np.asarray(offsets)).reshape(-1))
        if offsets is not None
        else ()
    )
    extra: dict[str, Ifd] = {}
    pending = list(walked.extra)
    while pending:  # Exif → Interoperability nests one level; flatten it
        namespace, child = pending.pop(0)
        extra.setdefault(namespace, child.ifd)
        pending.extend(child.extra)
    return Page(ifd, layout, segments, error, subifd_offsets, subifds, extra)


def _geometry(
    walked: WalkedIfd,
    *,
    cache: ByteCache,
    header: Header,
    ndpi: bool,
    lsm: bool,
    warn: Callable[[str], None],
) -> tuple[PageLayout, SegmentTable]:
    ifd = walked.ifd
    for code, reason in walked.invalid.items():
        if code in GEOMETRY_TAGS:
            raise TiffFormatError(reason, tag=code)
    entries = ifd.entries
    codes = segment_codes(entries)
    if codes is not None:
        offsets_code, counts_code = codes
        offsets = _tag_array(ifd, offsets_code, cache=cache, header=header, ndpi=ndpi)
        values = _lsm_values(ifd, cache, header) if lsm else ifd.values
        layout = page_layout(values, nsegments=offsets.count)
        if counts_code in entries:
            counts = _tag_array(ifd, counts_code, cache=cache, header=header, ndpi=False)
            if not lsm:  # LSM counts are corrected by their series
                counts = repaired_counts(
                    layout, offsets, counts, ifd=ifd, size=cache.size, warn=warn
                )
        elif layout.compression == Compression.NONE:
            counts = TagArray.from_values(stored_counts(layout))
        else:
            estimated = estimated_counts(layout, offsets, ifd=ifd, size=cache.size, warn=warn)
            if estimated is None:
                raise TiffFormatError("the page has no segment byte counts", tag=counts_code)
            counts = estimated
    elif 513 in ifd.values and 514 in ifd.values:
        # a JPEG thumbnail stored as one interchange-format stream (Exif style)
        offsets_code, counts_code = 513, 514
        offsets = TagArray.from_values([ifd.values[513]])  # type: ignore[list-item]
        counts = TagArray.from_values([ifd.values[514]])  # type: ignore[list-item]
        layout = page_layout({**ifd.values, 278: ifd.values.get(257, 0)}, nsegments=1)
    else:
        raise TiffFormatError("the page has no segment offsets", tag=273)
    if counts.count < layout.nsegments:
        raise TiffFormatError(
            f"{counts.count} byte counts for {layout.nsegments} segments", tag=counts_code
        )
    table = SegmentTable(offsets, counts)
    _check_bounds(table, layout, cache.size, offsets_code)
    return layout, table


def _lsm_values(ifd: Ifd, cache: ByteCache, header: Header) -> Mapping[int, TagValue]:
    """The IFD's values with the BitsPerSample an LSM writer stored out of place (when
    its bytes are at hand)."""
    entry = ifd.entries.get(258)
    offset = None if entry is None else misplaced_bitspersample(entry, header.byteorder)
    data = None if offset is None else cache.find(offset, 4)
    if data is None:
        return ifd.values
    return {**ifd.values, 258: np.frombuffer(data, header.byteorder + "u2")}


def _tag_array(ifd: Ifd, code: int, *, cache: ByteCache, header: Header, ndpi: bool) -> TagArray:
    entry = ifd.entries[code]
    dt = entry.datatype
    if dt is None or dt.per_value != 1 or dt.format[0] != "u" or dt.name == "ASCII":
        name = dt.name if dt is not None else entry.type
        raise TiffFormatError(f"segment offsets or byte counts of type {name}", tag=code)
    dtype = header.byteorder + dt.format
    if entry.value_offset is None:
        return TagArray.from_values(np.frombuffer(entry.inline[: entry.nbytes], dtype=dtype))
    fix: OffsetFix = "below" if ndpi and cache.size > 2**32 else "none"
    array = TagArray(entry.value_offset, entry.count, dtype, fix, ifd.offset)
    cached = cache.find(entry.value_offset, entry.nbytes)
    if cached is not None:
        array.fill_all(cached)
    return array


def _check_bounds(table: SegmentTable, layout: PageLayout, size: int, code: int) -> None:
    """Refuse a loaded segment table none of whose segments lies inside the file.

    A table with only some segments outside (a truncated file) is kept: reading
    those segments raises, the others read. The one strip of an uncompressed
    page is read at its stored size whatever its byte count claims (libtiff's
    repair of a common writer bug). Uncompressed segments larger than the file
    (tag values that claim absurd sizes) are refused, unless none is stored.
    """
    nsegments = layout.nsegments
    if not table.loaded(0, nsegments):
        return
    offsets = table.offsets.values()[:nsegments]
    counts = table.bytecounts.values()[:nsegments]
    if too_large(layout, offsets, counts, size):
        raise TiffFormatError(
            f"an uncompressed segment of {layout.segment_shape} samples of "
            f"{layout.bitspersample} bits needs {layout.stored_nbytes} bytes, more than "
            f"the file holds ({size} bytes)",
            tag=277 if layout.samples > 1 else 256,
        )
    counts = read_counts(layout, counts)
    small = nsegments <= 16
    if small and all(o + n <= size for o, n in zip(offsets.tolist(), counts.tolist(), strict=True)):
        return  # the common small case, without numpy overhead
    present, outside = stored_outside(offsets, counts, size)
    if present.any() and np.array_equal(outside, present):
        bad = int(np.argmax(outside))
        start, stop = int(offsets[bad]), int(offsets[bad]) + int(counts[bad])
        raise TiffFormatError(
            f"segment {bad} at [{start}, {stop}) is outside the file ({size} bytes)",
            tag=code,
            offset=start,
        )


def too_large(layout: PageLayout, offsets: np.ndarray, counts: np.ndarray, size: int, /) -> bool:
    """Whether pages of ``layout`` store uncompressed segments larger than the file
    (any segment with an offset or a byte count counts as stored)."""
    return (
        layout.compression == Compression.NONE
        and layout.stored_nbytes > size
        and bool(offsets.any() or counts.any())
    )


def read_counts(layout: PageLayout, counts: np.ndarray, /) -> np.ndarray:
    """The bytes read of segments with these byte counts (see :func:`_check_bounds`)."""
    return (
        np.minimum(counts, np.uint64(layout.stored_nbytes)) if layout.repairs_byte_count else counts
    )


def stored_outside(
    offsets: np.ndarray, counts: np.ndarray, size: int, /
) -> tuple[np.ndarray, np.ndarray]:
    """Which segments are stored (their byte count is not 0), and which of those lie
    outside the file: elementwise, for the segments of one page or rows of pages."""
    limit = np.uint64(size)
    present = counts > 0
    outside = present & ((offsets > limit) | (counts > limit - np.minimum(offsets, limit)))
    return present, outside
