"""Physical coordinates of a level (microscopy, slides): positions from the series'
pixel sizes, and channel names.

A dimension whose axis has a known pixel size gets the coordinate
``size * index`` (``units`` attribute: the UDUNITS name), with the size of
the level's pixels as the store's NGFF ``multiscales`` give them (see
:func:`tiffzarr.store._ngff.multiscales`: level 0's size times the level's
reduction along the space axes). The channel axis (``C``, or ``S`` when there
is no ``C``) gets the channel names when the file names them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xarray import Variable

from tiffzarr.model import ArrayModel, Series
from tiffzarr.store import NgffAxes, ngff_axes
from tiffzarr.store._ngff import multiscales

__all__ = ["channel_coords", "level_scales", "scale_coords"]


def _axes(array: ArrayModel) -> NgffAxes:
    """The NGFF axes of a level as the store serves it (already in NGFF order), or
    its own order for a series NGFF cannot describe."""
    found = ngff_axes(array.axes)
    if isinstance(found, NgffAxes):
        return found
    count = len(array.axes)
    names = tuple(d.lower() for d in array.dims)
    return NgffAxes(tuple(range(count)), array.axes, names, ("other",) * count)


def level_scales(series: Series, levels: Sequence[ArrayModel], /) -> list[list[float]]:
    """The physical pixel size of each level along each of its dimensions (1 where
    the file gives none), for ``levels`` as the store serves them."""
    entry = multiscales(series, levels, _axes(levels[0]), version="0.5")[0]
    return [d["coordinateTransformations"][0]["scale"] for d in entry["datasets"]]


def scale_coords(
    series: Series,
    levels: Sequence[ArrayModel],
    level: int,
    dims: Sequence[str],
    /,
    *,
    skip: str = "",
) -> dict[str, Variable]:
    """Coordinates ``size * index`` of the dimensions ``dims`` of ``levels[level]``
    whose axes have a pixel size (but the axes in ``skip``)."""
    array = levels[level]
    sizes = level_scales(series, levels)[level]
    coords = {}
    for letter, dim, count, size in zip(array.axes, dims, array.shape, sizes, strict=True):
        known = series.scales.get(letter)
        if known is None or known.size <= 0 or letter in skip:
            continue
        attrs = {"units": known.unit} if known.unit else {}
        coords[dim] = Variable((dim,), size * np.arange(count, dtype="float64"), attrs)
    return coords


def channel_coords(
    series: Series, array: ArrayModel, dims: Sequence[str], /
) -> dict[str, Variable]:
    """The channel names on the channel dimension, when the file names its channels."""
    letter = "C" if "C" in array.axes else "S"
    if letter not in array.axes or not series.channels:
        return {}
    position = array.axes.index(letter)
    names = [c.name or "" for c in series.channels]
    if len(names) != array.shape[position] or not any(names):
        return {}
    dim = dims[position]
    return {dim: Variable((dim,), np.asarray(names, dtype=str))}
