"""Series of Philips TIFF slides, as tifffile reads them.

The pages are sorted by their description and layout: ``Macro…`` and ``Label…``
(the last of each), stripped pages (``Other``, one series each), and the tiled
pages, which are the pyramid levels. The description's XML (see
:mod:`tiffzarr.format._philips`) must give one spacing per level; the level
sizes are then fixed from them, as tifffile and OpenSlide do: level ``k`` is the
first level's size divided by the rounded ratio of the spacings, when that is
within the page's last tile. As in tifffile, with a warning: a page more than a
tile larger keeps all but ``tile - 1`` of its columns or rows, a page narrower
keeps its width (a shorter one takes the larger length, up to what its tiles
hold). Without a usable XML the file has its generic series, with a warning.

Series: ``Baseline`` (with the levels), then the ``Other``, ``Macro`` and
``Label`` pages, all of kind ``philips``. OpenSlide's ``philips.*`` properties,
the pixel size (``DICOM_PIXEL_SPACING``) and the objective power (from
``DICOM_DERIVATION_DESCRIPTION``) go into the ``openslide`` attributes and the
scales; the properties also into the ``philips`` attributes.
"""

from __future__ import annotations

import dataclasses

from tiffzarr.errors import TiffFormatError
from tiffzarr.format import PageLayout
from tiffzarr.format._philips import PhilipsDocument, is_philips, parse_philips
from tiffzarr.model import ArrayModel, Page, Series, TiffIndex, array_from_pages
from tiffzarr.series._protocol import Fallback, Interpretation, SeriesContext
from tiffzarr.series._slides import slide_metadata

__all__ = ["FALLBACK", "KIND", "detect", "series"]

KIND = "philips"
FALLBACK: Fallback = "generic"
DESCRIPTION, SOFTWARE = 270, 305
VENDOR = "philips"


def _text(page: Page, code: int) -> str | None:
    value = page.ifd.get(code)
    return value if isinstance(value, str) else None


def detect(index: TiffIndex, /) -> bool:
    """The first page's Software is Philips' and its description a ``DataObject``."""
    first = index.pages[0]
    return is_philips(_text(first, SOFTWARE), _text(first, DESCRIPTION))


async def series(context: SeriesContext, /) -> Interpretation:
    """Baseline with its levels, then the other pages by their role."""
    index = context.index
    try:
        doc = parse_philips(_text(index.pages[0], DESCRIPTION) or "")
    except TiffFormatError as exc:
        context.warn(f"{exc}; the generic series are served")
        return Interpretation(())
    levels, others = _roles(index)
    spacings = [s for s in doc.spacings if s is not None]
    if len(spacings) < 2 or len(spacings) != len(doc.spacings) or len(levels) != len(spacings):
        context.warn(
            f"Philips: {len(levels)} tiled pages for {len(doc.spacings)} level spacings; "
            "the generic series are served"
        )
        return Interpretation(())
    arrays = [_array(index, levels[0])]
    first, _ = levels[0].require_layout()
    for page, spacing in zip(levels[1:], spacings[1:], strict=True):
        array = _fixed(context, page, first, spacing=spacing, spacing0=spacings[0])
        if array is None:
            return Interpretation(())
        arrays.append(array)
    found = [_baseline(doc, arrays)]
    for name, page in others:
        found.append(Series(name=name, kind=KIND, levels=(_array(index, page),)))
    return Interpretation(tuple(found))


def _roles(index: TiffIndex) -> tuple[list[Page], list[tuple[str, Page]]]:
    """The level pages, and the other pages with their series names (in tifffile's
    order: every ``Other``, then ``Macro`` and ``Label`` as first met)."""
    levels: list[Page] = []
    other: list[Page] = []
    named: dict[str, Page] = {}
    for page in index.pages:
        if page.layout is None:
            continue
        description = _text(page, DESCRIPTION) or ""
        if description.startswith("Macro"):
            named["Macro"] = page
        elif description.startswith("Label"):
            named["Label"] = page
        elif not page.layout.tiled:
            other.append(page)
        else:
            levels.append(page)
    return levels, [("Other", p) for p in other] + list(named.items())


def _array(index: TiffIndex, page: Page) -> ArrayModel:
    return array_from_pages([page], urls=(index.url,), byteorder=index.header.byteorder)


def _fixed(
    context: SeriesContext,
    page: Page,
    first: PageLayout,
    *,
    spacing: tuple[float, float],
    spacing0: tuple[float, float],
) -> ArrayModel | None:
    """The level's array, its size fixed from the spacings (``None``, warned, when
    the spacings give no whole reduction)."""
    layout, _ = page.require_layout()
    factors = [round(s / s0) if s0 > 0 else 0 for s, s0 in zip(spacing, spacing0, strict=True)]
    if min(factors) < 1:
        context.warn(f"Philips: spacing {spacing} is no reduction of {spacing0}; generic series")
        return None
    where = f"Philips page {page.path[0]}: image"
    want = (first.length // factors[0], first.width // factors[1])
    length = _size(context, f"{where} length", layout.length, layout.tile[1], want[0], wider=False)
    width = _size(context, f"{where} width", layout.width, layout.tile[2], want[1], wider=True)
    array = _array(context.index, page)
    shape = list(array.shape)
    shape[array.axes.index("Y")], shape[array.axes.index("X")] = length, width
    return dataclasses.replace(array, shape=tuple(shape))


def _size(
    context: SeriesContext, where: str, stored: int, tile: int, want: int, *, wider: bool
) -> int:
    """tifffile's fix of one padded dimension: a width smaller than ``want`` is kept
    (``wider``), a length is not; a length longer than the stored tiles hold is cut
    to them (there are no tiles to serve beyond)."""
    where = f"{where} {stored}"
    if stored - tile >= want:
        context.warn(f"{where} is more than a tile ({tile}) larger than {want}")
        return stored - (tile - 1)
    if stored < want and wider:
        context.warn(f"{where} is smaller than {want}")
        return stored
    held = -(-stored // tile) * tile
    if want > held:
        context.warn(f"{where}: its tiles hold {held}, not {want}")
        return held
    return want


def _baseline(doc: PhilipsDocument, arrays: list[ArrayModel]) -> Series:
    attrs, scales = slide_metadata(
        VENDOR, doc.properties, mpp=doc.mpp, objective_power=doc.objective_power
    )
    if doc.barcode:
        attrs["openslide"]["openslide.barcode"] = doc.barcode
    return Series(
        name="Baseline",
        kind=KIND,
        levels=tuple(arrays),
        attrs={VENDOR: doc.properties, **attrs},
        scales=scales,
    )
