"""The coordinate reference system that a GeoTIFF's GeoKeys name, as GDAL reads it.

A CRS named by an EPSG code (ProjectedCRSGeoKey, or GeodeticCRSGeoKey for
geographic and geocentric models) is that code. Otherwise the keys define it:
GDAL reads an ESRI PE string in a citation key as ESRI WKT, and builds the rest
from the projection method (ProjMethodGeoKey, a GeoTIFF coordinate
transformation code, mapped to its EPSG method below, with the keys GDAL reads
each parameter from) or an EPSG conversion (ProjectionGeoKey), on a geodetic
CRS made of the datum, ellipsoid and prime meridian keys (or their code, with
explicit ellipsoid keys overriding it, as GDAL does) and the names in the
``GCS Name = …|Datum = …|`` citation GDAL writes. The text of such a CRS is
WKT2 built with pyproj (the optional ``geo`` extra, imported when needed);
without pyproj, :func:`geokeys_crs` says so. A vertical CRS is not combined with
the horizontal one (GDAL's default, ``GTIFF_REPORT_COMPD_CS=NO``); a vertical
code alone is the CRS.

>>> from tiffzarr.format._geokeys import GeoKey
>>> geokeys_crs({GeoKey.MODEL_TYPE: 1, GeoKey.PROJECTED_CRS: 32618}).code
'EPSG:32618'
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from tiffzarr.format._geokeys import USER_DEFINED, GeoKey

__all__ = [
    "ESRI_PE",
    "PROJ_METHODS",
    "CrsInfo",
    "ProjMethod",
    "ProjParameter",
    "code_wkt",
    "geokeys_crs",
]

ESRI_PE = "ESRI PE String = "
"""The prefix of a citation that holds the CRS as ESRI WKT."""

_LAT = (GeoKey.NAT_ORIGIN_LAT, GeoKey.FALSE_ORIGIN_LAT, GeoKey.CENTER_LAT)
_LON = (GeoKey.NAT_ORIGIN_LONG, GeoKey.FALSE_ORIGIN_LONG, GeoKey.CENTER_LONG)
_CENTER_LAT = (GeoKey.CENTER_LAT, GeoKey.NAT_ORIGIN_LAT, GeoKey.FALSE_ORIGIN_LAT)
_CENTER_LON = (GeoKey.CENTER_LONG, GeoKey.NAT_ORIGIN_LONG, GeoKey.FALSE_ORIGIN_LONG)
_ORIGIN_LAT = (GeoKey.FALSE_ORIGIN_LAT, GeoKey.NAT_ORIGIN_LAT, GeoKey.CENTER_LAT)
_ORIGIN_LON = (GeoKey.FALSE_ORIGIN_LONG, GeoKey.NAT_ORIGIN_LONG, GeoKey.CENTER_LONG)
_POLE_LON = (GeoKey.STRAIGHT_VERT_POLE_LONG, *_LON)
_EASTING = (GeoKey.FALSE_EASTING, GeoKey.CENTER_EASTING, GeoKey.FALSE_ORIGIN_EASTING)
_NORTHING = (GeoKey.FALSE_NORTHING, GeoKey.CENTER_NORTHING, GeoKey.FALSE_ORIGIN_NORTHING)
_ORIGIN_EASTING = (GeoKey.FALSE_ORIGIN_EASTING, GeoKey.FALSE_EASTING, GeoKey.CENTER_EASTING)
_ORIGIN_NORTHING = (GeoKey.FALSE_ORIGIN_NORTHING, GeoKey.FALSE_NORTHING, GeoKey.CENTER_NORTHING)
_SCALE = (GeoKey.SCALE_AT_NAT_ORIGIN, GeoKey.SCALE_AT_CENTER)
_CENTER_SCALE = (GeoKey.SCALE_AT_CENTER, GeoKey.SCALE_AT_NAT_ORIGIN)


@dataclass(frozen=True, slots=True)
class ProjParameter:
    """A projection parameter: its EPSG code and name, what it measures, the GeoKeys
    it is read from (the first present wins) and its value when none is."""

    epsg: int
    name: str
    kind: Literal["angle", "length", "scale"]
    keys: tuple[int, ...]
    default: float = 0.0


@dataclass(frozen=True, slots=True)
class ProjMethod:
    """A projection method as PROJ names it (``epsg``: its EPSG code, if it has one)."""

    name: str
    epsg: int | None
    parameters: tuple[ProjParameter, ...]


def _angle(epsg: int, name: str, keys: tuple[int, ...], default: float = 0.0) -> ProjParameter:
    return ProjParameter(epsg, name, "angle", keys, default)


_NAT_LAT = _angle(8801, "Latitude of natural origin", _LAT)
_NAT_LON = _angle(8802, "Longitude of natural origin", _LON)
_NAT_CLAT = _angle(8801, "Latitude of natural origin", _CENTER_LAT)
_NAT_CLON = _angle(8802, "Longitude of natural origin", _CENTER_LON)
_K0 = ProjParameter(8805, "Scale factor at natural origin", "scale", _SCALE, 1.0)
_FE = ProjParameter(8806, "False easting", "length", _EASTING)
_FN = ProjParameter(8807, "False northing", "length", _NORTHING)
_CENTRE = (
    _angle(8811, "Latitude of projection centre", _CENTER_LAT),
    _angle(8812, "Longitude of projection centre", _CENTER_LON),
    _angle(8813, "Azimuth at projection centre", (GeoKey.AZIMUTH_ANGLE,)),
)
_SKEW = _angle(8814, "Angle from Rectified to Skew Grid", (GeoKey.RECTIFIED_GRID_ANGLE,), 90.0)
_KC = ProjParameter(8815, "Scale factor at projection centre", "scale", _CENTER_SCALE, 1.0)
_SP1 = _angle(8823, "Latitude of 1st standard parallel", (GeoKey.STD_PARALLEL1,))
_SP2 = _angle(8824, "Latitude of 2nd standard parallel", (GeoKey.STD_PARALLEL2,))
_CONIC = (
    _angle(8821, "Latitude of false origin", _ORIGIN_LAT),
    _angle(8822, "Longitude of false origin", _ORIGIN_LON),
    _SP1,
    _SP2,
    ProjParameter(8826, "Easting at false origin", "length", _ORIGIN_EASTING),
    ProjParameter(8827, "Northing at false origin", "length", _ORIGIN_NORTHING),
)
_ORIGIN = (_NAT_LAT, _NAT_LON, _FE, _FN)
_SCALED = (_NAT_LAT, _NAT_LON, _K0, _FE, _FN)
_CENTRED = (_NAT_CLAT, _NAT_CLON, _FE, _FN)
_MERIDIAN = (_NAT_CLON, _FE, _FN)

PROJ_METHODS: Mapping[int, ProjMethod] = MappingProxyType(
    {
        1: ProjMethod("Transverse Mercator", 9807, _SCALED),
        3: ProjMethod(
            "Hotine Oblique Mercator (variant A)", 9812, (*_CENTRE, _SKEW, _KC, _FE, _FN)
        ),
        4: ProjMethod("Laborde Oblique Mercator", 9813, (*_CENTRE, _KC, _FE, _FN)),
        7: ProjMethod("Mercator (variant A)", 9804, _SCALED),
        8: ProjMethod("Lambert Conic Conformal (2SP)", 9802, _CONIC),
        9: ProjMethod("Lambert Conic Conformal (1SP)", 9801, _SCALED),
        10: ProjMethod("Lambert Azimuthal Equal Area", 9820, _CENTRED),
        11: ProjMethod("Albers Equal Area", 9822, _CONIC),
        12: ProjMethod("Azimuthal Equidistant", 1125, _CENTRED),
        13: ProjMethod("Equidistant Conic", 1119, _CONIC),
        14: ProjMethod("Stereographic", None, (_NAT_CLAT, _NAT_CLON, _K0, _FE, _FN)),
        15: ProjMethod(
            "Polar Stereographic (variant A)",
            9810,
            (_NAT_LAT, _angle(8802, "Longitude of natural origin", _POLE_LON), _K0, _FE, _FN),
        ),
        16: ProjMethod("Oblique Stereographic", 9809, _SCALED),
        17: ProjMethod("Equidistant Cylindrical", 1028, (_SP1, _NAT_CLON, _FE, _FN)),
        18: ProjMethod("Cassini-Soldner", 9806, _ORIGIN),
        19: ProjMethod("Gnomonic", None, _CENTRED),
        20: ProjMethod("Miller Cylindrical", None, _MERIDIAN),
        21: ProjMethod("Orthographic", 9840, _CENTRED),
        22: ProjMethod("American Polyconic", 9818, _ORIGIN),
        23: ProjMethod("Robinson", None, _MERIDIAN),
        24: ProjMethod("Sinusoidal", None, _MERIDIAN),
        25: ProjMethod("Van Der Grinten", None, _MERIDIAN),
        26: ProjMethod("New Zealand Map Grid", 9811, _ORIGIN),
        27: ProjMethod("Transverse Mercator (South Orientated)", 9808, _SCALED),
        28: ProjMethod("Lambert Cylindrical Equal Area", 9835, (_SP1, _NAT_LON, _FE, _FN)),
        9815: ProjMethod(
            "Hotine Oblique Mercator (variant B)",
            9815,
            (
                *_CENTRE,
                _SKEW,
                _KC,
                ProjParameter(8816, "Easting at projection centre", "length", _EASTING),
                ProjParameter(8817, "Northing at projection centre", "length", _NORTHING),
            ),
        ),
    }
)
"""GeoTIFF coordinate transformation code (ProjMethodGeoKey) → the PROJ method, with
the GeoKeys GDAL reads each parameter from."""

_MERCATOR_2SP = ProjMethod("Mercator (variant B)", 9805, (_SP1, _NAT_LON, _FE, _FN))
"""Mercator with a standard parallel: GDAL's choice when ProjStdParallel1GeoKey is set."""
_POLAR_B = ProjMethod(
    "Polar Stereographic (variant B)",
    9829,
    (
        _angle(8832, "Latitude of standard parallel", _LAT),
        _angle(8833, "Longitude of origin", _POLE_LON),
        _FE,
        _FN,
    ),
)
"""Polar stereographic whose origin latitude is not a pole: that latitude is the
standard parallel (as PROJ reads GDAL's ``Polar_Stereographic``)."""

