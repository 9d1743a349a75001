"""Which zarr nodes a store shows: groups and arrays over the model, by path.

Every file gets the same hierarchy, OME-Zarr's "bioformats2raw" layout: the
root group holds series ``0``, ``1``, ... as multiscale image groups whose
arrays ``0``, ``1``, ... are the pyramid levels in NGFF axis order (see
:mod:`tiffzarr.store._ngff`), and the file's OME-XML, if it has one, is served
at ``OME/METADATA.ome.xml``. Narrowed to one series, the store's root is that
series' image group; narrowed to one level (or page), the root is that array,
in tifffile's axis order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from tiffzarr.errors import NotFoundError
from tiffzarr.model import (
    ArrayModel,
    PagePath,
    Series,
    TiffIndex,
    array_from_pages,
    transpose_array,
)
from tiffzarr.store._geo import geo_array_attrs, geo_nodes
from tiffzarr.store._metadata import ZarrFormat
from tiffzarr.store._ngff import NgffAxes, multiscales, ngff_axes, omero

__all__ = ["OME_XML_KEY", "Hierarchy", "build_hierarchy"]

OME_XML_KEY = "OME/METADATA.ome.xml"


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """Groups (path → attributes), arrays (path → model) and other keys served as
    they are (key → bytes, such as the OME-XML); ``""`` is the root."""

    groups: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    arrays: Mapping[str, ArrayModel] = field(default_factory=dict)
    files: Mapping[str, bytes] = field(default_factory=dict)


def distinct_dimensions(arrays: Mapping[str, ArrayModel], /) -> dict[str, ArrayModel]:
    """Rename dimensions so that arrays of one group agree on every name's length.

    xarray opens a group as one dataset, whose dimensions have one length each.
    An array whose dimension has another length than the same name in an earlier
    sibling gets that dimension renamed ``{name}_{array name}`` (``y_1`` for
    level 1 of a pyramid). Only for zarr v2: NGFF 0.5 (zarr v3) wants the
    dimension names to be the axis names.
    """
    out = dict(arrays)
    groups: dict[str, dict[str, int]] = {}
    for path in sorted(arrays, key=lambda p: (p.count("/"), p)):
        parent, _, name = path.rpartition("/")
        sizes = groups.setdefault(parent, {})
        array = arrays[path]
        names = []
        for dim, size in zip(array.dims, array.shape, strict=True):
            unique = dim
            if sizes.setdefault(dim, size) != size:
                unique = f"{dim}_{name or 'root'}"
                sizes.setdefault(unique, size)
            names.append(unique)
        if tuple(names) != array.dims:
            out[path] = replace(array, dim_names=tuple(names))
    return out


def _ome(attrs: Mapping[str, Any], zarr_format: ZarrFormat) -> dict[str, Any]:
    """NGFF attributes: inside ``"ome"`` with the version (0.5, zarr v3), or at the
    top level (0.4, zarr v2)."""
    if zarr_format == 3:
        return {"ome": {"version": "0.5", **attrs}}
    return dict(attrs)


def _described(series: Series, axes: str) -> dict[str, Any]:
    return {"tiffzarr": {"kind": series.kind, "name": series.name, "axes": axes, **series.attrs}}


def _image(
    series: Series,
    prefix: str,
    groups: dict[str, Any],
    arrays: dict[str, ArrayModel],
    files: dict[str, bytes],
    *,
    squeeze: bool | None,
    zarr_format: ZarrFormat,
) -> None:
    """The multiscale image group of ``series`` at ``prefix``, its level arrays, and
    what its georeferencing and masks add (see :mod:`tiffzarr.store._geo`)."""
    levels = series.arrays(squeeze=squeeze)
    base = levels[0]
    attrs = _described(series, base.axes)
    found = ngff_axes(base.axes)
    if isinstance(found, NgffAxes):
        levels = tuple(_named(transpose_array(a, found.order), found) for a in levels)
        version = "0.5" if zarr_format == 3 else "0.4"
        ngff: dict[str, Any] = {"multiscales": multiscales(series, levels, found, version=version)}
        shown = omero(series, levels[0], found)
        if shown is not None:
            ngff["omero"] = shown
        attrs.update(_ome(ngff, zarr_format))
    else:
        attrs["tiffzarr"]["ngff"] = found
    groups[prefix] = attrs
    level_arrays = {f"{prefix}/{i}" if prefix else str(i): a for i, a in enumerate(levels)}
    if zarr_format == 2:
        level_arrays = distinct_dimensions(level_arrays)
    geo = geo_nodes(series, prefix, level_arrays, zarr_format=zarr_format)
    attrs.update(geo.attrs)
    files.update(geo.files)
    groups.update({path: _ome(ngff, zarr_format) for path, ngff in geo.labels.items()})
    arrays.update(geo.levels)
    arrays.update(distinct_dimensions(geo.masks) if zarr_format == 2 else geo.masks)


def _named(array: ArrayModel, axes: NgffAxes) -> ArrayModel:
    return replace(array, dim_names=axes.names)


def _chosen(index: TiffIndex, series: int | None, level: int | None) -> Series:
    """The selected series (the only one when ``series`` is ``None``), its level checked."""
    if series is None:
        if len(index.series) != 1:
            raise ValueError("level= needs series= in a file with several series")
        series = 0
    if not -len(index.series) <= series < len(index.series):
        raise NotFoundError(f"no series {series} (the file has {len(index.series)})", url=index.url)
    chosen = index.series[series]
    count = len(chosen.levels)
    if level is not None and not -count <= level < count:
        raise NotFoundError(
            f"no level {level} in series {series} (the series has {count})", url=index.url
        )
    return chosen


def build_hierarchy(
    index: TiffIndex,
    /,
    *,
    series: int | None = None,
    level: int | None = None,
    page: int | PagePath | None = None,
    squeeze: bool | None = None,
    zarr_format: ZarrFormat = 3,
) -> Hierarchy:
    """The nodes of a store over ``index`` (see the module docstring).

    ``series`` narrows the store to that series' image group, ``level`` (with
    ``series`` in files of several series) to that array; ``page`` shows one IFD
    as an array. ``squeeze`` as for :meth:`~tiffzarr.model.Series.level`.
    """
    if page is not None:
        if series is not None or level is not None:
            raise ValueError("page= cannot be combined with series= or level=")
        found = index.page(page)
        array = array_from_pages([found], urls=(index.url,), byteorder=index.header.byteorder)
        return Hierarchy({}, {"": array})
    if not index.series:
        raise NotFoundError("the file has no readable image series", url=index.url)
    groups: dict[str, Any] = {}
    arrays: dict[str, ArrayModel] = {}
    if level is not None:
        chosen = _chosen(index, series, level)
        array = chosen.level(level, squeeze=squeeze)
        attrs = _described(chosen, array.axes)
        if chosen.geo is not None:  # level 0 as stored: a squeeze keeps its plane
            attrs.update(geo_array_attrs(chosen.geo, chosen.levels[0], array, standalone=True))
        return Hierarchy({}, {"": replace(array, attrs={**array.attrs, **attrs})})
    files: dict[str, bytes] = {}
    if series is not None:
        chosen = _chosen(index, series, None)
        _image(chosen, "", groups, arrays, files, squeeze=squeeze, zarr_format=zarr_format)
        return Hierarchy(groups, arrays, files)
    listing = [{"path": str(i), "name": s.name, "kind": s.kind} for i, s in enumerate(index.series)]
    groups[""] = {
        **_ome({"bioformats2raw.layout": 3}, zarr_format),
        "tiffzarr": {"series": listing},
    }
    for i, s in enumerate(index.series):
        _image(s, str(i), groups, arrays, files, squeeze=squeeze, zarr_format=zarr_format)
    if index.ome_xml is not None:
        groups["OME"] = _ome({"series": [str(i) for i in range(len(index.series))]}, zarr_format)
        files[OME_XML_KEY] = index.ome_xml.encode()
    return Hierarchy(groups, arrays, files)
