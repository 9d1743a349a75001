"""Which zarr nodes a store shows: groups and arrays over the model, by path."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from tiffzarr.errors import NotFoundError
from tiffzarr.model import ArrayModel, PagePath, Series, TiffIndex, array_from_pages

__all__ = ["Hierarchy", "build_hierarchy", "multiscales"]


def distinct_dimensions(arrays: Mapping[str, ArrayModel], /) -> dict[str, ArrayModel]:
    """Rename dimensions so that arrays of one group agree on every name's length.

    xarray opens a group as one dataset, whose dimensions have one length each.
    An array whose dimension has another length than the same name in an earlier
    sibling gets that dimension renamed ``{name}_{array name}`` (``Y_1`` for
    level 1 of a pyramid).

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


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """Groups (path → attributes) and arrays (path → model); ``""`` is the root."""

    groups: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    arrays: Mapping[str, ArrayModel] = field(default_factory=dict)


def multiscales(series: Series, /) -> list[dict[str, Any]]:
    """NGFF-style ``multiscales`` attributes for a pyramidal series."""
    base = series.levels[0]
    kinds = {"X": "space", "Y": "space", "Z": "space", "T": "time", "C": "channel"}
    axes = [
        {"name": name, **({"type": kinds[a]} if a in kinds else {})}
        for a, name in zip(base.axes, base.dims, strict=True)
    ]
    datasets = []
    for i, level in enumerate(series.levels):
        scale = [(b / s) if s else 1.0 for b, s in zip(base.shape, level.shape, strict=True)]
        datasets.append(
            {"path": str(i), "coordinateTransformations": [{"type": "scale", "scale": scale}]}
        )
    return [{"version": "0.4", "name": series.name, "axes": axes, "datasets": datasets}]


def _series_nodes(
    series: Series, prefix: str, groups: dict[str, Any], arrays: dict[str, Any]
) -> None:
    attrs = {"tiffzarr": {"kind": series.kind, "name": series.name, **dict(series.attrs)}}
    if len(series.levels) == 1:
        arrays[prefix] = series.levels[0]
        return
    groups[prefix] = {**attrs, "multiscales": multiscales(series)}
    for i, level in enumerate(series.levels):
        arrays[f"{prefix}/{i}" if prefix else str(i)] = level


def build_hierarchy(
    index: TiffIndex,
    /,
    *,
    series: int | None = None,
    level: int | None = None,
    page: int | PagePath | None = None,
) -> Hierarchy:
    """The nodes of a store over ``index``.

    One single-level series is an array at the root; otherwise the root is a
    group with one child per series, a pyramidal series being a group of its
    levels. ``series``/``level`` narrow the store to that node; ``page`` shows
    one IFD as an array.
    """
    groups: dict[str, Any] = {}
    arrays: dict[str, ArrayModel] = {}
    if page is not None:
        if series is not None or level is not None:
            raise ValueError("page= cannot be combined with series= or level=")
        found = index.page(page)
        arrays[""] = array_from_pages([found], urls=(index.url,), byteorder=index.header.byteorder)
        return Hierarchy(groups, arrays)
    if not index.series:
        raise NotFoundError("the file has no readable image series", url=index.url)
    if series is None and level is not None:
        if len(index.series) != 1:
            raise ValueError("level= needs series= in a file with several series")
        series = 0
    if series is not None:
        if not -len(index.series) <= series < len(index.series):
            raise NotFoundError(
                f"no series {series} (the file has {len(index.series)})", url=index.url
            )
        chosen = index.series[series]
        if level is not None:
            count = len(chosen.levels)
            if not -count <= level < count:
                raise NotFoundError(
                    f"no level {level} in series {series} (the series has {count})",
                    url=index.url,
                )
            arrays[""] = chosen.levels[level]
        else:
            _series_nodes(chosen, "", groups, arrays)
        return Hierarchy(groups, distinct_dimensions(arrays))
    if len(index.series) == 1 and len(index.series[0].levels) == 1:
        arrays[""] = index.series[0].levels[0]
        return Hierarchy(groups, arrays)
    groups[""] = {"tiffzarr": {"series": len(index.series)}}
    for i, s in enumerate(index.series):
        _series_nodes(s, str(i), groups, arrays)
    return Hierarchy(groups, distinct_dimensions(arrays))
