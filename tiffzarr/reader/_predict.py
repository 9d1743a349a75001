"""Open uniform multi-page files in a handful of requests by predicting their IFDs.

Once two consecutive IFDs form a pattern (:func:`~tiffzarr.format.derive_template`),
the pages after them are predicted instead of read one request at a time. A few
pages, spread over the run and including its last, are read in one concurrent
batch to find where the pattern ends (a bisection, batch by batch, when the end
is not where the file size puts it). The walker then builds the run's pages
from the template at once when :func:`run_steps` can say how each differs from
the reference page, else it walks their predicted blocks as if read. The pages
that were not read carry a :class:`~tiffzarr.model.PageCheck` so the store
compares their real IFD with the prediction before serving their pixels: a wrong
prediction raises, it is never silently used.
"""

from __future__ import annotations

import bisect
import logging
import struct
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from tiffzarr.format import Header, RawIfd, parse_ifd
from tiffzarr.format._template import IfdTemplate, Patch, block_range, derive_template
from tiffzarr.reader._cache import ByteCache

__all__ = ["PROBES", "Prediction", "Steps", "predict_run", "run_steps"]

logger = logging.getLogger(__name__)

PROBES = 6
"""Pages read per batch while looking for the end of a run."""
ROUNDS = 4
"""Batches tried before giving up on finding the end."""

Verdict = Literal["middle", "end", "bad"]


@dataclass(slots=True)
class Prediction:
    """A run of predicted pages after the reference page of ``template``.

    Pages ``1 .. count`` (in pages after the reference) are predicted; ``read``
    lists those that were read and matched; the last page's real next pointer is
    ``next_offset``.
    """

    template: IfdTemplate
    count: int
    next_offset: int
    read: set[int] = field(default_factory=set)

    def block(self, delta: int, /) -> bytes:
        """The predicted block of page ``delta`` (the last one ends the run)."""
        nxt = self.next_offset if delta == self.count else None
        return self.template.expected(delta, next_offset=nxt)

    def last_ifd(self, header: Header, /) -> RawIfd:
        """The IFD of the run's last page."""
        template = self.template
        ifd = self.block(self.count)[-template.start :]
        return parse_ifd(header, ifd, offset=template.ifd(self.count))


async def predict_run(cache: ByteCache, header: Header, a: RawIfd, b: RawIfd) -> Prediction | None:
    """Predict the pages after ``b`` when ``a`` → ``b`` is one stride of a pattern.

    Nothing enters the cache: the walker uses the prediction (see
    :meth:`Prediction.block`).
    """
    spans = [block_range(header, a, like=b), block_range(header, b, like=a)]
    if any(start < 0 or start + n > cache.size for start, n in spans):
        return None
    blocks = await cache.read_many(spans)
    template = derive_template(header, a, blocks[0], b, blocks[1])
    if template is None:
        return None
    last = _last_fitting(template, cache.size)
    if last < 1:
        return None
    prediction = await _find_end(cache, template, last)
    if prediction is None or prediction.count < 1:
        return None
    logger.debug(
        "%s: predicted %d pages after IFD at %d (stride %d), read %d of them",
        cache.source.url,
        prediction.count,
        b.offset,
        template.stride,
        len(prediction.read),
    )
    return prediction


def _last_fitting(template: IfdTemplate, size: int) -> int:
    """The largest page offset (in strides) whose block still fits in the file."""
    start, length = template.span(0)
    return (size - start - length) // template.stride


def _verdict(template: IfdTemplate, delta: int, block: bytes) -> Verdict:
    if block == template.expected(delta):
        return "middle"
    nxt = template.next_pointer(block)
    return "end" if block == template.expected(delta, next_offset=nxt) else "bad"


def _samples(lo: int, hi: int) -> list[int]:
    """Up to PROBES page offsets in ``(lo, hi]``, always including ``hi``."""
    points = {lo + round((hi - lo) * i / PROBES) for i in range(1, PROBES + 1)}
    return sorted(p for p in points if p > lo)


