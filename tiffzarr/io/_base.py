"""The byte-source contract: read a range, read many ranges, size; counted."""

from __future__ import annotations

import abc
import asyncio
import atexit
import logging
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from tiffzarr.errors import SourceChangedError, SourceError

logger = logging.getLogger(__name__)

__all__ = [
    "ByteSource",
    "Deliver",
    "PerLoop",
    "SourceStats",
    "TransientError",
    "check_length",
    "check_range",
    "deliver_pieces",
]

T = TypeVar("T")

Deliver = Callable[[int, bytes], None]
"""``deliver(offset, piece)``: a piece of a range read with :meth:`ByteSource.read_split`."""


@dataclass(slots=True)
class SourceStats:
    """Requests made and bytes received by one source (since creation or reset)."""

    requests: int = 0
    bytes: int = 0
    ranges: list[tuple[int, int]] = field(default_factory=list, repr=False)

    def record(self, start: int, stop: int) -> None:
        self.requests += 1
        self.bytes += stop - start
        self.ranges.append((start, stop))

    def record_request(self, ranges: Sequence[tuple[int, int]]) -> None:
        """One request that returned several ``(offset, length)`` ranges."""
        self.requests += 1
        self.bytes += sum(n for _, n in ranges)
        self.ranges.extend((o, o + n) for o, n in ranges)

    def reset(self) -> None:
        self.requests = 0
        self.bytes = 0
        self.ranges.clear()

    def snapshot(self) -> tuple[int, int]:
        return (self.requests, self.bytes)


class TransientError(SourceError):
    """A failure worth retrying: server busy, connection lost, short or wrong answer."""

    retry_after: float | None = None


def check_range(url: str, offset: int, length: int, size: int | None = None) -> None:
    """Refuse negative ranges and, when the size is known, ranges past the end."""
    if offset < 0 or length < 0:
        raise SourceError(f"invalid range offset={offset} length={length}", url=url, offset=offset)
    if size is not None and offset + length > size:
        raise SourceError(
            f"range [{offset}, {offset + length}) is past the end of the file ({size} bytes)",
            url=url,
            offset=offset,
        )


def deliver_pieces(offset: int, data: bytes, ends: Sequence[int], deliver: Deliver) -> None:
    """Pass the pieces of ``data`` (which starts at ``offset``) that end at ``ends``
    to ``deliver``; ends at or before the previous one give no piece."""
    start = offset
    for end in ends:
        if end > start:
            deliver(start, data[start - offset : end - offset])
            start = end


def check_length(url: str, offset: int, length: int, data: bytes) -> bytes:
    """Return ``data`` when it is exactly ``length`` bytes, else raise ``SourceError``."""
    if len(data) != length:
        raise SourceError(
            f"asked for {length} bytes at [{offset}, {offset + length}) but got {len(data)}",
            url=url,
            offset=offset,
        )
    return data


