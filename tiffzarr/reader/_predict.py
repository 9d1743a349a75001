"""Open uniform multi-page files in a handful of requests by predicting their IFDs.

Once two consecutive IFDs form a pattern (:func:`~tiffzarr.format.derive_template`),
the pages after them are predicted instead of read one request at a time. A few
pages, spread over the run and including its last, are read in one concurrent
batch to find where the pattern ends (a bisection, batch by batch, when the end
is not where the file size puts it). The predicted blocks enter the cache as if
read; the pages that were not read carry a :class:`~tiffzarr.model.PageCheck`
so the store compares their real IFD with the prediction before serving their
pixels: a wrong prediction raises, it is never silently used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from tiffzarr.format import Header, RawIfd
from tiffzarr.format._template import IfdTemplate, block_range, derive_template
from tiffzarr.reader._cache import ByteCache

__all__ = ["PROBES", "Prediction", "predict_run"]

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


async def predict_run(cache: ByteCache, header: Header, a: RawIfd, b: RawIfd) -> Prediction | None:
    """Predict the pages after ``b`` when ``a`` → ``b`` is one stride of a pattern."""
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
    cache.add_many(
        (template.span(d)[0], _block(template, d, prediction))
        for d in range(1, prediction.count + 1)
        if d not in prediction.read
    )
    logger.debug(
        "%s: predicted %d pages after IFD at %d (stride %d), read %d of them",
        cache.source.url,
        prediction.count,
        b.offset,
        template.stride,
        len(prediction.read),
    )
    return prediction


def _block(template: IfdTemplate, delta: int, prediction: Prediction) -> bytes:
    nxt = prediction.next_offset if delta == prediction.count else None
    return template.expected(delta, next_offset=nxt)


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
