"""Reading answers to range requests: bodies of exact or bounded length, the
``Content-Range`` and ``Retry-After`` headers, and answers to a request for
several ranges in every shape servers send them.

RFC 9110 lets a server answer ``Range: bytes=a-b,c-d`` with a ``multipart/byteranges``
206 whose parts come in any order and may each cover several of the ranges
(coalesced), with a single-part 206 covering them all, or with 200 and the whole
file. :func:`read_answer` takes what such an answer holds, reading no more than
:func:`budget` bytes of ranges, and says which ranges it did not hold. Every
part's ``Content-Range`` is checked against the ranges asked for, and its body
must have exactly the declared length, so no part can slip wrong or extra bytes in.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import re
from dataclasses import dataclass, field

import aiohttp

from tiffzarr.errors import SourceError
from tiffzarr.io._base import TransientError

__all__ = [
    "RETRY_STATUS",
    "Answer",
    "budget",
    "cover",
    "group_ranges",
    "parse_content_range",
    "read_answer",
    "read_body",
    "read_exactly",
    "read_prefix",
    "refuses_several",
    "retry_after",
]

RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
"""HTTP statuses of a failure worth retrying."""

_CHUNK = 1 << 16
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$", re.IGNORECASE)


@dataclass(slots=True)
class Answer:
    """What an answer to a request for several ranges held.

    ``found`` has the bytes of each range asked for, in request order, ``None``
    where the answer did not hold it; ``totals`` the file sizes it reported;
    ``whole`` the file itself when a 200 brought all of it and it is small;
    ``served`` whether the server answered as asked: every range, within the budget.
    """

    found: list[bytes | None]
    totals: list[int] = field(default_factory=list)
    whole: bytes | None = None
    served: bool = True


def budget(asked: int) -> int:
    """Most bytes an answer for ``asked`` bytes of ranges may bring: ``max(2 x asked,
    asked + 1 MiB)`` (room for coalesced gaps, never an unbounded detour).

    >>> budget(100), budget(4 * 2**20)
    (1048676, 8388608)
    """
    return max(2 * asked, asked + 2**20)


def group_ranges(
    ranges: list[tuple[int, int]], *, most: int, most_bytes: int
) -> list[list[tuple[int, int]]]:
    """Consecutive ``(offset, length)`` ranges in groups of at most ``most`` ranges
    and (unless one range is larger) ``most_bytes`` bytes: one request each.

    >>> group_ranges([(0, 5), (9, 5), (20, 5), (30, 1)], most=3, most_bytes=10)
    [[(0, 5), (9, 5)], [(20, 5), (30, 1)]]
    """
    groups: list[list[tuple[int, int]]] = [[]]
    for r in ranges:
        if groups[-1] and (
            len(groups[-1]) == most or sum(n for _, n in groups[-1]) + r[1] > most_bytes
        ):
            groups.append([])
        groups[-1].append(r)
    return groups


def parse_content_range(header: str | None) -> tuple[int | None, int | None, int | None]:
    """``'bytes 0-9/100'`` → ``(0, 9, 100)``; ``'bytes */100'`` → ``(None, None, 100)``.

    >>> parse_content_range("bytes 0-9/*"), parse_content_range("junk")
    ((0, 9, None), (None, None, None))
    """
    match = _CONTENT_RANGE.match(header or "")
    if match is None:
        return None, None, None
    first, last, total = match.groups()
    return (
        int(first) if first is not None else None,
        int(last) if last is not None else None,
        int(total) if total != "*" else None,
    )


def refuses_several(status: int) -> bool:
    """Whether ``status`` answering a request for several ranges says the server will
    not send them so (single ranges may still work): 416, 501 and client errors other
    than not found and the transient ones.

    >>> [refuses_several(s) for s in (200, 206, 400, 404, 416, 429, 501, 503)]
    [False, False, True, False, True, False, True, False]
    """
    return status == 501 or (400 <= status < 500 and status not in (404, 410, *RETRY_STATUS))


def retry_after(header: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (a number or an HTTP date).

    >>> retry_after("3"), retry_after(None), retry_after("soon")
    (3.0, None, None)
    """
    if not header:
        return None
    try:
        return max(float(header), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max((when - datetime.datetime.now(datetime.UTC)).total_seconds(), 0.0)


def _content_range(header: str | None, url: str) -> tuple[int, int, int | None]:
    """``[first, stop)`` and total of a part's ``Content-Range``, which must name bytes."""
    first, last, total = parse_content_range(header)
    if first is None or last is None:
        raise SourceError(f"part without a usable Content-Range {header!r}", url=url)
    return first, last + 1, total


def cover(pieces: list[tuple[int, bytes]], wanted: list[tuple[int, int]]) -> list[bytes | None]:
    """Cut each wanted ``(offset, length)`` out of the piece that holds it (``None``: none does).

    >>> cover([(10, b"xyz"), (0, b"abcdef")], [(1, 2), (11, 2), (5, 3)])
    [b'bc', b'yz', None]
    """
    out: list[bytes | None] = []
    for offset, length in wanted:
        for start, data in pieces:
            if start <= offset and offset + length <= start + len(data):
                out.append(data[offset - start : offset - start + length])
                break
        else:
            out.append(None)
    return out


async def read_answer(
    response: aiohttp.ClientResponse, wanted: list[tuple[int, int]], *, url: str, small: int
) -> Answer:
    """The ranges ``wanted`` out of a 200 or 206 answer to a request for all of them.

    A 200 is read whole when the file has at most ``small`` bytes (then
    ``Answer.whole`` is the file); otherwise only up to the last byte asked for,
    and only when that is within the :func:`budget`. A 206 is read part by part
    until its parts exceed the budget. Whatever is left is not read (the caller
    closes the connection); the ranges it would have held are ``None``.
    """
    asked = sum(n for _, n in wanted)
    if response.status == 200:
        return await _from_whole(response, wanted, url=url, small=small)
    if not response.headers.get("Content-Type", "").lower().startswith("multipart/"):
        first, stop, total = _content_range(response.headers.get("Content-Range"), url)
        _check_span(first, stop, wanted, url)
        totals = [total] if total is not None else []
        if stop - first > budget(asked):
            return Answer([None] * len(wanted), totals, served=False)
        data = await read_body(response, stop - first, url, first)
        return Answer(cover([(first, data)], wanted), totals)
    return await _from_parts(response, wanted, url=url, limit=budget(asked))


async def _from_whole(
    response: aiohttp.ClientResponse, wanted: list[tuple[int, int]], *, url: str, small: int
) -> Answer:
    """A 200 to a request for several ranges: the file from its first byte."""
    high = max(o + n for o, n in wanted)
    limit = high if high <= budget(sum(n for _, n in wanted)) else 0
    declared = response.content_length
    if declared is None or declared <= small:
        limit = max(limit, small)
    data, complete = await read_prefix(response, limit, url, 0)
    return Answer(
        cover([(0, data)], wanted),
        [len(data)] if complete else [],
        whole=data if complete and len(data) <= small else None,
        served=False,
    )


async def _from_parts(
    response: aiohttp.ClientResponse, wanted: list[tuple[int, int]], *, url: str, limit: int
) -> Answer:
    """The parts of a ``multipart/byteranges`` answer, in whatever order they come."""
    reader = aiohttp.MultipartReader(response.headers, response.content)
    pieces: list[tuple[int, bytes]] = []
    totals: list[int] = []
    received = 0
    while (part := await reader.next()) is not None:
        if not isinstance(part, aiohttp.BodyPartReader):
            raise SourceError("nested multipart answer", url=url)
        first, stop, total = _content_range(part.headers.get("Content-Range"), url)
        _check_span(first, stop, wanted, url)
        totals += [total] if total is not None else []
        received += stop - first
        if received > limit:
            return Answer(cover(pieces, wanted), totals, served=False)
        pieces.append((first, await _part_body(part, first, stop, url)))
    found = cover(pieces, wanted)
    return Answer(found, totals, served=all(d is not None for d in found))


def _check_span(first: int, stop: int, wanted: list[tuple[int, int]], url: str) -> None:
    """A part must start where a requested range starts (servers may merge
    neighbouring ranges into one part) and end before the last one ends."""
    high = max(o + n for o, n in wanted)
    if stop <= first or stop > high or all(first != o for o, _ in wanted):
        raise SourceError(
            f"part bytes {first}-{stop - 1} were not asked for", url=url, offset=first
        )


async def _part_body(part: aiohttp.BodyPartReader, first: int, stop: int, url: str) -> bytes:
    """Exactly the ``stop - first`` bytes of a part, never more."""
    chunks = []
    received = 0
    while not part.at_eof():
        chunk = await part.read_chunk(_CHUNK)
        received += len(chunk)
        if received > stop - first:
            break
        chunks.append(chunk)
    if received != stop - first:
        raise SourceError(
            f"part bytes {first}-{stop - 1} came with "
            f"{'more' if received > stop - first else received} bytes",
            url=url,
            offset=first,
        )
    return b"".join(chunks)


async def read_prefix(
    response: aiohttp.ClientResponse, limit: int, url: str, offset: int
) -> tuple[bytes, bool]:
    """Up to ``limit`` bytes of the body and whether that was all of it; the rest
    stays unread (at most one chunk more is read to learn that a body is longer)."""
    declared = response.content_length
    if declared is not None:
        try:
            data = await response.content.readexactly(min(declared, limit))
        except asyncio.IncompleteReadError as exc:
            raise TransientError(
                f"HTTP {response.status} body has {len(exc.partial)} bytes, expected {declared}",
                url=url,
                offset=offset,
            ) from exc
        return data, declared <= limit
    chunks = []
    received = 0
    while received <= limit:
        chunk = await response.content.read(min(_CHUNK, limit + 1 - received))
        if not chunk:
            break
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)[:limit], received <= limit


async def read_body(
    response: aiohttp.ClientResponse, length: int, url: str, offset: int, *, at_most: bool = False
) -> bytes:
    """Read the body: exactly ``length`` bytes (or up to it with ``at_most``), never more."""
    declared = response.content_length
    data, complete = (b"", False)
    if declared is None or declared <= length:
        data, complete = await read_prefix(response, length, url, offset)
    if not complete:
        raise SourceError(
            f"HTTP {response.status} body is longer than the {length} bytes asked for",
            url=url,
            offset=offset,
        )
    if len(data) != length and not at_most:
        raise TransientError(
            f"HTTP {response.status} body has {len(data)} bytes, expected {length}",
            url=url,
            offset=offset,
        )
    return data


async def read_exactly(
    response: aiohttp.ClientResponse, length: int, url: str, offset: int
) -> bytes:
    """The next ``length`` bytes of the body (a piece of it)."""
    try:
        return await response.content.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise TransientError(
            f"HTTP {response.status} body ended {len(exc.partial)} bytes into "
            f"a {length}-byte piece",
            url=url,
            offset=offset,
        ) from exc
