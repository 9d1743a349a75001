"""ThunderScan 4-bit (compression 32809), in numpy.

ThunderScan codes each row of 4-bit pixels on its own, one byte at a time: the
top two bits of a byte say what its low six bits hold, and the row starts from
a previous pixel of 0.

====  ============  ===============================================================
bits  meaning       low six bits
====  ============  ===============================================================
00    run           repeat the previous pixel this many times (0: nothing)
01    2-bit deltas  three fields, each a pixel of previous + (0, 1, -, -1); 2 skips
10    3-bit deltas  two fields, each a pixel of previous + (0, 1, 2, 3, -, -3, -2, -1);
                    4 skips
11    raw           a pixel of the low four bits
====  ============  ===============================================================

Deltas wrap around in four bits. A row ends with the byte that completes it:
deltas past its end are dropped, a run past its end is an error (as libtiff).
Pixels decode to one byte each (0-15), as tiffzarr unpacks 4-bit samples.

>>> spec = SegmentSpec(compression=32809, shape=(1, 1, 6, 1), dtype="|u1",
...                    bitspersample=4, sampleformat=1, byteorder="<")
>>> # raw 5, run of 2, 2-bit deltas (+1, skip, -1), 3-bit delta (-3, skip)
>>> data = np.frombuffer(bytes([0xC5, 0x02, 0b01_01_10_11, 0b10_101_100]), np.uint8)
>>> decode_thunderscan(data, spec, None).ravel()
array([5, 5, 5, 6, 5, 2], dtype=uint8)
"""

from __future__ import annotations

import imagecodecs
import numpy as np

from tiffzarr.codecs._rows import segment_from_rows
from tiffzarr.codecs._spec import SegmentSpec
from tiffzarr.codecs._table import CompressionCodec
from tiffzarr.errors import ChunkDecodeError, UnsupportedError

__all__ = ["decode_thunderscan"]

_TWO_BIT = np.array([0, 1, 0, -1], np.int8)
_TWO_SKIP = 2
_THREE_BIT = np.array([0, 1, 2, 3, 0, -3, -2, -1], np.int8)
_THREE_SKIP = 4
_SLOTS = 3
"""Pixels one byte can code at most, apart from runs (three 2-bit deltas)."""


def _slots(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per byte, its three slots: (pixel counts, values, raw?), each ``(n, 3)``.

    A run is one slot of ``count`` pixels of delta 0; a delta field one pixel
    (none when it skips); a raw byte one pixel whose value is absolute.
    """
    byte = np.asarray(data, np.uint8)
    code = byte >> 6
    counts = np.zeros((byte.size, _SLOTS), np.uint8)
    values = np.zeros((byte.size, _SLOTS), np.int8)
    raw = np.zeros((byte.size, _SLOTS), bool)
    run, two, three, literal = (code == c for c in range(4))
    counts[run, 0] = byte[run] & 0x3F
    fields = np.stack([(byte[two] >> s) & 3 for s in (4, 2, 0)], axis=-1)
    counts[two], values[two] = fields != _TWO_SKIP, _TWO_BIT[fields]
    fields = np.stack([(byte[three] >> s) & 7 for s in (3, 0)], axis=-1)
    counts[three, :2], values[three, :2] = fields != _THREE_SKIP, _THREE_BIT[fields]
    counts[literal, 0], values[literal, 0], raw[literal, 0] = 1, byte[literal] & 0xF, True
    return counts.reshape(-1), values.reshape(-1), raw.reshape(-1)


def _row_slots(counts: np.ndarray, rows: int, width: int) -> int:
    """Keep the slots of the complete rows (of at most ``rows``); return how many.

    Slots past the end of a row in its last byte are dropped (set to 0 pixels).
    """
    ends = np.cumsum(counts, dtype=np.int64)
    base, used = 0, 0
    for _ in range(rows):
        last = int(np.searchsorted(ends, base + width))
        if last == ends.size:
            break  # the bytes end inside this row
        if ends[last] > base + width:
            raise ChunkDecodeError(
                f"ThunderScan run of {counts[last]} pixels at byte {last // _SLOTS} runs past "
                f"the end of its {width}-pixel row"
            )
        used = (last // _SLOTS + 1) * _SLOTS  # the row's last byte ends here
        counts[last + 1 : used] = 0
        base = int(ends[used - 1])
    return used


def _pixels(counts: np.ndarray, values: np.ndarray, raw: np.ndarray, width: int) -> np.ndarray:
    """Pixel values of whole rows: each slot's value is the last raw pixel (or 0 at the
    row's start) plus the deltas since, in four bits; a run repeats it."""
    kept = counts > 0
    counts, values, raw = counts[kept], values[kept], raw[kept]
    anchor = raw | ((np.cumsum(counts, dtype=np.int64) - counts) % width == 0)  # or a row's first
    delta = np.where(raw, 0, values)
    total = np.cumsum(delta, dtype=np.int64)
    last = np.maximum.accumulate(np.where(anchor, np.arange(counts.size), 0))
    value = np.where(raw, values, 0)[last] + total - (total[last] - delta[last])
    return np.repeat((value & 0xF).astype(np.uint8), counts).reshape(-1, width)


def decode_thunderscan(
    data: np.ndarray, spec: SegmentSpec, codec: CompressionCodec | None
) -> np.ndarray:
    """Decode one ThunderScan segment into an array of ``spec.shape`` (4-bit samples).

    Raises :class:`~tiffzarr.errors.UnsupportedError` for samples that are not
    4-bit gray, :class:`~tiffzarr.errors.ChunkDecodeError` when the bytes end
    before the segment's rows (or its last strip's rows) or a run overruns a row.
    """
    depth, length, width, samples = spec.shape
    if spec.bitspersample != 4 or samples != 1 or depth != 1:
        raise UnsupportedError(
            f"ThunderScan codes one 4-bit sample a pixel, not {samples} of "
            f"{spec.bitspersample} bits in {depth} planes",
            tag=258,
        )
    if spec.fillorder == 2:
        data = np.asarray(imagecodecs.bitorder_decode(data))
    counts, values, raw = _slots(data)
    used = _row_slots(counts, length, width)
    rows = _pixels(counts[:used], values[:used], raw[:used], width)
    return segment_from_rows(rows[..., None], spec, "ThunderScan")
