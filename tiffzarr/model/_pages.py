"""The pages of a file, with runs of alike pages stored once.

Stacks of many pages repeat one layout: their IFDs hold the same tags with the
same values, and only the IFD offsets, the segment offsets and byte counts, and
a few entries that hold file offsets differ. A :class:`PageRun` keeps the first
page of such a run and, per page, just those numbers (some tens of bytes);
:class:`Pages`, the sequence of a file's pages, holds runs and single pages.

The pages of a run (and their segment tables) are built when they are asked
for, anew each time: tell pages apart by their IFD offsets, and find which
pages some tables belong to with :class:`HeldPages`, never by identity.
"""

from __future__ import annotations

import bisect
import itertools
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import overload

import numpy as np

from tiffzarr.format import Header, PageLayout, TagEntry, decode_value
from tiffzarr.format._template import IfdTemplate
from tiffzarr.model._index import Ifd, Page
from tiffzarr.model._segments import PageCheck, SegmentTable, TagArray

__all__ = ["HeldPages", "PageRun", "PageTables", "Pages", "RunSlice", "page_layouts"]

NO_EXTRA: Mapping[str, Ifd] = MappingProxyType({})


@dataclass(frozen=True, slots=True, eq=False)
class PageRun:
    """Pages ``start, start + 1, …`` of the main chain, laid out like ``proto``, the first.

    Per page: the IFD offset and next pointer (``ifds``, ``nexts``); for each
    entry of ``codes`` (those that differ between the pages) its raw field, a
    value stored inline or else the value's offset, as the little-endian
    integer of the field's bytes (``fields``, a column per code); the segment
    offsets and byte counts (``offsets``, ``counts``, a row per page; the
    entries ``segment_codes`` hold them); and for a page predicted from
    ``templates[checks[i]]``, how many pages after the template's reference
    page it is (``deltas``; ``checks[i]`` is -1 for pages read from the file).
    ``verified`` flags the predicted pages found as predicted.

    >>> from tiffzarr.format import page_layout, parse_header
    >>> header = parse_header(b"II*\\x00\\x08\\x00\\x00\\x00", size=64)
    >>> entry = TagEntry.make(273, 4, 1, bytes([30, 0, 0, 0]), None)
    >>> table = SegmentTable(TagArray.from_values([30]), TagArray.from_values([1]))
    >>> ifd = Ifd((0,), 8, "image", {273: entry}, {273: 30}, frozenset(), 20)
    >>> first = Page(ifd, page_layout({256: 1, 257: 1, 258: 8}), table)
    >>> u8 = lambda *v: np.array(v, "u8")
    >>> run = PageRun(first, header, 0, u8(8, 20), u8(20, 0), (273,), (u8(30, 31),),
    ...               u8(30, 31).reshape(2, 1), u8(1, 1).reshape(2, 1), (273, 279))
    >>> page = run.page(1)
    >>> page.path, page.ifd.offset, page.ifd.values[273], page.segments.locate(0)
    ((1,), 20, 31, (31, 1))
    """

    proto: Page
    header: Header
    start: int
    ifds: np.ndarray
    nexts: np.ndarray
    codes: tuple[int, ...]
    fields: tuple[np.ndarray, ...]
    offsets: np.ndarray
    counts: np.ndarray
    segment_codes: tuple[int, int]
    templates: tuple[IfdTemplate, ...] = ()
    checks: np.ndarray | None = None
    deltas: np.ndarray | None = None
    verified: bytearray = field(default_factory=bytearray)

    def __len__(self) -> int:
        return len(self.ifds)

    def page(self, i: int, /) -> Page:
        """Page ``i`` of the run, as it was read (or predicted)."""
        base = self.proto.ifd
        entries = dict(base.entries)
        values = dict(base.values)
        for code, column in zip(self.codes, self.fields, strict=True):
            entry = self._entry(base.entries[code], int(column[i]))
            entries[code] = entry
            if entry.value_offset is None and code in values:
                values[code] = decode_value(self.header, entry)
        ifd = Ifd(
            (self.start + i,),
            int(self.ifds[i]),
            base.namespace,
            entries,
            values,
            base.deferred,
            int(self.nexts[i]),
        )
        return Page(ifd, self.proto.layout, self.table(i), None, (), (), NO_EXTRA)

    def table(self, i: int, /) -> SegmentTable:
        """The segment table of page ``i``."""
        like = self.proto.segments
        assert like is not None
        ifd = int(self.ifds[i])
        offsets = self._array(like.offsets, self.segment_codes[0], i, self.offsets[i], ifd)
        counts = self._array(like.bytecounts, self.segment_codes[1], i, self.counts[i], ifd)
        check = None
        if self.checks is not None and self.deltas is not None and self.checks[i] >= 0:
            template = self.templates[int(self.checks[i])]
            check = PageCheck(template, int(self.deltas[i]), self.verified, i)
        return SegmentTable(offsets, counts, check, (self, i))

    def _entry(self, like: TagEntry, raw: int) -> TagEntry:
        layout = self.header.layout
        data = raw.to_bytes(8, "little")[: layout.inline_size]
        offset = None
        if like.value_offset is not None:
            offset = struct.unpack(self.header.byteorder + layout.offset_format, data)[0]
        return TagEntry(like.code, like.type, like.count, data, offset, like.datatype)

    def _array(self, like: TagArray, code: int, i: int, values: np.ndarray, ifd: int) -> TagArray:
        if like.offset is None:
            return TagArray.from_values(values)
        offset = like.offset
        if code in self.codes:
            raw = int(self.fields[self.codes.index(code)][i])
            offset = self._entry(self.proto.ifd.entries[code], raw).value_offset or 0
        return TagArray.loaded_at(offset, like.dtype, values, fix_ref=ifd)


