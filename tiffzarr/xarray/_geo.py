"""Coordinates of a georeferenced level, as rioxarray's ``open_rasterio`` names them.

Dimensions ``band, y, x`` (a single band keeps a ``band`` of length 1), a
``band`` coordinate ``1..n``, ``x``/``y`` at pixel centres (2-D ``xc``/``yc``,
computed when read, for rotated grids) and a ``spatial_ref`` coordinate whose
attributes (``crs_wkt``, ``spatial_ref``, ``GeoTransform``, ``gcps``) are
where GDAL, rioxarray and CF readers look for the CRS and the transform.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from xarray import Variable
from xarray.backends import BackendArray
from xarray.core import indexing

from tiffzarr.model import GeoReference, Transform
from tiffzarr.store._geo import geotransform_text

__all__ = ["GRID_MAPPING", "geo_coords", "geo_dims"]

GRID_MAPPING = "spatial_ref"
"""The name of the coordinate holding the CRS (rioxarray's default)."""
BAND_LETTERS = "SC"
"""Axes that are the bands of a raster when they come before ``Y`` and ``X``."""


def geo_dims(axes: str, dims: Sequence[str], /) -> tuple[tuple[str, ...], bool]:
    """The dimension names of a georeferenced level with ``axes`` (in the store's
    order), and whether a ``band`` of length 1 goes in front.

    >>> geo_dims("YX", ("y", "x")), geo_dims("SYX", ("s", "y", "x"))
    ((('band', 'y', 'x'), True), (('band', 'y', 'x'), False))
    >>> geo_dims("TCYX", ("t", "c", "y", "x"))
    (('t', 'c', 'y', 'x'), False)
    """
    if axes == "YX":
        return ("band", "y", "x"), True
    if len(axes) == 3 and axes[0] in BAND_LETTERS and axes[1:] == "YX":
        return ("band", "y", "x"), False
    return tuple(dims), False


def _centred(transform: Transform) -> Transform:
    """The transform of pixel centres: ``transform`` moved by half a pixel."""
    a, b, c, d, e, f = transform
    return (a, b, a * 0.5 + b * 0.5 + c, d, e, d * 0.5 + e * 0.5 + f)


class AffineGrid(BackendArray):
    """The 2-D ``x`` (``axis=0``) or ``y`` (``axis=1``) coordinate of every pixel
    centre of a ``shape = (rows, cols)`` grid, computed for the part indexed.

    >>> grid = AffineGrid((10.0, 1.0, 500.0, 1.0, -10.0, 900.0), (2, 3), axis=0)
    >>> grid[indexing.BasicIndexer((slice(None), slice(0, 2)))].tolist()
    [[505.5, 515.5], [506.5, 516.5]]
    """

    def __init__(self, transform: Transform, shape: tuple[int, int], /, *, axis: int) -> None:
        a, b, c, d, e, f = _centred(transform)
        self.coefficients = (a, b, c) if axis == 0 else (d, e, f)
        self.shape = shape
        self.dtype = np.dtype("float64")

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        values: np.ndarray = indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.OUTER, self._outer
        )
        return values

    def _outer(self, key: tuple[Any, ...]) -> np.ndarray:
        per_col, per_row, origin = self.coefficients
        rows = np.arange(self.shape[0])[key[0]]
        cols = np.arange(self.shape[1])[key[1]]
        return np.asarray(np.add.outer(per_row * rows, per_col * cols) + origin)


def _xy(transform: Transform, rows: int, cols: int) -> dict[str, Variable]:
    a, b, c, d, e, f = _centred(transform)
    if b == 0 and d == 0:
        x = Variable(("x",), a * np.arange(cols) + c)
        y = Variable(("y",), e * np.arange(rows) + f)
        return {"x": x, "y": y}
    grids = (AffineGrid(transform, (rows, cols), axis=i) for i in (0, 1))
    xc, yc = (Variable(("y", "x"), indexing.LazilyIndexedArray(g)) for g in grids)
    return {"xc": xc, "yc": yc}


def _gcps(geo: GeoReference, scale: tuple[float, float]) -> str:
    """The ground control points as rioxarray writes them (a GeoJSON
    FeatureCollection), their pixel positions scaled to the level."""
    features = [
        {
            "type": "Feature",
            "properties": {
                "id": str(i + 1),
                "info": "",
                "row": p.row * scale[0],
                "col": p.col * scale[1],
            },
            "geometry": {"type": "Point", "coordinates": [p.x, p.y, p.z]},
        }
        for i, p in enumerate(geo.gcps)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features})


def geo_coords(
    geo: GeoReference,
    base: tuple[int, int],
    dims: Sequence[str],
    shape: Sequence[int],
    /,
) -> dict[str, Variable]:
    """The coordinates of a level of dimensions ``dims`` (see :func:`geo_dims`) and
    ``shape`` of a series georeferenced by ``geo`` whose level 0 has ``base = (rows,
    cols)`` pixels.

    >>> geo = GeoReference(transform=(10.0, 0.0, 500.0, 0.0, -10.0, 900.0), crs_wkt="WKT")
    >>> coords = geo_coords(geo, (4, 6), ("band", "y", "x"), (1, 2, 3))
    >>> coords["x"].values.tolist(), coords["y"].values.tolist(), coords["band"].values.tolist()
    ([510.0, 530.0, 550.0], [890.0, 870.0], [1])
    >>> coords["spatial_ref"].attrs["GeoTransform"]
    '500.0 20.0 0.0 900.0 0.0 -20.0'
    """
    yx = (shape[dims.index("y")], shape[dims.index("x")])
    attrs: dict[str, Any] = {}
    wkt = geo.wkt()
    if wkt is not None:
        attrs["crs_wkt"] = attrs["spatial_ref"] = wkt
    coords: dict[str, Variable] = {}
    transform = geo.level_transform(base, yx)
    if transform is not None:
        attrs["GeoTransform"] = geotransform_text(transform)
        coords.update(_xy(transform, *yx))
    if geo.gcps:
        attrs["gcps"] = _gcps(geo, (yx[0] / base[0], yx[1] / base[1]))
    coords[GRID_MAPPING] = Variable((), np.int64(0), attrs)
    if "band" in dims:
        coords["band"] = Variable(("band",), np.arange(1, shape[dims.index("band")] + 1))
    return coords