async def _find_end(cache: ByteCache, template: IfdTemplate, last: int) -> Prediction | None:
    """Bisect, a batch at a time, for the page where the pattern ends."""
    lo, hi = 0, last  # page lo is known to be a middle page
    read: set[int] = set()
    for _ in range(ROUNDS):
        probes = [d for d in _samples(lo, hi) if d not in read]
        if not probes:
            break
        blocks = await cache.read_many([template.span(d) for d in probes])
        read.update(probes)
        for delta, block in zip(probes, blocks, strict=True):
            verdict = _verdict(template, delta, block)
            if verdict == "middle":
                lo = delta
                continue
            if verdict == "end":
                return Prediction(template, delta, template.next_pointer(block), read)
            hi = delta - 1  # the pattern broke at or before this page
            break
        else:
            if lo == hi:  # every page up to the last that fits is a middle page
                return Prediction(template, lo, template.ifd(lo + 1), read)
        if hi <= lo:
            break
    if lo == 0:
        return None
    # the end was not found: predict the pages known to follow the pattern, walk on
    return Prediction(template, lo, template.ifd(lo + 1), {d for d in read if d <= lo})


@dataclass(frozen=True, slots=True)
class Steps:
    """How the pages of a predicted run differ from the reference page, entry by entry.

    ``fields``: the entries whose fields change, with the field's bytes in the
    reference page and the patches inside it (position in the field, struct
    format, increment per page); ``local``: the entries whose out-of-line values
    move with the IFD, inside the block; ``values``: of those, the ones whose
    integers change, with each integer's increment per page.
    """

    fields: dict[int, tuple[bytes, tuple[Patch, ...]]]
    local: frozenset[int]
    values: dict[int, np.ndarray]


def run_steps(header: Header, raw: RawIfd, template: IfdTemplate, /) -> Steps | None:
    """The :class:`Steps` of the run after ``raw``, the reference page of ``template``;
    ``None`` when a patch lies elsewhere (or the IFD repeats a tag)."""
    layout = header.layout
    if raw.offset != template.ifd_offset or raw.ntags != len(raw.entries):
        return None
    size, block = layout.inline_size, template.block
    at = {}  # field position in the block → code
    pos = layout.count_size - template.start
    for code in raw.entries:
        at[pos + 4 + layout.offset_size] = code
        pos += layout.entry_size
    patches = {p: (fmt, inc) for p, fmt, inc in template.patches}
    offset_format = header.byteorder + layout.offset_format
    local: dict[int, int] = {}  # code → its value's position in the block
    for p, code in at.items():
        entry = raw.entries[code]
        if entry.value_offset is None or patches.get(p) != (offset_format, template.stride):
            continue
        where = entry.value_offset - raw.offset - template.start
        if where >= 0 and where + entry.nbytes <= len(block):
            local[code] = where
    fields: dict[int, list[Patch]] = {}
    values: dict[int, np.ndarray] = {}
    starts = sorted(at)
    for p, fmt, inc in template.patches:
        k = bisect.bisect_right(starts, p) - 1
        if k >= 0 and p < starts[k] + size:
            code = at[starts[k]]
            fields.setdefault(code, []).append((p - starts[k], fmt, inc))
            continue
        if not _value_patch(raw, local, (p, fmt, inc), values):
            return None
    return Steps(
        {
            code: (block[f : f + size], tuple(fields[code]))
            for f, code in at.items()
            if code in fields
        },
        frozenset(local),
        values,
    )


def _value_patch(
    raw: RawIfd, local: dict[int, int], patch: Patch, values: dict[int, np.ndarray]
) -> bool:
    """Record a patch inside a local value (as the increment of one of its integers)."""
    p, fmt, inc = patch
    for code, where in local.items():
        entry = raw.entries[code]
        if not where <= p < where + entry.nbytes:
            continue
        dt = entry.datatype
        if dt is None or dt.per_value != 1 or (p - where) % dt.itemsize:
            return False
        if struct.calcsize(fmt) != dt.itemsize:
            return False
        increments = values.setdefault(code, np.zeros(entry.count, np.int64))
        increments[(p - where) // dt.itemsize] = inc
        return True
    return False
