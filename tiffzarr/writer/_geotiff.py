"""GeoTIFF tags from a simple dict: CRS, pixel scale and tie point (or transform), nodata.

Keys of the dict (all optional):

``crs``
    An EPSG code (``32633`` or ``"EPSG:32633"``); codes 4000-4999 are taken as
    geographic, others as projected, unless ``model`` says otherwise.
``model``
    ``"projected"`` or ``"geographic"``.
``transform``
    An affine transform ``(a, b, c, d, e, f)`` in rasterio's order
    (``x = a * col + b * row + c``, ``y = d * col + e * row + f``); without
    rotation it is written as pixel scale and tie point, else as
    ModelTransformation.
``pixel_scale``, ``tiepoint``
    ``(sx, sy[, sz])`` and ``(i, j, k, x, y, z)`` (or several tie points).
``raster_type``
    ``"area"`` (the default) or ``"point"``.
``nodata``
    Written as GDAL_NODATA on every IFD (and used by ``mean`` downsampling).
``citation``
    GTCitationGeoKey text.
``geokeys``
    ``{key: value}`` added to (or overriding) the GeoKeys (codes, or names as GeoTIFF
    1.1 or 1.0 names them): ints, floats or strings.

>>> tags, every = geotiff_tags({"crs": 32633, "transform": (10, 0, 500000, 0, -10, 4e6),
...                             "nodata": 0})
>>> [t.code for t in tags], [t.value for t in every]
([33550, 33922, 34735], ['0'])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tiffzarr.format._geokeys import (
    GDAL_NODATA,
    GEO_ASCII_PARAMS,
    GEO_DOUBLE_PARAMS,
    GEO_KEY_DIRECTORY,
    MODEL_PIXEL_SCALE,
    MODEL_TIEPOINT,
    MODEL_TRANSFORMATION,
    GeoKey,
    geokey_code,
    geokey_directory,
    nodata_text,
)
from tiffzarr.format._serialize import Tag

__all__ = ["geotiff_nodata", "geotiff_tags"]

_KNOWN = {
    "crs",
    "model",
    "transform",
    "pixel_scale",
    "tiepoint",
    "raster_type",
    "nodata",
    "citation",
    "geokeys",
}


def geotiff_nodata(geotiff: Mapping[str, Any] | None, /) -> float | None:
    value = None if geotiff is None else geotiff.get("nodata")
    return None if value is None else float(value)


def _epsg(value: Any) -> int:
    text = str(value).upper().removeprefix("EPSG:")
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"crs {value!r} is not an EPSG code") from None


def _georeference(geotiff: Mapping[str, Any]) -> list[Tag]:
    tags: list[Tag] = []
    transform = geotiff.get("transform")
    if transform is not None:
        a, b, c, d, e, f = (float(v) for v in tuple(transform)[:6])
        if b or d:
            matrix = [a, b, 0, c, d, e, 0, f, 0, 0, 0, 0, 0, 0, 0, 1]
            return [Tag(MODEL_TRANSFORMATION, 12, matrix)]
        tags += [
            Tag(MODEL_PIXEL_SCALE, 12, [a, -e, 0.0]),
            Tag(MODEL_TIEPOINT, 12, [0, 0, 0, c, f, 0]),
        ]
        return tags
    if geotiff.get("pixel_scale") is not None:
        scale = [float(v) for v in geotiff["pixel_scale"]]
        tags.append(Tag(MODEL_PIXEL_SCALE, 12, [*scale, 0.0][:3]))
    if geotiff.get("tiepoint") is not None:
        tiepoints = np.asarray(geotiff["tiepoint"], np.float64).reshape(-1)
        tags.append(Tag(MODEL_TIEPOINT, 12, tiepoints))
    return tags


def _geokeys(geotiff: Mapping[str, Any]) -> dict[int, Any]:
    keys: dict[int, Any] = {}
    if "crs" in geotiff:
        code = _epsg(geotiff["crs"])
        model = geotiff.get("model") or ("geographic" if 4000 <= code < 5000 else "projected")
        if model not in ("projected", "geographic"):
            raise ValueError(f"geotiff model {model!r} is not 'projected' or 'geographic'")
        keys[GeoKey.MODEL_TYPE] = 1 if model == "projected" else 2
        keys[GeoKey.PROJECTED_CRS if model == "projected" else GeoKey.GEODETIC_CRS] = code
    raster = geotiff.get("raster_type", "area")
    if raster not in ("area", "point"):
        raise ValueError(f"geotiff raster_type {raster!r} is not 'area' or 'point'")
    if keys or "geokeys" in geotiff:
        keys[GeoKey.RASTER_TYPE] = 1 if raster == "area" else 2
    if geotiff.get("citation"):
        keys[GeoKey.CITATION] = str(geotiff["citation"])
    keys.update({geokey_code(k): v for k, v in dict(geotiff.get("geokeys", {})).items()})
    return keys


def _directory(keys: Mapping[int, Any]) -> list[Tag]:
    """GeoKeyDirectory with GeoDoubleParams and GeoAsciiParams for non-short values."""
    directory, doubles, text = geokey_directory(keys)
    tags = [Tag(GEO_KEY_DIRECTORY, 3, directory)]
    if doubles:
        tags.append(Tag(GEO_DOUBLE_PARAMS, 12, doubles))
    if text:
        tags.append(Tag(GEO_ASCII_PARAMS, 2, text))
    return tags


def geotiff_tags(geotiff: Mapping[str, Any], /) -> tuple[list[Tag], list[Tag]]:
    """Tags of the first IFD (georeferencing, GeoKeys) and of every IFD (GDAL_NODATA).

    Raises :class:`ValueError` for unknown keys or values.
    """
    unknown = set(geotiff) - _KNOWN
    if unknown:
        raise ValueError(f"unknown geotiff keys {sorted(unknown)}; known: {sorted(_KNOWN)}")
    first = _georeference(geotiff)
    keys = _geokeys(geotiff)
    if keys:
        first += _directory(keys)
    every = []
    if geotiff.get("nodata") is not None:
        every.append(Tag(GDAL_NODATA, 2, nodata_text(geotiff["nodata"])))
    return first, every
