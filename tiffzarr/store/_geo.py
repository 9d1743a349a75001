"""Georeferencing and masks of a series in the store: the Zarr geospatial conventions,
the CF ``spatial_ref`` that GDAL and rioxarray read, and NGFF labels.

For a series with a :class:`~tiffzarr.model.GeoReference`:

- the image group declares the ``proj:`` and ``spatial`` conventions in
  ``zarr_conventions`` (zarr-conventions/geo-proj v1, zarr-conventions/spatial
  v1) and carries ``proj:code`` (or ``proj:wkt2`` when no code names the CRS),
  ``spatial:dimensions`` and ``spatial:bbox``; each level array carries its own
  ``spatial:dimensions``, ``spatial:shape`` and ``spatial:transform`` (the
  affine transform of pixel corners, rasterio's order), and ``nodata`` when the
  file gives one (NaN as ``"NaN"``, as zarr writes NaN fill values);
- a 0-d ``spatial_ref`` array per distinct level grid (``spatial_ref`` for level
  0, ``spatial_ref_1``... for the others) carries ``crs_wkt``, ``spatial_ref`` and
  GDAL's ``GeoTransform`` text, and each level's ``grid_mapping`` (and CF
  ``coordinates``, so that xarray makes it a coordinate) names its own.

A series with masks (GDAL's internal masks) gets the NGFF labels group
``labels`` (``{"labels": ["mask"]}``) holding the multiscale label image
``labels/mask``, one array per level: ``uint8``, 1 where the pixels are valid.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tiffzarr.model import ArrayModel, GeoReference, Series, Transform
from tiffzarr.store._metadata import ZarrFormat, _json_number
from tiffzarr.store._ngff import NgffAxes, multiscales, ngff_axes

__all__ = [
    "LABELS",
    "MASK_LABEL",
    "PROJ_CONVENTION",
    "SPATIAL_CONVENTION",
    "GeoNodes",
    "geo_array_attrs",
    "geo_nodes",
    "geotransform_text",
]

PROJ_CONVENTION = {
    "schema_url": "https://raw.githubusercontent.com/zarr-experimental/geo-proj/refs/tags/v1/schema.json",
    "spec_url": "https://github.com/zarr-experimental/geo-proj/blob/v1/README.md",
    "uuid": "f17cb550-5864-4468-aeb7-f3180cfb622f",
    "name": "proj:",
    "description": "Coordinate reference system information for geospatial data",
}
SPATIAL_CONVENTION = {
    "schema_url": "https://raw.githubusercontent.com/zarr-conventions/spatial/refs/tags/v1/schema.json",
    "spec_url": "https://github.com/zarr-conventions/spatial/blob/v1/README.md",
    "uuid": "689b58e2-cf7b-45e0-9fff-9cfc0883d6b4",
    "name": "spatial",
    "description": "Spatial coordinate information",
}
LABELS = "labels"
MASK_LABEL = "mask"
SPATIAL_REF = "spatial_ref"


@dataclass(frozen=True, slots=True)
class GeoNodes:
    """What a series' georeferencing and masks add to its image group: group ``attrs``,
    the ``levels`` with their attributes, raw metadata ``files`` (the ``spatial_ref``
    arrays), NGFF ``labels`` groups (path → NGFF attributes, not yet wrapped for the
    zarr format) and their ``masks`` arrays."""

    attrs: dict[str, Any] = field(default_factory=dict)
    levels: dict[str, ArrayModel] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    masks: dict[str, ArrayModel] = field(default_factory=dict)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def geotransform_text(transform: Transform, /) -> str:
    """GDAL's ``GeoTransform`` text (``c a b f d e``) of a transform in rasterio's order.

    >>> geotransform_text((10.0, 0.0, 500.0, 0.0, -10.0, 900.0))
    '500.0 10.0 0.0 900.0 0.0 -10.0'
    """
    a, b, c, d, e, f = transform
    return " ".join(repr(float(v)) for v in (c, a, b, f, d, e))


def _plane(array: ArrayModel) -> tuple[int, int]:
    return array.shape[array.axes.index("Y")], array.shape[array.axes.index("X")]


def _spatial_dims(array: ArrayModel) -> list[str]:
    return [array.dims[array.axes.index("Y")], array.dims[array.axes.index("X")]]


def _bbox(transform: Transform, rows: int, cols: int) -> list[float]:
    a, b, c, d, e, f = transform
    xs = [c + a * i + b * j for i in (0, cols) for j in (0, rows)]
    ys = [f + d * i + e * j for i in (0, cols) for j in (0, rows)]
    return [min(xs), min(ys), max(xs), max(ys)]


def _has_crs(geo: GeoReference) -> bool:
    return geo.crs_code is not None or geo.crs_wkt is not None


def _proj(geo: GeoReference) -> dict[str, Any]:
    """``proj:code`` or else ``proj:wkt2`` (the convention wants one of them)."""
    if geo.crs_code is not None:
        return {"proj:code": geo.crs_code}
    return {"proj:wkt2": geo.crs_wkt} if geo.crs_wkt is not None else {}


def geo_array_attrs(
    geo: GeoReference,
    base: ArrayModel,
    array: ArrayModel,
    /,
    *,
    grid_mapping: str | None = None,
    standalone: bool = False,
) -> dict[str, Any]:
    """The attributes of one level ``array`` of a series whose level 0 is ``base``:
    ``spatial:`` properties, ``nodata``, ``grid_mapping``; with ``standalone`` (an
    array without its image group) also the ``proj:`` properties."""
    if "Y" not in array.axes or "X" not in array.axes:
        return {}
    attrs: dict[str, Any] = {}
    transform = geo.level_transform(_plane(base), _plane(array))
    if _has_crs(geo) or transform is not None:
        conventions = [SPATIAL_CONVENTION]
        if standalone and _has_crs(geo):
            conventions.insert(0, PROJ_CONVENTION)
            attrs.update(_proj(geo))
        attrs["zarr_conventions"] = conventions
        attrs["spatial:dimensions"] = _spatial_dims(array)
        attrs["spatial:shape"] = list(_plane(array))
        if transform is not None:
            attrs["spatial:transform"] = list(transform)
        if grid_mapping is not None:  # CF: xarray makes it a coordinate, rioxarray reads it
            attrs["grid_mapping"] = attrs["coordinates"] = grid_mapping
    if geo.nodata is not None:
        attrs["nodata"] = _json_number(geo.nodata)
    return attrs


def geo_nodes(
    series: Series, prefix: str, levels: Mapping[str, ArrayModel], /, *, zarr_format: ZarrFormat
) -> GeoNodes:
    """The nodes and attributes a series' ``geo`` and ``masks`` add to its image group at
    ``prefix`` whose level arrays (in NGFF order) are ``levels``."""
    nodes = GeoNodes(levels=dict(levels))
    geo = series.geo
    arrays = list(levels.items())
    if geo is not None and arrays:
        _georeference(nodes, geo, prefix, arrays, zarr_format)
    if series.masks:
        _labels(nodes, series, prefix, version="0.5" if zarr_format == 3 else "0.4")
    return nodes


def _georeference(
    nodes: GeoNodes,
    geo: GeoReference,
    prefix: str,
    arrays: list[tuple[str, ArrayModel]],
    zarr_format: ZarrFormat,
) -> None:
    base = arrays[0][1]
    if "Y" not in base.axes or "X" not in base.axes:
        return
    mapped = _has_crs(geo) or geo.transform is not None
    for i, (path, array) in enumerate(arrays):
        name = SPATIAL_REF if i == 0 or geo.transform is None else f"{SPATIAL_REF}_{i}"
        attrs = geo_array_attrs(geo, base, array, grid_mapping=name if mapped else None)
        nodes.levels[path] = dataclasses.replace(array, attrs={**array.attrs, **attrs})
        if mapped and (i == 0 or geo.transform is not None):
            transform = geo.level_transform(_plane(base), _plane(array))
            nodes.files.update(_spatial_ref(_join(prefix, name), geo, transform, zarr_format))
    if not mapped:
        return
    conventions = [PROJ_CONVENTION, SPATIAL_CONVENTION] if _has_crs(geo) else [SPATIAL_CONVENTION]
    nodes.attrs.update(
        {"zarr_conventions": conventions, **_proj(geo), "spatial:dimensions": ["y", "x"]}
    )
    if geo.transform is not None:
        nodes.attrs["spatial:bbox"] = _bbox(geo.transform, *_plane(base))


def _spatial_ref(
    path: str, geo: GeoReference, transform: Transform | None, zarr_format: ZarrFormat
) -> dict[str, bytes]:
    """The metadata of a 0-d ``spatial_ref`` array (it has no chunk: zarr reads 0)."""
    attrs: dict[str, Any] = {}
    wkt = geo.wkt()
    if wkt is not None:
        attrs["crs_wkt"] = wkt
    if wkt is not None or geo.crs_code is not None:
        attrs["spatial_ref"] = wkt or geo.crs_code
    if transform is not None:
        attrs["GeoTransform"] = geotransform_text(transform)
    if zarr_format == 3:
        doc = {
            "zarr_format": 3,
            "node_type": "array",
            "shape": [],
            "data_type": "int64",
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": []}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": 0,
            "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
            "attributes": attrs,
            "dimension_names": [],
        }
        return {f"{path}/zarr.json": _dumps(doc)}
    zarray = {
        "zarr_format": 2,
        "shape": [],
        "chunks": [],
        "dtype": "<i8",
        "compressor": None,
        "fill_value": None,  # xarray would take 0 for a _FillValue
        "order": "C",
        "filters": None,
        "dimension_separator": ".",
    }
    return {
        f"{path}/.zarray": _dumps(zarray),
        f"{path}/.zattrs": _dumps({**attrs, "_ARRAY_DIMENSIONS": []}),
    }


def _dumps(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()


def _labels(nodes: GeoNodes, series: Series, prefix: str, *, version: str) -> None:
    """The NGFF labels group with the masks as the multiscale label image ``mask``."""
    axes = ngff_axes(series.masks[0].axes)
    if not isinstance(axes, NgffAxes):
        return
    masks = tuple(dataclasses.replace(m, dim_names=axes.names) for m in series.masks)
    label = dataclasses.replace(series, name=MASK_LABEL, levels=masks, masks=(), channels=())
    image_label: dict[str, Any] = {
        "source": {"image": "../../"},
        "properties": [
            {"label-value": 0, "class": "masked (no data)"},
            {"label-value": 1, "class": "valid data"},
        ],
    }
    if version == "0.4":
        image_label = {"version": "0.4", **image_label}
    group = _join(prefix, LABELS)
    path = _join(group, MASK_LABEL)
    nodes.labels[group] = {"labels": [MASK_LABEL]}
    nodes.labels[path] = {
        "image-label": image_label,
        "multiscales": multiscales(label, masks, axes, version=version),
    }
    nodes.masks.update({f"{path}/{i}": m for i, m in enumerate(masks)})
