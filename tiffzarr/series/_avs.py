"""Series of Argos AVS slides, as tifffile reads them.

An AVS file (tag 65000 holds Argos XML, see :mod:`tiffzarr.format._argos`) has
the generic series: the pyramid, the map and the macro. The first is of kind
``avs``, named ``Baseline`` when it has levels, and when its pages (focal
planes) are more than one it is squeezed and has them along ``Z`` instead of
``I`` (tifffile's full shape of it is then the squeezed one); when there are
three series the others are ``Map`` and ``Macro``, of kind ``avs`` too (any
other count is warned about, and those keep their generic kind, as in tifffile).

The XML's text elements (OpenSlide's ``argos.*`` properties) go into the
``argos`` and the ``openslide`` attributes of the first series, with the pixel size of the
resolution tags as micrometre scales.
"""

from __future__ import annotations

import dataclasses

from tiffzarr.errors import TiffFormatError
from tiffzarr.format._argos import ARGOS_TAG, argos_properties, is_argos
from tiffzarr.model import ArrayModel, Series, TiffIndex, squeeze_array
from tiffzarr.series._generic import generic_series
from tiffzarr.series._protocol import Fallback, Interpretation, SeriesContext
from tiffzarr.series._slides import openslide_int, resolution_mpp, slide_metadata

__all__ = ["FALLBACK", "KIND", "detect", "series"]

KIND = "avs"
FALLBACK: Fallback = "next"
"""The tag's text is only read in :func:`series`: a file whose tag 65000 is not
Argos XML goes on to the next interpreters, as if not detected."""
VENDOR = "argos"
NAMES = ("Map", "Macro")


def detect(index: TiffIndex, /) -> bool:
    """The first page has tag 65000 (its text is checked by :func:`series`)."""
    return ARGOS_TAG in index.pages[0].ifd


async def series(context: SeriesContext, /) -> Interpretation:
    """The generic series, the first as the AVS pyramid, named as tifffile names them."""
    index = context.index
    text = await context.value(index.pages[0].ifd, ARGOS_TAG)
    if not isinstance(text, str) or not is_argos(text):
        return Interpretation(())
    found = list(generic_series(index))
    if not found:
        return Interpretation(())
    if len(found) != 1 + len(NAMES):
        context.warn(f"AVS: {len(found)} series where 3 (pyramid, map, macro) are expected")
    else:
        for k, name in enumerate(NAMES, start=1):
            found[k] = dataclasses.replace(found[k], name=name, kind=KIND)
    found[0] = _pyramid(context, found[0], text)
    return Interpretation(tuple(found))


def _pyramid(context: SeriesContext, base: Series, text: str) -> Series:
    levels = base.levels
    if base.axes[:1] == "I":  # tifffile relabels the squeezed pages as focal planes
        levels = tuple(_planes(squeeze_array(a)) for a in levels)
    try:
        properties = argos_properties(text)
    except TiffFormatError as exc:
        context.warn(str(exc))
        properties = {}
    attrs, scales = slide_metadata(
        VENDOR,
        properties,
        mpp=resolution_mpp(context.index.pages[0]),
        objective_power=openslide_int(properties.get("ObjectiveMagnification")),
    )
    barcode = properties.get("Barcode")
    if barcode:
        attrs["openslide"]["openslide.barcode"] = barcode
    return dataclasses.replace(
        base,
        name="Baseline" if len(levels) > 1 else base.name,
        kind=KIND,
        levels=levels,
        attrs={VENDOR: properties, **attrs},
        scales=scales or base.scales,
    )


def _planes(array: ArrayModel) -> ArrayModel:
    return dataclasses.replace(array, axes="Z" + array.axes[1:]) if array.axes[:1] == "I" else array
