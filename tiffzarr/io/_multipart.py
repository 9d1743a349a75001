"""Answers to requests for several ranges: ``multipart/byteranges`` or one coalesced range.

Every part's ``Content-Range`` is checked against the ranges asked for, and its
body must have exactly the declared length, so no part can slip wrong or extra
bytes in.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

import aiohttp

from tiffzarr.errors import SourceError
from tiffzarr.io._base import TransientError

__all__ = ["Parts", "cover", "read_body", "read_parts"]

_CHUNK = 1 << 16
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


@dataclass(slots=True)
class Parts:
    """The requested ranges' bytes (in request order) and the file sizes reported."""

    slices: list[bytes] | None
    totals: list[int] = field(default_factory=list)


def _content_range(header: str | None, url: str) -> tuple[int, int, int | None]:
    match = _CONTENT_RANGE.match(header or "")
    if match is None:
        raise SourceError(f"part without a usable Content-Range {header!r}", url=url)
    first, last, total = match.groups()
    return int(first), int(last) + 1, None if total == "*" else int(total)


def cover(pieces: list[tuple[int, bytes]], wanted: list[tuple[int, int]]) -> list[bytes] | None:
    """Cut each wanted ``(offset, length)`` out of the piece that holds it, or ``None``.

    >>> cover([(0, b"abcdef"), (10, b"xyz")], [(1, 2), (11, 2)])
    [b'bc', b'yz']
    >>> cover([(0, b"ab")], [(1, 5)]) is None
    True
    """
    out = []
    for offset, length in wanted:
        for start, data in pieces:
            if start <= offset and offset + length <= start + len(data):
                out.append(data[offset - start : offset - start + length])
                break
        else:
            return None
    return out


async def read_parts(
    response: aiohttp.ClientResponse, wanted: list[tuple[int, int]], *, url: str
) -> Parts:
    """The parts of a 206 answer to a request for ``wanted`` ranges.

    ``Parts.slices`` is ``None`` when the answer does not hold every range
    (a server that honours only some of them).
    """
    starts = {o for o, _ in wanted}
    high = max(o + n for o, n in wanted)
    budget = sum(n for _, n in wanted) + 64 * len(wanted)
    pieces: list[tuple[int, bytes]] = []
    totals: list[int] = []
    content_type = response.headers.get("Content-Type", "")
    if not content_type.lower().startswith("multipart/"):
        first, stop, total = _content_range(response.headers.get("Content-Range"), url)
        pieces.append((first, await _body(response, (first, stop), (starts, high), url)))
        totals += [total] if total is not None else []
        return Parts(cover(pieces, wanted), totals)
    reader = aiohttp.MultipartReader(response.headers, response.content)
    received = 0
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, aiohttp.BodyPartReader):
            raise SourceError("nested multipart answer", url=url)
        first, stop, total = _content_range(part.headers.get("Content-Range"), url)
        received += stop - first
        if received > budget:
            raise SourceError("the answer holds more bytes than were asked for", url=url)
        data = await _body(part, (first, stop), (starts, high), url)
        pieces.append((first, data))
        totals += [total] if total is not None else []
    return Parts(cover(pieces, wanted), totals)


async def read_body(
    response: aiohttp.ClientResponse, length: int, url: str, offset: int, *, at_most: bool = False
) -> bytes:
    """Read the body: exactly ``length`` bytes (or up to it with ``at_most``), never more."""
    declared = response.content_length
    if declared is not None and declared <= length and (at_most or declared == length):
        # the declared size is within bounds: let aiohttp read it in one piece (the
        # stream stops at Content-Length, so a longer body cannot slip in)
        try:
            data = await response.content.readexactly(declared)
        except asyncio.IncompleteReadError as exc:
            raise TransientError(
                f"HTTP {response.status} body has {len(exc.partial)} bytes, expected {declared}",
                url=url,
                offset=offset,
            ) from exc
        return data
    chunks = []
    received = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        received += len(chunk)
        if received > length:
            raise SourceError(
                f"HTTP {response.status} body is longer than the {length} bytes asked for",
                url=url,
                offset=offset,
            )
        chunks.append(chunk)
    if received != length and not at_most:
        raise TransientError(
            f"HTTP {response.status} body has {received} bytes, expected {length}",
            url=url,
            offset=offset,
        )
    return b"".join(chunks)


async def _body(
    stream: aiohttp.ClientResponse | aiohttp.BodyPartReader,
    span: tuple[int, int],
    bounds: tuple[set[int], int],
    url: str,
) -> bytes:
    """Exactly the bytes ``[first, stop)`` of a part.

    A part must start where a requested range starts (servers may merge
    neighbouring ranges into one part) and end before the last one ends.
    """
    first, stop = span
    if first not in bounds[0] or stop > bounds[1] or stop <= first:
        raise SourceError(
            f"part bytes {first}-{stop - 1} were not asked for", url=url, offset=first
        )
    if isinstance(stream, aiohttp.BodyPartReader):
        data = bytes(await stream.read(decode=False))
    else:
        data = await read_body(stream, stop - first, url, first, at_most=True)
    if len(data) != stop - first:
        raise SourceError(
            f"part bytes {first}-{stop - 1} came with {len(data)} bytes", url=url, offset=first
        )
    return data
