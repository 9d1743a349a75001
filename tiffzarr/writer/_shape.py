"""How an array's shape becomes TIFF pages: tifffile's normalisation, as one function.

An array of any rank is stored as ``frames`` pages of one layout. Each page is
``(separate samples, depth, length, width, contiguous samples)``; the trailing
axes of the array give those dimensions and the leading axes are flattened into
pages. Which trailing axes are samples follows the photometric interpretation,
the planar configuration and the extra samples, with the meanings of
:meth:`tifffile.TiffWriter.write`.

Every axis of the array gets a *role*: ``F`` (flattened into pages), ``S``
(separate samples), ``Z`` (depth), ``Y``, ``X``, ``s`` (contiguous samples) or
``-`` (a trailing length-1 axis that is dropped).

>>> info = normalize_shape((5, 64, 32, 3), np.dtype("uint8"))
>>> info.stored, info.photometric, info.roles
(StoredShape(frames=5, separate=1, depth=1, length=64, width=32, contig=3), 2, 'FYXs')
>>> normalize_shape((3, 64, 32), np.dtype("uint16"), photometric="minisblack").roles
'FYX'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tiffzarr.format._enums import Photometric, PlanarConfig
from tiffzarr.writer._options import PHOTOMETRIC_SAMPLES, enum_code

__all__ = ["ShapeInfo", "StoredShape", "Trim", "normalize_shape"]

Trim = Literal["none", "one", "all"]
"""Trailing length-1 axes to drop: none, one (ImageJ) or all (shaped metadata)."""

RGB = int(Photometric.RGB)
MINISBLACK = int(Photometric.MINISBLACK)
CONTIG = int(PlanarConfig.CONTIG)
SEPARATE = int(PlanarConfig.SEPARATE)


@dataclass(frozen=True, slots=True)
class StoredShape:
    """Pages of ``(separate, depth, length, width, contig)`` samples."""

    frames: int
    separate: int
    depth: int
    length: int
    width: int
    contig: int

    @property
    def samples(self) -> int:
        return self.separate * self.contig

    @property
    def planarconfig(self) -> int:
        return SEPARATE if self.separate > 1 else CONTIG

    @property
    def page(self) -> tuple[int, int, int, int, int]:
        return (self.separate, self.depth, self.length, self.width, self.contig)


@dataclass(frozen=True, slots=True)
class ShapeInfo:
    """A normalised shape: stored pages, photometric, roles of the array's axes."""

    stored: StoredShape
    photometric: int
    volumetric: bool
    extrasamples: int
    roles: str


def normalize_shape(
    shape: Sequence[int],
    dtype: np.dtype,
    /,
    *,
    photometric: Any = None,
    planarconfig: Any = None,
    extrasamples: tuple[int, ...] | None = None,
    volumetric: bool = False,
    colormap: bool = False,
    trim: Trim = "none",
    metadata_format: Literal["imagej", "ome"] | None = None,
) -> ShapeInfo:
    """Split ``shape`` into pages as :meth:`tifffile.TiffWriter.write` does.

    Raises :class:`ValueError` when the options do not fit the shape.
    """
    datashape = tuple(int(n) for n in shape)
    if any(n < 1 for n in datashape) or not datashape:
        raise ValueError(f"cannot write an array of shape {datashape}")
    photo = None if photometric is None else enum_code(Photometric, photometric, "photometric")
    planar = None if not planarconfig else enum_code(PlanarConfig, planarconfig, "planarconfig")
    if photo is None:
        photo, planar = _infer_photometric(
            datashape,
            dtype,
            planar=planar,
            volumetric=volumetric,
            colormap=colormap,
            metadata_format=metadata_format,
        )
    nominal = PHOTOMETRIC_SAMPLES.get(photo, 1)
    pad = max(0, (3 if nominal > 1 else 2) - len(datashape))
    full = (1,) * pad + datashape
    if volumetric and len(full) < 3:
        volumetric = False
    if planar and len(full) <= (3 if volumetric else 2):
        planar = None
        if nominal > 1:
            photo, nominal = MINISBLACK, 1
    trimmed = 0
    if nominal > 1:
        core, volumetric = _multi_sample_core(full, photo, nominal, planar, volumetric)
    elif planar:
        core = _extra_sample_core(planar, volumetric, extrasamples)
    else:
        while _trims(trim, full, trimmed):
            trimmed += 1
        if len(full) - trimmed < 3:
            volumetric = False
        core = (("Z",) if volumetric else ()) + ("Y", "X") + (("s",) if extrasamples else ())
    kept = full[: len(full) - trimmed]
    if len(kept) < len(core):
        raise ValueError(f"shape {datashape} has too few dimensions for {''.join(core)}")
    roles = "F" * (len(kept) - len(core)) + "".join(core) + "-" * trimmed
    stored = _stored(full, roles)
    return _checked(ShapeInfo(stored, photo, volumetric, 0, roles[pad:]), nominal, extrasamples)


