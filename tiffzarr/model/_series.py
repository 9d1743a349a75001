"""Series: the named images of a file, with their pyramid levels and what they mean.

A series keeps its levels at their full shape (tifffile's ``get_shape(False)``)
and serves them squeezed by default, as tifffile's series do (its ``squeeze``
flag; shaped series are never squeezed). Physical pixel sizes and channel
display settings are typed here so that adapters can write them in the
ecosystem's conventions (NGFF scales and units, ``omero`` channels).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tiffzarr.errors import NotFoundError
from tiffzarr.model._array import ArrayModel
from tiffzarr.model._geo import GeoReference
from tiffzarr.model._views import squeeze_array, squeezed_dims

__all__ = ["AxisScale", "Channel", "Series"]


@dataclass(frozen=True, slots=True)
class AxisScale:
    """The physical size of one level-0 pixel (or time step) along an axis.

    ``unit`` is a UDUNITS-2 name as NGFF uses them (``"micrometer"``,
    ``"second"``), or ``None`` when the file gives none.
    """

    size: float
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class Channel:
    """What a file says about one channel: name, display colour ``"RRGGBB"`` and
    display window ``(start, end)``."""

    name: str | None = None
    color: str | None = None
    window: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class Series:
    """A named image in the file, with its pyramid levels (level 0 is full size).

    ``levels`` have their full shapes; :meth:`level` and :attr:`shape` give them
    squeezed when ``squeeze`` (the series' default) is set. ``scales`` maps axis
    letters to physical sizes, ``channels`` lists the channels along ``C`` (or
    ``S``), and ``attrs`` holds the format's own metadata as plain JSON.
    ``geo`` is the georeferencing of level 0 (GeoTIFF), and ``masks`` holds the
    transparency mask of each level (GDAL's internal mask pages) when it has one.
    """

    name: str
    kind: str
    levels: tuple[ArrayModel, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)
    squeeze: bool = True
    scales: Mapping[str, AxisScale] = field(default_factory=dict)
    channels: tuple[Channel, ...] = ()
    geo: GeoReference | None = None
    masks: tuple[ArrayModel, ...] = ()

    def __repr__(self) -> str:
        return (
            f"Series({self.name!r}, {self.kind}, {self.shape} {self.dtype} {self.axes}, "
            f"levels={len(self.levels)})"
        )

    def _squeezes(self, squeeze: bool | None) -> bool:
        return self.squeeze if squeeze is None else squeeze

    def level(self, index: int, /, *, squeeze: bool | None = None) -> ArrayModel:
        """Level ``index``, squeezed unless ``squeeze`` (default: the series') says not."""
        try:
            array = self.levels[index]
        except IndexError as exc:
            raise NotFoundError(
                f"series {self.name!r} has {len(self.levels)} levels, not {index + 1}"
            ) from exc
        return squeeze_array(array) if self._squeezes(squeeze) else array

    def arrays(self, *, squeeze: bool | None = None) -> tuple[ArrayModel, ...]:
        """Every level, as :meth:`level` gives it."""
        return tuple(self.level(i, squeeze=squeeze) for i in range(len(self.levels)))

    def get_shape(self, squeeze: bool | None = None) -> tuple[int, ...]:
        base = self.levels[0]
        if not self._squeezes(squeeze):
            return base.shape
        kept = squeezed_dims(base.shape, base.axes)
        return tuple(n for n, k in zip(base.shape, kept, strict=True) if k)

    def get_axes(self, squeeze: bool | None = None) -> str:
        base = self.levels[0]
        if not self._squeezes(squeeze):
            return base.axes
        kept = squeezed_dims(base.shape, base.axes)
        return "".join(a for a, k in zip(base.axes, kept, strict=True) if k)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.get_shape()

    @property
    def axes(self) -> str:
        return self.get_axes()

    @property
    def dtype(self) -> np.dtype:
        return self.levels[0].dtype
