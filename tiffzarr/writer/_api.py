"""``write`` and ``imwrite``: one series to a new file in one call.

>>> import os, tempfile, numpy as np, tifffile
>>> path = os.path.join(tempfile.mkdtemp(), "a.tif")
>>> write(path, np.ones((64, 48), "uint8"), tile=(32, 32), compression="zlib")
>>> tifffile.imread(path).sum()
np.uint64(3072)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict, Unpack

from tiffzarr.writer._downsample import DownsampleMethod
from tiffzarr.writer._options import ByteOrderOption
from tiffzarr.writer._writer import TiffWriter

__all__ = ["WriteKwargs", "imwrite", "write"]


class WriteKwargs(TypedDict, total=False):
    """The keyword options of :meth:`TiffWriter.write` (see there)."""

    shape: Sequence[int] | None
    dtype: Any
    photometric: Any
    planarconfig: Any
    extrasamples: Any
    volumetric: bool
    tile: Sequence[int] | None
    rowsperstrip: int | None
    bitspersample: int | None
    compression: Any
    compressionargs: Mapping[str, Any] | None
    predictor: Any
    subsampling: tuple[int, int] | None
    jpegtables: bytes | None
    iccprofile: bytes | None
    colormap: Any
    description: str | bytes | None
    datetime: Any
    resolution: Any
    resolutionunit: Any
    subfiletype: int | None
    software: str | bytes | bool | None
    subifds: int | Sequence[Any] | None
    metadata: Mapping[str, Any] | None
    extratags: Sequence[Sequence[Any]] | None
    contiguous: bool
    truncate: bool
    align: int | None
    maxworkers: int | None
    pyramid: int | bool | None
    cog: bool
    downsample: DownsampleMethod | None
    geotiff: Mapping[str, Any] | None


def write(
    target: Any,
    data: Any = None,
    /,
    *,
    mode: Literal["w", "x", "r+"] = "w",
    bigtiff: bool | None = None,
    byteorder: ByteOrderOption | None = None,
    append: bool | Literal["force"] = False,
    imagej: bool = False,
    ome: bool | None = None,
    shaped: bool | None = None,
    storage_options: dict[str, Any] | None = None,
    **options: Unpack[WriteKwargs],
) -> None:
    """Write ``data`` to ``target`` as one series.

    Parameters
    ----------
    target
        A local path, an fsspec URL or a seekable binary file object.
    data
        A numpy, zarr or dask array (or any array-like), an iterator of tiles,
        pages or encoded segments, or ``None`` for an empty image of ``shape``
        and ``dtype``.
    mode, bigtiff, byteorder, append, imagej, ome, shaped, storage_options
        As for :class:`TiffWriter`.
    **options
        As for :meth:`TiffWriter.write` (tifffile's options plus ``pyramid``,
        ``downsample``, ``cog`` and ``geotiff``).

    Raises
    ------
    ValueError
        Options that do not fit the data or each other; nothing is written.
    WriteError
        The target cannot be written; an older file of that name is untouched.

    Notes
    -----
    When ``data`` is a dask array and the scheduler that ``data.compute()``
    would use is a ``distributed`` Client, the pixels are computed and the
    tiles encoded (pyramid levels too) on the client's workers, each chunk
    once; only encoded bytes come back, and they are written in the same
    order, so the file is the same as without the Client. Inside
    ``dask.config.set(scheduler="threads")`` the work stays in this process.

    Examples
    --------
    >>> import dask.array as da, os, tempfile, tifffile
    >>> path = os.path.join(tempfile.mkdtemp(), "cog.tif")
    >>> image = da.zeros((2048, 2048), dtype="uint16", chunks=1024)
    >>> write(path, image, cog=True, compression="zstd", predictor=True,
    ...       geotiff={"crs": 4326, "transform": (0.1, 0, 10, 0, -0.1, 50), "nodata": 0})
    >>> with tifffile.TiffFile(path) as tif:
    ...     [page.shape for page in tif.pages]
    [(2048, 2048), (1024, 1024), (512, 512)]
    """
    with TiffWriter(
        target,
        mode=mode,
        bigtiff=bigtiff,
        byteorder=byteorder,
        append=append,
        imagej=imagej,
        ome=ome,
        shaped=shaped,
        storage_options=storage_options,
    ) as writer:
        writer.write(data, **options)


imwrite = write
"""Alias of :func:`write`, as tifffile names it."""