@dataclass(frozen=True, slots=True)
class RunSlice:
    """Pages ``lo … hi - 1`` of ``run``."""

    run: PageRun
    lo: int
    hi: int

    def __len__(self) -> int:
        return self.hi - self.lo


Part = tuple[Page, ...] | RunSlice


class Pages(Sequence[Page]):
    """The pages of a file's main chain: single pages and runs (see :class:`PageRun`).

    >>> pages = Pages([()])
    >>> len(pages), list(pages[0:5])
    (0, [])
    """

    __slots__ = ("_parts", "_size", "_starts")

    def __init__(self, parts: Iterable[Part] = (), /) -> None:
        self._parts = tuple(part for part in parts if len(part))
        self._starts: list[int] = []
        size = 0
        for part in self._parts:
            self._starts.append(size)
            size += len(part)
        self._size = size

    @property
    def parts(self) -> tuple[Part, ...]:
        return self._parts

    def __len__(self) -> int:
        return self._size

    def __repr__(self) -> str:
        runs = sum(isinstance(p, RunSlice) for p in self._parts)
        return f"Pages({self._size} pages, {runs} runs)"

    def locate(self, index: int, /) -> tuple[Part, int]:
        """The part holding page ``index`` and the page's position in it."""
        if index < 0:
            index += self._size
        if not 0 <= index < self._size:
            raise IndexError(f"page {index} is out of range ({self._size} pages)")
        k = bisect.bisect_right(self._starts, index) - 1
        return self._parts[k], index - self._starts[k]

    @overload
    def __getitem__(self, index: int, /) -> Page: ...
    @overload
    def __getitem__(self, index: slice, /) -> Pages: ...
    def __getitem__(self, index: int | slice, /) -> Page | Pages:
        if isinstance(index, slice):
            return self._slice(index)
        part, j = self.locate(index)
        return part[j] if isinstance(part, tuple) else part.run.page(part.lo + j)

    def _slice(self, index: slice) -> Pages:
        start, stop, step = index.indices(self._size)
        if step != 1:
            return Pages([tuple(self[i] for i in range(start, stop, step))])
        out: list[Part] = []
        for part, first in zip(self._parts, self._starts, strict=True):
            lo, hi = max(start - first, 0), min(stop - first, len(part))
            if lo >= hi:
                continue
            if isinstance(part, tuple):
                out.append(part[lo:hi])
            else:
                out.append(RunSlice(part.run, part.lo + lo, part.lo + hi))
        return Pages(out)

    def __iter__(self) -> Iterator[Page]:
        for part in self._parts:
            if isinstance(part, tuple):
                yield from part
            else:
                for i in range(part.lo, part.hi):
                    yield part.run.page(i)

    def tables(self) -> PageTables:
        """The pages' segment tables (raising the error of a page that has none)."""
        for part in self._parts:
            if isinstance(part, tuple):
                for page in part:
                    page.require_layout()
        return PageTables(self)