def _infer_photometric(
    shape: tuple[int, ...],
    dtype: np.dtype,
    *,
    planar: int | None,
    volumetric: bool,
    colormap: bool,
    metadata_format: str | None,
) -> tuple[int, int | None]:
    """Photometric (and planar configuration) from the data when not given."""
    ndim = len(shape)
    rgb_last = ndim > 2 and shape[-1] in (3, 4)
    rgb_planes = (volumetric and ndim > 3 and shape[-4] in (3, 4)) or (
        ndim > 2 and shape[-3] in (3, 4)
    )
    if dtype.kind == "b":
        return int(Photometric.MINISWHITE), planar
    if colormap and dtype.char in "BH" and metadata_format != "imagej":
        return int(Photometric.PALETTE), None
    if metadata_format == "imagej" and dtype.char != "B":
        return MINISBLACK, None
    if planar == CONTIG:
        return (RGB if rgb_last else MINISBLACK), planar
    if planar == SEPARATE:
        return (RGB if rgb_planes else MINISBLACK), planar
    if rgb_last:
        return RGB, CONTIG
    if metadata_format is not None:
        return MINISBLACK, None
    if rgb_planes:
        return RGB, SEPARATE
    return MINISBLACK, planar


def _multi_sample_core(
    shape: tuple[int, ...], photo: int, nominal: int, planar: int | None, volumetric: bool
) -> tuple[tuple[str, ...], bool]:
    if len(shape) < 3:
        raise ValueError(f"shape {shape} is not a photometric {photo} image")
    if len(shape) < 4:
        volumetric = False
    sep_axis = -4 if volumetric else -3
    if planar is None:
        allowed = {nominal, 4} if photo == RGB else {nominal}
        if shape[-1] in allowed:
            planar = CONTIG
        elif shape[sep_axis] in allowed or shape[-1] > shape[sep_axis]:
            planar = SEPARATE
        else:
            planar = CONTIG
    depth = ("Z",) if volumetric else ()
    if planar == CONTIG:
        return (*depth, "Y", "X", "s"), volumetric
    return ("S", *depth, "Y", "X"), volumetric


def _extra_sample_core(
    planar: int, volumetric: bool, extrasamples: tuple[int, ...] | None
) -> tuple[str, ...]:
    depth = ("Z",) if volumetric else ()
    if extrasamples is not None and len(extrasamples) == 0:
        return (*depth, "Y", "X")
    if planar == CONTIG:
        return (*depth, "Y", "X", "s")
    return ("S", *depth, "Y", "X")


def _trims(trim: Trim, shape: tuple[int, ...], trimmed: int) -> bool:
    rest = len(shape) - trimmed
    if trim == "none" or rest <= 2 or shape[rest - 1] != 1:
        return False
    return trim == "all" or trimmed == 0


def _stored(shape: tuple[int, ...], roles: str) -> StoredShape:
    size = dict.fromkeys("SZYXs", 1)
    frames = 1
    for n, role in zip(shape, roles, strict=True):
        if role == "F":
            frames *= n
        elif role != "-":
            size[role] = n
    return StoredShape(frames, size["S"], size["Z"], size["Y"], size["X"], size["s"])


def _checked(info: ShapeInfo, nominal: int, extrasamples: tuple[int, ...] | None) -> ShapeInfo:
    stored, photo = info.stored, info.photometric
    samples = stored.samples
    if photo == Photometric.PALETTE and samples != 1:
        raise ValueError(f"a palette image has one sample per pixel, not {samples}")
    if samples < nominal:
        raise ValueError(
            f"photometric {photo} needs {nominal} samples per pixel, the shape gives {samples}"
        )
    extra = samples - nominal
    if extrasamples is not None and extra != len(extrasamples):
        raise ValueError(f"{len(extrasamples)} extrasamples given for {extra} extra samples")
    return ShapeInfo(stored, photo, info.volumetric, extra, info.roles)