ANGULAR_UNITS: Mapping[int, float] = MappingProxyType(
    {
        9101: 180 / math.pi,
        9102: 1.0,
        9103: 1 / 60,
        9104: 1 / 3600,
        9105: 0.9,
        9106: 0.9,
        9109: 180e-6 / math.pi,
        9122: 1.0,
    }
)
"""EPSG angular unit code → degrees per unit."""
LINEAR_UNITS: Mapping[int, tuple[str, float]] = MappingProxyType(
    {
        9001: ("metre", 1.0),
        9002: ("foot", 0.3048),
        9003: ("US survey foot", 1200 / 3937),
        9005: ("Clarke's foot", 0.3047972654),
        9014: ("fathom", 1.8288),
        9030: ("nautical mile", 1852.0),
        9036: ("kilometre", 1000.0),
        9037: ("Clarke's yard", 0.9143917962),
        9093: ("Statute mile", 1609.344),
        9096: ("yard", 0.9144),
    }
)
"""EPSG linear unit code → name and metres per unit."""


@dataclass(frozen=True, slots=True)
class CrsInfo:
    """A CRS found in GeoKeys: its ``code`` (``"EPSG:n"``) when the keys name one,
    else its WKT2 text when pyproj could build it, and ``note`` on what is missing
    and why."""

    code: str | None = None
    wkt: str | None = None
    note: str | None = None