def page_layouts(pages: Sequence[Page], /) -> Iterator[PageLayout | None]:
    """The layout of each page, without building the pages of runs.

    >>> list(page_layouts(Pages()))
    []
    """
    if not isinstance(pages, Pages):
        yield from (page.layout for page in pages)
        return
    for part in pages.parts:
        if isinstance(part, tuple):
            yield from (page.layout for page in part)
        else:
            yield from itertools.repeat(part.run.proto.layout, len(part))


class PageTables(Sequence[SegmentTable | None]):
    """The segment tables of :class:`Pages`, built when asked for."""

    __slots__ = ("pages",)

    def __init__(self, pages: Pages, /) -> None:
        self.pages = pages

    def __len__(self) -> int:
        return len(self.pages)

    def __repr__(self) -> str:
        return f"PageTables({self.pages!r})"

    @overload
    def __getitem__(self, index: int, /) -> SegmentTable | None: ...
    @overload
    def __getitem__(self, index: slice, /) -> PageTables: ...
    def __getitem__(self, index: int | slice, /) -> SegmentTable | PageTables | None:
        if isinstance(index, slice):
            return PageTables(self.pages[index])
        part, j = self.pages.locate(index)
        return part[j].segments if isinstance(part, tuple) else part.run.table(part.lo + j)

    def __iter__(self) -> Iterator[SegmentTable | None]:
        for part in self.pages.parts:
            if isinstance(part, tuple):
                yield from (page.segments for page in part)
            else:
                for i in range(part.lo, part.hi):
                    yield part.run.table(i)


class HeldPages:
    """Which pages some groups of segment tables (the arrays of a file's series) hold.

    Tables are matched by their :attr:`~tiffzarr.model.SegmentTable.key`, in bulk
    for the runs of :class:`PageTables`.
    """

    def __init__(self, groups: Iterable[Sequence[SegmentTable | None]], /) -> None:
        self._keys: set[tuple[int, int]] = set()
        self._runs: dict[int, tuple[PageRun, np.ndarray]] = {}
        for group in groups:
            if not isinstance(group, PageTables):
                for table in group:
                    if table is not None:
                        self._hold(table)
                continue
            for part in group.pages.parts:
                if isinstance(part, RunSlice):
                    self._mask(part.run)[part.lo : part.hi] = True
                else:
                    self._keys.update(p.segments.key for p in part if p.segments is not None)

    def _mask(self, run: PageRun) -> np.ndarray:
        held = self._runs.get(id(run))
        if held is None:
            held = self._runs[id(run)] = (run, np.zeros(len(run), bool))
        return held[1]

    def _hold(self, table: SegmentTable) -> None:
        if table.origin is None:
            self._keys.add(table.key)
        else:
            run, i = table.origin
            self._mask(run)[i] = True

    def holds(self, page: Page, /) -> bool:
        table = page.segments
        if table is None:
            return False
        if table.origin is None:
            return table.key in self._keys
        run, i = table.origin
        held = self._runs.get(id(run))
        return held is not None and bool(held[1][i])

    def pages(self, pages: Sequence[Page], /, *, held: bool) -> Iterator[Page]:
        """The ``pages`` and their SubIFDs (depth first) that are held, or those not held."""
        parts = pages.parts if isinstance(pages, Pages) else (tuple(pages),)
        for part in parts:
            if isinstance(part, tuple):
                for page in part:
                    yield from self._tree(page, held)
                continue
            entry = self._runs.get(id(part.run))
            mask = entry[1][part.lo : part.hi] if entry is not None else np.zeros(len(part), bool)
            for j in np.flatnonzero(mask == held).tolist():
                yield part.run.page(part.lo + j)

    def _tree(self, page: Page, held: bool) -> Iterator[Page]:
        if self.holds(page) == held:
            yield page
        for sub in page.subifds:
            if sub is not None:
                yield from self._tree(sub, held)
