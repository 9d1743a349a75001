"""Series of PerkinElmer/Akoya QPTIFF files, as tifffile reads them.

The pages come in a fixed order (see :mod:`tiffzarr.format._qpi`):

- ``Baseline``: the first pages of the first page's shape, one per channel,
  along ``C`` (``CYX``, or ``CYXS`` for RGB pages);
- ``Thumbnail``: the next page;
- when the first page is tiled, the pyramid: runs of pages, one per channel,
  each half the size of the previous (floor); a run with fewer pages than
  channels ends the pyramid (and its pages are left out, as in tifffile);
- when the Baseline has levels: ``Macro`` and ``Label``, the next two pages.

The channel names and colours come from the descriptions of the Baseline's
pages (``Series.channels``, and all of them in the ``qpi`` attributes); the
pixel size from the resolution tags, as micrometre scales.
"""

from __future__ import annotations

from collections.abc import Sequence

from tiffzarr.errors import TiffFormatError
from tiffzarr.format._qpi import QpiDescription, is_qpi, parse_qpi_description
from tiffzarr.model import ArrayModel, Channel, Page, Series, TiffIndex, array_from_pages
from tiffzarr.series._pages import one_layout
from tiffzarr.series._protocol import Fallback, Interpretation, SeriesContext
from tiffzarr.series._slides import mpp_scales

__all__ = ["FALLBACK", "KIND", "detect", "series"]

KIND = "qpi"
FALLBACK: Fallback = "generic"
DESCRIPTION, SOFTWARE = 270, 305


def detect(index: TiffIndex, /) -> bool:
    """The first page's Software is PerkinElmer's QPI writer."""
    software = index.pages[0].ifd.get(SOFTWARE)
    return isinstance(software, str) and is_qpi(software)


def _shape(page: Page) -> tuple[int, ...] | None:
    return page.layout.shape if page.layout is not None else None


def _run(pages: Sequence[Page], start: int, shape: tuple[int, ...]) -> list[Page]:
    """The pages of ``shape`` from ``start`` on, up to the first of another shape."""
    out = []
    for page in pages[start:]:
        if _shape(page) != shape:
            break
        out.append(page)
    return out


async def series(context: SeriesContext, /) -> Interpretation:
    """Baseline (with its pyramid), Thumbnail, Macro and Label."""
    index = context.index
    pages = index.pages
    first = _shape(pages[0])
    if first is None:
        return Interpretation(())
    channels = _run(pages, 0, first)
    levels = [channels]
    at = len(channels)
    extra: list[tuple[str, Page]] = []
    if at < len(pages):
        extra.append(("Thumbnail", pages[at]))
        at += 1
    if pages[0].layout is not None and pages[0].layout.tiled:
        shape = first
        while at < len(pages):
            shape = (shape[0] // 2, shape[1] // 2, *shape[2:])
            run = _run(pages, at, shape)
            at += len(run)
            if len(run) != len(channels):
                break
            levels.append(run)
    if len(levels) > 1:
        extra.extend(zip(("Macro", "Label"), pages[at : at + 2], strict=False))
    baseline = _baseline(context, levels)
    if baseline is None:
        return Interpretation(())
    found = [baseline]
    for name, page in extra:
        if page.layout is not None:
            found.append(_single(context, name, page))
    return Interpretation(tuple(found))


def _baseline(context: SeriesContext, levels: list[list[Page]]) -> Series | None:
    index = context.index
    arrays: list[ArrayModel] = []
    for run in levels:
        layout = one_layout(run)
        if layout is None:
            context.warn(
                f"QPTIFF: the pages from page {run[0].path[0]} on differ in layout; "
                + ("the generic series are served" if not arrays else "the pyramid ends there")
            )
            break
        arrays.append(
            array_from_pages(
                run,
                urls=(index.url,),
                byteorder=index.header.byteorder,
                shape=(len(run), *layout.shape),
                axes="C" + layout.axes,
            )
        )
    if not arrays:
        return None
    described = [_description(context, page) for page in levels[0]]
    channels: tuple[Channel, ...] = ()
    if all(d is not None and d.name for d in described) and "S" not in arrays[0].axes[1:]:
        channels = tuple(Channel(name=d.name, color=d.color) for d in described if d is not None)
    return Series(
        name="Baseline",
        kind=KIND,
        levels=tuple(arrays),
        attrs={KIND: {"descriptions": [d.metadata if d else None for d in described]}},
        scales=mpp_scales(levels[0][0]),
        channels=channels,
    )


def _single(context: SeriesContext, name: str, page: Page) -> Series:
    index = context.index
    array = array_from_pages([page], urls=(index.url,), byteorder=index.header.byteorder)
    described = _description(context, page)
    return Series(
        name=name,
        kind=KIND,
        levels=(array,),
        attrs={KIND: {"descriptions": [described.metadata if described else None]}},
        scales=mpp_scales(page),
    )


def _description(context: SeriesContext, page: Page) -> QpiDescription | None:
    text = page.ifd.get(DESCRIPTION)
    if not isinstance(text, str):
        return None
    try:
        return parse_qpi_description(text)
    except TiffFormatError as exc:
        context.warn(f"page {page.path[0]}: {exc}")
        return None