def geokeys_crs(keys: Mapping[int, Any], /) -> CrsInfo:
    """The CRS of GeoKeys by code (see the module docstring)."""
    model = _model(keys)
    if model is None:
        vertical = _code_of(keys, GeoKey.VERTICAL)
        if vertical is not None:  # a vertical CRS alone
            return _from_code(vertical)
        return CrsInfo(note="the GeoKeys name no model type and no CRS code")
    code = _code(keys, model)
    if code is not None:
        return _from_code(code)
    pe = next((t for t in _citations(keys) if t.startswith(ESRI_PE)), None)
    if model not in (1, 2) and pe is None:
        return CrsInfo(note=f"GTModelTypeGeoKey {model}: no CRS can be built from the GeoKeys")
    try:
        import pyproj
    except ImportError:
        return CrsInfo(
            note="the CRS is defined by GeoKeys, not a code; install pyproj (the 'geo' "
            "extra) to build its WKT"
        )
    try:
        if pe is not None:
            crs = _horizontal(pyproj.CRS.from_wkt(pe[len(ESRI_PE) :]))
        else:
            crs = pyproj.CRS.from_json_dict(_crs_json(keys, model))
    except (pyproj.exceptions.CRSError, KeyError, TypeError, ValueError) as exc:
        return CrsInfo(note=f"no CRS could be built from the GeoKeys: {exc}")
    return CrsInfo(wkt=crs.to_wkt())


