"""Old-style JPEG (6) pages: the JPEG header libtiff rebuilds, read when a file is parsed.

libtiff decodes such a page as one JPEG stream: the JPEGInterchangeFormat bytes
(if any), then the strips (see :mod:`tiffzarr.format._ojpeg`). Each page of
compression 6 whose first segment is not a JPEG stream of its own (an SOI marker
first) gets the header that stream's start holds, or that libtiff builds from
the table tags, as :attr:`Page.jpegheader <tiffzarr.model.Page>` (its frame one
segment's size), so that every segment decodes by itself. Its first segment is
moved to where the entropy-coded data starts: after the markers it holds (a
scan header), or into the interchange-format bytes when they hold the image
data themselves (a page of one segment; the strip is what follows them).

All such pages are read together, in at most three rounds of requests: their
segment tables and tag values not loaded yet, the start of each stream, and the
tables the table tags point at (only for streams without a frame header). A
page whose header cannot be rebuilt keeps the error that says why, as a page
whose tags describe no readable image does (:func:`~tiffzarr.reader._pages.build_page`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tiffzarr.errors import TiffFormatError, TiffZarrError, UnsupportedCompressionError
from tiffzarr.format import Compression, Header, PageLayout, Photometric, decode_value
from tiffzarr.format._ojpeg import (
    HUFFMAN_COUNTS,
    JPEG_ACTABLES,
    JPEG_DCTABLES,
    JPEG_INTERCHANGE_FORMAT,
    JPEG_INTERCHANGE_FORMAT_LENGTH,
    JPEG_PROC,
    JPEG_QTABLES,
    JPEG_RESTART_INTERVAL,
    LOSSLESS_PROC,
    MAX_HUFFMAN_VALUES,
    QTABLE_BYTES,
    TABLE_TAGS,
    JpegHeader,
    assemble,
    huffman_size,
    read_header,
    table_choice,
    tag_header,
)
from tiffzarr.model import Page, Pages, SegmentTable, TagArray, format_path
from tiffzarr.model._pages import RunSlice
from tiffzarr.reader._cache import ByteCache

__all__ = ["old_jpeg_pages"]

STREAM_HEAD = 64 * 1024
"""Bytes of the interchange-format stream read for its markers."""
SEGMENT_HEAD = 4096
"""Bytes of the first segment read for the markers it may hold (a scan header)."""
CODES = (JPEG_PROC, JPEG_INTERCHANGE_FORMAT, JPEG_INTERCHANGE_FORMAT_LENGTH,
         JPEG_RESTART_INTERVAL, *TABLE_TAGS)  # fmt: skip
Range = tuple[int, int]
Warn = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class _Start:
    """A page's stream: its tag values, segments, interchange-format bytes (if any)."""

    page: Page
    values: dict[int, Any]
    offsets: np.ndarray
    counts: np.ndarray
    jif: Range | None


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a page's stream start holds, and where its first segment's entropy data is."""

    start: _Start
    header: JpegHeader
    first: Range


async def old_jpeg_pages(
    pages: Pages, cache: ByteCache, /, *, header: Header, url: str, warn: Warn
) -> Pages:
    """``pages`` with the JPEG header rebuilt for each old-style JPEG page that needs one
    (runs of such pages become single pages)."""
    if not any(_wanted(p) for part in pages.parts for p in _heads(part)):
        return pages
    parts = [_materialized(part) for part in pages.parts]
    todo = [p for part in parts if isinstance(part, tuple) for top in part for p in _tree(top)]
    rebuilt = await _rebuild([p for p in todo if _wanted(p)], cache, header, url, warn)
    return Pages(
        tuple(_replaced(p, rebuilt) for p in part) if isinstance(part, tuple) else part
        for part in parts
    )


def _wanted(page: Page) -> bool:
    layout = page.layout
    return (
        layout is not None
        and layout.compression == Compression.OJPEG
        and page.segments is not None
        and page.jpegheader is None
    )


def _heads(part: tuple[Page, ...] | RunSlice) -> Iterator[Page]:
    """The pages of a part that tell whether it holds old-style JPEG pages."""
    if isinstance(part, RunSlice):
        yield part.run.proto
    else:
        for page in part:
            yield from _tree(page)


def _tree(page: Page) -> Iterator[Page]:
    yield page
    for sub in page.subifds:
        if sub is not None:
            yield from _tree(sub)


def _materialized(part: tuple[Page, ...] | RunSlice) -> tuple[Page, ...] | RunSlice:
    if isinstance(part, RunSlice) and _wanted(part.run.proto):
        return tuple(part.run.page(i) for i in range(part.lo, part.hi))
    return part


def _replaced(page: Page, rebuilt: dict[int, Page]) -> Page:
    new = rebuilt.get(id(page), page)
    if not page.subifds:
        return new
    subifds = tuple(None if s is None else _replaced(s, rebuilt) for s in page.subifds)
    return dataclasses.replace(new, subifds=subifds)


async def _reads(cache: ByteCache, wanted: Sequence[Sequence[Range]]) -> list[list[bytes]]:
    """The bytes of each page's ranges, all fetched together."""
    blobs = iter(await cache.read_many([r for ranges in wanted for r in ranges]))
    return [[next(blobs) for _ in ranges] for ranges in wanted]


