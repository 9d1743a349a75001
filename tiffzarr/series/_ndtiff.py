"""Series of ndtiff files (not built yet: detects nothing)."""

from __future__ import annotations

from tiffzarr.model import TiffIndex
from tiffzarr.series._protocol import Fallback, Interpretation, SeriesContext

__all__ = ["FALLBACK", "KIND", "detect", "series"]

KIND = "ndtiff"
FALLBACK: Fallback = "generic"


def detect(index: TiffIndex, /) -> bool:
    return False


async def series(context: SeriesContext, /) -> Interpretation:
    return Interpretation(())
