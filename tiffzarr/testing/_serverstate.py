"""The state of the loopback Range server: faults to inject and what it served."""

from __future__ import annotations

import dataclasses
import threading
import urllib.parse
from typing import Literal, get_args

__all__ = ["Fault", "FaultKind", "Faults", "PathStats", "RequestRecord", "ServerStats"]


def _name(path: str) -> str:
    """A request path or file name as a key: unquoted, without leading slashes."""
    return urllib.parse.unquote(path).lstrip("/")


FaultKind = Literal["status", "reset", "truncate", "wrong_range", "ignore_range", "slow", "drip"]


@dataclasses.dataclass(frozen=True, slots=True)
class Fault:
    """One kind of misbehaviour, for requests whose path matches ``path`` (None: all).

    ``status`` answers with ``status`` (and ``Retry-After: retry_after`` when set);
    ``reset`` drops the connection without an answer; ``truncate`` sends the
    right headers but only ``keep`` body bytes (default: half), then closes;
    ``wrong_range`` names (and sends) a different range; ``ignore_range`` answers
    200 with the whole file; ``slow`` waits ``delay`` extra seconds first;
    ``drip`` sends the headers at once, then the body ``keep`` bytes at a time
    (default 1024), ``delay`` seconds apart.
    """

    kind: FaultKind
    path: str | None = None
    status: int = 503
    retry_after: int | None = None
    delay: float = 1.0
    keep: int | None = None


class Faults:
    """Faults waiting to fire: each fires for its next ``times`` matching requests.

    >>> faults = Faults()
    >>> _ = faults.add("status", path="a.tif", times=2, status=500)
    >>> [f.kind if f else None for f in (faults.take("b.tif"), faults.take("a.tif"),
    ...                                  faults.take("a.tif"), faults.take("a.tif"))]
    [None, 'status', 'status', None]
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []
        self.fired: list[tuple[str, Fault]] = []

    def add(
        self,
        kind: FaultKind,
        /,
        *,
        path: str | None = None,
        times: int = 1,
        status: int = 503,
        retry_after: int | None = None,
        delay: float = 1.0,
        keep: int | None = None,
    ) -> Fault:
        """Arm a fault for the next ``times`` requests of ``path`` (any path if None)."""
        if kind not in get_args(FaultKind):
            raise ValueError(f"unknown fault kind {kind!r}")
        if times < 1:
            raise ValueError(f"times must be at least 1, not {times}")
        where = _name(path) if path is not None else None
        fault = Fault(kind, where, status, retry_after, delay, keep)
        with self._lock:
            self._armed.append(_Armed(fault, times))
        return fault

    def take(self, path: str) -> Fault | None:
        """Return (and use up once) the first armed fault matching ``path``."""
        with self._lock:
            for armed in self._armed:
                if armed.fault.path is None or armed.fault.path == path:
                    armed.remaining -= 1
                    if armed.remaining == 0:
                        self._armed.remove(armed)
                    self.fired.append((path, armed.fault))
                    return armed.fault
        return None

    def clear(self) -> None:
        """Disarm all faults and forget which fired."""
        with self._lock:
            self._armed.clear()
            self.fired.clear()

    def __len__(self) -> int:
        """Number of requests that armed faults will still break."""
        with self._lock:
            return sum(armed.remaining for armed in self._armed)


@dataclasses.dataclass(slots=True)
class _Armed:
    fault: Fault
    remaining: int


@dataclasses.dataclass(frozen=True, slots=True)
class PathStats:
    """Requests for one path and the body bytes sent for them."""

    requests: int = 0
    bytes: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class RequestRecord:
    """One answered request: method, path, ``Range`` header, status, body bytes sent,
    and the client's port (one per connection)."""

    method: str
    path: str
    range: str | None
    status: int
    bytes: int
    port: int


class ServerStats:
    """Thread-safe request and byte counters of a :class:`RangeServer`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def add(self, record: RequestRecord) -> None:
        """Log one request."""
        with self._lock:
            self._records.append(record)

    def replace(self, record: RequestRecord, sent: int) -> None:
        """Correct the bytes of a logged request (fewer were sent than planned)."""
        with self._lock:
            for i in range(len(self._records) - 1, -1, -1):
                if self._records[i] is record:
                    self._records[i] = dataclasses.replace(record, bytes=sent)
                    return

    @property
    def requests(self) -> int:
        """All requests answered (or dropped) since start or :meth:`reset`."""
        with self._lock:
            return len(self._records)

    @property
    def bytes(self) -> int:
        """All body bytes sent."""
        with self._lock:
            return sum(r.bytes for r in self._records)

    @property
    def records(self) -> list[RequestRecord]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._records)

    def path(self, name: str, /) -> PathStats:
        """Counters of one path (``"a.tif"`` or ``"/a.tif"``)."""
        name = _name(name)
        with self._lock:
            hits = [r.bytes for r in self._records if r.path == name]
        return PathStats(len(hits), sum(hits))

    def by_path(self) -> dict[str, PathStats]:
        """Counters of every requested path."""
        out: dict[str, PathStats] = {}
        for record in self.records:
            old = out.get(record.path, PathStats())
            out[record.path] = PathStats(old.requests + 1, old.bytes + record.bytes)
        return out

    def reset(self) -> None:
        """Forget all requests."""
        with self._lock:
            self._records.clear()