async def _rebuild(
    todo: list[Page], cache: ByteCache, header: Header, url: str, warn: Warn
) -> dict[int, Page]:
    """The rebuilt pages by the ``id`` of the page they replace."""
    out: dict[int, Page] = {}

    def failed(page: Page, exc: TiffZarrError) -> None:
        error = exc.located(url=url, ifd=format_path(page.path))
        out[id(page)] = dataclasses.replace(page, layout=None, segments=None, error=error)

    loads = [_Load.of(page) for page in todo]
    starts = []
    for load, blobs in zip(loads, await _reads(cache, [x.ranges for x in loads]), strict=True):
        try:
            start = _start(load, blobs, header, cache.size, warn)
        except TiffZarrError as exc:
            failed(load.page, exc)
            continue
        if start is not None:
            starts.append(start)
    heads = [_head_ranges(s, cache.size) for s in starts]
    plans = []
    for start, blobs in zip(starts, await _reads(cache, heads), strict=True):
        try:
            plan = _plan(start, blobs)
        except TiffZarrError as exc:
            failed(start.page, exc)
            continue
        if plan is not None:
            plans.append(plan)
    ready, tables = [], []
    for plan in plans:
        try:
            tables.append(_table_ranges(plan, cache.size))
        except TiffZarrError as exc:
            failed(plan.start.page, exc)
            continue
        ready.append(plan)
    for plan, blobs in zip(ready, await _reads(cache, tables), strict=True):
        try:
            out[id(plan.start.page)] = _page(plan, blobs)
        except TiffZarrError as exc:
            failed(plan.start.page, exc)
    return out


# -- round 1: segment tables and tag values -----------------------------------------------


@dataclass(frozen=True, slots=True)
class _Load:
    """What of a page is not loaded yet: windows of its segment table, tag values."""

    page: Page
    windows: tuple[tuple[TagArray, int], ...]
    codes: tuple[int, ...]

    @classmethod
    def of(cls, page: Page) -> _Load:
        table = page.segments
        assert table is not None
        windows = tuple(
            (a, w) for a in (table.offsets, table.bytecounts) for w in a.missing(0, a.count)
        )
        entries, deferred = page.ifd.entries, page.ifd.deferred
        codes = tuple(c for c in CODES if c in deferred and entries[c].value_offset is not None)
        return cls(page, windows, codes)

    @property
    def ranges(self) -> list[Range]:
        entries = self.page.ifd.entries
        out = [a.byte_range(w) for a, w in self.windows]
        return out + [(int(entries[c].value_offset or 0), entries[c].nbytes) for c in self.codes]


def _start(load: _Load, blobs: list[bytes], header: Header, size: int, warn: Warn) -> _Start | None:
    """The page's stream start, or ``None`` for a page whose first segment is sparse."""
    page = load.page
    for (array, w), blob in zip(load.windows, blobs, strict=False):
        array.fill(w, blob)
    values = {code: page.ifd.values.get(code) for code in CODES}
    for code, blob in zip(load.codes, blobs[len(load.windows) :], strict=True):
        values[code] = decode_value(header, page.ifd.entries[code], blob)
    table, layout = page.segments, page.layout
    assert table is not None and layout is not None
    first = table.locate(0)
    if first is None:
        return None
    if first[0] >= size:
        raise TiffFormatError(
            f"the first segment starts past the end of the file ({size} bytes)",
            tag=_segments_tag(layout),
            offset=first[0],
        )
    jif = _interchange(values, size, page, warn)
    return _Start(page, values, table.offsets.values(), table.bytecounts.values(), jif)


