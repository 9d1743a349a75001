"""Collect the pages of a file's main chain, in order, into runs of alike pages.

A :class:`PagesBuilder` receives the pages as the walk builds them and keeps
neighbours that differ only in offsets and in values stored inline as one
:class:`~tiffzarr.model.PageRun` (the first page and, per page, the few numbers
that differ). The pages of a predicted run join at once, computed from the
template (see :func:`~tiffzarr.reader._predict.run_steps`) without being built
one by one.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

import numpy as np

from tiffzarr.format import Header, PageLayout, TagValue
from tiffzarr.format._template import IfdTemplate, Patch
from tiffzarr.model import Page, PageCheck, PageRun, Pages, RunSlice, TagArray
from tiffzarr.reader._ifdread import SEGMENT_TAGS
from tiffzarr.reader._pages import (
    GEOMETRY_TAGS,
    read_counts,
    segment_codes,
    stored_outside,
    too_large,
)
from tiffzarr.reader._predict import Prediction, Steps

__all__ = ["PagesBuilder"]


class PagesBuilder:
    """Collects the pages of the main chain, in order, into :class:`~tiffzarr.model.Pages`.

    Neighbouring pages that differ only in offsets (of the IFD, of the segments,
    of values that move with the IFD) and in values stored inline form runs.
    Turn ``compact`` off before the first page for files whose segment tables are
    corrected after the parse (LSM) or widened (NDPI).
    """

    def __init__(self, header: Header, size: int) -> None:
        self.header = header
        self.size = size
        self.compact = True
        self._parts: list[tuple[Page, ...] | RunSlice] = []
        self._single: list[Page] = []
        self._draft: _Draft | None = None
        self._last: Page | None = None  # the last page added, as built
        self._count = 0

    def add(self, page: Page, /) -> None:
        """Append the next page of the chain."""
        self._last = page
        draft = self._draft
        if draft is not None:
            differing = _differing(draft, page)
            if differing is not None:
                draft.begin()
                draft.append(page, differing)
                self._count += 1
                return
            self._close()
        codes = segment_codes(page.ifd.entries) if self.compact and _capable(page) else None
        if codes is None or page.segments is None:
            self._single.append(page)
        else:
            widths = (page.segments.offsets.count, page.segments.bytecounts.count)
            self._draft = _Draft(page, self._count, codes, widths)
        self._count += 1

    def add_predicted(self, prediction: Prediction, steps: Steps | None, /) -> bool:
        """Append the pages of ``prediction`` at once, when the last page added is its
        reference page, in a run, and ``steps`` say how each page differs from it
        (else ``False``: nothing was added)."""
        draft, last = self._draft, self._last  # a draft holds the last page added
        if steps is None or draft is None or last is None:
            return False
        if last.ifd.offset != prediction.template.ifd_offset:
            return False
        rows = _predicted(
            last, steps, prediction, codes=draft.segment_codes, header=self.header, size=self.size
        )
        if rows is None:
            return False
        draft.begin()
        draft.extend(rows)
        self._last = None
        self._count += prediction.count
        return True

    def _close(self) -> None:
        draft, self._draft = self._draft, None
        if draft is None:
            return
        if draft.n == 0:  # no other page joined it
            self._single.append(draft.proto)
            return
        if self._single:
            self._parts.append(tuple(self._single))
            self._single = []
        run = draft.run(self.header)
        self._parts.append(RunSlice(run, 0, len(run)))

    def build(self) -> Pages:
        """The pages collected."""
        self._close()
        if self._single:
            self._parts.append(tuple(self._single))
            self._single = []
        return Pages(self._parts)


def _capable(page: Page) -> bool:
    """Whether ``page`` may be kept in a run: a readable page of the main chain without
    child IFDs, whose segment table is loaded as stored."""
    table = page.segments
    return (
        page.layout is not None
        and table is not None
        and page.error is None
        and not (page.subifd_offsets or page.subifds or page.extra)
        and len(page.ifd.path) == 1
        and table.offsets.fix == "none"
        and table.bytecounts.fix == "none"
        and table.offsets.loaded(0, table.offsets.count)
        and table.bytecounts.loaded(0, table.bytecounts.count)
        and (table.check is None or isinstance(table.check, PageCheck))
        and segment_codes(page.ifd.entries) is not None
    )


def _differing(draft: _Draft, page: Page) -> dict[int, int] | None:
    """The raw fields of the entries in which ``page`` differs from the run's first
    page, or ``None`` when it does not belong to the run."""
    proto = draft.proto
    a, b = proto.ifd, page.ifd
    if page.layout is not proto.layout and page.layout != proto.layout:
        return None
    if not _capable(page) or b.deferred != a.deferred or len(b.entries) != len(a.entries):
        return None
    table, like = page.segments, proto.segments
    assert table is not None and like is not None
    if (table.offsets.count, table.bytecounts.count) != draft.widths:
        return None
    if _kind(table.offsets) != _kind(like.offsets) or _kind(table.bytecounts) != _kind(
        like.bytecounts
    ):
        return None
    if b.values.keys() != a.values.keys():
        return None
    out = {}
    for (code, e), (other, pe) in zip(b.entries.items(), a.entries.items(), strict=True):
        if e is pe or e == pe:
            continue
        if code != other or e.type != pe.type or e.count != pe.count:
            return None
        if (e.value_offset is None) != (pe.value_offset is None):
            return None
        if (
            e.value_offset is not None
            and code in a.values
            and not _same(b.values[code], a.values[code])
        ):
            return None
        out[code] = int.from_bytes(e.inline, "little")
    return out


def _kind(array: TagArray) -> tuple[bool, str]:
    return array.offset is None, array.dtype


def _same(x: TagValue, y: TagValue) -> bool:
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return (
            isinstance(x, np.ndarray)
            and isinstance(y, np.ndarray)
            and x.dtype == y.dtype
            and np.array_equal(x, y)
        )
    return type(x) is type(y) and x == y


@dataclass(frozen=True, slots=True)
class _Rows:
    """The numbers of predicted pages that join a run (see :class:`_Draft`)."""

    fields: dict[int, np.ndarray]
    ifds: np.ndarray
    nexts: np.ndarray
    offsets: np.ndarray
    counts: np.ndarray
    template: IfdTemplate
    deltas: np.ndarray


@dataclass(eq=False, slots=True)
class _Draft:
    """A run being collected: its first page and, per page, the numbers of a
    :class:`~tiffzarr.model.PageRun`."""

    proto: Page
    start: int
    segment_codes: tuple[int, int]
    widths: tuple[int, int]
    """Values per page of the segment offsets and of the byte counts."""
    codes: list[int] = field(default_factory=list)
    fields: list[array[int]] = field(default_factory=list)
    ifds: array[int] = field(default_factory=lambda: array("Q"))
    nexts: array[int] = field(default_factory=lambda: array("Q"))
    offsets: array[int] = field(default_factory=lambda: array("Q"))
    counts: array[int] = field(default_factory=lambda: array("Q"))
    templates: list[IfdTemplate] = field(default_factory=list)
    checks: array[int] = field(default_factory=lambda: array("q"))
    deltas: array[int] = field(default_factory=lambda: array("q"))
    n: int = 0

    def _raw(self, code: int) -> int:
        return int.from_bytes(self.proto.ifd.entries[code].inline, "little")

    def begin(self) -> None:
        """Take in the first page, once another joins it (a page alone stays single)."""
        if self.n == 0:
            self.append(self.proto, {})

    def _vary(self, code: int) -> None:
        if code not in self.codes:
            self.codes.append(code)
            self.fields.append(array("Q", [self._raw(code)]) * self.n)

    def _template(self, template: IfdTemplate) -> int:
        for i, known in enumerate(self.templates):
            if known is template:
                return i
        self.templates.append(template)
        return len(self.templates) - 1

    def append(self, page: Page, differing: dict[int, int]) -> None:
        for code in differing:
            self._vary(code)
        for code, column in zip(self.codes, self.fields, strict=True):
            column.append(differing[code] if code in differing else self._raw(code))
        self.ifds.append(page.ifd.offset)
        self.nexts.append(page.ifd.next_offset)
        table = page.segments
        assert table is not None
        for target, values in ((self.offsets, table.offsets), (self.counts, table.bytecounts)):
            if values.count == 1:
                target.append(values[0])  # the common single strip, without numpy overhead
            else:
                target.frombytes(values.values().astype("=u8").tobytes())
        check = table.check
        if isinstance(check, PageCheck):
            self.checks.append(self._template(check.template))
            self.deltas.append(check.delta)
        else:
            self.checks.append(-1)
            self.deltas.append(-1)
        self.n += 1

    def extend(self, rows: _Rows) -> None:
        n = len(rows.ifds)
        for code in rows.fields:
            self._vary(code)
        for code, column in zip(self.codes, self.fields, strict=True):
            new = rows.fields.get(code)
            if new is None:
                new = np.full(n, column[-1], np.uint64)
            column.frombytes(new.astype("=u8").tobytes())
        for target, values in (
            (self.ifds, rows.ifds),
            (self.nexts, rows.nexts),
            (self.offsets, rows.offsets),
            (self.counts, rows.counts),
        ):
            target.frombytes(np.ascontiguousarray(values, "=u8").tobytes())
        index = self._template(rows.template)
        self.checks.frombytes(np.where(rows.deltas >= 0, index, -1).astype("=i8").tobytes())
        self.deltas.frombytes(rows.deltas.astype("=i8").tobytes())
        self.n += n

    def run(self, header: Header) -> PageRun:
        n = self.n
        checks = _numbers(self.checks, np.int64)
        checked = bool((checks >= 0).any())
        return PageRun(
            self.proto,
            header,
            self.start,
            _numbers(self.ifds),
            _numbers(self.nexts),
            tuple(self.codes),
            tuple(_numbers(c) for c in self.fields),
            _numbers(self.offsets).reshape(n, self.widths[0]),
            _numbers(self.counts).reshape(n, self.widths[1]),
            self.segment_codes,
            tuple(self.templates),
            checks if checked else None,
            _numbers(self.deltas, np.int64) if checked else None,
            bytearray(n if checked else 0),
        )


def _numbers(values: array[int], dtype: type[np.generic] = np.uint64) -> np.ndarray:
    """A read-only numpy view of collected numbers."""
    out = np.frombuffer(values, dtype) if len(values) else np.zeros(0, dtype)
    out.flags.writeable = False
    return out


_NUMPY_FORMATS = {"H": "u2", "I": "u4", "Q": "u8"}


def _predicted(
    reference: Page,
    steps: Steps,
    prediction: Prediction,
    *,
    codes: tuple[int, int],
    header: Header,
    size: int,
) -> _Rows | None:
    """The rows of the pages of ``prediction`` (after ``reference``, whose segments
    ``codes`` hold), when each page's values are the reference page's or follow
    from its fields (``None`` otherwise)."""
    entries, values = reference.ifd.entries, reference.ifd.values
    if any(code not in codes for code in steps.values):
        return None  # a value in the block changes
    for code in steps.fields:
        if entries[code].value_offset is None:
            if code in GEOMETRY_TAGS - SEGMENT_TAGS:
                return None  # the layout changes
        elif code not in steps.local and (code in values or code in codes):
            return None  # a value that was loaded moves out of the block
    d = np.arange(1, prediction.count + 1, dtype=np.int64)
    raw = {code: _field_bytes(data, patches, d) for code, (data, patches) in steps.fields.items()}
    table, layout = reference.segments, reference.layout
    assert table is not None and layout is not None
    bo = header.byteorder
    offsets = _segment_rows(reference, codes[0], table.offsets, d, raw=raw, steps=steps, bo=bo)
    counts = _segment_rows(reference, codes[1], table.bytecounts, d, raw=raw, steps=steps, bo=bo)
    if _refused(layout, offsets, counts, size):
        return None
    template = prediction.template
    ifds = np.uint64(template.ifd_offset) + (d * template.stride).astype(np.uint64)
    nexts = ifds + np.uint64(template.stride)
    nexts[-1] = prediction.next_offset
    deltas = d.copy()
    deltas[[r - 1 for r in prediction.read if r <= prediction.count]] = -1
    fields = {code: b.view("<u8").reshape(-1) for code, b in raw.items()}
    return _Rows(fields, ifds, nexts, offsets, counts, template, deltas)


def _field_bytes(data: bytes, patches: tuple[Patch, ...], d: np.ndarray) -> np.ndarray:
    """The field of each page ``d`` pages after the reference page, as rows of 8 bytes."""
    out = np.tile(np.frombuffer(data.ljust(8, b"\0"), np.uint8), (len(d), 1))
    for at, fmt, inc in patches:
        dtype = np.dtype(fmt[0] + _NUMPY_FORMATS[fmt[1]])
        start = np.frombuffer(data, dtype, 1, at).astype(np.uint64)[0]
        stepped = (start + (d * inc).astype(np.uint64)).astype(dtype)
        out[:, at : at + dtype.itemsize] = stepped.view(np.uint8).reshape(len(d), dtype.itemsize)
    return out


def _segment_rows(
    reference: Page,
    code: int,
    like: TagArray,
    d: np.ndarray,
    *,
    raw: dict[int, np.ndarray],
    steps: Steps,
    bo: str,
) -> np.ndarray:
    """Segment offsets (or byte counts) of the predicted pages, a row per page."""
    n, entry = len(d), reference.ifd.entries.get(code)
    if entry is not None and entry.value_offset is None and code in raw:
        assert entry.datatype is not None
        dtype = np.dtype(bo + entry.datatype.format)
        data = np.ascontiguousarray(raw[code][:, : entry.nbytes])
        return data.view(dtype).reshape(n, like.count).astype(np.uint64)
    last = like.values()
    increments = steps.values.get(code)
    if increments is None:
        return np.broadcast_to(last, (n, like.count))
    steps_of: np.ndarray = d[:, None] * increments[None, :]
    return last + steps_of.astype(np.uint64)


def _refused(layout: PageLayout, offsets: np.ndarray, counts: np.ndarray, size: int) -> bool:
    """Whether a page of these rows would not be readable (see
    :func:`~tiffzarr.reader._pages.build_page`)."""
    n = layout.nsegments
    offsets, counts = offsets[:, :n], counts[:, :n]
    if too_large(layout, offsets, counts, size):
        return True
    present, outside = stored_outside(offsets, read_counts(layout, counts), size)
    return bool((present.any(axis=1) & (outside == present).all(axis=1)).any())
