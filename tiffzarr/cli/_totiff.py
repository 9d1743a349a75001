"""``tiffzarr convert`` to TIFF: the source opened as a zarr array and written by
:func:`tiffzarr.write` (tiled, pyramid, COG, OME-TIFF), its metadata carried across.

A TIFF source is one series level through :func:`tiffzarr.open_store`, with its
axes, physical sizes, channel names and GeoTIFF georeferencing; a zarr source is
an array, or the first multiscale image (level 0) of an OME-Zarr group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tiffzarr.cli._progress import Progress
from tiffzarr.format import natural_key
from tiffzarr.model import GeoReference

__all__ = ["Counted", "Image", "tiff_image", "zarr_image"]

_OME_UNITS = {
    "angstrom": "Å",
    "nanometer": "nm",
    "micrometer": "µm",
    "millimeter": "mm",
    "centimeter": "cm",
    "meter": "m",
    "millisecond": "ms",
    "second": "s",
    "minute": "min",
    "hour": "h",
}
"""NGFF (UDUNITS-2) unit names → the OME unit symbols the writer's metadata takes."""

_OME_SIZES = {
    "X": "PhysicalSizeX",
    "Y": "PhysicalSizeY",
    "Z": "PhysicalSizeZ",
    "T": "TimeIncrement",
}


@dataclass(frozen=True, slots=True)
class Image:
    """An array to write with what the writer needs to know of it: axis letters
    (``None`` when unknown), pyramid levels of the source, OME metadata, GeoTIFF dict."""

    array: Any
    axes: str | None
    levels: int = 1
    metadata: Mapping[str, Any] = field(default_factory=dict)
    geotiff: Mapping[str, Any] | None = None


class Counted:
    """A chunked array that ticks ``bar`` by the bytes of each region read from it (the
    writer reads each chunk once), with its leading ``drop`` dimensions (of length 1)
    left out."""

    def __init__(self, array: Any, bar: Progress, /, *, drop: int = 0) -> None:
        self._array = array
        self._bar = bar
        self._lead = (0,) * drop
        self.shape = tuple(array.shape[drop:])
        self.dtype = np.dtype(array.dtype)
        self.ndim = len(self.shape)
        self.chunks = tuple(array.chunks[drop:])
        shards = getattr(array, "shards", None)
        self.shards = tuple(shards[drop:]) if shards else None

    def __getitem__(self, region: tuple[slice, ...]) -> np.ndarray:
        data = np.asarray(self._array[(*self._lead, *region)])
        self._bar.update(data.nbytes)
        return data


def _geotiff(
    geo: GeoReference | None, base: tuple[int, int], level: tuple[int, int]
) -> dict[str, Any] | None:
    """The writer's ``geotiff`` dict from a series' georeferencing (at the written level):
    the GeoKeys as they are, the corner transform written as PixelIsArea, the nodata."""
    if geo is None or (geo.transform is None and not geo.geokeys):
        return None
    keys: dict[str | int, Any] = {
        int(k) if str(k).isdigit() else k: v
        for k, v in geo.geokeys.items()
        if k not in ("GTRasterTypeGeoKey", "1025")
    }
    out: dict[str, Any] = {"geokeys": keys}
    transform = geo.level_transform(base, level)
    if transform is not None:
        out["transform"] = transform
    if geo.nodata is not None:
        out["nodata"] = geo.nodata
    return out


def _ome_metadata(
    axes: str, scales: Mapping[str, tuple[float, str | None]], names: Sequence[str | None]
) -> dict[str, Any]:
    """The writer's OME metadata: physical sizes in units OME names, channel names."""
    meta: dict[str, Any] = {"axes": axes}
    for axis, (size, unit_name) in scales.items():
        unit = _OME_UNITS.get(unit_name or "")
        if axis in _OME_SIZES and axis in axes and unit is not None:
            meta[_OME_SIZES[axis]] = size
            meta[_OME_SIZES[axis] + "Unit"] = unit
    if names and all(n is not None for n in names):
        meta["Channel"] = {"Name": list(names)}
    return meta