def _segments_tag(layout: PageLayout) -> int:
    return 324 if layout.tiled else 273  # TileOffsets, StripOffsets


def _stream_tag(start: _Start) -> int:
    """The tag that says where a page's stream starts."""
    if start.jif is not None:
        return JPEG_INTERCHANGE_FORMAT
    assert start.page.layout is not None
    return _segments_tag(start.page.layout)


def _scalar(value: Any) -> int | None:
    if value is None:
        return None
    flat = np.atleast_1d(np.asarray(value)).reshape(-1)
    return int(flat[0]) if flat.size and flat.dtype.kind in "iu" else None


def _interchange(values: dict[int, Any], size: int, page: Page, warn: Warn) -> Range | None:
    """The interchange-format bytes, cut at the end of the file (as libtiff)."""
    offset = _scalar(values[JPEG_INTERCHANGE_FORMAT])
    if not offset:
        return None
    if offset >= size:
        warn(
            f"IFD {format_path(page.path)}: JPEGInterchangeFormat {offset} is past the end "
            f"of the file ({size} bytes); ignored"
        )
        return None
    length = _scalar(values[JPEG_INTERCHANGE_FORMAT_LENGTH]) or 0
    if length <= 0 or offset + length > size:
        length = size - offset
    return offset, length


# -- round 2: the stream's start ------------------------------------------------------------


def _head_ranges(start: _Start, size: int) -> list[Range]:
    offset, count = int(start.offsets[0]), int(start.counts[0])
    out = [(offset, max(0, min(count, SEGMENT_HEAD, size - offset)))]
    if start.jif is not None:
        out.append((start.jif[0], min(start.jif[1], STREAM_HEAD)))
    return out


def _plan(start: _Start, blobs: list[bytes]) -> _Plan | None:
    """What the stream's start holds; ``None`` when the first segment is a JPEG stream
    of its own (it decodes as it is)."""
    segment = blobs[0]
    jif = blobs[1] if start.jif is not None else b""
    layout = start.page.layout
    assert layout is not None
    offset, count = int(start.offsets[0]), int(start.counts[0])
    if segment[:2] == b"\xff\xd8" and (start.jif is None or start.jif[0] == offset):
        return None
    if layout.separate:
        raise UnsupportedCompressionError("old-style JPEG in separate planes", tag=284)
    where = _stream_tag(start)
    try:
        header = read_header(jif + segment)
    except ValueError as exc:
        raise TiffFormatError(f"old-style JPEG stream: {exc}", tag=where) from exc
    if header.end is None:
        raise TiffFormatError(
            f"the old-style JPEG markers run past the {len(jif) + len(segment)} bytes read",
            tag=where,
        )
    if header.end < len(jif):  # the image data is in the interchange-format bytes
        assert start.jif is not None
        if len(start.offsets) != 1:
            raise UnsupportedCompressionError(
                f"old-style JPEG whose image data follows its JPEGInterchangeFormat header, "
                f"in {len(start.offsets)} segments",
                tag=JPEG_INTERCHANGE_FORMAT,
            )
        first = (start.jif[0] + header.end, start.jif[1] - header.end)
    else:
        skip = header.end - len(jif)
        first = (offset + skip, max(0, count - skip))
    return _Plan(start, header, first)


# -- round 3: the tables the tags point at, and the page --------------------------------------


def _table_offsets(plan: _Plan) -> dict[int, dict[int, int]]:
    """The file offset of each table to read, by tag and table id (none for a stream
    with a frame header)."""
    if plan.header.frame is not None:
        return {}
    layout = plan.start.page.layout
    assert layout is not None
    values = plan.start.values
    if _scalar(values[JPEG_PROC]) == LOSSLESS_PROC:
        raise UnsupportedCompressionError("old-style lossless JPEG", tag=JPEG_PROC)
    out = {}
    for code in TABLE_TAGS:
        value = values[code]
        if value is None:
            raise TiffFormatError("old-style JPEG without a JPEG header has no tables", tag=code)
        offsets = [int(v) for v in np.atleast_1d(np.asarray(value)).reshape(-1)]
        try:
            choice = table_choice(offsets, layout.samples)
        except ValueError as exc:
            raise TiffFormatError(f"old-style JPEG tables: {exc}", tag=code) from exc
        out[code] = {i: offsets[i] for i in sorted(set(choice))}
    return out


