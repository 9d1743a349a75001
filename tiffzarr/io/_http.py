"""HTTP(S) files read with aiohttp range requests, one session per event loop.

Every request asks for one byte range and every answer is checked: status 206,
a ``Content-Range`` naming exactly that range, exactly that many body bytes, no
content encoding. A 200 answer (the server ignored ``Range``) is accepted when
it is no more than the requested bytes, i.e. the whole file, or when the file is
small (at most :data:`WHOLE_FILE_MAX` bytes): then the file is kept and later
reads cost no request. Opening a file costs one request:
:meth:`HttpSource.read_head` learns the size from the ``Content-Range`` of its
answer. Requests for several ranges are negotiated (:meth:`HttpSource.read_many`).

>>> from tiffzarr.testing import serve
>>> import asyncio
>>> with serve({"a.bin": b"0123456789"}) as server:
...     src = HttpSource(server.url_for("a.bin"))
...     asyncio.run(src.read_head(4)), asyncio.run(src.size()), src.stats.requests
(b'0123', 10, 1)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp

from tiffzarr.errors import SourceError, SourceNotFoundError
from tiffzarr.io._base import (
    ByteSource,
    Deliver,
    TransientError,
    check_range,
    deliver_pieces,
)
from tiffzarr.io._httpoptions import parse_options
from tiffzarr.io._multipart import (
    RETRY_STATUS,
    Answer,
    group_ranges,
    parse_content_range,
    read_answer,
    read_body,
    read_exactly,
    refuses_several,
    retry_after,
)

__all__ = ["HttpSource"]

logger = logging.getLogger(__name__)

MAX_BACKOFF = 10.0


MAX_RANGES = 64
"""Most ranges asked for in one request (keeps the ``Range`` header short)."""
MULTIRANGE_MAX_PART = 64 * 1024
"""Ranges larger than this go in requests of their own (parsing parts costs time)."""
MULTIRANGE_MAX = 2**20
"""Most bytes asked for in one request for several ranges."""
_MULTIRANGE: dict[str, bool] = {}
"""Per ``scheme://host``: whether it answers requests for several ranges."""
WHOLE_FILE_MAX = 64 * 1024
"""Largest file kept in memory when a server ignores ``Range`` and sends all of it
(as large as the first read of a TIFF, so such a file arrives whole at open)."""

T = TypeVar("T")


