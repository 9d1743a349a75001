"""Series of tifffile's *shaped* files, as tifffile reads them.

Each series starts at a page whose description gives the array's shape as
JSON (see :mod:`tiffzarr.format._shaped`) and takes as many pages as that
shape holds. Its axes are the description's ``axes``, else those of the
pages (with ``Q`` for the dimensions they do not name); its name the
description's ``name``. A *truncated* series stores only its first page's IFD
and the other images contiguously after its pixels (virtual pages), as does a
series whose later IFDs all follow its image data. SubIFDs of a series' pages
form series of their own, which become pyramid levels of an earlier series when
they are reduced images one reduction step below its last level. Shaped series
are not squeezed. When any series' metadata do not match its pages, the file
is read as generic series.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from typing import Any

from tiffzarr.format import SubfileType
from tiffzarr.format._shaped import (
    fits_pages,
    is_shaped_description,
    reshape_axes,
    shaped_description_items,
)
from tiffzarr.model import Page, Series, TiffIndex, array_from_pages
from tiffzarr.series._generic import SAMPLING_FACTORS, reduction_level
from tiffzarr.series._pages import MAX_VIRTUAL_PAGES, final_end, resolution_scales, stacked_pages
from tiffzarr.series._protocol import Fallback, Interpretation, SeriesContext

__all__ = ["FALLBACK", "KIND", "detect", "series"]

KIND = "shaped"
FALLBACK: Fallback = "generic"

DESCRIPTION = 270
MIN_IFD_OFFSET = 8
"""SubIFD offsets below this are placeholders, skipped."""
MAX_ATTR_TEXT = 2**20
"""Descriptions longer than this are not copied into the attributes."""


class _Failed(Exception):
    """The shaped metadata do not describe the file (the message says how)."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Found:
    keyframe: Page
    series: Series


def detect(index: TiffIndex, /) -> bool:
    """The first page's description is a shaped description."""
    return is_shaped_description(index.pages[0].ifd.get(DESCRIPTION))


async def series(context: SeriesContext, /) -> Interpretation:
    """The shaped series of the file, or nothing (with a warning) when their
    metadata do not describe its pages."""
    found: list[_Found] = []
    try:
        await _walk(context, list(context.index.pages), found)
    except _Failed as exc:
        context.warn(f"shaped series: {exc}; read as generic series")
        return Interpretation(())
    return Interpretation(tuple(f.series for f in _pyramidize(found)))


async def _walk(context: SeriesContext, pages: Sequence[Page], out: list[_Found]) -> None:
    """Append the series that start in ``pages`` (the main chain, or the SubIFDs
    of one slot of a series' pages), and those of their SubIFDs, to ``out``."""
    i = 0
    while i < len(pages):
        keyframe = pages[i]
        if keyframe.layout is None:
            raise _Failed(f"page {i} of a shaped series is not readable")
        spages, count, meta = await _series_pages(context, pages, i, keyframe)
        out.append(_Found(keyframe, await _series(context, pages, i, spages, meta)))
        i += count
        await _subifd_series(context, keyframe, spages, out)


async def _series_pages(
    context: SeriesContext, pages: Sequence[Page], i: int, keyframe: Page
) -> tuple[list[Page], int, dict[str, Any]]:
    """The pages a series starting at ``pages[i]`` lists (only the first when it is
    stored contiguously), how many of ``pages`` it takes, and its metadata."""
    text = keyframe.ifd.get(DESCRIPTION)
    if not is_shaped_description(text):
        raise _Failed(f"page {i} has no shaped description")
    try:
        meta = shaped_description_items(text)
    except ValueError as exc:
        raise _Failed(str(exc)) from exc
    layout, _ = keyframe.require_layout()
    reshape = meta["shape"]
    truncated = meta.get("truncated", False if keyframe.subifd_offsets else None)
    size, page_size = math.prod(reshape), math.prod(layout.shape)
    if page_size == 0 and size > 0:
        raise _Failed(f"page {i} is empty")
    count, rest = divmod(size, page_size) if size > 0 else (1, 0)
    if rest:
        raise _Failed(f"shape {reshape} does not hold whole pages of {layout.shape}")
    spages = [keyframe]
    if 1 < count <= len(pages) - i:
        if truncated:
            count = 1
        else:
            following = pages[i + 1]
            contiguous = (
                not keyframe.subifd_offsets
                and await final_end(context, keyframe) is not None
                and keyframe.ifd.offset + size * layout.dtype.itemsize < following.ifd.offset
            )
            if not contiguous:
                spages = list(pages[i : i + count])
    return spages, count, meta


