"""Shortcuts kept from the first writer: :func:`write_pyramid` and :func:`downsample`.

Both now run on :func:`tiffzarr.writer.write`: a tiled image with reduced
levels as SubIFDs, built while the image streams.
"""

from __future__ import annotations

import os

import numpy as np

from tiffzarr.format import Compression, Predictor
from tiffzarr.writer._api import write
from tiffzarr.writer._downsample import halve

__all__ = ["downsample", "write_pyramid"]


def downsample(image: np.ndarray, /) -> np.ndarray:
    """Halve the first two axes by averaging 2x2 blocks (odd edges repeated, rounded half up).

    >>> downsample(np.arange(16, dtype="uint8").reshape(4, 4)).tolist()
    [[3, 5], [11, 13]]
    """
    array = np.asarray(image)
    rows = array.reshape(1, *array.shape[:2], -1)
    half = halve(rows, "mean")
    return half.reshape(half.shape[1], half.shape[2], *array.shape[2:])


def write_pyramid(
    path: str | os.PathLike[str],
    data: np.ndarray,
    /,
    *,
    tile: tuple[int, int] = (256, 256),
    levels: int = 3,
    compression: int = Compression.ADOBE_DEFLATE,
    predictor: int = Predictor.HORIZONTAL,
    bigtiff: bool | None = None,
) -> None:
    """Write ``data`` (Y, X[, S]) as a tiled TIFF with ``levels`` SubIFD reductions.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "p.tif")
    >>> write_pyramid(path, np.zeros((300, 200), "uint16"), tile=(64, 64), levels=2)
    >>> os.path.getsize(path) > 0
    True
    """
    data = np.asarray(data)
    if data.ndim not in (2, 3):
        raise ValueError(f"data must be (Y, X) or (Y, X, S), not {data.shape}")
    write(
        path,
        data,
        tile=tile,
        pyramid=levels,
        compression=int(compression),
        predictor=int(predictor) if data.dtype.kind in "iu" else 1,
        photometric="rgb" if data.ndim == 3 and data.shape[2] in (3, 4) else "minisblack",
        planarconfig="contig" if data.ndim == 3 else None,
        bigtiff=bigtiff,
        metadata=None,
    )