def tiff_image(url: str, /, *, series: int, level: int, options: dict[str, Any] | None) -> Image:
    """Level ``level`` of series ``series`` of a TIFF, in tifffile's axis order."""
    import zarr

    from tiffzarr import open_store, open_tiff

    index = open_tiff(url, storage_options=options)
    store = open_store(index, series=series, level=level, storage_options=options)
    model = store.hierarchy.arrays[""]
    chosen = index.series[series]
    base, here = chosen.levels[0], chosen.levels[level]
    yx = (base.shape[base.axes.index("Y")], base.shape[base.axes.index("X")])
    level_yx = (here.shape[here.axes.index("Y")], here.shape[here.axes.index("X")])
    return Image(
        zarr.open_array(store, mode="r"),
        model.axes,
        levels=len(chosen.levels) - level,
        metadata=_ome_metadata(
            model.axes,
            {a: (v.size, v.unit) for a, v in chosen.scales.items()},
            [c.name for c in chosen.channels],
        ),
        geotiff=_geotiff(chosen.geo, yx, level_yx) if "Y" in base.axes else None,
    )


def _multiscale(group: Any) -> tuple[Any, Mapping[str, Any]] | None:
    """The group holding the first multiscale image at or below ``group``, and that image."""
    attrs = dict(group.attrs)
    found = attrs.get("ome", attrs).get("multiscales")
    if found:
        return group, found[0]
    for name in sorted(group.group_keys(), key=natural_key):
        inner = _multiscale(group[name])
        if inner is not None:
            return inner
    return None


def _first_array(group: Any) -> Any | None:
    for name in sorted(group.array_keys(), key=natural_key):
        return group[name]
    for name in sorted(group.group_keys(), key=natural_key):
        found = _first_array(group[name])
        if found is not None:
            return found
    return None


def _array_axes(array: Any) -> str | None:
    names = getattr(array.metadata, "dimension_names", None) or array.attrs.get("_ARRAY_DIMENSIONS")
    if names and all(isinstance(n, str) and len(n) == 1 for n in names):
        return "".join(names).upper()
    return None


def zarr_image(url: str, /, *, options: dict[str, Any] | None) -> Image:
    """A zarr array, or level 0 of the first multiscale image of a (OME-)Zarr group."""
    import zarr

    node = zarr.open(url, mode="r", storage_options=options)
    if isinstance(node, zarr.Array):
        return Image(node, _array_axes(node))
    found = _multiscale(node)
    if found is None:
        array = _first_array(node)
        if array is None:
            raise ValueError(f"the zarr group {url} holds no array")
        return Image(array, _array_axes(array))
    group, image = found
    array = group[image["datasets"][0]["path"]]
    axes = "".join(str(a["name"] if isinstance(a, Mapping) else a).upper() for a in image["axes"])
    if len(axes) != array.ndim:
        return Image(array, None, levels=len(image["datasets"]))
    return Image(
        array, axes, levels=len(image["datasets"]), metadata=_ngff_metadata(group, image, axes)
    )


def _ngff_metadata(group: Any, image: Mapping[str, Any], axes: str) -> dict[str, Any]:
    """Physical sizes (level 0's scale, the axes' units) and channel labels (``omero``)."""
    scale: list[float] = []
    for transform in image["datasets"][0].get("coordinateTransformations", []):
        if transform.get("type") == "scale":
            scale = [float(v) for v in transform["scale"]]
    units = [a.get("unit") if isinstance(a, Mapping) else None for a in image["axes"]]
    scales = {a: (v, u) for a, v, u in zip(axes, scale, units, strict=False)}
    attrs = dict(group.attrs)
    omero = attrs.get("ome", attrs).get("omero") or {}
    names = [c.get("label") for c in omero.get("channels", [])]
    return _ome_metadata(axes, scales, names)
