"""Generic series: pages of one layout stacked, reduced pages as pyramid levels.

The grouping follows the convention of tifffile, the reference TIFF reader:

- *uniform*: the first page has no SubIFDs, and the file has one page or at
  least eight pages all of one layout: one series, ``(pages, *page.shape)``
  (just the page's shape for one page).
- *generic*: otherwise, the main pages and their direct SubIFDs are grouped by
  layout in order of first appearance; each group is a series of shape
  ``(pages, *page.shape[, 1])`` with axes ``I…S``. A group whose pages are an
  exact 2-, 3- or 4-fold reduction of a previous series (and is one step below its
  last level) becomes that series' next pyramid level; SubIFD groups never
  start a series of their own when they are such a level.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from tiffzarr.format import PageLayout
from tiffzarr.model import ArrayModel, Page, Series, TiffIndex, array_from_pages, page_layouts
from tiffzarr.series._pages import resolution_scales
from tiffzarr.series._protocol import Fallback, Interpretation, SeriesContext

__all__ = [
    "FALLBACK",
    "KIND",
    "detect",
    "file_series",
    "generic_series",
    "reduction_level",
    "series",
]

KIND = "generic"
FALLBACK: Fallback = "generic"

SAMPLING_FACTORS = (2, 3, 4)
UNIFORM_MIN_PAGES = 8
"""Fewer pages than this (but more than one) form generic series, as in tifffile."""


def detect(index: TiffIndex, /) -> bool:
    """The generic interpreter applies to every file."""
    return True


def layout_key(layout: PageLayout) -> Hashable:
    """Pages with equal keys can be stacked into one array."""
    return (
        layout.shaped,
        layout.tiled,
        layout.tile,
        layout.dtype.str,
        layout.sampleformat,
        layout.bitspersample,
        layout.fillorder,
        layout.predictor,
        layout.compression,
        layout.extrasamples,
        layout.photometric,
    )


async def series(context: SeriesContext, /) -> Interpretation:
    """The uniform series, or the generic series of the file."""
    return Interpretation(file_series(context.index))


def file_series(index: TiffIndex, /) -> tuple[Series, ...]:
    """The uniform series of the file, or its generic series (see the module docstring)."""
    if not any(layout is not None for layout in page_layouts(index.pages)):
        return ()
    if _is_uniform(index):
        pages = index.pages  # not a list: runs of alike pages stay compact
        level = _array(index, pages, generic=False)
        scales = resolution_scales(pages[0])
        return (Series(name="", kind="uniform", levels=(level,), scales=scales),)
    return generic_series(index)


def generic_series(index: TiffIndex, /) -> tuple[Series, ...]:
    """The generic series of the file: its pages grouped by layout (see the module
    docstring)."""
    groups = _generic_groups(index)
    arrays = [(is_subifd, _array(index, pages)) for is_subifd, pages in groups]
    first = {id(array): pages[0] for (_, array), (_, pages) in zip(arrays, groups, strict=True)}
    return tuple(
        Series(
            name="",
            kind="generic",
            levels=tuple(levels),
            scales=resolution_scales(first[id(levels[0])]),
        )
        for levels in _pyramidize(arrays)
    )


def _is_uniform(index: TiffIndex) -> bool:
    first = index.pages[0]
    if first.layout is None or first.subifd_offsets or 1 < len(index.pages) < UNIFORM_MIN_PAGES:
        return False
    key = layout_key(first.layout)
    return all(
        layout is not None and layout_key(layout) == key for layout in page_layouts(index.pages)
    )


def _array(index: TiffIndex, pages: Sequence[Page], *, generic: bool = True) -> ArrayModel:
    """A uniform series: one page, or the pages along ``I``; a generic one is always
    stacked along ``I`` and has a sample axis ``S``."""
    layout, _ = pages[0].require_layout()
    shape, axes = layout.shape, layout.axes
    if generic or len(pages) > 1:
        shape, axes = (len(pages), *shape), "I" + axes
    if generic and "S" not in axes:
        shape, axes = (*shape, 1), axes + "S"
    return array_from_pages(
        pages,
        urls=(index.url,),
        byteorder=index.header.byteorder,
        shape=shape,
        axes=axes,
    )


def _generic_groups(index: TiffIndex) -> list[tuple[bool, list[Page]]]:
    """Groups of equal-layout pages: ``(is SubIFD group, pages)``."""
    groups: dict[Hashable, tuple[bool, list[Page]]] = {}
    seen: set[int] = set()

    def add(page: Page | None, is_subifd: bool) -> None:
        if page is None or page.layout is None or page.ifd.offset in seen:
            return
        seen.add(page.ifd.offset)
        groups.setdefault(layout_key(page.layout), (is_subifd, []))[1].append(page)

    for page in index.pages:
        add(page, False)
        for sub in page.subifds:
            add(sub, True)
    return list(groups.values())


def reduction_level(a: ArrayModel, b: ArrayModel, factor: int) -> int | None:
    """How many ``factor``-fold reductions of ``a`` give ``b`` (spatial axes X, Y, Z).

    Each spatial length of ``b`` must be the floor or the ceiling of ``a``'s
    divided by ``factor**level``, with one level for all of them; every other
    axis must be equal.
    """
    if a.axes != b.axes or a.dtype != b.dtype:
        return None
    level: int | None = None
    for axis, n, m in zip(a.axes, a.shape, b.shape, strict=True):
        if axis not in "XYZ":
            if n != m:
                return None
            continue
        steps = [
            r for r in range(16) if factor**r <= n and m in (n // factor**r, -(-n // factor**r))
        ]
        if level is None:
            if not steps:
                return None
            level = steps[0]
        elif level not in steps:
            return None
    return level


def _pyramidize(arrays: list[tuple[bool, ArrayModel]]) -> list[list[ArrayModel]]:
    """Merge arrays that are successive reductions of an earlier one into its levels."""
    pending = list(arrays)
    out: list[list[ArrayModel]] = []
    while pending:
        is_subifd, base = pending.pop(0)
        levels = [base]
        factor: int | None = None
        if not is_subifd:
            rest = []
            for candidate in pending:
                factors = (factor,) if factor else SAMPLING_FACTORS
                match = next(
                    (f for f in factors if reduction_level(levels[-1], candidate[1], f) == 1), None
                )
                if match is None:
                    rest.append(candidate)
                else:
                    factor = match
                    levels.append(candidate[1])
            pending = rest
        out.append(levels)
    return out
