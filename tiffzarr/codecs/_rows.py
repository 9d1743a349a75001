"""Rows decoded by tiffzarr's own numpy decoders (SGILog, ThunderScan) into a segment.

These codecs code each row on its own, so a segment whose bytes end early still
yields its first rows. A segment holding fewer rows than it should is refused
(as libtiff does), except the short last strip of a page (``spec.lastrows``).

>>> spec = SegmentSpec(compression=32809, shape=(1, 3, 2, 1), dtype="|u1",
...                    bitspersample=4, sampleformat=1, byteorder="<", lastrows=2)
>>> segment_from_rows(np.ones((2, 2, 1), np.uint8), spec, "ThunderScan")[0, :, :, 0]
array([[1, 1],
       [1, 1],
       [0, 0]], dtype=uint8)
>>> try:
...     segment_from_rows(np.ones((1, 2, 1), np.uint8), spec, "ThunderScan")
... except ChunkDecodeError as exc:
...     print(exc)
ThunderScan segment ends after 1 complete rows of 3 (or of the 2-row last strip)
"""

from __future__ import annotations

import numpy as np

from tiffzarr.codecs._spec import SegmentSpec
from tiffzarr.errors import ChunkDecodeError

__all__ = ["segment_from_rows"]


def segment_from_rows(rows: np.ndarray, spec: SegmentSpec, what: str, /) -> np.ndarray:
    """Return a zero-padded segment of ``spec.shape`` whose first rows are ``rows``.

    ``rows`` is ``(n, width, samples)`` in the segment's dtype (or one of its
    size, viewed as it); rows beyond the segment are dropped. Raises
    :class:`~tiffzarr.errors.ChunkDecodeError` when ``n`` is fewer than the
    segment's rows and than its ``lastrows``.
    """
    depth, length, width, samples = spec.shape
    total = depth * length
    done = rows.shape[0]
    if done < total and not (spec.lastrows and done >= spec.lastrows):
        last = f" (or of the {spec.lastrows}-row last strip)" if spec.lastrows else ""
        raise ChunkDecodeError(f"{what} segment ends after {done} complete rows of {total}{last}")
    dtype = spec.numpy_dtype.newbyteorder("=")
    array = np.zeros(spec.shape, dtype)
    array.reshape(total, width, samples)[: min(done, total)] = rows[:total].view(dtype)
    return array
