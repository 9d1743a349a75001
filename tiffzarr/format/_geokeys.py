"""GeoTIFF: the GeoKey table, the GeoKey directory, model transforms, nodata and RPCs.

A GeoTIFF places its raster on the Earth with a few tags: the GeoKey directory
(34735) and its double and ASCII parameters (34736, 34737) name the coordinate
reference system; ModelPixelScale (33550) with ModelTiepoint (33922), or
ModelTransformation (34264), map pixels to model coordinates; several tie
points without a scale are ground control points. GDAL adds GDAL_NODATA
(42113), GDAL_METADATA (42112, see :mod:`tiffzarr.format._gdal`) and reads RPC
coefficients (50844). Keys are named as GeoTIFF 1.1 names them (OGC 19-008r4);
the 1.0 names are accepted as aliases. Readers and the writer share these
tables; CRSs are built from the keys in :mod:`tiffzarr.format._geocrs`.

>>> keys = parse_geokeys([1, 1, 0, 2, 1024, 0, 1, 1, 3072, 0, 1, 32618])
>>> geokey_names(keys.keys)
{'GTModelTypeGeoKey': 1, 'ProjectedCRSGeoKey': 32618}
>>> model_transform(pixel_scale=(30.0, 30.0, 0.0), tiepoints=(0, 0, 0, 1e5, 2e5, 0))
((30.0, 0.0, 100000.0, 0.0, -30.0, 200000.0), ())
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

__all__ = [
    "GDAL_METADATA",
    "GDAL_NODATA",
    "GEOKEY_NAMES",
    "GEOTIFF_TAGS",
    "GEO_ASCII_PARAMS",
    "GEO_DOUBLE_PARAMS",
    "GEO_KEY_DIRECTORY",
    "MODEL_PIXEL_SCALE",
    "MODEL_TIEPOINT",
    "MODEL_TRANSFORMATION",
    "RPC_COEFFICIENTS",
    "RPC_NAMES",
    "USER_DEFINED",
    "GeoKey",
    "ParsedGeoKeys",
    "Tiepoint",
    "Transform",
    "geokey_code",
    "geokey_directory",
    "geokey_names",
    "model_transform",
    "nodata_text",
    "parse_geokeys",
    "parse_nodata",
    "parse_rpcs",
    "pixel_is_point",
]

MODEL_PIXEL_SCALE = 33550
MODEL_TIEPOINT = 33922
MODEL_TRANSFORMATION = 34264
GEO_KEY_DIRECTORY = 34735
GEO_DOUBLE_PARAMS = 34736
GEO_ASCII_PARAMS = 34737
GDAL_METADATA = 42112
GDAL_NODATA = 42113
RPC_COEFFICIENTS = 50844
GEOTIFF_TAGS = frozenset(
    {
        MODEL_PIXEL_SCALE,
        MODEL_TIEPOINT,
        MODEL_TRANSFORMATION,
        GEO_KEY_DIRECTORY,
        GDAL_NODATA,
        RPC_COEFFICIENTS,
    }
)
"""Tags that make a page georeferenced (GDAL_NODATA included: GDAL's nodata travels
with the georeferencing; GDAL_METADATA alone does not)."""

USER_DEFINED = 32767
"""The GeoKey value that says "defined by other keys"."""

Transform = tuple[float, float, float, float, float, float]
"""``(a, b, c, d, e, f)``: ``x = a * col + b * row + c``, ``y = d * col + e * row + f``."""
Tiepoint = tuple[float, float, float, float, float]
"""A ground control point ``(row, col, x, y, z)``."""


class GeoKey(enum.IntEnum):
    """GeoKey codes (GeoTIFF 1.1, plus the libgeotiff keys GDAL writes)."""

    MODEL_TYPE = 1024
    RASTER_TYPE = 1025
    CITATION = 1026
    GEODETIC_CRS = 2048
    GEODETIC_CITATION = 2049
    GEODETIC_DATUM = 2050
    PRIME_MERIDIAN = 2051
    GEOG_LINEAR_UNITS = 2052
    GEOG_LINEAR_UNIT_SIZE = 2053
    GEOG_ANGULAR_UNITS = 2054
    GEOG_ANGULAR_UNIT_SIZE = 2055
    ELLIPSOID = 2056
    SEMI_MAJOR_AXIS = 2057
    SEMI_MINOR_AXIS = 2058
    INV_FLATTENING = 2059
    GEOG_AZIMUTH_UNITS = 2060
    PRIME_MERIDIAN_LONGITUDE = 2061
    TOWGS84 = 2062
    PROJ_LINEAR_UNITS_INTERP_CORRECT = 3059
    PROJECTED_CRS = 3072
    PROJECTED_CITATION = 3073
    PROJECTION = 3074
    PROJ_METHOD = 3075
    PROJ_LINEAR_UNITS = 3076
    PROJ_LINEAR_UNIT_SIZE = 3077
    STD_PARALLEL1 = 3078
    STD_PARALLEL2 = 3079
    NAT_ORIGIN_LONG = 3080
    NAT_ORIGIN_LAT = 3081
    FALSE_EASTING = 3082
    FALSE_NORTHING = 3083
    FALSE_ORIGIN_LONG = 3084
    FALSE_ORIGIN_LAT = 3085
    FALSE_ORIGIN_EASTING = 3086
    FALSE_ORIGIN_NORTHING = 3087
    CENTER_LONG = 3088
    CENTER_LAT = 3089
    CENTER_EASTING = 3090
    CENTER_NORTHING = 3091
    SCALE_AT_NAT_ORIGIN = 3092
    SCALE_AT_CENTER = 3093
    AZIMUTH_ANGLE = 3094
    STRAIGHT_VERT_POLE_LONG = 3095
    RECTIFIED_GRID_ANGLE = 3096
    VERTICAL = 4096
    VERTICAL_CITATION = 4097
    VERTICAL_DATUM = 4098
    VERTICAL_UNITS = 4099
    COORDINATE_EPOCH = 5120


_NAMES: dict[int, tuple[str, str | None]] = {
    GeoKey.MODEL_TYPE: ("GTModelTypeGeoKey", None),
    GeoKey.RASTER_TYPE: ("GTRasterTypeGeoKey", None),
    GeoKey.CITATION: ("GTCitationGeoKey", None),
    GeoKey.GEODETIC_CRS: ("GeodeticCRSGeoKey", "GeographicTypeGeoKey"),
    GeoKey.GEODETIC_CITATION: ("GeodeticCitationGeoKey", "GeogCitationGeoKey"),
    GeoKey.GEODETIC_DATUM: ("GeodeticDatumGeoKey", "GeogGeodeticDatumGeoKey"),
    GeoKey.PRIME_MERIDIAN: ("PrimeMeridianGeoKey", "GeogPrimeMeridianGeoKey"),
    GeoKey.GEOG_LINEAR_UNITS: ("GeogLinearUnitsGeoKey", None),
    GeoKey.GEOG_LINEAR_UNIT_SIZE: ("GeogLinearUnitSizeGeoKey", None),
    GeoKey.GEOG_ANGULAR_UNITS: ("GeogAngularUnitsGeoKey", None),
    GeoKey.GEOG_ANGULAR_UNIT_SIZE: ("GeogAngularUnitSizeGeoKey", None),
    GeoKey.ELLIPSOID: ("EllipsoidGeoKey", "GeogEllipsoidGeoKey"),
    GeoKey.SEMI_MAJOR_AXIS: ("EllipsoidSemiMajorAxisGeoKey", "GeogSemiMajorAxisGeoKey"),
    GeoKey.SEMI_MINOR_AXIS: ("EllipsoidSemiMinorAxisGeoKey", "GeogSemiMinorAxisGeoKey"),
    GeoKey.INV_FLATTENING: ("EllipsoidInvFlatteningGeoKey", "GeogInvFlatteningGeoKey"),
    GeoKey.GEOG_AZIMUTH_UNITS: ("GeogAzimuthUnitsGeoKey", None),
    GeoKey.PRIME_MERIDIAN_LONGITUDE: (
        "PrimeMeridianLongitudeGeoKey",
        "GeogPrimeMeridianLongGeoKey",
    ),
    GeoKey.TOWGS84: ("GeogTOWGS84GeoKey", None),
    GeoKey.PROJ_LINEAR_UNITS_INTERP_CORRECT: ("ProjLinearUnitsInterpCorrectGeoKey", None),
    GeoKey.PROJECTED_CRS: ("ProjectedCRSGeoKey", "ProjectedCSTypeGeoKey"),
    GeoKey.PROJECTED_CITATION: ("ProjectedCitationGeoKey", "PCSCitationGeoKey"),
    GeoKey.PROJECTION: ("ProjectionGeoKey", None),
    GeoKey.PROJ_METHOD: ("ProjMethodGeoKey", "ProjCoordTransGeoKey"),
    GeoKey.PROJ_LINEAR_UNITS: ("ProjLinearUnitsGeoKey", None),
    GeoKey.PROJ_LINEAR_UNIT_SIZE: ("ProjLinearUnitSizeGeoKey", None),
    GeoKey.STD_PARALLEL1: ("ProjStdParallel1GeoKey", None),
    GeoKey.STD_PARALLEL2: ("ProjStdParallel2GeoKey", None),
    GeoKey.NAT_ORIGIN_LONG: ("ProjNatOriginLongGeoKey", None),
    GeoKey.NAT_ORIGIN_LAT: ("ProjNatOriginLatGeoKey", None),
    GeoKey.FALSE_EASTING: ("ProjFalseEastingGeoKey", None),
    GeoKey.FALSE_NORTHING: ("ProjFalseNorthingGeoKey", None),
    GeoKey.FALSE_ORIGIN_LONG: ("ProjFalseOriginLongGeoKey", None),
    GeoKey.FALSE_ORIGIN_LAT: ("ProjFalseOriginLatGeoKey", None),
    GeoKey.FALSE_ORIGIN_EASTING: ("ProjFalseOriginEastingGeoKey", None),
    GeoKey.FALSE_ORIGIN_NORTHING: ("ProjFalseOriginNorthingGeoKey", None),
    GeoKey.CENTER_LONG: ("ProjCenterLongGeoKey", None),
    GeoKey.CENTER_LAT: ("ProjCenterLatGeoKey", None),
    GeoKey.CENTER_EASTING: ("ProjCenterEastingGeoKey", None),
    GeoKey.CENTER_NORTHING: ("ProjCenterNorthingGeoKey", None),
    GeoKey.SCALE_AT_NAT_ORIGIN: ("ProjScaleAtNatOriginGeoKey", None),
    GeoKey.SCALE_AT_CENTER: ("ProjScaleAtCenterGeoKey", None),
    GeoKey.AZIMUTH_ANGLE: ("ProjAzimuthAngleGeoKey", None),
    GeoKey.STRAIGHT_VERT_POLE_LONG: ("ProjStraightVertPoleLongGeoKey", None),
    GeoKey.RECTIFIED_GRID_ANGLE: ("ProjRectifiedGridAngleGeoKey", None),
    GeoKey.VERTICAL: ("VerticalGeoKey", "VerticalCSTypeGeoKey"),
    GeoKey.VERTICAL_CITATION: ("VerticalCitationGeoKey", None),
    GeoKey.VERTICAL_DATUM: ("VerticalDatumGeoKey", None),
    GeoKey.VERTICAL_UNITS: ("VerticalUnitsGeoKey", None),
    GeoKey.COORDINATE_EPOCH: ("CoordinateEpochGeoKey", None),
}
GEOKEY_NAMES: Mapping[int, str] = MappingProxyType({int(k): v[0] for k, v in _NAMES.items()})
"""GeoKey code → GeoTIFF 1.1 name."""
_CODES: Mapping[str, int] = MappingProxyType(
    {name: int(code) for code, names in _NAMES.items() for name in names if name is not None}
)

RPC_NAMES = (
    "ERR_BIAS",
    "ERR_RAND",
    "LINE_OFF",
    "SAMP_OFF",
    "LAT_OFF",
    "LONG_OFF",
    "HEIGHT_OFF",
    "LINE_SCALE",
    "SAMP_SCALE",
    "LAT_SCALE",
    "LONG_SCALE",
    "HEIGHT_SCALE",
)
"""The scalar RPC coefficients in the order of the RPCCoefficientTag, named as GDAL's
``RPC`` metadata names them; four arrays of 20 polynomial coefficients follow."""
_RPC_ARRAYS = ("LINE_NUM_COEFF", "LINE_DEN_COEFF", "SAMP_NUM_COEFF", "SAMP_DEN_COEFF")


def geokey_code(name: str | int, /) -> int:
    """The code of a GeoKey given by its 1.1 or 1.0 name (or already a code).

    >>> geokey_code("ProjectedCSTypeGeoKey"), geokey_code("ProjectedCRSGeoKey"), geokey_code(1025)
    (3072, 3072, 1025)
    """
    if isinstance(name, int):
        return name
    try:
        return _CODES[name]
    except KeyError:
        raise ValueError(f"unknown GeoKey {name!r}") from None


def geokey_names(keys: Mapping[int, Any], /) -> dict[str, Any]:
    """``{code: value}`` with the codes named (unknown codes as their number)."""
    return {GEOKEY_NAMES.get(code, str(code)): value for code, value in keys.items()}


@dataclass(frozen=True, slots=True)
class ParsedGeoKeys:
    """GeoKeys by code, and what could not be read (keys left out, with why)."""

    keys: dict[int, Any]
    problems: tuple[str, ...] = ()


def parse_geokeys(
    directory: Sequence[int] | np.ndarray,
    doubles: Sequence[float] | np.ndarray | None = None,
    ascii_params: str | None = None,
    /,
) -> ParsedGeoKeys:
    """Read the GeoKey directory: SHORT values inline, DOUBLE and ASCII values from their
    parameter tags (one value, or a tuple of several; text without its ``|`` end).

    >>> parse_geokeys([1, 1, 0, 2, 1026, 34737, 7, 0, 2057, 34736, 1, 0], [6378137.0],
    ...               "WGS 84|").keys
    {1026: 'WGS 84', 2057: 6378137.0}
    >>> parse_geokeys([1, 1, 0, 1, 2057, 34736, 1, 4], [1.0]).problems
    ('GeoKey 2057 points past the 1 GeoDoubleParams values',)
    """
    shorts = [int(v) for v in np.asarray(directory).reshape(-1).tolist()]
    if len(shorts) < 4:
        return ParsedGeoKeys({}, ("the GeoKey directory has no header",))
    values = [] if doubles is None else [float(v) for v in np.asarray(doubles).reshape(-1)]
    text = ascii_params or ""
    count = min(shorts[3], (len(shorts) - 4) // 4)
    keys: dict[int, Any] = {}
    problems = [] if count == shorts[3] else [f"the GeoKey directory lists {shorts[3]} keys"]
    for i in range(count):
        code, location, n, offset = shorts[4 + 4 * i : 8 + 4 * i]
        if location == 0:
            keys[code] = offset
        elif location == GEO_DOUBLE_PARAMS and offset + n <= len(values):
            found = values[offset : offset + n]
            keys[code] = found[0] if n == 1 else tuple(found)
        elif location == GEO_ASCII_PARAMS and offset + n <= len(text):
            keys[code] = text[offset : offset + n].rstrip("|\x00")
        elif location == GEO_KEY_DIRECTORY and offset + n <= len(shorts):
            found_shorts = shorts[offset : offset + n]
            keys[code] = found_shorts[0] if n == 1 else tuple(found_shorts)
        elif location in (GEO_DOUBLE_PARAMS, GEO_ASCII_PARAMS, GEO_KEY_DIRECTORY):
            size = len(values) if location == GEO_DOUBLE_PARAMS else len(text)
            label = {GEO_DOUBLE_PARAMS: "GeoDoubleParams values", GEO_ASCII_PARAMS: "ASCII"}
            problems.append(
                f"GeoKey {code} points past the {size} {label.get(location, 'directory')}"
            )
        else:
            problems.append(f"GeoKey {code} is stored in tag {location}, not a GeoTIFF tag")
    return ParsedGeoKeys(keys, tuple(problems))


def geokey_directory(keys: Mapping[int, Any], /) -> tuple[list[int], list[float], str]:
    """The GeoKeyDirectory, GeoDoubleParams and GeoAsciiParams values of ``keys`` (code →
    int, float, sequence of floats or text), keys sorted as the specification asks.

    >>> geokey_directory({1026: "WGS 84", 1024: 2, 2057: 6378137.0})
    ([1, 1, 0, 3, 1024, 0, 1, 2, 1026, 34737, 7, 0, 2057, 34736, 1, 0], [6378137.0], 'WGS 84|')
    """
    entries: list[int] = []
    doubles: list[float] = []
    text = ""
    for code in sorted(keys):
        value = keys[code]
        if isinstance(value, str):
            entries += [code, GEO_ASCII_PARAMS, len(value) + 1, len(text)]
            text += value + "|"
        elif isinstance(value, float) or (isinstance(value, Sequence) and value):
            floats = [float(v) for v in (value if isinstance(value, Sequence) else [value])]
            entries += [code, GEO_DOUBLE_PARAMS, len(floats), len(doubles)]
            doubles += floats
        else:
            entries += [code, 0, 1, int(value)]
    return [1, 1, 0, len(keys), *entries], doubles, text


def model_transform(
    *,
    pixel_scale: Sequence[float] | np.ndarray | None = None,
    tiepoints: Sequence[float] | np.ndarray | None = None,
    matrix: Sequence[float] | np.ndarray | None = None,
) -> tuple[Transform | None, tuple[Tiepoint, ...]]:
    """The affine transform (of pixel corners, as the tags give it) and the ground
    control points, as GDAL reads them.

    A pixel scale with a tie point wins over ModelTransformation; without either,
    the tie points are ground control points. A negative Y scale is read as a
    north-up image, as GDAL does unless ``GTIFF_HONOUR_NEGATIVE_SCALEY`` is set.

    >>> model_transform(matrix=[2, 1, 0, 10, 1, -2, 0, 20, 0, 0, 0, 0, 0, 0, 0, 1])
    ((2.0, 1.0, 10.0, 1.0, -2.0, 20.0), ())
    >>> model_transform(tiepoints=[0, 0, 0, 5, 6, 0, 9, 4, 0, 7, 8, 1])
    (None, ((0.0, 0.0, 5.0, 6.0, 0.0), (4.0, 9.0, 7.0, 8.0, 1.0)))
    """
    ties = [] if tiepoints is None else [float(v) for v in np.asarray(tiepoints).reshape(-1)]
    scale = [] if pixel_scale is None else [float(v) for v in np.asarray(pixel_scale).reshape(-1)]
    if len(scale) >= 2 and len(ties) >= 6 and scale[0] and scale[1]:
        sx, sy = scale[0], abs(scale[1])
        i, j, _, x, y, _ = ties[:6]
        return (sx, 0.0, x - i * sx, 0.0, -sy, y + j * sy), ()
    m = [] if matrix is None else [float(v) for v in np.asarray(matrix).reshape(-1)]
    if len(m) == 16:
        return (m[0], m[1], m[3], m[4], m[5], m[7]), ()
    points = tuple(
        (ties[k + 1], ties[k], ties[k + 3], ties[k + 4], ties[k + 5])
        for k in range(0, len(ties) - 5, 6)
    )
    return None, points


def pixel_is_point(
    transform: Transform | None, gcps: Sequence[Tiepoint], /
) -> tuple[Transform | None, tuple[Tiepoint, ...]]:
    """Move PixelIsPoint georeferencing to pixel corners as GDAL does (unless
    ``GTIFF_POINT_GEO_IGNORE``): the model coordinates name pixel centres.

    >>> pixel_is_point((10.0, 0.0, 100.0, 0.0, -10.0, 200.0), [(0.0, 0.0, 1.0, 2.0, 0.0)])
    ((10.0, 0.0, 95.0, 0.0, -10.0, 205.0), ((0.5, 0.5, 1.0, 2.0, 0.0),))
    """
    shifted = None
    if transform is not None:
        a, b, c, d, e, f = transform
        shifted = (a, b, c - (a + b) / 2, d, e, f - (d + e) / 2)
    return shifted, tuple((row + 0.5, col + 0.5, x, y, z) for row, col, x, y, z in gcps)


def parse_nodata(text: str, dtype: np.dtype, /) -> int | float | None:
    """GDAL_NODATA as GDAL reports it for a band of ``dtype``: a float (rounded to
    float32 for float32 bands), an int for integer bands; ``None`` when the text is
    not a number.

    >>> parse_nodata("-9999", np.dtype("int16")), parse_nodata(" nan", np.dtype("float32"))
    (-9999, nan)
    >>> parse_nodata("-3.4e+38", np.dtype("float32")), parse_nodata("-inf", np.dtype("f8"))
    (-3.3999999521443642e+38, -inf)
    """
    stripped = text.strip().rstrip("\x00").strip()
    try:
        value = float(stripped)
    except ValueError:
        return None
    if dtype.kind in "iub":
        if not value.is_integer():
            return value
        try:
            return int(stripped)  # exact for 64-bit integers
        except ValueError:
            return int(value)
    if dtype.kind == "f" and dtype.itemsize <= 4 and math.isfinite(value):
        with np.errstate(over="ignore"):
            return float(np.float32(value))
    if dtype.kind == "c" and dtype.itemsize <= 8 and math.isfinite(value):
        return float(np.float32(value))
    return value


def nodata_text(value: float, /) -> str:
    """GDAL_NODATA text for a value.

    >>> nodata_text(0), nodata_text(-9999.0), nodata_text(0.5), nodata_text(float("nan"))
    ('0', '-9999', '0.5', 'nan')
    """
    if isinstance(value, int | np.integer):
        return str(int(value))  # exact for 64-bit integers
    number = float(value)
    if math.isnan(number):
        return "nan"
    if number.is_integer() and abs(number) < 2**63:
        return str(int(number))
    return repr(number)


def parse_rpcs(values: Sequence[float] | np.ndarray, /) -> dict[str, Any]:
    """The RPCCoefficientTag's 92 values by GDAL's RPC names (``{}`` when the count is
    wrong).

    >>> rpcs = parse_rpcs(list(range(92)))
    >>> rpcs["LINE_OFF"], rpcs["SAMP_DEN_COEFF"][:2]
    (2.0, [72.0, 73.0])
    """
    flat = [float(v) for v in np.asarray(values, dtype="f8").reshape(-1)]
    if len(flat) != len(RPC_NAMES) + 4 * 20:
        return {}
    out: dict[str, Any] = dict(zip(RPC_NAMES, flat, strict=False))
    start = len(RPC_NAMES)
    for i, name in enumerate(_RPC_ARRAYS):
        out[name] = flat[start + 20 * i : start + 20 * (i + 1)]
    return out
