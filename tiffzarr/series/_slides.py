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

from tiffzarr.model import AxisScale

__all__ = ["MICROMETER", "slide_metadata"]

MICROMETER = "micrometer"


def _number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) and value > 0 else None


def slide_metadata(
    vendor: str,
    properties: Mapping[str, str],
    /,
    *,
    mpp: tuple[float | None, float | None] = (None, None),
    objective_power: float | None = None,
) -> tuple[dict[str, Any], dict[str, AxisScale]]:
    """The ``openslide`` attribute and the X/Y scales of a slide.

    ``properties`` are the vendor's keys (without prefix); ``mpp`` the microns
    per pixel along X and Y of level 0; ``objective_power`` the scanner's
    magnification. Values that are missing, not positive or not finite are left
    out.

    >>> attrs, scales = slide_metadata("aperio", {"MPP": "0.499"}, mpp=(0.499, 0.499),
    ...                                objective_power=20)
    >>> attrs["openslide"]["openslide.mpp-x"], attrs["openslide"]["aperio.MPP"]
    ('0.499', '0.499')
    >>> attrs["openslide"]["openslide.objective-power"], scales["X"]
    ('20', AxisScale(size=0.499, unit='micrometer'))
    """
    out = {f"{vendor}.{key}": str(value) for key, value in properties.items()}
    out["openslide.vendor"] = vendor
    scales = {}
    for axis, size in zip("XY", mpp, strict=True):
        size = _number(size)
        if size is not None:
            out[f"openslide.mpp-{axis.lower()}"] = repr(size)
            scales[axis] = AxisScale(size, MICROMETER)
    power = _number(objective_power)
    if power is not None:
        out["openslide.objective-power"] = f"{power:g}"
    return {"openslide": dict(sorted(out.items()))}, scales
