"""Parsing ``Range`` headers and shaping multi-range answers for the test server."""

from __future__ import annotations

import re
from typing import Literal

__all__ = [
    "MultiRange",
    "multirange_mode",
    "parse_range",
    "parse_ranges",
    "shaped_parts",
    "wrong_range",
]

MultiRange = Literal["parts", "reordered", "coalesced", "span", "whole", 400, 416, 501]
"""How a request for several ranges is answered: ``"parts"`` one
``multipart/byteranges`` part per range, in request order (nginx, Apache);
``"reordered"`` the same parts last first; ``"coalesced"`` each two neighbouring
ranges (sorted) in one part, the gap between them included; ``"span"`` a
single-part 206 from the first byte asked for to the last; ``"whole"`` 200 with the
whole file (S3, many CDNs); a status (400, 416, 501) refuses it, as aiohttp's
``web.static`` and werkzeug's ``send_file`` answer 416."""

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def parse_range(header: str | None, size: int) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """``[start, stop)`` of a single ``bytes=`` range clipped at EOF; None to send it all.

    >>> [parse_range(h, 10) for h in ("bytes=2-4", "bytes=8-", "bytes=-3", "bytes=5-99")]
    [(2, 5), (8, 10), (7, 10), (5, 10)]
    >>> parse_range("bytes=10-12", 10), parse_range("bytes=0-1,4-5", 10), parse_range(None, 10)
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


def parse_ranges(header: str | None, size: int) -> list[tuple[int, int]] | None:
    """The satisfiable ``[start, stop)`` ranges of a ``bytes=a-b,c-d`` header.

    >>> parse_ranges("bytes=0-1, 4-5,20-30", 10), parse_ranges("bytes=2-4", 10)
    ([(0, 2), (4, 6)], [(2, 5)])
    """
    if header is None or not header.strip().lower().startswith("bytes="):
        return None
    spans = []
    for part in header.split("=", 1)[1].split(","):
        span = parse_range(f"bytes={part.strip()}", size)
        if isinstance(span, tuple):
            spans.append(span)
    return spans or None


def multirange_mode(value: bool | MultiRange) -> MultiRange:
    """A :data:`MultiRange` for ``RangeServer.multirange`` (true: parts, false: whole)."""
    if value is True:
        return "parts"
    if value is False:
        return "whole"
    return value


def shaped_parts(spans: list[tuple[int, int]], mode: MultiRange) -> list[tuple[int, int]]:
    """The parts of a multipart answer to a request for ``spans``, in ``mode``.

    >>> spans = [(30, 40), (0, 10), (12, 20)]
    >>> [shaped_parts(spans, mode) for mode in ("parts", "reordered", "coalesced")]
    [[(30, 40), (0, 10), (12, 20)], [(12, 20), (0, 10), (30, 40)], [(0, 20), (30, 40)]]
    """
    if mode == "reordered":
        return spans[::-1]
    if mode == "coalesced":
        ordered = sorted(spans)
        pairs = [ordered[i : i + 2] for i in range(0, len(ordered), 2)]
        return [(pair[0][0], max(stop for _, stop in pair)) for pair in pairs]
    return spans


def wrong_range(start: int, stop: int, size: int) -> tuple[int, int, int]:
    """A range of the same file that differs from ``[start, stop)``, and a total."""
    if stop < size:
        return start + 1, stop + 1, size
    if start > 0:
        return start - 1, stop - 1, size
    if stop - start > 1:
        return start, stop - 1, size
    return start, stop, size + 1
