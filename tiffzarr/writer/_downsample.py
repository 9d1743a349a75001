"""Pyramid levels built while the base image streams, one band at a time.

Each level halves rows and columns (rounding up: an odd last row or column is
repeated). ``mean`` averages 2x2 blocks (integers rounded half up, and pixels
equal to ``nodata`` left out); ``nearest`` keeps the top-left pixel of each block,
for labels, palette indices and bilevel images.

>>> a = np.arange(16, dtype="uint8").reshape(1, 4, 4, 1)
>>> halve(a, "mean")[0, :, :, 0].tolist()
[[3, 5], [11, 13]]
>>> halve(a, "nearest")[0, :, :, 0].tolist()
[[0, 2], [8, 10]]
>>> chain = LevelChain([8, 8], band_rows=[2, 2], method="mean")
>>> [(level, y0, band.shape[1]) for level, y0, band in chain.push(np.ones((1, 8, 16, 1)))]
[(1, 0, 2), (1, 2, 2), (2, 0, 2)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

__all__ = ["DownsampleMethod", "LevelChain", "halve"]

DownsampleMethod = Literal["mean", "nearest"]

_WIDER = {1: 2, 2: 4, 4: 8}


def halve(
    rows: np.ndarray, method: DownsampleMethod, /, *, nodata: float | None = None
) -> np.ndarray:
    """Halve axes 1 and 2 of ``(depth, rows, columns, samples)`` (rounding up)."""
    if rows.shape[1] % 2 or rows.shape[2] % 2:
        pad = [(0, 0), (0, rows.shape[1] % 2), (0, rows.shape[2] % 2), (0, 0)]
        rows = np.pad(rows, pad, mode="edge")
    if method == "nearest" or rows.dtype.kind == "b":
        return np.ascontiguousarray(rows[:, ::2, ::2])
    quads = (rows[:, 0::2, 0::2], rows[:, 1::2, 0::2], rows[:, 0::2, 1::2], rows[:, 1::2, 1::2])
    if nodata is not None:
        return _mean_valid(quads, rows.dtype, nodata)
    if rows.dtype.kind in "iu":
        return _mean_int(quads, rows.dtype)
    total = quads[0] + quads[1]
    total += quads[2]
    total += quads[3]
    total *= 0.25
    return np.asarray(total)


def _mean_int(quads: Sequence[np.ndarray], dtype: np.dtype) -> np.ndarray:
    wider = _WIDER.get(dtype.itemsize)
    if wider is not None:
        total = quads[0].astype(f"{dtype.kind}{wider}")
        for q in quads[1:]:
            total += q
        total += 2
        total >>= 2
        return total.astype(dtype)
    # 64-bit: sum quarters and remainders separately, so nothing overflows
    quarter = sum(q >> 2 for q in quads)
    rest = sum(q & 3 for q in quads)
    return (quarter + ((rest + 2) >> 2)).astype(dtype)  # type: ignore[union-attr]


def _mean_valid(quads: Sequence[np.ndarray], dtype: np.dtype, nodata: float) -> np.ndarray:
    valid = [q != nodata for q in quads]
    if dtype.kind == "f" and np.isnan(nodata):
        valid = [~np.isnan(q) for q in quads]
    count = sum(v.astype(np.uint8) for v in valid)
    total = sum(np.where(v, q, 0).astype(np.float64) for q, v in zip(quads, valid, strict=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    if dtype.kind in "iu":
        mean = np.floor(mean + 0.5)
    return np.where(count > 0, mean, nodata).astype(dtype)


class _Level:
    """One level's pending state within a sample plane: an odd row and unemitted rows."""

    __slots__ = ("band_rows", "carry", "length", "pending", "pending_rows", "y")

    def __init__(self, length: int, band_rows: int) -> None:
        self.length = length
        self.band_rows = band_rows
        self.carry: np.ndarray | None = None
        self.pending: list[np.ndarray] = []
        self.pending_rows = 0
        self.y = 0


class LevelChain:
    """The reduced levels of one sample plane, fed the base image band by band.

    ``lengths`` are the levels' row counts, ``band_rows`` the rows of the bands
    each level is emitted in. :meth:`push` and :meth:`finish` return
    ``(level, first row, band)`` for every band completed, in order.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        *,
        band_rows: Sequence[int],
        method: DownsampleMethod,
        nodata: float | None = None,
    ) -> None:
        self._levels = [_Level(n, b) for n, b in zip(lengths, band_rows, strict=True)]
        self._method: DownsampleMethod = method
        self._nodata = nodata

    def push(self, band: np.ndarray, /) -> list[tuple[int, int, np.ndarray]]:
        out: list[tuple[int, int, np.ndarray]] = []
        self._feed(0, band, out, last=False)
        return out

    def finish(self) -> list[tuple[int, int, np.ndarray]]:
        out: list[tuple[int, int, np.ndarray]] = []
        if self._levels:
            self._feed(0, None, out, last=True)
        return out

    def _feed(
        self,
        index: int,
        rows: np.ndarray | None,
        out: list[tuple[int, int, np.ndarray]],
        *,
        last: bool,
    ) -> None:
        if index >= len(self._levels):
            return
        level = self._levels[index]
        parts = [p for p in (level.carry, rows) if p is not None]
        level.carry = None
        if parts:
            block = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
            if block.shape[1] % 2 and not last:
                level.carry, block = block[:, -1:], block[:, :-1]
            if block.shape[1]:
                half = halve(block, self._method, nodata=self._nodata)
                level.pending.append(half)
                level.pending_rows += half.shape[1]
        while level.pending_rows >= level.band_rows or (last and level.pending_rows):
            band = self._take(level, min(level.band_rows, level.pending_rows))
            out.append((index + 1, level.y, band))
            level.y += band.shape[1]
            self._feed(index + 1, band, out, last=False)
        if last:
            self._feed(index + 1, None, out, last=True)

    @staticmethod
    def _take(level: _Level, nrows: int) -> np.ndarray:
        block = level.pending[0] if len(level.pending) == 1 else np.concatenate(level.pending, 1)
        band, rest = block[:, :nrows], block[:, nrows:]
        level.pending = [rest] if rest.shape[1] else []
        level.pending_rows = rest.shape[1]
        return band
