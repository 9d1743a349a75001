"""GeoTIFF georeferencing and GDAL's internal masks, added to the series once found.

This is a pass over the series any interpreter found (see
:func:`tiffzarr.series.interpret`), not an interpreter: GeoTIFF tags can sit on
the pages of any kind of series.

- A series whose first page has GeoTIFF tags gets its
  :class:`~tiffzarr.model.GeoReference` (CRS, transform, ground control points,
  RPCs, nodata, GDAL metadata, as GDAL reads them; see
  :mod:`tiffzarr.format._geokeys`); a nodata value that the levels' dtype holds
  is their ``fill_value``.
  What the tags say beyond that (the GeoKeys by name, the raster type, ground
  control points, RPCs, GDAL_METADATA) is the series' ``geotiff`` attribute.
- GDAL's internal masks (pages with NewSubfileType's mask bit and Photometric
  MASK, one per level in the order of the levels) are no series of their own,
  as they are in tifffile: they become the ``masks`` of the series whose levels
  they match, served as ``uint8`` 0 (masked) / 1 (valid), the pages' 1-bit
  values as integers (GDAL's ``read_masks`` gives 0/255).

Only the first :data:`MAX_SEARCH_PAGES` pages are looked at for the first pages
of series: files with more pages than that are stacks, not GDAL datasets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from tiffzarr.errors import TiffFormatError
from tiffzarr.format import Photometric, SubfileType
from tiffzarr.format._gdal import parse_gdal_metadata
from tiffzarr.format._geocrs import CrsInfo, geokeys_crs
from tiffzarr.format._geokeys import (
    GDAL_METADATA,
    GDAL_NODATA,
    GEO_ASCII_PARAMS,
    GEO_DOUBLE_PARAMS,
    GEO_KEY_DIRECTORY,
    GEOTIFF_TAGS,
    MODEL_PIXEL_SCALE,
    MODEL_TIEPOINT,
    MODEL_TRANSFORMATION,
    RPC_COEFFICIENTS,
    GeoKey,
    geokey_names,
    model_transform,
    parse_geokeys,
    parse_nodata,
    parse_rpcs,
    pixel_is_point,
)
from tiffzarr.format._records import bounded_json, jsonable
from tiffzarr.model import (
    ArrayModel,
    GeoReference,
    GroundControlPoint,
    Page,
    Series,
    TiffIndex,
    format_path,
    squeeze_array,
)
from tiffzarr.series._protocol import SeriesContext

__all__ = ["KIND", "MAX_SEARCH_PAGES", "georeference"]

KIND = "geotiff"
"""The attribute under which a georeferenced series keeps what its GeoTIFF tags say."""

MAX_SEARCH_PAGES = 4096
"""Most pages searched for the first pages of the series."""
POINT = 2
"""GTRasterTypeGeoKey: RasterPixelIsPoint."""


async def georeference(context: SeriesContext, series: tuple[Series, ...], /) -> tuple[Series, ...]:
    """``series`` with their georeferencing, GDAL masks moved into the series they mask."""
    index = context.index
    if not index.pages or not (
        _georeferenced(index.pages[0]) or any(_mask_layout(s) for s in series)
    ):
        return series
    first = _first_pages(index, series)
    series = _attach_masks(series, first)
    out = []
    for s in series:
        key = _key(s.levels[0])
        page = None if key is None else first.get(key)
        if page is None or not _georeferenced(page):
            out.append(s)
            continue
        geo = await _read_geo(context, page, s.dtype)
        out.append(_with_geo(s, geo))
    return tuple(out)


def _georeferenced(page: Page) -> bool:
    return any(code in page.ifd for code in GEOTIFF_TAGS)


def _key(array: ArrayModel) -> tuple[int, int] | None:
    tables = array.manifest.tables
    table = tables[0] if len(tables) else None
    return None if table is None else table.key


def _first_pages(index: TiffIndex, series: Sequence[Series]) -> dict[tuple[int, int], Page]:
    """The first page of every level of ``series``, by its segment table's key."""
    wanted = {k for s in series for level in s.levels if (k := _key(level)) is not None}
    found: dict[tuple[int, int], Page] = {}
    for n, page in enumerate(index.iter_pages()):
        if n >= MAX_SEARCH_PAGES or len(found) == len(wanted):
            break
        if page.segments is not None and page.segments.key in wanted:
            found[page.segments.key] = page
    return found


def _mask_layout(s: Series) -> bool:
    return all(level.manifest.layout.photometric == Photometric.MASK for level in s.levels)


def _is_mask(s: Series, first: dict[tuple[int, int], Page]) -> bool:
    """GDAL's internal mask pages: Photometric MASK with the NewSubfileType mask bit."""
    if not _mask_layout(s):
        return False
    keys = [_key(level) for level in s.levels]
    pages = [None if key is None else first.get(key) for key in keys]
    return all(p is not None and p.subfiletype & SubfileType.MASK for p in pages)


def _plane(array: ArrayModel) -> tuple[int, int] | None:
    if "Y" not in array.axes or "X" not in array.axes:
        return None
    return array.shape[array.axes.index("Y")], array.shape[array.axes.index("X")]


