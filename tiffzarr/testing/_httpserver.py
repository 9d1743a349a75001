"""A loopback HTTP/1.1 Range server with latency and fault injection.

For tests, the demo and benchmarks: it serves a directory (never a path outside
it) or an in-memory ``{name: bytes}`` dict on ``127.0.0.1`` from a background
thread, one thread per connection, with keep-alive, ``HEAD`` and single
``Range: bytes=...`` requests (206 clipped at the end of the file, 416 when
unsatisfiable, 200 for no or several ranges). It counts requests and bytes per
path and can delay answers or break them on purpose.

>>> import http.client
>>> with serve({"a.bin": b"0123456789"}) as server:
...     conn = http.client.HTTPConnection("127.0.0.1", server.port)
...     conn.request("GET", "/a.bin", headers={"Range": "bytes=2-4"})
...     r = conn.getresponse()
...     r.status, r.getheader("Content-Range"), r.read(), server.stats.requests
...     conn.close()
(206, 'bytes 2-4/10', b'234', 1)
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import socket
import struct
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Literal, get_args

__all__ = [
    "Fault",
    "FaultKind",
    "Faults",
    "PathStats",
    "RangeServer",
    "RequestRecord",
    "ServerStats",
    "serve",
]

logger = logging.getLogger(__name__)

FaultKind = Literal["status", "reset", "truncate", "wrong_range", "ignore_range", "slow"]

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
_CHUNK = 1 << 16
_IDLE_TIMEOUT = 60.0  # longer than aiohttp's 15 s keep-alive, so clients close first


@dataclasses.dataclass(frozen=True, slots=True)
class Fault:
    """One kind of misbehaviour, for requests whose path matches ``path`` (None: all).

    ``status`` answers with ``status`` (and ``Retry-After: retry_after`` when set);
    ``reset`` drops the connection without an answer; ``truncate`` sends the
    right headers but only ``keep`` body bytes (default: half), then closes;
    ``wrong_range`` names (and sends) a different range; ``ignore_range`` answers
    200 with the whole file; ``slow`` waits ``delay`` extra seconds first.
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
    """One answered request: method, path, ``Range`` header, status, body bytes sent."""

    method: str
    path: str
    range: str | None
    status: int
    bytes: int


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


class _Blob:
    """A file to serve: in memory or on disk, read in chunks."""

    def __init__(self, data: bytes | None = None, path: Path | None = None) -> None:
        self.data = data
        self.path = path
        self.size = len(data) if data is not None else path.stat().st_size if path else 0

    def chunks(self, start: int, stop: int) -> Iterator[bytes]:
        if self.data is not None:
            view = memoryview(self.data)
            for pos in range(start, stop, _CHUNK):
                yield bytes(view[pos : min(pos + _CHUNK, stop)])
            return
        assert self.path is not None
        with open(self.path, "rb") as f:
            f.seek(start)
            pos = start
            while pos < stop:
                chunk = f.read(min(_CHUNK, stop - pos))
                if not chunk:
                    return
                pos += len(chunk)
                yield chunk


