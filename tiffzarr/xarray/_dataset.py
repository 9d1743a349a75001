"""One level of a series as an xarray Dataset: a lazy data variable named
``image`` with named dimensions, coordinates and the series' metadata.

The level is the array the store serves at ``{prefix}/{level}`` of a series'
image group: in NGFF order (``t, c, z, y, x``; the samples of an RGB image
first, ``s, y, x``), or in tifffile's order for series that NGFF cannot
describe; dimensions are the axis letters in lower case. A georeferenced
series has ``band, y, x`` instead (see :mod:`tiffzarr.xarray._geo`).

Nodata stays in the data: it is the variable's ``_FillValue`` attribute, and
only ``mask_and_scale=True`` makes xarray mask it (moving ``_FillValue`` to the
encoding), as rioxarray does. A level with a GDAL internal mask has it as the
lazy coordinate ``mask`` (``y, x``; 0 masked, 1 valid; the store's NGFF label
image): ``image.where(mask == 1)``.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
from xarray import Coordinates, Dataset, Variable, conventions
from xarray.core import indexing

from tiffzarr.errors import NotFoundError
from tiffzarr.model import ArrayModel, Series
from tiffzarr.store import TiffStore
from tiffzarr.store._geo import LABELS, MASK_LABEL
from tiffzarr.xarray._array import TiffBackendArray
from tiffzarr.xarray._coords import channel_coords, scale_coords
from tiffzarr.xarray._geo import GRID_MAPPING, geo_coords, geo_dims

__all__ = ["VARIABLE", "group_attrs", "level_dataset", "level_number"]

VARIABLE = "image"
"""The name of the data variable of every level."""


def group_attrs(store: TiffStore, path: str, /, **extra: Any) -> dict[str, Any]:
    """The ``tiffzarr`` attributes of the store's group at ``path`` (series kind,
    name, axes and the format's own metadata) as plain JSON, with ``extra``."""
    described = json.loads(json.dumps(store.hierarchy.groups[path]["tiffzarr"]))
    return {"tiffzarr": {**described, **extra}}


def level_number(series: Series, level: int, /, *, url: str) -> int:
    """``level`` (negative: from the end) checked against the series' levels."""
    count = len(series.levels)
    if not -count <= level < count:
        raise NotFoundError(f"no level {level} in series {series.name!r} (it has {count})", url=url)
    return level % count


def _image(store: TiffStore, path: str, dims: tuple[str, ...], expand: bool) -> Variable:
    """The level's data variable, lazy, with the file's chunks as preferred chunks."""
    array = store.hierarchy.arrays[path]
    attrs: dict[str, Any] = {}
    if array.fill_value is not None:  # the nodata the dtype holds (see series/_geo.py)
        attrs["_FillValue"] = np.asarray(array.fill_value).astype(array.dtype)[()]
    chunks = (1, *array.chunks) if expand else array.chunks
    encoding = {"preferred_chunks": dict(zip(dims, chunks, strict=True)), "dtype": array.dtype}
    data = indexing.LazilyIndexedArray(TiffBackendArray(store, path, expand=expand))
    return Variable(dims, data, attrs, encoding)


def _mask(store: TiffStore, prefix: str, level: int) -> Variable | None:
    """The GDAL mask of a level, lazy, from the store's NGFF label image ``mask``."""
    path = "/".join(p for p in (prefix, LABELS, MASK_LABEL, str(level)) if p)
    mask = store.hierarchy.arrays.get(path)
    if mask is None:
        return None
    dims = tuple(d.lower() for d in mask.dims)
    attrs = {"flag_values": [0, 1], "flag_meanings": "masked valid"}
    encoding = {"preferred_chunks": dict(zip(dims, mask.chunks, strict=True))}
    return Variable(
        dims, indexing.LazilyIndexedArray(TiffBackendArray(store, path)), attrs, encoding
    )


def _coords(
    series: Series, levels: list[ArrayModel], level: int, dims: tuple[str, ...], expand: bool
) -> dict[str, Variable]:
    array = levels[level]
    own = dims[1:] if expand else dims
    coords = {}
    if series.geo is not None:
        base = levels[0]
        rows, cols = base.shape[base.axes.index("Y")], base.shape[base.axes.index("X")]
        shape = (1, *array.shape) if expand else array.shape
        coords.update(geo_coords(series.geo, (rows, cols), dims, shape))
    coords.update(scale_coords(series, levels, level, own, skip="YX" if series.geo else ""))
    for name, variable in channel_coords(series, array, own).items():
        coords.setdefault(name, variable)
    return coords


def _variables(
    store: TiffStore, prefix: str, series: Series, level: int
) -> tuple[dict[Hashable, Variable], set[str]]:
    """The raw (not yet decoded) variables of a level, and which are coordinates."""
    paths = [f"{prefix}/{i}" if prefix else str(i) for i in range(len(series.levels))]
    levels = [store.hierarchy.arrays[p] for p in paths]
    array = levels[level]
    dims = tuple(d.lower() for d in array.dims)
    expand = False
    if series.geo is not None:
        dims, expand = geo_dims(array.axes, dims)
    image = _image(store, paths[level], dims, expand)
    coords = _coords(series, levels, level, dims, expand)
    mask = _mask(store, prefix, level)
    if mask is not None and all(image.sizes.get(d) == n for d, n in mask.sizes.items()):
        coords["mask"] = mask
    variables: dict[Hashable, Variable] = {VARIABLE: image}
    variables.update(coords)
    return variables, set(coords)


def level_dataset(
    store: TiffStore,
    prefix: str,
    series: Series,
    level: int,
    /,
    *,
    attrs: Mapping[str, Any],
    decoders: Mapping[str, Any],
) -> Dataset:
    """Level ``level`` of ``series``, whose image group is at ``prefix`` of ``store``,
    decoded by xarray's CF ``decoders`` (``mask_and_scale`` and the like)."""
    variables, coords = _variables(store, prefix, series, level)
    decoded, decoded_attrs, coord_names = conventions.decode_cf_variables(
        variables, dict(attrs), **decoders
    )
    names = (set(coords) | coord_names) & set(decoded)
    if series.geo is not None and VARIABLE in decoded:
        decoded[VARIABLE].encoding["grid_mapping"] = GRID_MAPPING
    data_vars = {k: v for k, v in decoded.items() if k not in names}
    found = Coordinates({k: decoded[k] for k in names}, indexes={})
    return Dataset(data_vars, coords=found, attrs=decoded_attrs)
