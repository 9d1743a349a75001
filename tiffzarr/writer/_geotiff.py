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
    ``{key: value}`` added to (or overriding) the GeoKeys: ints, floats or strings.

>>> tags, every = geotiff_tags({"crs": 32633, "transform": (10, 0, 500000, 0, -10, 4e6),
...                             "nodata": 0})
>>> [t.code for t in tags], [t.value for t in every]
([33550, 33922, 34735], ['0'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tiffzarr.format._serialize import Tag

__all__ = ["geotiff_nodata", "geotiff_tags", "nodata_text"]

_MODEL_TYPE = 1024
_RASTER_TYPE = 1025
_CITATION = 1026
_GEOGRAPHIC = 2048
_PROJECTED = 3072
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


def nodata_text(value: float, /) -> str:
    """GDAL_NODATA text for a value.

    >>> nodata_text(0), nodata_text(-9999.0), nodata_text(0.5), nodata_text(float("nan"))
    ('0', '-9999', '0.5', 'nan')
    """
    number = float(value)
    if np.isnan(number):
        return "nan"
    if number.is_integer() and abs(number) < 2**63:
        return str(int(number))
    return repr(number)


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
            return [Tag(34264, 12, matrix)]
        tags += [Tag(33550, 12, [a, -e, 0.0]), Tag(33922, 12, [0, 0, 0, c, f, 0])]
        return tags
    if geotiff.get("pixel_scale") is not None:
        scale = [float(v) for v in geotiff["pixel_scale"]]
        tags.append(Tag(33550, 12, [*scale, 0.0][:3]))
    if geotiff.get("tiepoint") is not None:
        tags.append(Tag(33922, 12, np.asarray(geotiff["tiepoint"], np.float64).reshape(-1)))
    return tags


def _geokeys(geotiff: Mapping[str, Any]) -> dict[int, Any]:
    keys: dict[int, Any] = {}
    if "crs" in geotiff:
        code = _epsg(geotiff["crs"])
        model = geotiff.get("model") or ("geographic" if 4000 <= code < 5000 else "projected")
        if model not in ("projected", "geographic"):
            raise ValueError(f"geotiff model {model!r} is not 'projected' or 'geographic'")
        keys[_MODEL_TYPE] = 1 if model == "projected" else 2
        keys[_PROJECTED if model == "projected" else _GEOGRAPHIC] = code
    raster = geotiff.get("raster_type", "area")
    if raster not in ("area", "point"):
        raise ValueError(f"geotiff raster_type {raster!r} is not 'area' or 'point'")
    if keys or "geokeys" in geotiff:
        keys[_RASTER_TYPE] = 1 if raster == "area" else 2
    if geotiff.get("citation"):
        keys[_CITATION] = str(geotiff["citation"])
    keys.update({int(k): v for k, v in dict(geotiff.get("geokeys", {})).items()})
    return keys


def _directory(keys: Mapping[int, Any]) -> list[Tag]:
    """GeoKeyDirectory with GeoDoubleParams and GeoAsciiParams for non-short values."""
    entries: list[int] = []
    doubles: list[float] = []
    ascii_ = ""
    for key in sorted(keys):
        value = keys[key]
        if isinstance(value, str):
            entries += [key, 34737, len(value) + 1, len(ascii_)]
            ascii_ += value + "|"
        elif isinstance(value, float) or (isinstance(value, Sequence) and value):
            values = [float(v) for v in (value if isinstance(value, Sequence) else [value])]
            entries += [key, 34736, len(values), len(doubles)]
            doubles += values
        else:
            entries += [key, 0, 1, int(value)]
    tags = [Tag(34735, 3, [1, 1, 0, len(keys), *entries])]
    if doubles:
        tags.append(Tag(34736, 12, doubles))
    if ascii_:
        tags.append(Tag(34737, 2, ascii_))
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
        every.append(Tag(42113, 2, nodata_text(geotiff["nodata"])))
    return first, every
