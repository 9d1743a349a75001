"""Walk the IFD tree of a file: the main chain, SubIFDs, Exif/GPS/Interop IFDs.

The walk advances in rounds. In each round every IFD in flight goes as far as
the cached bytes allow (parse the IFD, decode its values, discover the next IFD
of the chain and its child IFDs), then everything still missing (IFDs just
discovered, the out-of-line values of those just parsed) is fetched together in
one batch: one request where the source can take many ranges at once, one round
trip in any case. Runs of uniform pages are predicted instead of read (see
:mod:`tiffzarr.reader._predict`). Every IFD offset is claimed in one visited set
when it is discovered (a predicted run claims its offsets at once), so a cycle
of any length or depth ends at its first revisit.

Memory stays proportional to the IFDs in flight: the pages of the main chain
are built as soon as they and their child IFDs are read, in chain order, and
collected by a :class:`~tiffzarr.reader._pages.PagesBuilder`, which stores runs
of alike pages once.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from tiffzarr._config import config
from tiffzarr.errors import IfdCycleError, LimitError, TiffFormatError
from tiffzarr.format import Header, Namespace, RawIfd, TagValue
from tiffzarr.format._template import IfdTemplate
from tiffzarr.model import PagePath, Pages
from tiffzarr.reader._cache import ByteCache
from tiffzarr.reader._ifdread import IfdReader, Range, WalkedIfd, where
from tiffzarr.reader._pages import build_page, is_lsm
from tiffzarr.reader._predict import Prediction, predict_run, run_steps
from tiffzarr.reader._runs import PagesBuilder
from tiffzarr.series import ChainEnds

__all__ = ["IfdWalker", "WalkedIfd"]

logger = logging.getLogger(__name__)

MAX_DEPTH = 4
"""Deepest nesting of SubIFDs (and Exif → Interoperability)."""
BATCH = 256
"""Predicted pages walked at a time when a run cannot be built from its template."""
RECENT_CLAIMS = 2**16
"""IFD offsets claimed one by one kept in a set before they move to a sorted array."""
# Child IFD pointers by the namespace of the IFD holding them: tag → child namespace.
CHILD_POINTERS: dict[Namespace, dict[int, Namespace]] = {
    "image": {330: "image", 34665: "exif", 34853: "gps"},
    "exif": {40965: "interop"},
    "gps": {},
    "interop": {},
}


@dataclass(eq=False, slots=True)
class _Node:
    """An IFD in flight: discovered, then parsed, then finished (or failed)."""

    offset: int
    path: PagePath
    namespace: Namespace
    depth: int = 0
    slot: int = -1
    chain: int = -1  # index in the main chain, -1 for child IFDs
    previous: RawIfd | None = None  # the IFD before it in the chain, until it is parsed
    raw: RawIfd | None = None
    walked: WalkedIfd | None = None
    children: list[_Node] = field(default_factory=list)
    needs: list[Range] = field(default_factory=list)
    failed: bool = False
    pointers: set[int] = field(default_factory=set)  # child pointer tags already followed

    @property
    def name(self) -> str:
        return where(self.path, self.namespace)

    @property
    def done(self) -> bool:
        """Finished with all its child IFDs, or failed."""
        return self.failed or (self.walked is not None and all(c.done for c in self.children))


@dataclass(eq=False, slots=True)
class _Run:
    """Predicted pages of the chain, from ``first`` on (``reference``'s run)."""

    prediction: Prediction
    reference: RawIfd
    first: int  # chain index of the page ``given + 1`` of the run
    given: int = 0  # pages of the run given to nodes (walked as if read)


class _Claims:
    """IFD offsets reached so far: single offsets, and runs of predicted IFDs
    (``first``, ``stride``, ``count``) whose spans do not overlap.

    Single offsets are kept in a set, moved to a sorted array (8 bytes each) when
    the set grows large.
    """

    def __init__(self) -> None:
        self.recent: set[int] = set()
        self._sorted = np.zeros(0, np.uint64)
        self._starts: list[int] = []
        self._runs: list[tuple[int, int, int]] = []
        self.count = 0

    def __contains__(self, offset: int) -> bool:
        if offset in self.recent:
            return True
        if len(self._sorted):
            i = int(self._sorted.searchsorted(np.uint64(offset)))  # not as a Python int: slow
            if i < len(self._sorted) and int(self._sorted[i]) == offset:
                return True
        k = bisect.bisect_right(self._starts, offset) - 1
        if k < 0:
            return False
        first, stride, count = self._runs[k]
        step, rest = divmod(offset - first, stride)
        return not rest and step < count

    def add(self, offset: int) -> None:
        self._add([offset])
        self.count += 1

    def _add(self, offsets: Iterable[int]) -> None:
        self.recent.update(offsets)
        if len(self.recent) > RECENT_CLAIMS:
            merged = np.concatenate([self._sorted, np.fromiter(self.recent, np.uint64)])
            self._sorted = np.sort(merged)
            self.recent.clear()

    def add_run(self, first: int, stride: int, count: int) -> bool:
        """Claim ``count`` offsets ``stride`` apart from ``first``; ``False`` if one was
        claimed before (none is claimed then)."""
        offsets = range(first, first + count * stride, stride)
        if any(offset in self for offset in offsets):
            return False
        k = bisect.bisect_right(self._starts, offsets[-1])
        if k and self._end(k - 1) >= first:  # spans overlap: keep the offsets one by one
            self._add(offsets)
        else:
            self._starts.insert(k, first)
            self._runs.insert(k, (first, stride, count))
        self.count += count
        return True

    def _end(self, k: int) -> int:
        first, stride, count = self._runs[k]
        return first + (count - 1) * stride


class IfdWalker:
    """Reads the IFD tree of one file through a cache."""

    def __init__(
        self,
        cache: ByteCache,
        header: Header,
        *,
        url: str,
        predict: bool = True,
        descriptions: bool = True,
        chain_ends: ChainEnds | None = None,
    ) -> None:
        self.cache = cache
        self.header = header
        self.url = url
        self.predict = predict
        self.chain_ends = chain_ends
        self.first_only = False
        """The chain was not walked past the first IFD (``chain_ends`` said so)."""
        self.reader = IfdReader(cache, header, url, descriptions=descriptions)
        self.visited = _Claims()
        self.checks: dict[int, tuple[IfdTemplate, int]] = {}
        """Predicted pages walked but not read: IFD offset → (template, pages on)."""
        self.builder = PagesBuilder(header, cache.size)
        self._chain: dict[int, _Node | _Run] = {}  # what is not built yet, by chain index
        self._length = 0  # pages of the chain discovered
        self._built = 0  # pages of the chain built
        self._lsm = False

    @property
    def warnings(self) -> list[str]:
        return self.reader.warnings

    @property
    def ndpi(self) -> bool:
        return self.reader.ndpi

    def claim(self, offset: int, name: str) -> None:
        """Reserve an IFD offset when it is discovered."""
        if offset in self.visited:
            raise IfdCycleError(
                f"IFD offset {offset} was reached before (a cycle)",
                url=self.url,
                ifd=name,
                offset=offset,
            )
        if offset < self.header.layout.header_size or offset >= self.cache.size:
            raise TiffFormatError(
                f"IFD offset {offset} is outside the file ({self.cache.size} bytes)",
                url=self.url,
                ifd=name,
                offset=offset,
            )
        self.visited.add(offset)

    def _check_count(self, node: _Node) -> None:
        """Refuse a file with more IFDs than ``config.max_ifds`` (checked here, where
        no step of the walk turns the error into a warning)."""
        if self.visited.count > config.max_ifds:
            raise LimitError(
                f"more than {config.max_ifds} IFDs (max_ifds; see tiffzarr.set_config)",
                url=self.url,
                ifd=node.name,
            )

    # -- the rounds ------------------------------------------------------
    async def walk(self) -> Pages:
        """The pages of the main chain, with their child IFDs.

        A broken link after the first IFD ends the chain (with a warning); a
        broken child IFD is left out (with a warning); a broken first IFD raises.
        """
        first = _Node(self.header.first_ifd, (0,), "image", chain=0)
        self.claim(first.offset, first.name)
        self._chain = {0: first}
        self._length = 1
        pending: list[_Node] = [first]
        while pending:
            progressed = True
            while progressed:
                progressed = False
                still: list[_Node] = []
                for node in pending:
                    found = await self._advance(node)
                    self._check_count(node)
                    if found is None:
                        still.append(node)
                        continue
                    progressed = True
                    if node.walked is None and not node.failed:
                        still.append(node)
                    still.extend(found)
                more = self._build()
                progressed = progressed or bool(more)
                pending = still + more
            needs = sorted({r for node in pending for r in node.needs})
            if needs:
                await self.cache.read_many(needs)
        assert self._built == self._length, "pages of the chain were left unbuilt"
        return self.builder.build()

    async def _advance(self, node: _Node) -> list[_Node] | None:
        """Take ``node`` one step; the nodes it discovered, or ``None`` if it waits for bytes."""
        if node.chain >= 0 and self._chain.get(node.chain) is not node:
            node.failed = True  # the chain was cut before this IFD
            return []
        try:
            if node.raw is None:
                parsed = self.reader.parse(node.offset, node.name)
                if not isinstance(parsed, RawIfd):
                    node.needs = [parsed]
                    return None
                node.raw = parsed
                if node.chain == 0 and 65420 in parsed.entries and not self.reader.ndpi:
                    self.reader.ndpi = True  # NDPI: 64-bit next pointers in classic TIFF
                    node.raw = None
                    return []
                found = await self._chain_next(node) if node.chain >= 0 else []
                return found + self._children(node)  # children known now go out with the values
            node.needs = self.reader.needs(node.raw, node.namespace)
            if node.needs:
                return None
            node.walked = self.reader.finish(node.raw, node.path, node.namespace)
            return self._children(node)
        except TiffFormatError as exc:
            if node.chain == 0:
                raise
            self._fail(node, exc)
            return []

    def _fail(self, node: _Node, exc: TiffFormatError) -> None:
        node.failed = True
        if node.chain >= 0:
            self.reader.warn(f"the IFD chain ends after {node.chain} IFDs: {exc}")
            self._cut(node.chain)
        else:
            self.reader.warn(f"skipped: {exc}")

    def _cut(self, at: int) -> None:
        """End the chain before page ``at``."""
        for k in [k for k in self._chain if k >= at]:
            del self._chain[k]
        self._length = min(self._length, at)

    async def _chain_next(self, node: _Node) -> list[_Node]:
        """Discover the IFD after ``node`` in the main chain (predicting a run if it can)."""
        assert node.raw is not None
        raw, k = node.raw, node.chain
        previous, node.previous = node.previous, None
        if k != self._length - 1:
            return []  # the chain was cut after this node meanwhile, or it was predicted
        if k == 0 and self.chain_ends is not None:

            def value(code: int) -> TagValue | None:
                return self.reader.cached_value(raw, code)

            if self.chain_ends(self.header, raw, value, self.cache.size):
                self.first_only = True
                return []
        nxt = raw.next_offset
        last: RawIfd | None = raw  # the IFD before the next one
        if self.predict and _strided(previous, raw):
            assert previous is not None
            run = await predict_run(self.cache, self.header, previous, raw)
            if run is not None and self.visited.add_run(
                run.template.ifd(1), run.template.stride, run.count
            ):
                self._chain[k + 1] = _Run(run, raw, k + 1)
                self._length = k + 1 + run.count
                k, nxt = k + run.count, run.next_offset
                last = None if self.reader.ndpi else run.last_ifd(self.header)
        if not nxt:
            return []
        child = _Node(nxt, (k + 1,), "image", chain=k + 1, previous=last)
        try:
            self.claim(nxt, child.name)
        except TiffFormatError as exc:
            self.reader.warn(f"the IFD chain ends after {k + 1} IFDs: {exc}")
            return []
        self._chain[k + 1] = child
        self._length = k + 2
        return [child]

    def _children(self, node: _Node) -> list[_Node]:
        """Discover the SubIFDs and private IFDs that ``node`` points to.

        Called as soon as the IFD is parsed (for pointers whose values are at hand)
        and again when it is finished (for the rest).
        """
        assert node.raw is not None
        found = []
        for code, namespace in CHILD_POINTERS[node.namespace].items():
            if code in node.pointers:
                continue
            value = self.reader.cached_value(node.raw, code)
            if value is None:
                continue
            node.pointers.add(code)
            for slot, stored in enumerate(np.atleast_1d(np.asarray(value)).reshape(-1).tolist()):
                image = namespace == "image"
                child = _Node(
                    self.reader.fix_offset(int(stored), node.raw.offset),
                    (*node.path, slot) if image else node.path,
                    namespace,
                    depth=node.depth + 1,
                    slot=slot if image else -1,
                )
                if child.depth > MAX_DEPTH:
                    self.reader.warn(f"IFD {child.name} is nested too deeply; not read")
                    continue
                try:
                    self.claim(child.offset, child.name)
                except TiffFormatError as exc:
                    self.reader.warn(f"skipped: {exc}")
                    continue
                node.children.append(child)
                found.append(child)
        return found

    # -- building the pages, in chain order ---------------------------------
    def _build(self) -> list[_Node]:
        """Build the pages read so far, in order; the nodes of predicted pages that
        are to be walked (their run could not be built from its template)."""
        while self._built < self._length:
            item = self._chain.get(self._built)
            if isinstance(item, _Run):
                if item.given == 0 and self._predicted(item):
                    continue
                return self._walk_predicted(item)
            if item is None or not item.done:
                break
            del self._chain[self._built]
            self._built += 1
            if item.walked is not None:
                self._page(item)
        return []

    def _predicted(self, item: _Run) -> bool:
        """Add a predicted run to the pages at once, if the builder can."""
        prediction = item.prediction
        steps = run_steps(self.header, item.reference, prediction.template)
        if not self.builder.add_predicted(prediction, steps):
            return False
        del self._chain[item.first]
        self._built += prediction.count
        return True

    def _walk_predicted(self, item: _Run) -> list[_Node]:
        """Nodes for the next :data:`BATCH` pages of a run, read from their predicted blocks."""
        prediction, template = item.prediction, item.prediction.template
        del self._chain[item.first]
        deltas = range(item.given + 1, min(item.given + BATCH, prediction.count) + 1)
        self.cache.add_many(
            (template.span(d)[0], prediction.block(d)) for d in deltas if d not in prediction.read
        )
        nodes = []
        for d in deltas:
            index = item.first + d - item.given - 1
            node = _Node(template.ifd(d), (index,), "image", chain=index)
            if d not in prediction.read:
                self.checks[node.offset] = (template, d)
            self._chain[index] = node
            nodes.append(node)
        if deltas.stop <= prediction.count:
            self._chain[item.first + len(deltas)] = item
            item.first += len(deltas)
            item.given += len(deltas)
        return nodes

    def _page(self, node: _Node) -> None:
        walked = self._assemble(node)
        if node.chain == 0:
            self._lsm = is_lsm([walked])
            self.builder.compact = not (self._lsm or self.reader.ndpi)
        page = build_page(
            walked,
            cache=self.cache,
            header=self.header,
            url=self.url,
            ndpi=self.reader.ndpi,
            checks=self.checks,
            lsm=self._lsm,
            warn=self.reader.warn,
        )
        self.checks.pop(node.offset, None)
        self.builder.add(page)

    def _assemble(self, node: _Node) -> WalkedIfd:
        assert node.walked is not None
        count = int(np.asarray(node.walked.ifd.values.get(330, ())).size)
        subifds: list[WalkedIfd | None] = [None] * count
        extra: list[tuple[Namespace, WalkedIfd]] = []
        for child in node.children:
            if child.walked is None:
                continue
            built = self._assemble(child)
            if child.namespace == "image":
                subifds[child.slot] = built
            else:
                extra.append((child.namespace, built))
        return replace(node.walked, subifds=tuple(subifds), extra=tuple(extra))


def _strided(a: RawIfd | None, b: RawIfd) -> bool:
    """Whether ``a`` → ``b`` → ``b``'s next IFD are equally spaced (worth a prediction)."""
    return a is not None and 0 < b.offset - a.offset == b.next_offset - b.offset