class RangeServer:
    """A running loopback Range server; see :func:`serve`.

    Attributes
    ----------
    url
        Base URL without a trailing slash, e.g. ``http://127.0.0.1:40123``.
    port
        The port it listens on (on ``127.0.0.1`` only).
    stats
        :class:`ServerStats`: requests and bytes, per path and in total.
    faults
        :class:`Faults` to inject.
    latency
        Seconds to wait before every answer; may be changed while running.
    """

    def __init__(self, root_or_files: str | os.PathLike[str] | Mapping[str, bytes], /) -> None:
        self.latency = 0.0
        self.stats = ServerStats()
        self.faults = Faults()
        self._files: dict[str, bytes] | None = None
        self._root: Path | None = None
        if isinstance(root_or_files, Mapping):
            self._files = {_name(k): bytes(v) for k, v in root_or_files.items()}
        else:
            self._root = Path(root_or_files).resolve()
            if not self._root.is_dir():
                raise NotADirectoryError(f"not a directory: {self._root}")
        self._stopping = threading.Event()
        self._server = _Server(self)
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"tiffzarr-range-server-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def url_for(self, name: str, /) -> str:
        """The URL of a served file (``name`` relative to the root)."""
        return f"{self.url}/{urllib.parse.quote(_name(name))}"

    def add(self, name: str, data: bytes, /) -> str:
        """Serve ``data`` as ``name`` (in-memory servers only); return its URL."""
        if self._files is None:
            raise TypeError("add() needs a server of in-memory files")
        self._files[_name(name)] = bytes(data)
        return self.url_for(name)

    def lookup(self, name: str) -> _Blob | int:
        """The file behind a request path, or the HTTP status refusing it."""
        if self._files is not None:
            data = self._files.get(name)
            return _Blob(data=data) if data is not None else 404
        assert self._root is not None
        try:
            target = (self._root / name).resolve()
        except (OSError, ValueError):
            return 404
        if not target.is_relative_to(self._root):
            return 403
        try:
            return _Blob(path=target) if target.is_file() else 404
        except (OSError, ValueError):
            return 404

    def wait(self, seconds: float) -> None:
        """Sleep, but wake up when the server stops."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def close(self) -> None:
        """Stop serving, drop open connections and join every thread."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.drop_connections()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> RangeServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<RangeServer {self.url} serving {self._root or f'{len(self._files or {})} files'}>"


