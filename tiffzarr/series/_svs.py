"""Series of Aperio SVS whole-slide images, as tifffile reads them.

A file whose first page's ImageDescription starts with ``Aperio `` and whose
first page is tiled holds, in this order: the full-resolution ``Baseline``
(page 0, with any focal planes of its shape along ``Z``), a ``Thumbnail``
(page 1, in strips), the other resolutions of the baseline (the tiled pages
that follow and are not marked reduced, grouped by shape: each shape is one
pyramid level, each page of it one focal plane), and then up to two
associated images: ``Macro`` (NewSubfileType 9) or else ``Label``. Series
have kind ``svs``; a one-page file is just its ``Baseline``.

The description's items (see :mod:`tiffzarr.format._aperio`) are the ``aperio``
attribute of each series; the baseline also carries the slide's properties as
openslide names them (``openslide``) and its pixel size (``MPP``) as X/Y
scales in micrometres.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tiffzarr.format._aperio import is_svs_description, svs_metadata, svs_properties
from tiffzarr.format._records import bounded_json
from tiffzarr.model import ArrayModel, AxisScale, Page, Series, TiffIndex, array_from_pages
from tiffzarr.series._protocol import Fallback, Interpretation, SeriesContext
from tiffzarr.series._slides import openslide_float, slide_metadata, tiff_properties

__all__ = ["FALLBACK", "KIND", "detect", "series"]

KIND = "svs"
FALLBACK: Fallback = "generic"
IMAGE_DESCRIPTION = 270
MACRO_SUBFILETYPE = 9
"""NewSubfileType of the macro image (reduced, and bit 3 set); the label has 1."""
ASSOCIATED = 2
"""The associated images (label, macro) after the baseline's levels."""


def detect(index: TiffIndex, /) -> bool:
    """The first page's ImageDescription is an Aperio description."""
    return is_svs_description(index.pages[0].ifd.get(IMAGE_DESCRIPTION))


async def series(context: SeriesContext, /) -> Interpretation:
    """Baseline (with its levels), Thumbnail, Label and Macro, as tifffile names them;
    nothing when the first page is not tiled (the file then has its generic series)."""
    index = context.index
    pages = index.pages
    first = pages[0]
    if first.layout is None or not first.layout.tiled:
        return Interpretation(())
    attrs, scales = _slide(first)
    if len(pages) == 1:
        level = _array(index, [first], planes=False)
        return Interpretation((Series("Baseline", KIND, (level,), attrs, scales=scales),))
    levels, end = _levels(context, pages)
    baseline = Series("Baseline", KIND, levels, attrs, scales=scales)
    out = [baseline, _single(index, pages[1], "Thumbnail")]
    for page in list(pages[end : end + ASSOCIATED]):
        name = "Macro" if page.subfiletype == MACRO_SUBFILETYPE else "Label"
        out.append(_single(index, page, name))
    return Interpretation(tuple(s for s in out if s is not None))


def _slide(page: Page) -> tuple[dict[str, Any], dict[str, AxisScale]]:
    """The baseline's attributes (``aperio`` and ``openslide``) and pixel size."""
    text = page.ifd.get(IMAGE_DESCRIPTION)
    properties = svs_properties(text)
    mpp = openslide_float(properties.get("MPP"))
    attrs, scales = slide_metadata(
        "aperio",
        properties,
        mpp=(mpp, mpp),
        objective_power=openslide_float(properties.get("AppMag")),
        extra=tiff_properties(page),
    )
    attrs["aperio"] = bounded_json(svs_metadata(text))
    return attrs, scales


def _levels(context: SeriesContext, pages: Sequence[Page]) -> tuple[tuple[ArrayModel, ...], int]:
    """The baseline's levels (page 0 and the tiled pages from page 2 on that are not
    reduced, grouped by shape) and the index of the first page after them."""
    groups: dict[tuple[int, ...], list[Page]] = {}
    end = 2
    for page in [pages[0], *pages[2:]]:
        layout = page.layout
        if page is not pages[0]:
            if layout is None or not layout.tiled or page.subfiletype & 1:
                break
            end += 1
        assert layout is not None
        groups.setdefault(layout.shape, []).append(page)
    planes = len(groups[pages[0].layout.shape])  # type: ignore[union-attr]
    if any(len(group) != planes for group in groups.values()):
        context.warn("the SVS levels have different numbers of focal planes; the first is served")
        planes = 1
    levels = []
    for group in groups.values():
        if any(p.layout != group[0].layout for p in group[:planes]):
            context.warn(f"the focal planes of the SVS level {group[0].layout} differ")
            return (_array(context.index, group[:1], planes=True),), end
        levels.append(_array(context.index, group[:planes], planes=True))
    return tuple(levels), end


def _array(index: TiffIndex, pages: list[Page], *, planes: bool) -> ArrayModel:
    """The pages as one array: along a leading ``Z`` (``planes``), or one page."""
    layout, _ = pages[0].require_layout()
    shape, axes = layout.shape, layout.axes
    if planes:
        shape, axes = (len(pages), *shape), "Z" + axes
    return array_from_pages(
        pages, urls=(index.url,), byteorder=index.header.byteorder, shape=shape, axes=axes
    )


def _single(index: TiffIndex, page: Page, name: str) -> Series | None:
    """A series of one page (the thumbnail, label or macro); ``None`` if it is unreadable."""
    if page.layout is None:
        return None
    text = page.ifd.get(IMAGE_DESCRIPTION)
    attrs = {"aperio": bounded_json(svs_metadata(text))} if is_svs_description(text) else {}
    return Series(name, KIND, (_array(index, [page], planes=False),), attrs)
