"""Walk the IFD tree of a file: the main chain, SubIFDs, Exif/GPS/Interop IFDs.

The walk advances in rounds. In each round every IFD in flight goes as far as
the cached bytes allow (parse the IFD, decode its values, discover the next IFD
of the chain and its child IFDs), then everything still missing (IFDs just
discovered, the out-of-line values of those just parsed) is fetched together in
one batch: one request where the source can take many ranges at once, one round
trip in any case. Runs of uniform pages are predicted instead of read (see
:mod:`tiffzarr.reader._predict`). Every IFD offset is claimed in one visited set
when it is discovered, so a cycle of any length or depth ends at its first
revisit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np

from tiffzarr.errors import IfdCycleError, LimitError, TiffFormatError
from tiffzarr.format import Header, Namespace, RawIfd, TagValue
from tiffzarr.format._template import IfdTemplate
from tiffzarr.model import PagePath
from tiffzarr.reader._cache import ByteCache
from tiffzarr.reader._ifdread import IfdReader, Range, WalkedIfd, where
from tiffzarr.reader._predict import predict_run
from tiffzarr.series import ChainEnds

__all__ = ["IfdWalker", "WalkedIfd"]

logger = logging.getLogger(__name__)

MAX_IFDS = 2**20
"""Most IFDs (of all kinds) read from one file."""
MAX_DEPTH = 4
"""Deepest nesting of SubIFDs (and Exif → Interoperability)."""
# Child IFD pointers by the namespace of the IFD holding them: tag → child namespace.
CHILD_POINTERS: dict[Namespace, dict[int, Namespace]] = {
    "image": {330: "image", 34665: "exif", 34853: "gps"},
    "exif": {40965: "interop"},
    "gps": {},
    "interop": {},
}


@dataclass(eq=False)
class _Node:
    """An IFD in flight: discovered, then parsed, then finished (or failed)."""

    offset: int
    path: PagePath
    namespace: Namespace
    depth: int = 0
    slot: int = -1
    chain: int = -1  # index in the main chain, -1 for child IFDs
    raw: RawIfd | None = None
    walked: WalkedIfd | None = None
    children: list[_Node] = field(default_factory=list)
    needs: list[Range] = field(default_factory=list)
    failed: bool = False
    pointers: set[int] = field(default_factory=set)  # child pointer tags already followed

    @property
    def name(self) -> str:
        return where(self.path, self.namespace)


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
        self.visited: set[int] = set()
        self.checks: dict[int, tuple[IfdTemplate, int]] = {}
        """Predicted pages that were not read: IFD offset → (template, pages on)."""
        self._chain: list[_Node] = []
        self._predicted_until = -1

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
        if len(self.visited) >= MAX_IFDS:
            raise LimitError(f"more than {MAX_IFDS} IFDs", url=self.url, ifd=name, offset=offset)
        if offset < self.header.layout.header_size or offset >= self.cache.size:
            raise TiffFormatError(
                f"IFD offset {offset} is outside the file ({self.cache.size} bytes)",
                url=self.url,
                ifd=name,
                offset=offset,
            )
        self.visited.add(offset)

    # -- the rounds ------------------------------------------------------
    async def walk(self) -> list[WalkedIfd]:
        """The main chain with every child IFD attached.

        A broken link after the first IFD ends the chain (with a warning); a
        broken child IFD is left out (with a warning); a broken first IFD raises.
        """
        first = _Node(self.header.first_ifd, (0,), "image", chain=0)
        self.claim(first.offset, first.name)
        self._chain = [first]
        pending = [first]
        while pending:
            progressed = True
            while progressed:
                progressed = False
                still: list[_Node] = []
                for node in pending:
                    found = await self._advance(node)
                    if found is None:
                        still.append(node)
                        continue
                    progressed = True
                    if node.walked is None and not node.failed:
                        still.append(node)
                    still.extend(found)
                pending = still
            needs = sorted({r for node in pending for r in node.needs})
            if needs:
                await self.cache.read_many(needs)
        chain = [n for n in self._chain if n.walked is not None]
        return [self._assemble(n) for n in chain]

    async def _advance(self, node: _Node) -> list[_Node] | None:
        """Take ``node`` one step; the nodes it discovered, or ``None`` if it waits for bytes."""
        if node.chain >= 0 and (
            node.chain >= len(self._chain) or self._chain[node.chain] is not node
        ):
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
            del self._chain[node.chain :]
        else:
            self.reader.warn(f"skipped: {exc}")

    async def _chain_next(self, node: _Node) -> list[_Node]:
        """Discover the IFD after ``node`` in the main chain (predicting a run if it can)."""
        assert node.raw is not None
        k = node.chain
        if k != len(self._chain) - 1:
            return []  # the chain was cut after this node meanwhile
        if k == 0 and self.chain_ends is not None:
            raw = node.raw

            def value(code: int) -> TagValue | None:
                return self.reader.cached_value(raw, code)

            if self.chain_ends(self.header, raw, value, self.cache.size):
                self.first_only = True
                return []
        previous = self._chain[k - 1].raw if k > 0 else None
        if self.predict and k > self._predicted_until and _strided(previous, node.raw):
            assert previous is not None
            run = await predict_run(self.cache, self.header, previous, node.raw)
            if run is not None:
                self._predicted_until = k + run.count
                for delta in range(1, run.count + 1):
                    if delta not in run.read:
                        self.checks[run.template.ifd(delta)] = (run.template, delta)
        nxt = node.raw.next_offset
        if not nxt:
            return []
        child = _Node(nxt, (k + 1,), "image", chain=k + 1)
        try:
            self.claim(nxt, child.name)
        except TiffFormatError as exc:
            self.reader.warn(f"the IFD chain ends after {k + 1} IFDs: {exc}")
            return []
        self._chain.append(child)
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