def _table_ranges(plan: _Plan, size: int) -> list[Range]:
    out = []
    for code, tables in _table_offsets(plan).items():
        want = QTABLE_BYTES if code == JPEG_QTABLES else HUFFMAN_COUNTS
        for offset in tables.values():
            if offset + want > size:
                raise TiffFormatError(
                    f"a JPEG table at offset {offset} runs past the end of the file ({size} bytes)",
                    tag=code,
                    offset=offset,
                )
            extra = 0 if code == JPEG_QTABLES else min(MAX_HUFFMAN_VALUES, size - offset - want)
            out.append((offset, want + extra))
    return out


def _page(plan: _Plan, blobs: list[bytes]) -> Page:
    """The page with its rebuilt header and its first segment moved."""
    start = plan.start
    page = start.page
    layout = page.layout
    assert layout is not None
    header = _with_tags(plan, blobs)
    frame = header.frame
    assert frame is not None
    _, rows, width, samples = layout.segment_shape
    if frame.precision != 8:
        raise UnsupportedCompressionError(f"old-style JPEG of {frame.precision}-bit samples")
    if len(frame.components) != samples or header.scan is None:
        raise TiffFormatError(
            f"the old-style JPEG frame has {len(frame.components)} components for "
            f"{samples} samples, or no scan header",
            tag=_stream_tag(start),
        )
    if frame.width != width and plan.header.frame is not None:
        raise TiffFormatError(
            f"the old-style JPEG frame is {frame.width} pixels wide, the segments {width}",
            tag=_stream_tag(start),
        )
    tall = 8 * (frame.components[0].factors & 15 if samples > 1 else 1)
    if len(start.offsets) > 1 and rows % tall:
        raise UnsupportedCompressionError(
            f"old-style JPEG segments of {rows} rows, not whole MCU rows of {tall}",
            tag=323 if layout.tiled else 278,
        )
    offsets, counts = start.offsets.copy(), start.counts.copy()
    offsets[0], counts[0] = plan.first
    table = page.segments
    assert table is not None
    if (offsets[0], counts[0]) != (start.offsets[0], start.counts[0]):
        table = SegmentTable(TagArray.from_values(offsets), TagArray.from_values(counts),
                             check=table.check, cut_from=table)  # fmt: skip
    data = assemble(header, height=rows, width=width)
    return dataclasses.replace(page, segments=table, jpegheader=data)


def _with_tags(plan: _Plan, blobs: list[bytes]) -> JpegHeader:
    """The stream's header, with what libtiff builds from the tags when it has no frame."""
    stream = plan.header
    layout = plan.start.page.layout
    assert layout is not None
    values = plan.start.values
    offsets = _table_offsets(plan)
    if offsets:
        read = iter(blobs)
        tables: dict[int, dict[int, bytes]] = {}
        for code, chosen in offsets.items():
            tables[code] = {i: _table(code, next(read), off) for i, off in chosen.items()}
        ycbcr = layout.photometric == Photometric.YCBCR and layout.samples == 3
        tagged = tag_header(
            tables[JPEG_QTABLES],
            tables[JPEG_DCTABLES],
            tables[JPEG_ACTABLES],
            samples=layout.samples,
            factors=layout.subsampling if ycbcr else (1, 1),
        )
        stream = dataclasses.replace(
            tagged,
            qtables={**stream.qtables, **tagged.qtables},
            dctables={**stream.dctables, **tagged.dctables},
            actables={**stream.actables, **tagged.actables},
            restart=stream.restart,
        )
    restart = stream.restart
    if restart is None and len(plan.start.offsets) == 1:
        restart = _scalar(values[JPEG_RESTART_INTERVAL])  # libtiff's own for several strips
    return dataclasses.replace(stream, restart=restart or None)


def _table(code: int, blob: bytes, offset: int) -> bytes:
    """A table's bytes as read at ``offset``: 64 values, or a Huffman table."""
    if code == JPEG_QTABLES:
        return blob
    try:
        size = huffman_size(blob[:HUFFMAN_COUNTS])
    except ValueError as exc:
        raise TiffFormatError(f"JPEG table: {exc}", tag=code, offset=offset) from exc
    if size > len(blob):
        raise TiffFormatError(
            "a JPEG Huffman table runs past the end of the file", tag=code, offset=offset
        )
    return blob[:size]