class ByteSource(abc.ABC):
    """An async, read-only, random-access view of one file.

    Subclasses implement :meth:`_size` and :meth:`_read`; the public methods add
    range checks, exact-length checks and the request/byte counters. A source is
    plain data (URL and options): handles and sessions are opened lazily, and
    dropped when the source is pickled.
    """

    url: str

    def __init__(self, url: str, /) -> None:
        self.url = url
        self.stats = SourceStats()
        self._known_size: int | None = None
        self._version: str | None = None

    def __reduce__(self) -> tuple[object, ...]:
        state = (self._known_size, self._version)
        return (_restore, (type(self), self.url, self._options(), state))

    def _options(self) -> dict[str, object]:
        """Keyword arguments (besides the URL) that recreate this source."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    async def size(self) -> int:
        """Size of the file in bytes (learned once)."""
        if self._known_size is None:
            self._known_size = await self._size()
        return self._known_size

    @property
    def version(self) -> str | None:
        """The file's version as the server reported it (HTTP ``ETag`` or
        ``Last-Modified``), once a response carried one; ``None`` otherwise."""
        return self._version

    def expect(self, *, size: int, version: str | None) -> None:
        """Declare the file already known (parsed earlier): its size and version.

        Every later answer is checked against them, so a file that changed since
        it was parsed raises :class:`~tiffzarr.errors.SourceError` instead of
        yielding bytes from the wrong places.
        """
        self._known_size = size
        self._version = version

    def _learn_version(self, version: str | None, where: str) -> None:
        if version is None:
            return
        if self._version is None:
            self._version = version
        elif self._version != version:
            raise self._changed(f"version {self._version} is now {version} ({where})")

    def _changed(self, detail: str, offset: int | None = None) -> SourceChangedError:
        """The error for a file that is no longer the version seen before."""
        return SourceChangedError(
            f"the file changed since it was opened: {detail}; open it again to read the new one",
            url=self.url,
            offset=offset,
        )

    async def fingerprint(self) -> str | None:
        """An identity of the file's current contents that costs no request
        (local files: size, modification time and inode), or ``None``."""
        return None

    async def read(self, offset: int, length: int, /) -> bytes:
        """Return exactly ``length`` bytes starting at ``offset``."""
        size = self._known_size
        check_range(self.url, offset, length, size)
        if length == 0:
            return b""
        data = await self._read(offset, length)
        self.stats.record(offset, offset + len(data))
        return check_length(self.url, offset, length, data)

    async def read_head(self, length: int, /) -> bytes:
        """Return the first ``min(length, size)`` bytes (and learn the size)."""
        size = await self.size()
        return await self.read(0, min(length, size))

    async def read_many(self, ranges: Sequence[tuple[int, int]], /) -> list[bytes]:
        """Read several ``(offset, length)`` ranges concurrently, in order."""
        return list(await asyncio.gather(*(self.read(o, n) for o, n in ranges)))

    async def read_split(self, offset: int, ends: Sequence[int], deliver: Deliver, /) -> None:
        """Read ``[offset, ends[-1])`` and pass each piece ``[previous end, end)`` to
        ``deliver(start, piece)``, in order, as soon as it is in.

        ``ends`` must increase and exceed ``offset``. This reads the range, then
        delivers its pieces; :class:`~tiffzarr.io.HttpSource` delivers each piece while
        the rest is still in transit (a retry then asks for the rest only).

        >>> import asyncio
        >>> from tiffzarr.io import open_source
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "f")
        >>> _ = open(path, "wb").write(b"0123456789")
        >>> got = []
        >>> asyncio.run(open_source(path).read_split(2, [4, 9], lambda at, b: got.append((at, b))))
        >>> got
        [(2, b'23'), (4, b'45678')]
        """
        deliver_pieces(offset, await self.read(offset, ends[-1] - offset), ends, deliver)

    @abc.abstractmethod
    async def _size(self) -> int: ...

    @abc.abstractmethod
    async def _read(self, offset: int, length: int) -> bytes: ...


def _restore(
    cls: type[ByteSource],
    url: str,
    options: dict[str, object],
    state: tuple[int | None, str | None],
) -> ByteSource:
    source = cls(url, **options)
    source._known_size, source._version = state
    return source


@dataclass(slots=True, eq=False)
class _Slot(Generic[T]):
    resource: T
    guard: AsyncGenerator[None, None] | None = None
    closed: bool = False


# Tasks closing resources of the running loop (see _release_elsewhere), kept until done.
_CLOSING: set[asyncio.Future[None]] = set()
# PerLoop.shared instances by key; their resources are released at interpreter exit.
_SHARED: dict[Hashable, PerLoop[Any]] = {}
_SHARED_LOCK = threading.Lock()


class PerLoop(Generic[T]):
    """One resource (an HTTP session, an async filesystem) per running event loop.

    Async clients bind to the loop that created them, so each loop gets its own
    resource, made lazily by ``create`` inside that loop. Each resource is closed
    *in its own loop* before the loop closes: a small async generator registered
    with the loop runs ``aclose`` when the loop shuts down its async generators,
    as ``asyncio.run`` and ``asyncio.Runner`` do. Resources of loops that were
    closed without that (or are idle) are released with ``close_now``, which
    must not need a running loop: at the next :meth:`get` from any loop, by
    :meth:`close_now_all`, or at interpreter exit for :meth:`shared` ones.
    ``create`` and the closers must not refer to a source, so that sources can
    be collected.

    >>> import asyncio
    >>> async def close(r: list[str]) -> None:
    ...     r.append("closed")
    >>> made: list[list[str]] = []
    >>> per_loop = PerLoop(lambda: made.append([]) or made[-1], close, lambda r: None)
    >>> async def main() -> bool:
    ...     return await per_loop.get() is await per_loop.get()
    >>> asyncio.run(main()), asyncio.run(main()), made, len(per_loop)
    (True, True, [['closed'], ['closed']], 0)
    """

    def __init__(
        self,
        create: Callable[[], T],
        aclose: Callable[[T], Awaitable[None]],
        close_now: Callable[[T], None],
    ) -> None:
        self._create = create
        self._aclose = aclose
        self._close_now = close_now
        self._lock = threading.Lock()
        self._slots: dict[asyncio.AbstractEventLoop, _Slot[T]] = {}

    @classmethod
    def shared(
        cls,
        key: Hashable,
        create: Callable[[], T],
        aclose: Callable[[T], Awaitable[None]],
        close_now: Callable[[T], None],
    ) -> PerLoop[T]:
        """The process-wide instance for ``key``, made from these callables on first use.

        Sources with equal client options share one resource per loop, so their
        requests share a connection pool (one TLS handshake per host, not per file).
        """
        with _SHARED_LOCK:
            per_loop = _SHARED.get(key)
            if per_loop is None:
                per_loop = _SHARED[key] = cls(create, aclose, close_now)
            return per_loop

    def __len__(self) -> int:
        """Number of loops that currently hold an open resource."""
        with self._lock:
            return len(self._slots)

    async def get(self) -> T:
        """Return the resource of the running loop, creating it on first use."""
        loop = asyncio.get_running_loop()
        with self._lock:
            slot = self._slots.get(loop)
            stale = [(lp, s) for lp, s in self._slots.items() if lp.is_closed()]
            for lp, _ in stale:
                del self._slots[lp]
        for lp, s in stale:
            self._release_elsewhere(lp, s)
        if slot is not None and not slot.closed:
            return slot.resource
        slot = _Slot(self._create())
        guard = self._guard(loop, slot)
        slot.guard = guard
        with self._lock:
            self._slots[loop] = slot
        # The first step registers the generator with the loop (its firstiter hook)
        # and stops at the ``yield`` without suspending this task.
        await guard.asend(None)
        return slot.resource

    async def aclose(self) -> None:
        """Close the resources of all loops: this loop's now, the others' in theirs."""
        loop = asyncio.get_running_loop()
        with self._lock:
            slots = list(self._slots.items())
            self._slots.clear()
        for lp, slot in slots:
            if lp is loop:
                await self._finish(lp, slot)
            else:
                self._release_elsewhere(lp, slot)

    def close_now_all(self, *, wait: float = 0.0) -> None:
        """Release every resource from outside its loop.

        Resources of loops running in other threads are closed there; with
        ``wait`` > 0 this waits up to that many seconds for each (at exit, so
        that nothing is left pending), then releases it directly.
        """
        with self._lock:
            slots = list(self._slots.items())
            self._slots.clear()
        for lp, slot in slots:
            self._release_elsewhere(lp, slot, wait=wait)

    async def _guard(
        self, loop: asyncio.AbstractEventLoop, slot: _Slot[T]
    ) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:  # the loop shuts down its async generators, or _finish closes this one
            await self._close_slot(loop, slot)

    async def _finish(self, loop: asyncio.AbstractEventLoop, slot: _Slot[T]) -> None:
        guard, slot.guard = slot.guard, None
        if guard is not None:
            await guard.aclose()
        await self._close_slot(loop, slot)

    async def _close_slot(self, loop: asyncio.AbstractEventLoop, slot: _Slot[T]) -> None:
        with self._lock:
            if self._slots.get(loop) is slot:
                del self._slots[loop]
        slot.guard = None
        if not slot.closed:
            slot.closed = True
            await self._aclose(slot.resource)

    def _release_elsewhere(
        self, loop: asyncio.AbstractEventLoop, slot: _Slot[T], *, wait: float = 0.0
    ) -> None:
        if slot.closed:
            return
        if loop.is_running():
            try:
                running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            coro = self._finish(loop, slot)
            try:
                if running is loop:
                    task = loop.create_task(coro)
                    _CLOSING.add(task)
                    task.add_done_callback(_CLOSING.discard)
                else:
                    future = asyncio.run_coroutine_threadsafe(coro, loop)
                    if wait > 0:
                        future.result(timeout=wait)
            except RuntimeError:  # the loop closed in the meantime
                coro.close()
            except Exception:
                logger.debug("closing a resource in its loop failed; releasing it directly")
            else:
                return
        # A closed loop cannot run coroutines; an idle one might never run again.
        slot.closed = True
        slot.guard = None  # a suspended guard of a closed loop is dropped silently
        self._close_now(slot.resource)


@atexit.register
def _close_shared() -> None:
    with _SHARED_LOCK:
        shared = list(_SHARED.values())
    for per_loop in shared:
        per_loop.close_now_all(wait=2.0)
