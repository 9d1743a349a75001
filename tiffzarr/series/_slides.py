"""What whole-slide interpreters share: openslide-style properties and pixel sizes.

Slide readers name a slide's metadata as openslide does: the vendor's own keys
under the vendor's prefix (``aperio.MPP``, ``hamamatsu.SourceLens``) and the
common ones under ``openslide.`` (``openslide.mpp-x``, ``openslide.objective-power``,
``openslide.vendor``), every value a string. Interpreters attach that dict as
the ``openslide`` attribute of their series, and the pixel size as NGFF scales.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tiffzarr.format import ResolutionUnit
from tiffzarr.model import AxisScale, Page
from tiffzarr.series._pages import RESOLUTION_UNIT, X_RESOLUTION, Y_RESOLUTION, pixel_size

__all__ = [
    "MICROMETER",
    "openslide_double",
    "openslide_float",
    "openslide_int",
    "mpp_scales",
    "resolution_mpp",
    "slide_metadata",
    "tiff_properties",
]

MICROMETER = "micrometer"
MICROMETERS_PER_UNIT = {
    ResolutionUnit.INCH: 25400.0,
    ResolutionUnit.CENTIMETER: 10000.0,
    ResolutionUnit.MILLIMETER: 1000.0,
    ResolutionUnit.MICROMETER: 1.0,
}
"""Micrometres in each ResolutionUnit that is a length."""


def _number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) and value > 0 else None


def slide_metadata(
    vendor: str,
    properties: Mapping[str, str],
    /,
    *,
    mpp: tuple[float | None, float | None] = (None, None),
    objective_power: float | None = None,
    extra: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, AxisScale]]:
    """The ``openslide`` attribute and the X/Y scales of a slide.

    ``properties`` are the vendor's keys (without prefix); ``mpp`` the microns
    per pixel along X and Y of level 0; ``objective_power`` the scanner's
    magnification; ``extra`` properties under their full names (``tiff.*`` and
    ``openslide.comment``, see :func:`tiff_properties`). Values that are
    missing, not positive or not finite are left out.

    >>> attrs, scales = slide_metadata("aperio", {"MPP": "0.499"}, mpp=(0.499, 0.499),
    ...                                objective_power=20)
    >>> attrs["openslide"]["openslide.mpp-x"], attrs["openslide"]["aperio.MPP"]
    ('0.499', '0.499')
    >>> attrs["openslide"]["openslide.objective-power"], scales["X"]
    ('20', AxisScale(size=0.499, unit='micrometer'))
    """
    out = dict(extra or {})
    out.update((f"{vendor}.{key}", str(value)) for key, value in properties.items())
    out["openslide.vendor"] = vendor
    scales = {}
    for axis, value in zip("XY", mpp, strict=True):
        size = _number(value)
        if size is not None:
            out[f"openslide.mpp-{axis.lower()}"] = openslide_double(size)
            scales[axis] = AxisScale(size, MICROMETER)
    power = _number(objective_power)
    if power is not None:
        out["openslide.objective-power"] = openslide_double(power)
    return {"openslide": dict(sorted(out.items()))}, scales


def resolution_mpp(page: Page, /) -> tuple[float | None, float | None]:
    """Microns per pixel along X and Y from a page's resolution tags, as OpenSlide
    reads them for slides that keep their pixel size there (ResolutionUnit inch
    when absent; ``(None, None)`` unless both are given in a unit of length)."""
    factor = MICROMETERS_PER_UNIT.get(page.ifd.get(RESOLUTION_UNIT, ResolutionUnit.INCH))
    values = (page.ifd.get(X_RESOLUTION), page.ifd.get(Y_RESOLUTION))
    if factor is None or any(pixel_size(value) is None for value in values):
        return None, None
    x, y = (factor / (value[0] / value[1]) for value in values)  # OpenSlide's rounding
    return x, y


def mpp_scales(page: Page, /) -> dict[str, AxisScale]:
    """The X/Y scales (micrometres) of :func:`resolution_mpp`, when it gives both."""
    x, y = resolution_mpp(page)
    if x is None or y is None:
        return {}
    return {"X": AxisScale(x, MICROMETER), "Y": AxisScale(y, MICROMETER)}


TIFF_TEXT = {
    "tiff.ImageDescription": 270,
    "tiff.Make": 271,
    "tiff.Model": 272,
    "tiff.Software": 305,
    "tiff.DateTime": 306,
    "tiff.Artist": 315,
    "tiff.HostComputer": 316,
    "tiff.Copyright": 33432,
    "tiff.DocumentName": 269,
}
"""The text tags OpenSlide shows of a slide's first IFD, by property name."""
TIFF_NUMBERS = {"tiff.XResolution": 282, "tiff.YResolution": 283, "tiff.XPosition": 286,
                "tiff.YPosition": 287}  # fmt: skip
"""The RATIONAL tags OpenSlide shows, by property name."""
TIFF_UNITS = {ResolutionUnit.NONE: "none", ResolutionUnit.INCH: "inch",
              ResolutionUnit.CENTIMETER: "centimeter"}  # fmt: skip


def openslide_double(value: float, /) -> str:
    """A number as OpenSlide writes it: the shortest text that reads back the same.

    >>> openslide_double(40.0), openslide_double(0.499), openslide_double(-2.5)
    ('40', '0.499', '-2.5')
    """
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def tiff_properties(page: Page, /) -> dict[str, str]:
    """The ``tiff.*`` properties and ``openslide.comment`` OpenSlide gives a slide
    from its first page: text tags as they are, resolutions and positions as
    numbers, the resolution unit by name.
    """
    ifd = page.ifd
    texts = ((name, ifd.get(code)) for name, code in TIFF_TEXT.items())
    out = {name: value for name, value in texts if isinstance(value, str)}
    if "tiff.ImageDescription" in out:
        out["openslide.comment"] = out["tiff.ImageDescription"]
    for name, code in TIFF_NUMBERS.items():
        value = ifd.get(code)
        if isinstance(value, tuple) and len(value) == 2 and value[1]:
            out[name] = openslide_double(value[0] / value[1])
    out["tiff.ResolutionUnit"] = TIFF_UNITS.get(ifd.get(RESOLUTION_UNIT, 2), "unknown")
    return out


def openslide_float(text: str | None, /) -> float | None:
    """A vendor's property as the number OpenSlide copies into a standard one
    (``openslide.mpp-x`` from ``aperio.MPP``): the whole text a decimal number
    (a comma taken for the point), else ``None``.

    >>> openslide_float("0.4990"), openslide_float("0,25"), openslide_float("20x")
    (0.499, 0.25, None)
    """
    if text is None:
        return None
    canonical = text.replace(",", ".").lstrip()
    if not canonical or canonical != canonical.rstrip() or "_" in canonical:
        return None
    try:
        value = float(canonical)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def openslide_int(text: str | None, /) -> int | None:
    """A vendor's property as the whole number OpenSlide copies into a standard one
    (``openslide.objective-power`` from ``leica.objective``, ``ventana.Magnification``):
    only text that is an integer, else ``None``.

    >>> openslide_int("40"), openslide_int(" 20 "), openslide_int("0.3"), openslide_int(None)
    (40, 20, None, None)
    """
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None