def _model(keys: Mapping[int, Any]) -> int | None:
    model = keys.get(GeoKey.MODEL_TYPE)
    if isinstance(model, int) and model != USER_DEFINED:
        return model
    if _code_of(keys, GeoKey.PROJECTED_CRS) is not None:
        return 1
    if _code_of(keys, GeoKey.GEODETIC_CRS) is not None:
        return 2
    return USER_DEFINED if model == USER_DEFINED else None


def _code_of(keys: Mapping[int, Any], key: int) -> int | None:
    """The code a key gives (``None`` when it is missing, user-defined or no code)."""
    value = keys.get(key)
    return int(value) if isinstance(value, int) and 0 < value < USER_DEFINED else None


def _code(keys: Mapping[int, Any], model: int) -> int | None:
    """The EPSG code that names the whole (horizontal) CRS, if one does."""
    return _code_of(keys, GeoKey.PROJECTED_CRS if model == 1 else GeoKey.GEODETIC_CRS)


def _from_code(code: int) -> CrsInfo:
    """A CRS named by its code; its WKT is built only when asked (:func:`code_wkt`)."""
    return CrsInfo(code=f"EPSG:{code}")


@functools.lru_cache(maxsize=64)
def code_wkt(code: str, /) -> str | None:
    """The WKT2 text of the CRS a code names (``"EPSG:32618"``), built with pyproj (the
    'geo' extra, imported now: a file's open does not pay for it); ``None`` without
    pyproj or when PROJ's database does not know the code."""
    try:
        import pyproj
    except ImportError:
        return None
    try:
        return str(pyproj.CRS.from_user_input(code).to_wkt())
    except pyproj.exceptions.CRSError:
        return None


def _citations(keys: Mapping[int, Any]) -> list[str]:
    found = (keys.get(k) for k in (GeoKey.PROJECTED_CITATION, GeoKey.CITATION))
    return [t for t in found if isinstance(t, str)]


def _horizontal(crs: Any) -> Any:
    """The horizontal part of a compound CRS (GDAL's default), else the CRS."""
    return crs.sub_crs_list[0] if crs.is_compound and crs.sub_crs_list else crs


def _number(keys: Mapping[int, Any], code: int) -> float | None:
    value = keys.get(code)
    if isinstance(value, tuple):
        value = value[0] if value else None
    return float(value) if isinstance(value, int | float) else None


def _crs_json(keys: Mapping[int, Any], model: int) -> dict[str, Any]:
    """PROJJSON of the CRS the keys define (geographic, or projected)."""
    base = _geographic_json(keys)
    if model == 2:
        return base
    unit = _linear_unit(keys)
    conversion = _conversion_json(keys, unit)
    return {
        "type": "ProjectedCRS",
        "name": _citation_name(keys.get(GeoKey.PROJECTED_CITATION))
        or _citation_name(keys.get(GeoKey.CITATION))
        or "unnamed",
        "base_crs": base,
        "conversion": conversion,
        "coordinate_system": {"subtype": "Cartesian", "axis": _axes(conversion, unit)},
    }


def _axes(conversion: Mapping[str, Any], unit: Any) -> list[dict[str, Any]]:
    """Easting and northing; both along meridians away from the pole of a polar
    stereographic projection, as GDAL (and PROJ) define those."""
    directions = ("east", "north")
    if conversion["method"].get("id", {}).get("code") in (9810, 9829):
        latitude = conversion["parameters"][0]["value"]
        directions = ("south", "south") if latitude > 0 else ("north", "north")
    return [
        {"name": "Easting", "abbreviation": "E", "direction": directions[0], "unit": unit},
        {"name": "Northing", "abbreviation": "N", "direction": directions[1], "unit": unit},
    ]


