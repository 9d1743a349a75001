"""Where each segment of a page lives: lazily loaded offset and byte-count arrays.

StripOffsets/TileOffsets and their byte counts can hold millions of values. A
:class:`TagArray` knows where its values are in the file and loads them in
windows on demand; a :class:`SegmentTable` pairs offsets with byte counts. Both
are plain data: the loaded windows are a cache that pickles with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from tiffzarr.errors import TiffFormatError
from tiffzarr.format._template import IfdTemplate
from tiffzarr.io import ByteSource

if TYPE_CHECKING:
    from tiffzarr.model._pages import PageRun

__all__ = [
    "WINDOW",
    "FileCheck",
    "FileReference",
    "OffsetFix",
    "PageCheck",
    "SegmentTable",
    "TagArray",
    "load_segments",
]

WINDOW = 8192
"""Values per window of a lazily loaded tag array."""
MERGE_GAP = 64 * 1024
"""Windows of different arrays closer than this are fetched in one request."""

OffsetFix = Literal["none", "below", "monotonic"]
"""How stored 32-bit offsets are widened: not at all; the high bits that place
each value just below ``fix_ref`` (NDPI); or adding 2**32 whenever values wrap
(LSM)."""


@dataclass(frozen=True, slots=True, eq=False)
class TagArray:
    """An integer tag array: ``count`` values of ``dtype`` at file ``offset``.

    ``offset`` is ``None`` when the values were inline in the IFD entry; then
    they are all in the cache from the start.

    >>> arr = TagArray.from_values([10, 20, 30])
    >>> arr[1], arr.loaded(0, 3)
    (20, True)
    """

    offset: int | None
    count: int
    dtype: str
    fix: OffsetFix = "none"
    fix_ref: int = 0
    _windows: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def from_values(cls, values: Sequence[int] | np.ndarray, /) -> TagArray:
        arr = np.asarray(values).astype("<u8", copy=False).reshape(-1)
        out = cls(None, len(arr), "<u8")
        out._keep(arr)
        return out

    @classmethod
    def loaded_at(
        cls, offset: int, dtype: str, values: np.ndarray, /, *, fix_ref: int = 0
    ) -> TagArray:
        """The array of ``dtype`` at file ``offset`` whose (widened) ``values`` are known.

        >>> TagArray.loaded_at(100, "<u4", np.array([7, 8], "<u8"))[1]
        8
        """
        out = cls(offset, len(values), dtype, fix_ref=fix_ref)
        out._keep(values)
        return out

    def _keep(self, values: np.ndarray) -> None:
        """Hold ``values`` (all of them, as ``<u8``) in windows."""
        self._windows.clear()
        for w in range(-(-self.count // WINDOW)):
            self._windows[w] = values[w * WINDOW : (w + 1) * WINDOW]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TagArray):
            return NotImplemented
        key = (self.offset, self.count, self.dtype, self.fix, self.fix_ref)
        if key != (other.offset, other.count, other.dtype, other.fix, other.fix_ref):
            return False
        if self.offset is None:
            return bool(np.array_equal(self.values(), other.values()))
        return True

    def __hash__(self) -> int:
        return hash((self.offset, self.count, self.dtype))

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize

    @property
    def nbytes(self) -> int:
        return self.count * self.itemsize

    def _window_span(self, w: int) -> tuple[int, int]:
        start = w * WINDOW
        return start, min(start + WINDOW, self.count)

    def missing(self, start: int, stop: int) -> list[int]:
        """Windows not yet loaded that cover values ``[start, stop)``."""
        if stop <= start:
            return []
        first, last = start // WINDOW, (stop - 1) // WINDOW
        return [w for w in range(first, last + 1) if w not in self._windows]

    def loaded(self, start: int, stop: int) -> bool:
        return not self.missing(start, stop)

    def byte_range(self, w: int) -> tuple[int, int]:
        """File ``(offset, length)`` of window ``w``."""
        if self.offset is None:
            raise ValueError("inline tag array has no file range")
        start, stop = self._window_span(w)
        return self.offset + start * self.itemsize, (stop - start) * self.itemsize

    def fill(self, w: int, data: bytes, /) -> None:
        """Store the raw bytes of window ``w``."""
        values = np.frombuffer(data, dtype=self.dtype).astype("<u8")
        self._windows[w] = self._fixed(values)

    def fill_all(self, data: bytes, /) -> None:
        """Store the raw bytes of the whole array."""
        isz = self.itemsize
        for w in range(-(-self.count // WINDOW)):
            start, stop = self._window_span(w)
            self.fill(w, data[start * isz : stop * isz])

    def _fixed(self, values: np.ndarray) -> np.ndarray:
        if self.fix == "below":
            high = np.uint64(self.fix_ref >> 32 << 32)
            widened = values | high
            step = np.uint64(2**32)
            too_high = (widened > np.uint64(self.fix_ref)) & (widened >= step)
            widened = np.where(too_high, widened - step, widened)
            return np.where(values == 0, values, widened)
        if self.fix == "monotonic":
            wraps = np.concatenate([[0], np.cumsum(np.diff(values.astype("i8")) < 0)])
            return values + wraps.astype("<u8") * np.uint64(2**32)
        return values

    def correct(self, values: Sequence[int] | np.ndarray, /) -> None:
        """Replace all values with corrected ones, keeping this array (and the pages
        that hold it): for offsets or counts a format stores wrongly in a way only
        the whole file reveals (LSM's 32-bit offsets, its byte counts).

        >>> arr = TagArray.from_values([8, 4])
        >>> arr.correct([8, 2**32 + 4]); arr[1]
        4294967300
        """
        arr = np.asarray(values).astype("<u8", copy=False).reshape(-1)
        if len(arr) != self.count:
            raise ValueError(f"{len(arr)} corrected values for an array of {self.count}")
        self._keep(arr)

    def __getitem__(self, index: int) -> int:
        window = self._windows.get(index // WINDOW)
        if window is None:
            raise LookupError(f"value {index} of tag array is not loaded")
        return int(window[index % WINDOW])

    def values(self) -> np.ndarray:
        """All values (they must be loaded)."""
        if self.count == 0:
            return np.zeros(0, "<u8")
        if self.count <= WINDOW:
            return self._windows[0][: self.count]
        parts = [self._windows[w] for w in range(-(-self.count // WINDOW))]
        return np.concatenate(parts)[: self.count]


@dataclass(frozen=True, slots=True, eq=False)
class PageCheck:
    """A page whose IFD was predicted, not read: check it before trusting it.

    The page is ``delta`` pages after the reference page of ``template``; its
    real IFD block must equal ``template.expected(delta)``.

    Checks share one protocol with :class:`FileCheck`: the store reads ``spans``
    of the page's file (and, while ``reference_url`` is set, the same spans of
    that file) together with the page's first pixels, then calls ``verify``.
    The pages of a :class:`~tiffzarr.model.PageRun` keep their flags in one
    ``_state`` (``_slot`` is this page's).
    """

    template: IfdTemplate
    delta: int
    _state: bytearray = field(default_factory=lambda: bytearray(1), repr=False)
    _slot: int = field(default=0, repr=False)

    @property
    def spans(self) -> tuple[tuple[int, int], ...]:
        """File ``(offset, length)`` of the block to read."""
        return (self.template.span(self.delta),)

    @property
    def reference_url(self) -> None:
        """The expected block is computed, never read."""
        return None

    @property
    def verified(self) -> bool:
        return bool(self._state[self._slot])

    def verify(
        self, blocks: Sequence[bytes], reference: Sequence[bytes] | None = None, /, *, url: str
    ) -> None:
        """Accept the block read from the file, or raise when it differs."""
        if list(blocks) != [self.template.expected(self.delta)]:
            raise TiffFormatError(
                "the IFD differs from the layout predicted from its neighbours; "
                "open the file with predict=False",
                url=url,
                offset=self.template.ifd(self.delta),
            )
        self._state[self._slot] = 1


@dataclass(frozen=True, slots=True, eq=False)
class FileReference:
    """The first file of a sequence: its size, the byte ranges that define its image's
    layout (header, IFDs, the values that decoding depends on) and, once read, their
    bytes."""

    url: str
    size: int
    spans: tuple[tuple[int, int], ...]
    _blocks: list[tuple[bytes, ...]] = field(default_factory=list, repr=False)

    @property
    def blocks(self) -> tuple[bytes, ...] | None:
        """The bytes at ``spans`` in this file, once read (``None`` before)."""
        return self._blocks[0] if self._blocks else None

    def remember(self, blocks: Sequence[bytes], /) -> tuple[bytes, ...]:
        if not self._blocks:
            self._blocks.append(tuple(bytes(b) for b in blocks))
        return self._blocks[0]


@dataclass(frozen=True, slots=True, eq=False)
class FileCheck:
    """A file of a sequence assumed to be laid out like the first one.

    Its bytes at ``reference.spans`` must equal the first file's before any of
    its pixels are served; then its pages have the same tags, and its segment
    tables (inline in the IFD, or loaded from the file itself) are its own.
    """

    reference: FileReference
    _state: list[bool] = field(default_factory=lambda: [False], repr=False)

    @property
    def spans(self) -> tuple[tuple[int, int], ...]:
        return self.reference.spans

    @property
    def reference_url(self) -> str | None:
        """The first file's URL while its bytes still have to be read."""
        return None if self.reference.blocks is not None else self.reference.url

    @property
    def verified(self) -> bool:
        return self._state[0]

    def verify(
        self, blocks: Sequence[bytes], reference: Sequence[bytes] | None = None, /, *, url: str
    ) -> None:
        """Accept the file's blocks (``reference``: the first file's, when just read)."""
        expected = self.reference.blocks
        if expected is None:
            if reference is None:
                raise ValueError("the first file's bytes are needed to check this file")
            expected = self.reference.remember(reference)
        for (offset, _), got, want in zip(self.spans, blocks, expected, strict=True):
            if bytes(got) != want:
                raise TiffFormatError(
                    f"the file is not laid out like the first file of the sequence "
                    f"({self.reference.url}); open the sequence with predict=False",
                    url=url,
                    offset=offset,
                )
        self._state[0] = True


@dataclass(frozen=True, slots=True)
class SegmentTable:
    """Offsets and byte counts of the segments of one page (or virtual page).

    ``check`` is set for pages predicted from their neighbours' layout, or from
    the first file of a sequence. ``origin`` is the run and position of a page
    stored in a :class:`~tiffzarr.model.PageRun`, whose tables are built anew
    each time they are asked for (see :class:`~tiffzarr.model.HeldPages`).
    ``cut_from`` is the table of the page whose segments this one cuts into pieces
    (the restart intervals of an NDPI strip): the table stands for that page.
    """

    offsets: TagArray
    bytecounts: TagArray
    check: PageCheck | FileCheck | None = field(default=None, compare=False)
    origin: tuple[PageRun, int] | None = field(default=None, compare=False, repr=False)
    cut_from: SegmentTable | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.cut_from is not None and self.origin is None:
            object.__setattr__(self, "origin", self.cut_from.origin)

    @property
    def count(self) -> int:
        return min(self.offsets.count, self.bytecounts.count)

    @property
    def key(self) -> tuple[int, int]:
        """Tells the tables of different pages apart while the parsed file lives: the
        table's identity, or for a page of a run (whose table is built anew each time
        it is asked for) the run's and the page's position in it; a table cut from
        another has that one's key."""
        if self.cut_from is not None:
            return self.cut_from.key
        if self.origin is None:
            return id(self), -1
        run, i = self.origin
        return id(run), i

    def locate(self, index: int, /) -> tuple[int, int] | None:
        """``(offset, nbytes)`` of segment ``index``, or ``None`` when sparse (its offset
        or its byte count is 0, as tifffile and GDAL read it).

        Both arrays must be loaded around ``index`` (see :func:`load_segments`).
        """
        offset, nbytes = self.offsets[index], self.bytecounts[index]
        if nbytes == 0 or offset == 0:
            return None
        return offset, nbytes

    def loaded(self, start: int, stop: int) -> bool:
        return self.offsets.loaded(start, stop) and self.bytecounts.loaded(start, stop)


async def load_segments(
    source: ByteSource, requests: Sequence[tuple[SegmentTable, int, int]], /
) -> None:
    """Load the windows covering segments ``[start, stop)`` of each table.

    Windows that lie close together (offsets next to byte counts, as most
    writers store them) are fetched in one request.
    """
    wanted: list[tuple[int, int, TagArray, int]] = []
    seen: set[tuple[int, int]] = set()
    for table, start, stop in requests:
        for arr in (table.offsets, table.bytecounts):
            for w in arr.missing(start, min(stop, arr.count)):
                if (id(arr), w) in seen:
                    continue
                seen.add((id(arr), w))
                offset, length = arr.byte_range(w)
                wanted.append((offset, length, arr, w))
    if not wanted:
        return
    wanted.sort(key=lambda item: item[0])
    groups: list[list[tuple[int, int, TagArray, int]]] = [[wanted[0]]]
    for item in wanted[1:]:
        last = groups[-1][-1]
        if item[0] - (last[0] + last[1]) <= MERGE_GAP:
            groups[-1].append(item)
        else:
            groups.append([item])
    spans = [(g[0][0], max(o + n for o, n, _, _ in g) - g[0][0]) for g in groups]
    blobs = await source.read_many(spans)
    for group, (base, _), blob in zip(groups, spans, blobs, strict=True):
        for offset, length, arr, w in group:
            arr.fill(w, blob[offset - base : offset - base + length])
