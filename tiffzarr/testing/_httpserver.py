"""A loopback HTTP/1.1 Range server with latency and fault injection.

For tests, the demo and benchmarks: it serves a directory (never a path outside
it) or an in-memory ``{name: bytes}`` dict on ``127.0.0.1`` from a background
thread, one thread per connection, with keep-alive, ``HEAD`` and
``Range: bytes=...`` requests (206 clipped at the end of the file, 416 when
unsatisfiable; several ranges in one ``multipart/byteranges`` answer, or in any
other shape real servers answer them with: see :data:`MultiRange`). A folder's
URL answers with an HTML index page linking its files, as ``python -m
http.server`` does, so fsspec's ``HTTPFileSystem`` can ``ls`` and ``glob`` it
(see :mod:`tiffzarr.testing._listing`). It counts requests and bytes per path
(listings too) and can delay answers or break them on purpose.

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
import logging
import os
import socket
import struct
import threading
import urllib.parse
import zlib
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

from tiffzarr.testing._listing import folder_entries, index_page, member_entries
from tiffzarr.testing._ranges import (
    MultiRange,
    multirange_mode,
    parse_range,
    parse_ranges,
    shaped_parts,
    wrong_range,
)
from tiffzarr.testing._serverstate import (
    Fault,
    FaultKind,
    Faults,
    PathStats,
    RequestRecord,
    ServerStats,
    _name,
)

__all__ = [
    "Fault",
    "FaultKind",
    "Faults",
    "MultiRange",
    "PathStats",
    "RangeServer",
    "RequestRecord",
    "ServerStats",
    "serve",
]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 16
_IDLE_TIMEOUT = 60.0  # longer than aiohttp's 15 s keep-alive, so clients close first


class _Blob:
    """A file to serve: in memory or on disk, read in chunks; or a folder's index page."""

    def __init__(
        self,
        data: bytes | None = None,
        path: Path | None = None,
        *,
        etag: str = "",
        content_type: str = "application/octet-stream",
    ) -> None:
        self.data = data
        self.path = path
        self.content_type = content_type
        if data is not None:
            self.size = len(data)
            self.etag = etag
        else:
            assert path is not None
            st = path.stat()
            self.size = st.st_size
            self.etag = f'"{st.st_mtime_ns:x}-{self.size:x}"'

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
    multirange
        How a request for several ranges is answered: a :data:`MultiRange`, or
        true for ``"parts"`` and false for ``"whole"``. May be changed while running.
    ranges
        Whether ``Range`` is honoured at all; when false every GET gets 200 and
        the whole file (as Python's ``http.server`` answers). May be changed while
        running.
    peak_in_flight
        The most requests answered at once so far (set it to 0 to measure anew).
    """

    def __init__(self, root_or_files: str | os.PathLike[str] | Mapping[str, bytes], /) -> None:
        self.latency = 0.0
        self.multirange: bool | MultiRange = True
        self.ranges = True
        self.stats = ServerStats()
        self.faults = Faults()
        self.peak_in_flight = 0
        self._in_flight = 0
        self._flight_lock = threading.Lock()
        self._files: dict[str, tuple[bytes, str]] | None = None  # data and ETag
        self._root: Path | None = None
        if isinstance(root_or_files, Mapping):
            self._files = {_name(k): _with_etag(v) for k, v in root_or_files.items()}
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
        self._files[_name(name)] = _with_etag(data)
        return self.url_for(name)

    def lookup(self, name: str) -> _Blob | int:
        """The file behind a request path (a folder's index page for a folder), or the
        HTTP status refusing it."""
        if self._files is not None:
            found = self._files.get(name)
            if found is not None:
                return _Blob(data=found[0], etag=found[1])
            entries = member_entries(list(self._files), name)
            return 404 if entries is None else _index(name, entries)
        assert self._root is not None
        try:
            target = (self._root / name).resolve()
        except (OSError, ValueError):
            return 404
        if not target.is_relative_to(self._root):
            return 403
        try:
            if target.is_dir():
                return _index(name, folder_entries(target))
            return _Blob(path=target) if target.is_file() else 404
        except (OSError, ValueError):
            return 404

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Count one request in flight while the block runs (see ``peak_in_flight``)."""
        with self._flight_lock:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        try:
            yield
        finally:
            with self._flight_lock:
                self._in_flight -= 1

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


def _index(folder: str, entries: list[str]) -> _Blob:
    data, etag = _with_etag(index_page(folder, entries))
    return _Blob(data=data, etag=etag, content_type="text/html; charset=utf-8")


def _with_etag(data: bytes) -> tuple[bytes, str]:
    """The bytes to serve and their ETag (from a checksum: new contents, new ETag)."""
    data = bytes(data)
    return data, f'"{zlib.crc32(data):08x}-{len(data):x}"'


def serve(
    root_or_files: str | os.PathLike[str] | Mapping[str, bytes],
    /,
    *,
    latency: float = 0.0,
    multirange: bool | MultiRange = True,
    ranges: bool = True,
) -> RangeServer:
    """Start a Range server on ``127.0.0.1`` and a free port, in a background thread.

    Parameters
    ----------
    root_or_files
        A directory to serve, or a ``{name: bytes}`` mapping (names may contain ``/``).
    latency
        Seconds to wait before each answer (settable later as ``server.latency``).
    multirange
        How requests for several ranges are answered (see :data:`MultiRange`).
    ranges
        Honour ``Range`` headers (when false, every GET gets the whole file).

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
    server.multirange = multirange
    server.ranges = ranges
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
        with self.server.app.answering():
            self._answer(body=True)

    def do_HEAD(self) -> None:
        with self.server.app.answering():
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
        if kind == "ignore_range" or not app.ranges:
            range_header = None
        spans = parse_ranges(range_header, blob.size)
        mode = multirange_mode(app.multirange)
        if spans is not None and len(spans) > 1 and mode != "whole":
            self._send_several(name, blob, spans, mode, body=body, fault=fault)
            return
        span = parse_range(range_header, blob.size)
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
                start, stop, total = wrong_range(start, stop, blob.size)
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
        app = self.server.app
        headers = {
            "Content-Type": blob.content_type,
            "Accept-Ranges": "bytes" if app.ranges else "none",
            "Content-Length": str(stop - start),
            "ETag": blob.etag,
        }
        if content_range is not None:
            headers["Content-Range"] = content_range
        end = stop if body else start
        if body and fault is not None and fault.kind == "truncate":
            keep = fault.keep if fault.keep is not None else (stop - start) // 2
            end = start + max(0, min(keep, stop - start - 1))
            self.close_connection = True
        chunks = blob.chunks(start, end)
        if fault is not None and fault.kind == "drip":
            chunks = _drip(app, chunks, fault.keep or 1024, fault.delay)
        self._send(name, status, headers, chunks, end - start)

    def _send_several(
        self,
        name: str,
        blob: _Blob,
        spans: list[tuple[int, int]],
        mode: MultiRange,
        *,
        body: bool,
        fault: Fault | None,
    ) -> None:
        """The answer to a request for several ranges, shaped as ``mode`` says."""
        if isinstance(mode, int):  # a status refusing the request
            headers = {"Content-Range": f"bytes */{blob.size}"} if mode == 416 else {}
            self._send_text(name, mode, "several ranges are not served", headers, body=body)
        elif mode == "span":
            start, stop = min(a for a, _ in spans), max(b for _, b in spans)
            content_range = f"bytes {start}-{stop - 1}/{blob.size}"
            self._send_range(
                name, blob, 206, start, stop, content_range=content_range, body=body, fault=fault
            )
        else:
            self._send_parts(name, blob, shaped_parts(spans, mode), body=body, fault=fault)

    def _send_parts(
        self,
        name: str,
        blob: _Blob,
        spans: list[tuple[int, int]],
        *,
        body: bool,
        fault: Fault | None,
    ) -> None:
        """A ``multipart/byteranges`` answer with one part per span, streamed."""
        boundary = "tiffzarr-test-boundary"
        heads: list[bytes] = []
        for i, (start, stop) in enumerate(spans):
            shown = (start, stop)
            if i == 0 and fault is not None and fault.kind == "wrong_range":
                shown = wrong_range(start, stop, blob.size)[:2]
            heads.append(
                f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Range: bytes {shown[0]}-{shown[1] - 1}/{blob.size}\r\n\r\n".encode()
            )
        tail = f"\r\n--{boundary}--\r\n".encode()
        size = sum(map(len, heads)) + sum(b - a for a, b in spans) + len(tail)
        end = size if body else 0
        if body and fault is not None and fault.kind == "truncate":
            end = fault.keep if fault.keep is not None else size // 2
            self.close_connection = True

        def payload() -> Iterator[bytes]:
            for head, (start, stop) in zip(heads, spans, strict=True):
                yield head
                yield from blob.chunks(start, stop)
            yield tail

        headers = {
            "Content-Type": f"multipart/byteranges; boundary={boundary}",
            "Content-Length": str(size),
            "ETag": blob.etag,
        }
        self._send(name, 206, headers, _first_bytes(payload(), end), end)

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
        port = self.client_address[1]
        record = RequestRecord(self.command, name, self.headers.get("Range"), status, planned, port)
        self.server.app.stats.add(record)
        return record


def _first_bytes(chunks: Iterator[bytes], count: int) -> Iterator[bytes]:
    """The first ``count`` bytes of ``chunks``.

    >>> list(_first_bytes(iter([b"abc", b"de", b"f"]), 4))
    [b'abc', b'd']
    """
    for chunk in chunks:
        if count <= 0:
            return
        yield chunk[:count]
        count -= len(chunk)


def _drip(app: RangeServer, chunks: Iterator[bytes], piece: int, delay: float) -> Iterator[bytes]:
    """``chunks`` again in pieces of ``piece`` bytes, ``delay`` seconds apart."""
    for chunk in chunks:
        for at in range(0, len(chunk), piece):
            yield chunk[at : at + piece]
            app.wait(delay)