def _linear_unit(keys: Mapping[int, Any]) -> Any:
    code = _code_of(keys, GeoKey.PROJ_LINEAR_UNITS)
    size = _number(keys, GeoKey.PROJ_LINEAR_UNIT_SIZE)
    if code is not None and code in LINEAR_UNITS and code != 9001:
        name, factor = LINEAR_UNITS[code]
        unit = {"type": "LinearUnit", "name": name, "conversion_factor": factor}
        return {**unit, "id": {"authority": "EPSG", "code": code}}
    if keys.get(GeoKey.PROJ_LINEAR_UNITS) == USER_DEFINED and size and size != 1.0:
        return {"type": "LinearUnit", "name": "unknown", "conversion_factor": size}
    return "metre"


def _degrees_per_unit(keys: Mapping[int, Any]) -> float:
    code = _code_of(keys, GeoKey.GEOG_ANGULAR_UNITS)
    size = _number(keys, GeoKey.GEOG_ANGULAR_UNIT_SIZE)
    if code is not None and code in ANGULAR_UNITS:
        return ANGULAR_UNITS[code]
    return math.degrees(size) if size else 1.0


def _conversion_json(keys: Mapping[int, Any], unit: Any) -> dict[str, Any]:
    projection = _code_of(keys, GeoKey.PROJECTION)
    if projection is not None:
        from pyproj.crs import CoordinateOperation

        operation: dict[str, Any] = CoordinateOperation.from_epsg(projection).to_json_dict()
        operation.pop("$schema", None)
        return operation
    code = keys.get(GeoKey.PROJ_METHOD)
    method = PROJ_METHODS.get(code) if isinstance(code, int) else None
    if method is None:
        raise ValueError(f"ProjMethodGeoKey {code} is not a projection method tiffzarr knows")
    if code == 7 and GeoKey.STD_PARALLEL1 in keys:
        method = _MERCATOR_2SP
    degrees = _degrees_per_unit(keys)
    values = [_parameter(keys, p, degrees) for p in method.parameters]
    if code == 15 and abs(abs(values[0]) - 90.0) > 1e-9:
        method = _POLAR_B
        values = [values[0], values[1], values[3], values[4]]
    units = {"angle": "degree", "length": unit, "scale": "unity"}
    entry: dict[str, Any] = {"name": method.name}
    if method.epsg is not None:
        entry["id"] = {"authority": "EPSG", "code": method.epsg}
    return {
        "name": "unnamed",
        "method": entry,
        "parameters": [
            {
                "name": p.name,
                "value": v,
                "unit": units[p.kind],
                "id": {"authority": "EPSG", "code": p.epsg},
            }
            for p, v in zip(method.parameters, values, strict=True)
        ],
    }


def _parameter(keys: Mapping[int, Any], parameter: ProjParameter, degrees: float) -> float:
    for key in parameter.keys:
        value = _number(keys, key)
        if value is not None:
            return value * degrees if parameter.kind == "angle" else value
    return parameter.default


def _citation_fields(text: Any) -> dict[str, str]:
    """The ``Name = value|`` fields of a citation GDAL wrote (``GCS Name``, ``Datum``...)."""
    if not isinstance(text, str) or " = " not in text:
        return {}
    out = {}
    for part in text.split("|"):
        name, sep, value = part.partition(" = ")
        if sep and value.strip():
            out[name.strip()] = value.strip()
    return out


def _citation_name(text: Any) -> str | None:
    if not isinstance(text, str) or not text.strip() or text.startswith(ESRI_PE):
        return None
    fields = _citation_fields(text)
    return fields.get("PCS Name") or fields.get("GCS Name") or (None if fields else text.strip())


def _geographic_json(keys: Mapping[int, Any]) -> dict[str, Any]:
    """PROJJSON of the geodetic CRS: its code's, or built from the datum keys; explicit
    ellipsoid keys override the ellipsoid either way (as in GDAL)."""
    import pyproj

    code = _code_of(keys, GeoKey.GEODETIC_CRS)
    if code is not None:
        crs = pyproj.CRS.from_epsg(code).to_json_dict()
        crs.pop("$schema", None)
        return _override_ellipsoid(crs, keys)
    fields = _citation_fields(keys.get(GeoKey.GEODETIC_CITATION))
    datum = _datum_json(keys, fields)
    name = fields.get("GCS Name") or _citation_name(keys.get(GeoKey.GEODETIC_CITATION))
    axis = [
        {"name": "Latitude", "abbreviation": "lat", "direction": "north", "unit": "degree"},
        {"name": "Longitude", "abbreviation": "lon", "direction": "east", "unit": "degree"},
    ]
    return {
        "type": "GeographicCRS",
        "name": name or datum["name"],
        "datum_ensemble" if datum.get("type") == "DatumEnsemble" else "datum": datum,
        "coordinate_system": {"subtype": "ellipsoidal", "axis": axis},
    }