def serve(
    root_or_files: str | os.PathLike[str] | Mapping[str, bytes], /, *, latency: float = 0.0
) -> RangeServer:
    """Start a Range server on ``127.0.0.1`` and a free port, in a background thread.

    Parameters
    ----------
    root_or_files
        A directory to serve, or a ``{name: bytes}`` mapping (names may contain ``/``).
    latency
        Seconds to wait before each answer (settable later as ``server.latency``).

    Returns
    -------
    RangeServer
        Already serving; use it as a context manager (or call ``close()``).

    >>> with serve({"x": b"abc"}, latency=0.01) as server:
    ...     server.url.startswith("http://127.0.0.1:"), server.url_for("x").endswith("/x")
    (True, True)
    """
    server = RangeServer(root_or_files)
    server.latency = latency
    return server


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # joined by server_close()
    block_on_close = True
    request_queue_size = 1024

    def __init__(self, app: RangeServer) -> None:
        self.app = app
        self._conns: set[socket.socket] = set()
        self._resets: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def mark_reset(self, request: socket.socket) -> None:
        """Close ``request`` with a TCP reset instead of an orderly shutdown."""
        request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with self._conns_lock:
            self._resets.add(request)

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self._conns_lock:
            self._conns.discard(request)
            reset = request in self._resets
            self._resets.discard(request)
        if reset:
            request.close()
        else:
            super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Wake handler threads blocked on idle keep-alive connections."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):  # already closed by its handler
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: object, client_address: object) -> None:
        logger.debug("error serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = _IDLE_TIMEOUT
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server: _Server

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def _answer(self, *, body: bool) -> None:
        app = self.server.app
        name = _name(urllib.parse.urlsplit(self.path).path)
        range_header = self.headers.get("Range")
        fault = app.faults.take(name)
        app.wait(app.latency + (fault.delay if fault is not None and fault.kind == "slow" else 0))
        kind = fault.kind if fault is not None else None
        if kind == "reset":
            self.close_connection = True
            self.server.mark_reset(self.connection)
            self._record(name, 0, 0)
            return
        if fault is not None and kind == "status":
            headers = (
                {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            )
            self._send_text(name, fault.status, "injected fault", headers, body=body)
            return
        blob = app.lookup(name)
        if isinstance(blob, int):
            self._send_text(name, blob, "forbidden" if blob == 403 else "not found", {}, body=body)
            return
        span = _parse_range(None if kind == "ignore_range" else range_header, blob.size)
        if span is None:
            self._send_range(
                name, blob, 200, 0, blob.size, content_range=None, body=body, fault=fault
            )
        elif span == "unsatisfiable":
            self._send_text(
                name,
                416,
                "range not satisfiable",
                {"Content-Range": f"bytes */{blob.size}"},
                body=body,
            )
        else:
            start, stop = span
            if kind == "wrong_range":
                start, stop, total = _wrong_range(start, stop, blob.size)
                content_range = f"bytes {start}-{stop - 1}/{total}"
            else:
                content_range = f"bytes {start}-{stop - 1}/{blob.size}"
            self._send_range(
                name, blob, 206, start, stop, content_range=content_range, body=body, fault=fault
            )

    def _send_text(
        self, name: str, status: int, text: str, headers: dict[str, str], *, body: bool
    ) -> None:
        payload = text.encode()
        headers = {"Content-Type": "text/plain", "Content-Length": str(len(payload)), **headers}
        self._send(name, status, headers, [payload] if body else [], len(payload) if body else 0)

    def _send_range(
        self,
        name: str,
        blob: _Blob,
        status: int,
        start: int,
        stop: int,
        *,
        content_range: str | None,
        body: bool,
        fault: Fault | None,
    ) -> None:
        headers = {
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
            "Content-Length": str(stop - start),
        }
        if content_range is not None:
            headers["Content-Range"] = content_range
        end = stop if body else start
        if body and fault is not None and fault.kind == "truncate":
            keep = fault.keep if fault.keep is not None else (stop - start) // 2
            end = start + max(0, min(keep, stop - start - 1))
            self.close_connection = True
        self._send(name, status, headers, blob.chunks(start, end), end - start)

    def _send(
        self,
        name: str,
        status: int,
        headers: dict[str, str],
        chunks: Iterator[bytes] | list[bytes],
        planned: int,
    ) -> None:
        # Counted before anything is sent, so a client that has its answer sees it counted.
        record = self._record(name, status, planned)
        sent = 0
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            for chunk in chunks:
                self.wfile.write(chunk)
                sent += len(chunk)
            self.wfile.flush()
        except OSError:  # the client went away (or the server is stopping)
            self.close_connection = True
        if sent != planned:
            self.server.app.stats.replace(record, sent)

    def _record(self, name: str, status: int, planned: int) -> RequestRecord:
        record = RequestRecord(self.command, name, self.headers.get("Range"), status, planned)
        self.server.app.stats.add(record)
        return record


def _name(path: str) -> str:
    """A request path or file name as a key: unquoted, without leading slashes."""
    return urllib.parse.unquote(path).lstrip("/")


def _parse_range(
    header: str | None, size: int
) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """``[start, stop)`` of a single ``bytes=`` range clipped at EOF; None to send it all.

    >>> [_parse_range(h, 10) for h in ("bytes=2-4", "bytes=8-", "bytes=-3", "bytes=5-99")]
    [(2, 5), (8, 10), (7, 10), (5, 10)]
    >>> _parse_range("bytes=10-12", 10), _parse_range("bytes=0-1,4-5", 10), _parse_range(None, 10)
    ('unsatisfiable', None, None)
    """
    if header is None:
        return None
    match = _RANGE.match(header)
    if match is None:  # malformed or several ranges: ignoring Range is allowed
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        n = int(last)
        return (max(size - n, 0), size) if n > 0 and size > 0 else "unsatisfiable"
    start = int(first)
    stop = size if not last else int(last) + 1
    if last and stop <= start:
        return None
    if start >= size:
        return "unsatisfiable"
    return start, min(stop, size)


def _wrong_range(start: int, stop: int, size: int) -> tuple[int, int, int]:
    """A range of the same file that differs from ``[start, stop)``, and a total."""
    if stop < size:
        return start + 1, stop + 1, size
    if start > 0:
        return start - 1, stop - 1, size
    if stop - start > 1:
        return start, stop - 1, size
    return start, stop, size + 1