def _shape_and_axes(
    page: Page, npages: int, meta: dict[str, Any], contiguous: bool
) -> tuple[tuple[int, ...], str, str | None]:
    """The series' shape and axes (as tifffile derives them), and what to warn about."""
    layout, _ = page.require_layout()
    reshape: tuple[int, ...] = meta["shape"]
    warning = None
    axes: str | None = None
    if "axes" in meta:
        axes = str(meta["axes"])
        if len(axes) != len(reshape):
            warning, axes = f"axes {axes!r} do not match shape {reshape}", None
    failed = not fits_pages(layout.shape, reshape)
    if failed:
        warning = f"shape {reshape} does not match the page shape {layout.shape}"
    shape: tuple[int, ...] = reshape
    if failed or axes is None:
        shape, axes = layout.shape, layout.axes
        if npages > 1:
            shape, axes = (npages, *shape), "Q" + axes
        if failed:
            reshape = shape
    size, resize = math.prod(shape), math.prod(reshape)
    if contiguous and 0 < size < resize and resize % size == 0:
        shape, axes = (resize // size, *shape), "Q" + axes
    try:
        return reshape, reshape_axes(axes, shape, reshape), warning
    except ValueError as exc:
        return shape, axes, f"failed to reshape: {exc}"


async def _series(
    context: SeriesContext,
    pages: Sequence[Page],
    i: int,
    spages: list[Page],
    meta: dict[str, Any],
) -> Series:
    """The series of ``spages`` (``pages[i]`` first) with metadata ``meta``."""
    keyframe = spages[0]
    layout, _ = keyframe.require_layout()
    contiguous = await final_end(context, keyframe) is not None
    shape, axes, warning = _shape_and_axes(keyframe, len(spages), meta, contiguous)
    if warning:
        context.warn(f"shaped series at page {i}: {warning}")
    images = math.prod(shape) // max(1, math.prod(layout.shape))
    members: list[Page | None] = list(spages)
    if len(spages) == 1 and images > 1:
        members = await _contiguous_images(context, pages, i, images, contiguous)
    try:
        array = array_from_pages(
            members, urls=(context.index.url,), byteorder=context.index.header.byteorder,
            shape=shape, axes=axes,
        )  # fmt: skip
    except ValueError as exc:
        raise _Failed(f"shape {shape} does not fit the pages at page {i}: {exc}") from exc
    text = keyframe.ifd.get(DESCRIPTION)
    attrs = {}
    if len(text) <= MAX_ATTR_TEXT:
        attrs = {"shaped": json.loads(json.dumps({**meta, "shape": list(meta["shape"])}))}
    name = meta.get("name", "")
    return Series(
        name=name if isinstance(name, str) else str(name),
        kind=KIND,
        levels=(array,),
        attrs=attrs,
        squeeze=False,
        scales=resolution_scales(keyframe),
    )


async def _contiguous_images(
    context: SeriesContext, pages: Sequence[Page], i: int, images: int, contiguous: bool
) -> list[Page | None]:
    """The ``images`` of a series whose first page alone is listed: stored after its
    pixels (truncated), or else the next pages of the file."""
    first = pages[i]
    layout, table = first.require_layout()
    if not contiguous:
        listed = list(pages[i : i + images])
        if len(listed) < images or any(p.layout != layout for p in listed):
            raise _Failed(f"the series at page {i} has {images} images, fewer pages follow it")
        return list(listed)
    start = int(table.offsets[0])
    if images > MAX_VIRTUAL_PAGES or start + images * layout.page_nbytes > context.index.size:
        raise _Failed(f"{images} images from offset {start} do not fit in the file")
    return list(await stacked_pages(context, pages, i, images))


async def _subifd_series(
    context: SeriesContext, keyframe: Page, spages: list[Page], out: list[_Found]
) -> None:
    """Append the series in each SubIFD slot of the series' pages to ``out``."""
    slots = len(keyframe.subifd_offsets)
    for slot, offset in enumerate(keyframe.subifd_offsets):
        if offset < MIN_IFD_OFFSET:
            continue
        subs: list[Page] = []
        for page in spages:
            if len(page.subifd_offsets) < slots:
                raise _Failed(f"page {page.path} has fewer SubIFDs than the series' first page")
            sub = page.subifds[slot] if slot < len(page.subifds) else None
            if sub is None:
                raise _Failed(f"SubIFD {slot} of page {page.path} is not readable")
            subs.append(sub)
        if subs:
            await _walk(context, subs, out)


def _pyramidize(found: list[_Found]) -> list[_Found]:
    """Merge series that are reduced images, one reduction step below an earlier
    main-chain series' last level, into its levels (tifffile's rule)."""
    pending = list(found)
    i = 0
    while i < len(pending):
        top = pending[i]
        if len(top.keyframe.path) > 1:
            i += 1  # SubIFD series are never pyramid tops
            continue
        levels = list(top.series.levels)
        factor: int | None = None
        j = i + 1
        while j < len(pending):
            candidate = pending[j]
            array = candidate.series.levels[0]
            factors = (factor,) if factor else SAMPLING_FACTORS
            reduced = candidate.keyframe.subfiletype & SubfileType.REDUCEDIMAGE
            match = next((f for f in factors if reduction_level(levels[-1], array, f) == 1), None)
            if not reduced or match is None:
                j += 1
                continue
            factor = match
            levels.append(array)
            del pending[j]
        pending[i] = dataclasses.replace(
            top, series=dataclasses.replace(top.series, levels=tuple(levels))
        )
        i += 1
    return pending
