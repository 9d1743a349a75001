"""Series interpreters: which arrays a file holds, following tifffile's series.

Each module knows one kind of file (OME-TIFF, ImageJ, ...; see
:mod:`tiffzarr.series._protocol`). :func:`interpret` asks them in tifffile's
order and falls back to the generic interpreter; then every image page that
no series holds is reported, so nothing in a file is left out silently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from tiffzarr.format import Header, RawIfd, TagValue
from tiffzarr.model import HeldPages, Series, TiffIndex
from tiffzarr.series import (
    _avs,
    _bif,
    _fluoview,
    _generic,
    _imagej,
    _lsm,
    _mmstack,
    _ndpi,
    _ndtiff,
    _nih,
    _ome,
    _philips,
    _qpi,
    _scanimage,
    _scn,
    _shaped,
    _sis,
    _stk,
    _svs,
)
from tiffzarr.series._geo import georeference
from tiffzarr.series._protocol import (
    ChainEnds,
    Fallback,
    Interpretation,
    Interpreter,
    SeriesContext,
)

__all__ = [
    "CHAIN_ENDS",
    "INTERPRETERS",
    "ChainEnds",
    "Fallback",
    "Interpretation",
    "Interpreter",
    "SeriesContext",
    "chain_ends",
    "interpret",
    "uncovered_pages",
]

INTERPRETERS: tuple[Interpreter, ...] = (
    _shaped,
    _lsm,
    _mmstack,
    _ome,
    _imagej,
    _ndtiff,
    _fluoview,
    _stk,
    _sis,
    _svs,
    _scn,
    _qpi,
    _ndpi,
    _bif,
    _avs,
    _philips,
    _scanimage,
    _nih,
)
"""The specific interpreters in the order they are tried; the generic one comes last."""
CHAIN_ENDS: tuple[ChainEnds, ...] = (_imagej.first_ifd_suffices,)
"""The tests of formats whose first IFD can describe all the image data."""


def chain_ends(
    header: Header, first: RawIfd, value: Callable[[int], TagValue | None], size: int, /
) -> bool:
    """Whether any format says the first IFD alone describes the file's image data."""
    return any(test(header, first, value, size) for test in CHAIN_ENDS)


async def interpret(context: SeriesContext, /) -> Interpretation:
    """The series of a parsed file, from the first interpreter that finds any.

    As in tifffile: when no interpreter recognises the file, it is one uniform
    series or, if its pages differ, generic series; when one recognises it but
    finds nothing, the generic series (unless it lets the next ones try).
    GeoTIFF georeferencing and GDAL masks are added to the series found (see
    :mod:`tiffzarr.series._geo`). Image pages that no series holds are reported
    through ``context.warn``.
    """
    index = context.index
    found = None
    for interpreter in INTERPRETERS:
        if not interpreter.detect(index):
            continue
        found = await interpreter.series(context)
        if found.series or interpreter.FALLBACK == "generic":
            break
        found = None  # "next": as if not detected (tifffile goes on, to uniform at last)
    if found is None:
        found = Interpretation(_generic.file_series(index))
    elif not found.series:
        found = Interpretation(_generic.generic_series(index))
    found = dataclasses.replace(found, series=await georeference(context, found.series))
    for message in uncovered_pages(index, found.series):
        context.warn(message)
    return found


def uncovered_pages(index: TiffIndex, series: tuple[Series, ...], /) -> list[str]:
    """What to report about the image pages that none of ``series`` holds."""
    held = HeldPages(level.manifest.tables for s in series for level in (*s.levels, *s.masks))
    out = []
    for page in held.pages(index.pages, held=False):
        where = f"page {'/'.join(map(str, page.path))} (IFD at {page.ifd.offset})"
        if page.layout is None:
            out.append(f"{where} is not a readable image ({page.error}); no series holds it")
        else:
            out.append(
                f"{where}, {page.layout.shape} {page.layout.dtype}, is not part of any series"
            )
    return out
