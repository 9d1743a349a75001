"""Where a raster lies on the Earth: the georeferencing of a GeoTIFF, as GDAL reads it.

The reader fills a :class:`GeoReference` from the GeoTIFF tags of a series'
first page (see :mod:`tiffzarr.format._geokeys`); adapters write it in their
conventions (the Zarr ``proj:``/``spatial:`` attributes, CF's ``spatial_ref``,
xarray coordinates).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tiffzarr.format._geocrs import code_wkt

__all__ = ["GeoReference", "GroundControlPoint", "Transform"]

Transform = tuple[float, float, float, float, float, float]
"""An affine transform in GDAL's and rasterio's order ``(a, b, c, d, e, f)``:
``x = a * col + b * row + c`` and ``y = d * col + e * row + f``, where
``(col, row) = (0, 0)`` is the outer corner of the first pixel."""


@dataclass(frozen=True, slots=True)
class GroundControlPoint:
    """A pixel position ``(row, col)`` and the model coordinates ``(x, y, z)`` there."""

    row: float
    col: float
    x: float
    y: float
    z: float = 0.0


@dataclass(frozen=True, slots=True)
class GeoReference:
    """The georeferencing of level 0 of a series.

    ``transform`` is the affine transform of the pixel corners (a file that says
    PixelIsPoint has it shifted by half a pixel, as GDAL does), ``None`` when the
    file gives only ground control points. ``crs_code`` names the CRS when the
    GeoKeys do (``"EPSG:32618"``); ``crs_wkt`` is the WKT2 text of a CRS that no
    code names, when it could be built (:meth:`wkt` gives the text of either);
    ``crs_note`` says why there is no CRS when there is none (no GeoKeys,
    keys no CRS can be built from, pyproj not installed). ``geokeys`` holds the
    raw GeoKeys by name. ``gdal_metadata`` is the GDAL_METADATA XML as
    ``{"dataset": {...}, "bands": [{...}, ...]}``.
    """

    transform: Transform | None = None
    crs_code: str | None = None
    crs_wkt: str | None = None
    crs_note: str | None = None
    raster_type: Literal["area", "point"] = "area"
    geokeys: Mapping[str, Any] = field(default_factory=dict)
    gcps: tuple[GroundControlPoint, ...] = ()
    rpcs: Mapping[str, Any] = field(default_factory=dict)
    nodata: int | float | None = None
    gdal_metadata: Mapping[str, Any] = field(default_factory=dict)

    def wkt(self) -> str | None:
        """The CRS as WKT2 text: ``crs_wkt``, or the text of ``crs_code`` (built with
        pyproj, imported only now; ``None`` without it)."""
        if self.crs_wkt is not None or self.crs_code is None:
            return self.crs_wkt
        return code_wkt(self.crs_code)

    def level_transform(self, base: Sequence[int], level: Sequence[int], /) -> Transform | None:
        """The transform of a level of ``level = (rows, cols)`` pixels whose level 0
        has ``base = (rows, cols)``: the same extent, pixels scaled as GDAL scales
        overviews.

        >>> geo = GeoReference(transform=(10.0, 0.0, 500.0, 0.0, -10.0, 900.0))
        >>> geo.level_transform((100, 200), (50, 100))
        (20.0, 0.0, 500.0, 0.0, -20.0, 900.0)
        """
        if self.transform is None:
            return None
        a, b, c, d, e, f = self.transform
        sy, sx = base[0] / level[0], base[1] / level[1]
        return (a * sx, b * sy, c, d * sx, e * sy, f)
