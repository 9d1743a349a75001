"""A read-planning cache over a byte source, used while parsing a file.

Blocks fetched during the parse are kept (up to a byte budget) so that IFDs and
tag values that share a block cost one request; misses that lie close together
are merged into one request, and independent misses are fetched concurrently.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence

from tiffzarr.errors import LimitError, SourceError
from tiffzarr.io import ByteSource

__all__ = ["ByteCache"]


class ByteCache:
    """Blocks of one file fetched through ``source``; ``size`` is the file size.

    >>> import asyncio, tempfile
    >>> from tiffzarr.io import LocalSource
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     _ = f.write(bytes(range(100))); f.flush()
    ...     src = LocalSource(f.name)
    ...     cache = ByteCache(src, 100)
    ...     a = asyncio.run(cache.read(10, 4, ahead=50))
    ...     b = asyncio.run(cache.read(40, 2))
    ...     a, b, src.stats.requests
    (b'\\n\\x0b\\x0c\\r', b'()', 1)
    """

    def __init__(self, source: ByteSource, size: int, *, budget: int = 32 * 2**20) -> None:
        self.source = source
        self.size = size
        self.budget = budget
        self._starts: list[int] = []
        self._blocks: list[bytes] = []
        self._held = 0

    def add(self, offset: int, data: bytes) -> None:
        """Keep ``data`` (the file's bytes at ``offset``)."""
        if not data:
            return
        i = bisect.bisect_right(self._starts, offset)
        self._starts.insert(i, offset)
        self._blocks.insert(i, data)
        self._held += len(data)
        if self._held > self.budget:
            self._evict(keep=i)

    def _evict(self, *, keep: int) -> None:
        """Drop the largest blocks but block ``keep`` (the newest) until a quarter of the
        budget is free (at once: a walk through a large file adds blocks all along)."""
        target = self.budget * 3 // 4
        drop = set()
        for k in sorted(range(len(self._blocks)), key=lambda k: -len(self._blocks[k])):
            if self._held <= target:
                break
            if k != keep:
                drop.add(k)
                self._held -= len(self._blocks[k])
        kept = [k for k in range(len(self._blocks)) if k not in drop]
        self._starts = [self._starts[k] for k in kept]
        self._blocks = [self._blocks[k] for k in kept]

    def add_many(self, blocks: Iterable[tuple[int, bytes]]) -> None:
        """Keep many small blocks at once (predicted IFDs); no eviction."""
        pairs = sorted([*zip(self._starts, self._blocks, strict=True), *blocks], key=lambda p: p[0])
        self._starts = [start for start, _ in pairs]
        self._blocks = [block for _, block in pairs]
        self._held = sum(len(b) for b in self._blocks)

    def find(self, offset: int, length: int) -> bytes | None:
        """The cached bytes ``[offset, offset + length)``, or ``None``."""
        i = bisect.bisect_right(self._starts, offset)
        for j in range(i - 1, max(i - 8, 0) - 1, -1):
            start, block = self._starts[j], self._blocks[j]
            if start <= offset and offset + length <= start + len(block):
                return block[offset - start : offset - start + length]
        return None

    def _check(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise LimitError(
                f"range [{offset}, {offset + length}) is outside the file ({self.size} bytes)",
                url=self.source.url,
                offset=offset,
            )

    async def read(self, offset: int, length: int, /, *, ahead: int = 0) -> bytes:
        """Exactly ``length`` bytes at ``offset``; on a miss fetch at least ``ahead``."""
        self._check(offset, length)
        found = self.find(offset, length)
        if found is not None:
            return found
        fetch = min(max(length, ahead), self.size - offset)
        data = await self.source.read(offset, fetch)
        self.add(offset, data)
        return data[:length]

    async def read_many(
        self, ranges: Sequence[tuple[int, int]], /, *, gap: int = 4096
    ) -> list[bytes]:
        """Several ranges; misses closer than ``gap`` share one request."""
        for offset, length in ranges:
            self._check(offset, length)
        misses = sorted({(o, n) for o, n in ranges if n and self.find(o, n) is None})
        spans: list[list[int]] = []
        for offset, length in misses:
            if spans and offset - spans[-1][1] <= gap:
                spans[-1][1] = max(spans[-1][1], offset + length)
            else:
                spans.append([offset, offset + length])
        blobs = await self.source.read_many([(a, b - a) for a, b in spans])
        fetched = [(start, blob) for (start, _), blob in zip(spans, blobs, strict=True)]
        out = []
        for offset, length in ranges:
            found = next(
                (
                    b[offset - s : offset - s + length]
                    for s, b in fetched
                    if s <= offset < s + len(b)
                ),
                None,
            )
            if found is None:
                found = self.find(offset, length) if length else b""
            if found is None or len(found) != length:
                raise SourceError("cache lost a fetched range", url=self.source.url, offset=offset)
            out.append(found)
        for start, blob in fetched:
            self.add(start, blob)
        return out
