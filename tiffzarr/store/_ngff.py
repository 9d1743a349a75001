"""OME-Zarr (NGFF) metadata for a series: typed axes in NGFF order, scales, channels.

NGFF wants 2 to 5 axes: at most one ``time`` axis (first), then at most one
``channel`` and one custom axis, then 2 or 3 ``space`` axes. A series in
tifffile's axis order (``TZCYX``, ``YXS``) is served in that order by
transposing each level (no bytes move: the codec's output is transposed).
Samples (``S``) are the channel axis unless the series also has ``C``. Series
that NGFF cannot describe (more than five axes, two custom axes) keep their own
order and carry the reason instead of ``multiscales``.

Version 0.5 (inside ``"ome"``) is written for zarr v3 and 0.4 for zarr v2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tiffzarr.format._axes import AXIS_NAMES, SPACE_UNITS, TIME_UNITS
from tiffzarr.model import ArrayModel, Channel, Series

__all__ = ["NgffAxes", "multiscales", "ngff_axes", "omero"]

SPACE = "ZYX"
RGB_COLORS = ("FF0000", "00FF00", "0000FF", "FFFFFF")


@dataclass(frozen=True, slots=True)
class NgffAxes:
    """The NGFF view of axes: the order to serve them in, their names and types."""

    order: tuple[int, ...]
    letters: str
    names: tuple[str, ...]
    types: tuple[str, ...]

    @property
    def channel(self) -> int | None:
        """Position of the channel axis (in NGFF order), if any."""
        return self.types.index("channel") if "channel" in self.types else None


def _type(letter: str, axes: str) -> str:
    if letter in SPACE:
        return "space"
    if letter == "T":
        return "time"
    if letter == "C" or (letter == "S" and "C" not in axes):
        return "channel"
    return AXIS_NAMES.get(letter, "other")


def ngff_axes(axes: str, /) -> NgffAxes | str:
    """The NGFF order and types of ``axes`` (tifffile letters), or why there are none.

    >>> a = ngff_axes("TZCYX")
    >>> a.order, a.names, a.types
    ((0, 2, 1, 3, 4), ('t', 'c', 'z', 'y', 'x'), ('time', 'channel', 'space', 'space', 'space'))
    >>> ngff_axes("YXS").names, ngff_axes("IYXS").types
    (('s', 'y', 'x'), ('sequence', 'channel', 'space', 'space'))
    >>> ngff_axes("TZCYXS")
    'NGFF images have 2 to 5 axes, not 6 (TZCYXS)'
    """
    types = [_type(a, axes) for a in axes]
    rank = {"time": 0, "space": 2}
    order = tuple(sorted(range(len(axes)), key=lambda i: (rank.get(types[i], 1), i)))
    counts = {t: types.count(t) for t in set(types)}
    custom = sum(n for t, n in counts.items() if t not in ("space", "time", "channel"))
    if not 2 <= len(axes) <= 5:
        return f"NGFF images have 2 to 5 axes, not {len(axes)} ({axes})"
    if counts.get("space", 0) not in (2, 3):
        return f"NGFF images have 2 or 3 space axes ({axes})"
    if custom > 1:
        return f"NGFF images have at most one axis that is not time, channel or space ({axes})"
    letters = "".join(axes[i] for i in order)
    return NgffAxes(
        order=order,
        letters=letters,
        names=tuple(a.lower() for a in letters),
        types=tuple(types[i] for i in order),
    )


def _axis(name: str, kind: str, letter: str, series: Series) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "type": kind}
    scale = series.scales.get(letter)
    allowed = SPACE_UNITS if kind == "space" else TIME_UNITS if kind == "time" else frozenset()
    if scale is not None and scale.unit in allowed:
        entry["unit"] = scale.unit
    return entry


def multiscales(
    series: Series, levels: Sequence[ArrayModel], axes: NgffAxes, /, *, version: str
) -> list[dict[str, Any]]:
    """The ``multiscales`` list of a series whose ``levels`` are in NGFF order.

    Scales are the physical pixel sizes (1 where the file gives none) times each
    level's reduction along the space axes.
    """
    base = levels[0]
    datasets = []
    for i, level in enumerate(levels):
        scale = []
        for letter, n, m in zip(axes.letters, base.shape, level.shape, strict=True):
            known = series.scales.get(letter)
            size = known.size if known is not None and known.size > 0 else 1.0
            scale.append(float(size * (n / m if letter in SPACE and m else 1.0)))
        transform = [{"type": "scale", "scale": scale}]
        datasets.append({"path": str(i), "coordinateTransformations": transform})
    entry: dict[str, Any] = {
        "name": series.name,
        "axes": [
            _axis(name, kind, letter, series)
            for name, kind, letter in zip(axes.names, axes.types, axes.letters, strict=True)
        ],
        "datasets": datasets,
    }
    if version == "0.4":
        entry = {"version": "0.4", **entry}
    return [entry]


def _window(dtype: np.dtype, channel: Channel | None) -> dict[str, float]:
    low, high = 0.0, 1.0  # booleans, and floats of unknown range
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        low, high = float(info.min), float(info.max)
    start, end = channel.window if channel is not None and channel.window else (low, high)
    return {"min": min(low, start), "max": max(high, end), "start": start, "end": end}


def omero(series: Series, base: ArrayModel, axes: NgffAxes, /) -> dict[str, Any] | None:
    """The ``omero`` display settings of the channels, when the file describes them
    (or when they are the samples of an RGB image)."""
    position = axes.channel
    count = base.shape[position] if position is not None else 1
    rgb = position is not None and axes.letters[position] == "S" and count in (3, 4)
    if not series.channels and not rgb:
        return None
    channels: list[Channel | None] = list(series.channels)
    if len(channels) != count:
        if not rgb:
            return None
        channels = [None] * count
    out = []
    for c, channel in enumerate(channels):
        color = channel.color if channel is not None and channel.color else None
        if color is None:
            color = RGB_COLORS[c] if rgb else "FFFFFF"
        entry: dict[str, Any] = {"color": color, "window": _window(base.dtype, channel)}
        if channel is not None and channel.name:
            entry["label"] = channel.name
        out.append({"active": True, **entry})
    return {"channels": out}