class HttpSource(ByteSource):
    """A file on an HTTP(S) server that supports ``Range`` requests.

    Parameters
    ----------
    url
        ``http://`` or ``https://`` URL of the file.
    storage_options
        fsspec-style options: ``headers`` and the aiohttp request options
        ``auth``, ``cookies``, ``proxy``, ``proxy_auth``, ``ssl``,
        ``allow_redirects``, ``max_redirects`` go with every request;
        ``client_kwargs`` go to :class:`aiohttp.ClientSession`;
        ``connect_timeout`` and ``read_timeout`` (seconds) bound connecting and
        each wait for data, unless ``client_kwargs`` has a ``timeout``. Options
        of fsspec's ``HTTPFileSystem`` that only configure its caches are ignored.
        ``check_version`` (default true): compare every answer's ``ETag`` (or
        ``Last-Modified``) with the first one's, so that a file replaced while
        open raises instead of yielding bytes from the wrong places.

    Notes
    -----
    One :class:`aiohttp.ClientSession` is made per event loop on first use,
    shared by all sources with the same session options, and closed in that
    loop when the loop shuts down (``asyncio.run``, ``asyncio.Runner``) or by
    :meth:`close`; sessions of loops closed otherwise are released later without
    warnings.
    aiohttp's silent retry of a request on a reused connection is disabled so
    that every request is counted; retries belong to tiffzarr.
    """

    def __init__(self, url: str, /, *, storage_options: dict[str, Any] | None = None) -> None:
        super().__init__(url)
        settings = parse_options(storage_options or {}, url)
        self._storage_options = settings.storage_options
        self._request_options = settings.request_options
        self._retries = settings.retries
        self._backoff = settings.backoff
        self._deadline = settings.deadline
        self._check_version = settings.check_version
        self._sessions = settings.sessions
        self._whole: bytes | None = None

    def _options(self) -> dict[str, object]:
        return {"storage_options": self._storage_options}

    async def close(self) -> None:
        """Close the sessions of all loops now (they reopen lazily when used again).

        Sessions are shared by all sources with the same ``client_kwargs`` and
        timeouts, so this also interrupts their requests in flight; call it when
        done with all of them. It is never required: each loop closes its own
        session when it shuts down.
        """
        await self._sessions.aclose()

    async def read(self, offset: int, length: int, /) -> bytes:
        """Return exactly ``length`` bytes starting at ``offset`` (no request once the
        whole file has arrived: see :data:`WHOLE_FILE_MAX`)."""
        if self._whole is None:
            return await super().read(offset, length)
        check_range(self.url, offset, length, len(self._whole))
        return self._whole[offset : offset + length]

    async def read_head(self, length: int, /) -> bytes:
        """Return the first ``min(length, size)`` bytes and learn the size: one request."""
        if self._known_size is not None:
            return await super().read_head(length)
        check_range(self.url, 0, length)
        if length == 0:
            await self.size()
            return b""
        data = await self._fetch(0, length, clip=True)
        self.stats.record(0, len(data))
        return data

    async def read_many(self, ranges: Sequence[tuple[int, int]], /) -> list[bytes]:
        """Several ranges, as few requests as the server allows.

        Small ranges are asked for together, :data:`MAX_RANGES` per request, and
        every answer RFC 9110 allows is taken: ``multipart/byteranges`` parts in
        any order, parts coalescing several ranges, one part spanning them all
        (within :func:`~tiffzarr.io._multipart.budget`), 200 with the whole file
        (the ranges cut from its start when near it, the rest dropped unread).
        Ranges an answer lacks are read one by one, concurrently. A server that
        refuses such requests (416, 400, 501, other client errors), ignores them
        (200) or answers them beyond the budget is remembered per host and asked
        for single ranges only from then on.
        """
        ranges = list(ranges)
        small = [r for r in ranges if 0 < r[1] <= MULTIRANGE_MAX_PART]
        if self._whole is not None or len(small) < 2 or _MULTIRANGE.get(_host(self.url)) is False:
            return await super().read_many(ranges)
        for offset, length in ranges:
            check_range(self.url, offset, length, self._known_size)
        groups = group_ranges(small, most=MAX_RANGES, most_bytes=MULTIRANGE_MAX)
        large = [r for r in ranges if r not in set(small)]
        parts = await asyncio.gather(
            *(self._read_group(group) for group in groups),
            super().read_many(large),
        )
        found = {
            r: d
            for group, datas in zip([*groups, large], parts, strict=True)
            for r, d in zip(group, datas, strict=True)
        }
        return [found[r] if r[1] else b"" for r in ranges]

    async def _read_group(self, group: list[tuple[int, int]]) -> list[bytes]:
        if len(group) < 2:
            return [await self.read(o, n) for o, n in group]
        where = "bytes=" + ",".join(f"{o}-{o + n - 1}" for o, n in group)
        answer = await self._retrying(
            lambda exchange: self._attempt_parts(group, where, exchange),
            where=where,
            offset=group[0][0],
        )
        _MULTIRANGE[_host(self.url)] = answer.served
        self.stats.record_request(
            [r for r, d in zip(group, answer.found, strict=True) if d is not None]
        )
        missing = [r for r, d in zip(group, answer.found, strict=True) if d is None]
        if missing:
            logger.debug("%s: %d of %d ranges read one by one", self.url, len(missing), len(group))
        fetched = iter(await super().read_many(missing))
        return [d if d is not None else next(fetched) for d in answer.found]

    async def _attempt_parts(
        self, wanted: list[tuple[int, int]], where: str, exchange: _Exchange
    ) -> Answer:
        offset = wanted[0][0]
        async with self._get(where, offset, exchange) as response:
            if refuses_several(response.status):
                response.close()
                return Answer([None] * len(wanted), served=False)
            self._check_status(response, where, offset)
            try:
                answer = await read_answer(response, wanted, url=self.url, small=WHOLE_FILE_MAX)
            except SourceError as exc:
                raise TransientError(exc.message, url=self.url, offset=offset) from exc
            if not response.content.is_eof():
                response.close()  # the rest of the body is not needed: never read it
        for total in answer.totals:
            self._learn_size(total, where[:80])
        if answer.whole is not None:
            self._whole = answer.whole
        return answer

    async def _size(self) -> int:
        data = await self._fetch(0, 1, clip=True)
        self.stats.record(0, len(data))
        if self._known_size is None:
            raise SourceError("the server did not report the file size", url=self.url)
        return self._known_size

    async def _read(self, offset: int, length: int) -> bytes:
        return await self._fetch(offset, length, clip=False)

    async def _fetch(self, offset: int, length: int, *, clip: bool) -> bytes:
        """Fetch ``[offset, offset + length)``; with ``clip`` the range may end at EOF."""
        where = f"bytes={offset}-{offset + length - 1}"
        return await self._retrying(
            lambda exchange: self._attempt(offset, length, exchange, clip=clip),
            where=where,
            offset=offset,
        )

    async def _retrying(
        self, attempt_once: Callable[[_Exchange], Awaitable[T]], *, where: str, offset: int
    ) -> T:
        """Run one request, retrying transient failures.

        This is where every request is made. Transient failures (HTTP
        408/425/429/5xx, lost connections, timeouts, short bodies, a wrong
        ``Content-Range``) are retried with exponential backoff and full jitter,
        honouring ``Retry-After``, within the read's deadline; the final error
        names the URL, the range and the attempts (and, when the deadline cut an
        answer short, how many of its bytes had arrived).
        """
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._deadline
        attempt = 0
        while True:
            attempt += 1
            exchange = _Exchange()
            try:
                return await asyncio.wait_for(
                    attempt_once(exchange), max(give_up - loop.time(), 0.001)
                )
            except (TransientError, TimeoutError) as exc:
                delay = self._delay(attempt, getattr(exc, "retry_after", None))
                reason = exc.message if isinstance(exc, TransientError) else self._overdue(exchange)
                if attempt > self._retries or loop.time() + delay >= give_up:
                    raise SourceError(
                        f"GET {where} failed after {attempt} attempt(s): {reason}",
                        url=self.url,
                        offset=offset,
                    ) from exc
                logger.debug(
                    "%s: attempt %d failed (%s); retrying in %.2f s",
                    self.url,
                    attempt,
                    reason,
                    delay,
                )
                await asyncio.sleep(delay)

    def _overdue(self, exchange: _Exchange) -> str:
        """Why an attempt stopped at the deadline: what of its answer had arrived."""
        response = exchange.response
        if response is None:
            return f"deadline of {self._deadline:g} s exceeded before an answer arrived"
        size = response.content_length
        return (
            f"deadline of {self._deadline:g} s exceeded after {response.content.total_bytes}"
            f" bytes of {'an answer of unknown length' if size is None else size}"
            f" (HTTP {response.status})"
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_BACKOFF)
        return random.uniform(0, min(self._backoff * 2 ** (attempt - 1), MAX_BACKOFF))

    async def _attempt(self, offset: int, length: int, exchange: _Exchange, *, clip: bool) -> bytes:
        where = f"bytes={offset}-{offset + length - 1}"
        async with self._get(where, offset, exchange) as response:
            return await self._accept(response, offset, length, clip=clip)

    @contextlib.asynccontextmanager
    async def _get(
        self, where: str, offset: int, exchange: _Exchange
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """One GET with ``Range: where`` (its answer noted in ``exchange``). A
        connection whose answer was refused is closed, never reused with an unread
        body; client failures become :class:`TransientError`, so they are retried."""
        options = dict(self._request_options)
        options["headers"] = {**options["headers"], "Range": where}
        session = await self._sessions.get()
        try:
            async with session.get(self.url, **options) as response:
                exchange.response = response
                try:
                    yield response
                except SourceError:
                    response.close()
                    raise
        except SourceError:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            kind = "timed out: " if isinstance(exc, TimeoutError) else ""
            raise TransientError(
                f"{kind}{type(exc).__name__}: {exc}", url=self.url, offset=offset
            ) from exc

    async def _accept(
        self, response: aiohttp.ClientResponse, offset: int, length: int, *, clip: bool
    ) -> bytes:
        where = f"bytes={offset}-{offset + length - 1}"
        status = response.status
        if status == 416:
            total = parse_content_range(response.headers.get("Content-Range"))[2]
            if clip and offset == 0 and total == 0:
                self._learn_size(0, where)
                return b""
        self._check_status(response, where, offset)
        if status == 206:
            return await self._accept_partial(response, offset, length, clip=clip)
        return await self._accept_whole(response, offset, length, clip=clip)

    def _check_status(self, response: aiohttp.ClientResponse, where: str, offset: int) -> None:
        """Raise the error an answer's status means (transient ones can be retried)."""
        status = response.status
        if status in (404, 410):
            raise SourceNotFoundError(f"HTTP {status} for GET {where}", url=self.url)
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if status == 416:
            total = parse_content_range(response.headers.get("Content-Range"))[2]
            raise SourceError(
                f"HTTP 416 range not satisfiable for GET {where}"
                + (f" (file has {total} bytes)" if total is not None else ""),
                url=self.url,
                offset=offset,
            )
        if status not in (200, 206):
            kind = TransientError if status in RETRY_STATUS else SourceError
            error = kind(
                f"HTTP {status} {response.reason or ''} for GET {where}".rstrip(),
                url=self.url,
                offset=offset,
            )
            error.retry_after = retry_after(response.headers.get("Retry-After"))  # type: ignore[attr-defined]
            raise error
        if encoding not in ("identity", ""):
            raise SourceError(
                f"HTTP {status} with Content-Encoding {encoding!r} for GET {where}",
                url=self.url,
                offset=offset,
            )
        if self._check_version:
            headers = response.headers
            self._learn_version(headers.get("ETag") or headers.get("Last-Modified"), f"GET {where}")

    async def _accept_partial(
        self, response: aiohttp.ClientResponse, offset: int, length: int, *, clip: bool
    ) -> bytes:
        stop = self._partial_stop(response, offset, length, clip=clip)
        return await read_body(response, stop - offset, self.url, offset)

    def _partial_stop(
        self, response: aiohttp.ClientResponse, offset: int, length: int, *, clip: bool
    ) -> int:
        """Where a 206 answer's range ends, once its ``Content-Range`` is checked: it
        must be exactly ``[offset, offset + length)`` (with ``clip``, up to the end of
        the file)."""
        where = f"bytes={offset}-{offset + length - 1}"
        header = response.headers.get("Content-Range")
        first, last, total = parse_content_range(header)
        stop = offset + length
        if clip and total is not None:
            stop = min(stop, total)
        if (
            first != offset
            or last is None
            or last + 1 != stop
            or (total is not None and total <= last)
        ):
            raise TransientError(
                f"HTTP 206 with Content-Range {header!r} for GET {where}",
                url=self.url,
                offset=offset,
            )
        if total is not None:
            self._learn_size(total, where)
        return stop

    async def read_split(self, offset: int, ends: Sequence[int], deliver: Deliver, /) -> None:
        """One request for ``[offset, ends[-1])``, its pieces delivered as they arrive.

        The answer is checked as :meth:`read` checks it before any piece is
        delivered; a failure after some pieces retries for the rest of the range.
        """
        if self._whole is not None:
            await super().read_split(offset, ends, deliver)
            return
        stop = ends[-1]
        check_range(self.url, offset, stop - offset, self._known_size)
        reached = [offset]
        await self._retrying(
            lambda exchange: self._attempt_split(reached, ends, deliver, exchange),
            where=f"bytes={offset}-{stop - 1}",
            offset=offset,
        )
        self.stats.record(offset, stop)

    async def _attempt_split(
        self, reached: list[int], ends: Sequence[int], deliver: Deliver, exchange: _Exchange
    ) -> None:
        position, stop = reached[0], ends[-1]
        where = f"bytes={position}-{stop - 1}"
        async with self._get(where, position, exchange) as response:
            self._check_status(response, where, position)
            if response.status != 206:
                data = await self._accept_whole(response, position, stop - position, clip=False)
                deliver_pieces(position, data, ends, deliver)
                reached[0] = stop
                return
            self._partial_stop(response, position, stop - position, clip=False)
            declared = response.content_length
            if declared is not None and declared != stop - position:
                raise TransientError(
                    f"HTTP 206 declares {declared} bytes for GET {where}",
                    url=self.url,
                    offset=position,
                )
            for end in ends:
                if end > position:
                    piece = await read_exactly(response, end - position, self.url, position)
                    deliver(position, piece)
                    position = reached[0] = end
            if declared is None and await response.content.read(1):
                raise SourceError(
                    f"HTTP 206 body is longer than asked for by GET {where}",
                    url=self.url,
                    offset=position,
                )

    async def _accept_whole(
        self, response: aiohttp.ClientResponse, offset: int, length: int, *, clip: bool
    ) -> bytes:
        """A 200 answer: the server ignored ``Range`` and sends the whole file.

        It is read when it is small (then kept, so later reads cost no request) or
        no larger than the range asked for from byte 0; otherwise it is refused
        unread.
        """
        where = f"bytes={offset}-{offset + length - 1}"
        declared = response.content_length
        cap = max(WHOLE_FILE_MAX, length if offset == 0 else 0)
        if declared is not None and declared > cap:
            raise SourceError(
                f"HTTP 200 for GET {where}: the server ignores Range and sent the whole"
                f" file ({declared} bytes); without Range requests only files of up to"
                f" {WHOLE_FILE_MAX} bytes are read",
                url=self.url,
                offset=offset,
            )
        data = await read_body(response, cap, self.url, offset, at_most=True)
        self._learn_size(len(data), where)
        if len(data) <= WHOLE_FILE_MAX:
            self._whole = data
        stop = min(offset + length, len(data)) if clip else offset + length
        if stop > len(data):
            raise SourceError(
                f"HTTP 200 for GET {where}: the whole file has only {len(data)} bytes",
                url=self.url,
                offset=offset,
            )
        return data[offset:stop]

    def _learn_size(self, total: int, where: str) -> None:
        if self._known_size is None:
            self._known_size = total
        elif self._known_size != total:
            detail = f"it has {total} bytes, not {self._known_size} (GET {where})"
            raise self._changed(detail)


@dataclass(slots=True)
class _Exchange:
    """The answer of one attempt once its headers are in (to say what the deadline cut)."""

    response: aiohttp.ClientResponse | None = None


def _host(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
