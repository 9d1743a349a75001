"""A read-only zarr store over a parsed TIFF file, or over a sequence of files."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Sequence
from typing import Any, Literal

from tiffzarr.errors import UnsupportedError
from tiffzarr.model import (
    ArrayModel,
    PagePath,
    TiffIndex,
    predicted_file,
    stack_files,
    whole_page_chunks,
)
from tiffzarr.reader import Missing, file_reference, open_tiff
from tiffzarr.store._hierarchy import OME_XML_KEY, Hierarchy, build_hierarchy
from tiffzarr.store._metadata import CODEC_ID, TRANSPOSE_ID, ZarrFormat
from tiffzarr.store._ngff import NgffAxes, ngff_axes
from tiffzarr.store._store import TiffStore

__all__ = [
    "CODEC_ID",
    "OME_XML_KEY",
    "TRANSPOSE_ID",
    "Hierarchy",
    "NgffAxes",
    "TiffStore",
    "ZarrFormat",
    "build_hierarchy",
    "ngff_axes",
    "open_sequence",
    "open_store",
]

ChunkMode = Literal["segment", "page"]


async def open_store(
    url: str | TiffIndex,
    /,
    *,
    series: int | None = None,
    level: int | None = None,
    page: int | PagePath | None = None,
    storage_options: dict[str, Any] | None = None,
    zarr_format: ZarrFormat = 3,
    chunkmode: ChunkMode = "segment",
    fill_value: float | int | None = None,
    predict: bool = True,
    mode: Literal["r", "r+"] = "r",
    squeeze: bool | None = None,
    missing: Missing = "error",
) -> TiffStore:
    """Parse the TIFF at ``url`` and return a read-only zarr store over it.

    The store is an OME-Zarr hierarchy (see :mod:`tiffzarr.store._hierarchy`):
    one multiscale image group per series, levels in NGFF axis order.
    ``series`` makes that series' image group the root; ``level`` (or ``page``)
    makes one array, in tifffile's axis order, the root.

    ``url`` may also be an already parsed :class:`~tiffzarr.model.TiffIndex`
    (then ``storage_options`` must be the ones it was opened with). ``predict``
    lets runs of uniform pages be predicted instead of read (each predicted page
    is checked against the file before its pixels are served). ``chunkmode``
    ``"page"`` makes each page one chunk (for pages of many small strips).
    ``mode="r+"`` lets zarr write chunks of an uncompressed local file in place
    (for example a file created empty with :func:`tiffzarr.write`).
    ``squeeze`` leaves out dimensions of length 1 (``None``: as tifffile does for
    the kind of series); ``missing`` says what a missing file of a multi-file set
    becomes (an error naming it, or ``"fill"`` with a warning).
    """
    if mode not in ("r", "r+"):
        raise ValueError(f"mode must be 'r' or 'r+', not {mode!r}")
    if zarr_format not in (2, 3):
        raise ValueError(f"zarr_format must be 2 or 3, not {zarr_format!r}")
    if chunkmode not in ("segment", "page"):
        raise ValueError(f"chunkmode must be 'segment' or 'page', not {chunkmode!r}")
    if isinstance(url, TiffIndex):
        index = url
    else:
        index = await open_tiff(
            url, storage_options=storage_options, predict=predict, missing=missing
        )
    hierarchy = build_hierarchy(
        index, series=series, level=level, page=page, squeeze=squeeze, zarr_format=zarr_format
    )
    if chunkmode == "page":
        arrays = {path: whole_page_chunks(a) for path, a in hierarchy.arrays.items()}
        hierarchy = dataclasses.replace(hierarchy, arrays=arrays)
    return TiffStore(
        index,
        hierarchy=hierarchy,
        storage_options=storage_options,
        zarr_format=zarr_format,
        fill_value=fill_value,
        writable=mode == "r+",
    )


PARSE_CONCURRENCY = 64
"""Files of a sequence parsed at once when they are not predicted."""


async def open_sequence(
    files: Sequence[str | os.PathLike[str]],
    /,
    *,
    series: int = 0,
    level: int = 0,
    storage_options: dict[str, Any] | None = None,
    zarr_format: ZarrFormat = 3,
    fill_value: float | int | None = None,
    predict: bool = True,
    axis: str = "I",
) -> TiffStore:
    """A read-only zarr store over a sequence of TIFF files holding one kind of image.

    The store holds one array: the image (``series``, ``level``) of every file,
    stacked in the order given along a new first axis ``axis``; each chunk is
    still one segment of one file. Every file must hold an image of the first
    one's shape, dtype, chunks and compression.

    With ``predict`` (the default) only the first file is parsed when its pixels
    are uncompressed: the others are taken to be laid out byte for byte like it
    (as files written by one camera or program are), and before any of a file's
    pixels are served its header, IFDs and layout values are read together with
    them and compared with the first file's, so each file costs one request and a
    file laid out otherwise raises :class:`~tiffzarr.errors.TiffFormatError`
    (open with ``predict=False`` then). Otherwise, and for compressed files,
    every file is parsed here, :data:`PARSE_CONCURRENCY` at a time.

    >>> import numpy, tifffile, tempfile, os, asyncio, zarr
    >>> folder = tempfile.mkdtemp()
    >>> paths = [os.path.join(folder, f"{i}.tif") for i in range(3)]
    >>> for i, path in enumerate(paths):
    ...     tifffile.imwrite(path, numpy.full((4, 6), i, "uint8"))
    >>> store = asyncio.run(open_sequence(paths))
    >>> z = zarr.open_array(store, mode="r")
    >>> z.shape, z.chunks, z[:, 0, 0].tolist()
    ((3, 4, 6), (1, 4, 6), [0, 1, 2])
    """
    if isinstance(files, str | os.PathLike):
        raise TypeError("files must be a sequence of paths or URLs (expand patterns with glob)")
    urls = [os.fspath(f) for f in files]
    if not urls:
        raise ValueError("a sequence needs at least one file")
    if zarr_format not in (2, 3):
        raise ValueError(f"zarr_format must be 2 or 3, not {zarr_format!r}")
    if len(axis) != 1:
        raise ValueError(f"axis must be one letter, not {axis!r}")
    first = await open_tiff(urls[0], storage_options=storage_options, predict=predict)
    array = _image(first, series, level)
    arrays: list[ArrayModel] | None = None
    if predict:
        try:
            reference = file_reference(first, array)
        except UnsupportedError:
            reference = None
        if reference is not None:
            arrays = [array, *(predicted_file(array, url, reference) for url in urls[1:])]
    if arrays is None:
        limit = asyncio.Semaphore(PARSE_CONCURRENCY)

        async def parse(url: str) -> ArrayModel:
            async with limit:
                index = await open_tiff(url, storage_options=storage_options, predict=predict)
            return _image(index, series, level)

        arrays = [array, *await asyncio.gather(*(parse(url) for url in urls[1:]))]
    return TiffStore(
        first,
        hierarchy=Hierarchy({}, {"": stack_files(arrays, axis=axis)}),
        storage_options=storage_options,
        zarr_format=zarr_format,
        fill_value=fill_value,
    )


def _image(index: TiffIndex, series: int, level: int) -> ArrayModel:
    return build_hierarchy(index, series=series, level=level, squeeze=False).arrays[""]