def _mask_array(level: ArrayModel) -> ArrayModel | None:
    """A mask level as a 2-D ``uint8`` array of 0/1, or ``None`` if it is not 2-D."""
    array = squeeze_array(level)
    if array.axes != "YX" or level.dtype != np.bool_:
        return None
    codec = dataclasses.replace(array.codec, dtype="|u1")
    return dataclasses.replace(array, dtype=np.dtype("u1"), codec=codec, fill_value=None)


def _attach_masks(
    series: tuple[Series, ...], first: dict[tuple[int, int], Page]
) -> tuple[Series, ...]:
    """Move each mask series into the first image series whose levels it matches, level
    for level (a mask series that matches none stays a series)."""
    out = list(series)
    for s in series:
        if not _is_mask(s, first):
            continue
        masks = [_mask_array(level) for level in s.levels]
        if any(m is None for m in masks):
            continue
        planes = [_plane(m) for m in masks if m is not None]
        for i, target in enumerate(out):
            if target.masks or target is s or _is_mask(target, first):
                continue
            if [_plane(level) for level in target.levels] == planes:
                out[i] = dataclasses.replace(target, masks=tuple(m for m in masks if m))
                out = [other for other in out if other is not s]
                break
    return tuple(out)


async def _values(context: SeriesContext, page: Page) -> dict[int, Any]:
    codes = (
        *GEOTIFF_TAGS,
        GEO_DOUBLE_PARAMS,
        GEO_ASCII_PARAMS,
        GDAL_METADATA,
    )
    return {code: await context.value(page.ifd, code) for code in codes if code in page.ifd}


async def _read_geo(context: SeriesContext, page: Page, dtype: np.dtype) -> GeoReference:
    values = await _values(context, page)
    where = f"page {format_path(page.path)} (IFD at {page.ifd.offset})"
    keys: dict[int, Any] = {}
    if values.get(GEO_KEY_DIRECTORY) is not None:
        ascii_params = values.get(GEO_ASCII_PARAMS)
        parsed = parse_geokeys(
            values[GEO_KEY_DIRECTORY],
            values.get(GEO_DOUBLE_PARAMS),
            ascii_params if isinstance(ascii_params, str) else None,
        )
        keys = parsed.keys
        for problem in parsed.problems:
            context.warn(f"{where}: {problem}")
    crs = geokeys_crs(keys) if keys else CrsInfo(note="the page has no GeoKey directory")
    transform, ties = model_transform(
        pixel_scale=values.get(MODEL_PIXEL_SCALE),
        tiepoints=values.get(MODEL_TIEPOINT),
        matrix=values.get(MODEL_TRANSFORMATION),
    )
    point = keys.get(GeoKey.RASTER_TYPE) == POINT
    if point:
        transform, ties = pixel_is_point(transform, ties)
    text = values.get(GDAL_NODATA)
    rpcs = values.get(RPC_COEFFICIENTS)
    return GeoReference(
        transform=transform,
        crs_code=crs.code,
        crs_wkt=crs.wkt,
        crs_note=crs.note,
        raster_type="point" if point else "area",
        geokeys=geokey_names(keys),
        gcps=tuple(GroundControlPoint(*t) for t in ties),
        rpcs=parse_rpcs(rpcs) if rpcs is not None else {},
        nodata=parse_nodata(text, dtype) if isinstance(text, str) else None,
        gdal_metadata=_gdal_metadata(context, values.get(GDAL_METADATA), where),
    )


def _gdal_metadata(context: SeriesContext, text: Any, where: str) -> dict[str, Any]:
    if not isinstance(text, str):
        return {}
    try:
        return parse_gdal_metadata(text)
    except TiffFormatError as exc:
        context.warn(f"{where}: {exc.message}")
        return {}


def _fill_value(nodata: int | float | None, dtype: np.dtype) -> int | float | None:
    """``nodata`` when every level's dtype holds it exactly, else ``None``."""
    if nodata is None or dtype.kind not in "iufc":
        return None
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if not float(nodata).is_integer() or not info.min <= nodata <= info.max:
            return None
        return int(nodata)
    return float(nodata)


def _with_geo(s: Series, geo: GeoReference) -> Series:
    fill = _fill_value(geo.nodata, s.dtype)
    levels = s.levels
    if fill is not None:
        levels = tuple(dataclasses.replace(level, fill_value=fill) for level in levels)
    attrs = {**s.attrs, KIND: _described(geo)}
    return dataclasses.replace(s, geo=geo, levels=levels, attrs=attrs)


def _described(geo: GeoReference) -> Any:
    """What the file says beyond the CRS and the transform, as plain JSON: the GeoKeys by
    name, the raster type, ground control points, RPCs, GDAL's metadata, and why there
    is no CRS when there is none."""
    described = {
        "geokeys": geo.geokeys,
        "raster_type": geo.raster_type,
        "gcps": [dataclasses.asdict(point) for point in geo.gcps],
        "rpcs": geo.rpcs,
        "gdal_metadata": geo.gdal_metadata,
        "crs_note": geo.crs_note,
    }
    return bounded_json(jsonable({k: v for k, v in described.items() if v}))
