"""Bounded reading of the binary records microscopy formats keep in private tags.

MetaMorph, Zeiss and Olympus store their metadata as packed C structures and
tagged lists inside (or pointed to by) private TIFF tags. A :class:`Cursor`
reads such a record field by field and never reads, or allocates, past the bytes
it holds: when a record claims more than that, it raises :class:`RecordTruncated`
(with the size it needs, when the record says so), so that a caller can fetch
more bytes or give up. :func:`jsonable` turns what was decoded into bounded,
plain JSON.
"""

from __future__ import annotations

import datetime
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tiffzarr.errors import TiffFormatError

__all__ = [
    "LIST_LIMIT",
    "Cursor",
    "RecordTruncated",
    "bounded_json",
    "decode_text",
    "jsonable",
    "truncated",
]

LIST_LIMIT = 64
"""Longest list :func:`jsonable` keeps; longer numeric arrays are summarised."""


class RecordTruncated(TiffFormatError):
    """A record runs past the bytes at hand; ``need`` is the size it needs, when known."""

    need: int | None = None


def truncated(need: int | None, message: str, /) -> RecordTruncated:
    """A :class:`RecordTruncated` that needs ``need`` bytes."""
    error = RecordTruncated(message)
    error.need = need
    return error


def decode_text(raw: bytes, /) -> str:
    """Text up to the first NUL: UTF-8, else cp1252 (as Windows software writes it).

    >>> decode_text(b"Stage 1\\x00junk"), decode_text(b"\\xb5m")
    ('Stage 1', 'µm')
    """
    raw = raw.split(b"\x00", 1)[0]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


@dataclass(slots=True)
class Cursor:
    """A position in ``data``; each read advances it and checks the bounds.

    >>> c = Cursor(b"\\x02\\x00\\x00\\x00ab", "<")
    >>> c.u4(), c.take(2), c.remaining
    (2, b'ab', 0)
    >>> c.u4()
    Traceback (most recent call last):
    tiffzarr.format._records.RecordTruncated: a record needs 4 more bytes at 6, of 6
    """

    data: bytes
    byteorder: Literal["<", ">"] = "<"
    pos: int = 0

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int, /) -> bytes:
        """The next ``n`` bytes."""
        if n < 0:
            raise TiffFormatError(f"a record claims a negative size {n} at {self.pos}")
        if n > self.remaining:
            raise truncated(
                self.pos + n, f"a record needs {n} more bytes at {self.pos}, of {len(self.data)}"
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, /) -> tuple[Any, ...]:
        """The next values of struct format ``fmt`` (without byte-order mark)."""
        fmt = self.byteorder + fmt
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))

    def u1(self) -> int:
        return int(self.unpack("B")[0])

    def u2(self) -> int:
        return int(self.unpack("H")[0])

    def u4(self) -> int:
        return int(self.unpack("I")[0])

    def i4(self) -> int:
        return int(self.unpack("i")[0])

    def f8(self) -> float:
        return float(self.unpack("d")[0])

    def array(self, dtype: str, count: int, /) -> np.ndarray:
        """The next ``count`` values of ``dtype`` (checked before anything is allocated)."""
        dt = np.dtype(dtype).newbyteorder(self.byteorder)
        if count < 0:
            raise TiffFormatError(f"a record claims a negative count {count} at {self.pos}")
        raw = self.take(count * dt.itemsize)
        return np.frombuffer(raw, dtype=dt).astype(dt.newbyteorder("="))

    def skip_to(self, pos: int, /) -> None:
        """Move to ``pos`` (within the data)."""
        if not 0 <= pos <= len(self.data):
            raise truncated(pos, f"a record points to {pos}, past its {len(self.data)} bytes")
        self.pos = pos


def _number(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    return value


def jsonable(value: Any, /, *, limit: int = LIST_LIMIT) -> Any:
    """``value`` as plain, bounded JSON.

    numpy scalars become numbers (non-finite floats ``None``), datetimes ISO
    strings, bytes are dropped (``None``); numeric arrays longer than ``limit``
    become a summary (their ``count`` and ``min``/``max``, or their one ``value``);
    other long lists keep their first ``limit`` items.

    >>> jsonable({"z": np.array([0.5, 0.5, 0.5]), "t": np.arange(100)}, limit=4)
    {'z': [0.5, 0.5, 0.5], 't': {'count': 100, 'min': 0, 'max': 99}}
    >>> jsonable(np.full(10, 2.0), limit=4)
    {'count': 10, 'value': 2.0}
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, limit=limit) for k, v in value.items()}
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return None
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf" and value.size > limit:
            return _summary(value)
        return [jsonable(v, limit=limit) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [jsonable(v, limit=limit) for v in value[:limit]]
    return _number(value)


def _summary(values: np.ndarray) -> dict[str, Any]:
    flat = values.reshape(-1)
    if flat.dtype.kind == "f":
        flat = flat[np.isfinite(flat)]
    out: dict[str, Any] = {"count": int(values.size)}
    if flat.size == 0:
        return out
    low, high = flat.min(), flat.max()
    if low == high:
        out["value"] = _number(low)
    else:
        out["min"], out["max"] = _number(low), _number(high)
    return out


def bounded_json(value: Any, /, *, items: int = 256, text: int = 4096, depth: int = 8) -> Any:
    """``value`` (parsed JSON, or plain Python values) made small enough to keep as
    attributes: lists and objects cut to ``items`` entries (a cut list ends with a
    note of how many were left out), strings to ``text`` characters, nesting to
    ``depth``; numbers that JSON cannot hold (NaN, infinities) become strings.

    >>> bounded_json({"a": list(range(5)), "b": "x" * 9, "c": float("nan")}, items=3, text=4)
    {'a': [0, 1, 2, '... 2 more'], 'b': 'xxxx...', 'c': 'nan'}
    """
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, str):
        return value if len(value) <= text else value[:text] + "..."
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, np.generic):
        return bounded_json(value.item(), items=items, text=text, depth=depth)
    if depth <= 0:
        return "..."
    if isinstance(value, Mapping):
        keys = list(value)[:items]
        return {
            str(k)[:text]: bounded_json(value[k], items=items, text=text, depth=depth - 1)
            for k in keys
        }
    if isinstance(value, Sequence | np.ndarray):
        seq = list(value[:items])
        out = [bounded_json(v, items=items, text=text, depth=depth - 1) for v in seq]
        if len(value) > items:
            out.append(f"... {len(value) - items} more")
        return out
    return str(value)[:text]