def _datum_json(keys: Mapping[int, Any], fields: Mapping[str, str]) -> dict[str, Any]:
    from pyproj.crs import Datum, Ellipsoid, PrimeMeridian

    code = _code_of(keys, GeoKey.GEODETIC_DATUM)
    if code is not None:
        datum = Datum.from_epsg(code).to_json_dict()
        datum.pop("$schema", None)
        return _override_ellipsoid(datum, keys)
    ellipsoid_code = _code_of(keys, GeoKey.ELLIPSOID)
    ellipsoid: dict[str, Any] = {"name": fields.get("Ellipsoid", "unnamed")}
    if ellipsoid_code is not None:
        ellipsoid = Ellipsoid.from_epsg(ellipsoid_code).to_json_dict()
        ellipsoid.pop("$schema", None)
    meridian_code = _code_of(keys, GeoKey.PRIME_MERIDIAN)
    if meridian_code is not None:
        meridian = PrimeMeridian.from_epsg(meridian_code).to_json_dict()
        meridian.pop("$schema", None)
    else:
        longitude = _number(keys, GeoKey.PRIME_MERIDIAN_LONGITUDE) or 0.0
        meridian = {"name": fields.get("Primem", "Greenwich"), "longitude": longitude}
    datum = {
        "type": "GeodeticReferenceFrame",
        "name": fields.get("Datum", "unknown"),
        "ellipsoid": ellipsoid,
        "prime_meridian": meridian,
    }
    return _override_ellipsoid(datum, keys)


def _override_ellipsoid(obj: dict[str, Any], keys: Mapping[int, Any]) -> dict[str, Any]:
    """``obj`` (a CRS or datum as PROJJSON) with the ellipsoid the keys give explicitly;
    identifiers dropped where that changes it."""
    where = next((k for k in ("datum", "datum_ensemble") if k in obj), None)
    holder = obj if where is None else obj[where]
    old = holder.get("ellipsoid", {})
    a = _number(keys, GeoKey.SEMI_MAJOR_AXIS)
    inverse = _number(keys, GeoKey.INV_FLATTENING)
    b = _number(keys, GeoKey.SEMI_MINOR_AXIS)
    if a is None:
        if "semi_major_axis" in old or "radius" in old:
            return obj
        a, inverse, b = 6378137.0, 298.257223563, None  # GDAL: "unretrievable - using WGS84"
    if not inverse and b is not None and b != a:
        inverse = a / (a - b)
    new = {"name": old.get("name", "unnamed")}
    if inverse:
        new.update(semi_major_axis=a, inverse_flattening=inverse)
    elif b is not None and b != a:
        new.update(semi_major_axis=a, semi_minor_axis=b)
    else:
        new["radius"] = a
    if _same_ellipsoid(old, new):
        return obj
    holder["ellipsoid"] = new
    for part in (obj, holder):
        part.pop("id", None)
    if where == "datum_ensemble" or holder.get("type") == "DatumEnsemble":
        frame = {  # a changed ensemble is one datum of that name
            "type": "GeodeticReferenceFrame",
            "name": holder["name"].removesuffix(" ensemble"),
            "ellipsoid": new,
        }
        if where is None:
            return frame
        del obj[where]
        obj["datum"] = frame
    return obj


def _same_ellipsoid(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    def shape(e: Mapping[str, Any]) -> tuple[float, float] | None:
        a = e.get("semi_major_axis", e.get("radius"))
        if not isinstance(a, int | float):
            return None
        if "inverse_flattening" in e:
            return float(a), float(e["inverse_flattening"])
        b = e.get("semi_minor_axis", a)
        return float(a), (float(a) / (float(a) - float(b)) if b != a else 0.0)

    one, two = shape(old), shape(new)
    return (
        one is not None
        and two is not None
        and all(
            math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12) for x, y in zip(one, two, strict=True)
        )
    )
