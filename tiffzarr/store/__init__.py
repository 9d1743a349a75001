"""A read-only zarr store over a parsed TIFF file, or over a sequence of files."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from tiffzarr._check import check_arguments, check_location
from tiffzarr.io import PathOrFile
from tiffzarr.model import PagePath, TiffIndex, whole_page_chunks
from tiffzarr.reader import Missing, open_tiff
from tiffzarr.store._direct import read_array
from tiffzarr.store._hierarchy import OME_XML_KEY, Hierarchy, build_hierarchy
from tiffzarr.store._metadata import CODEC_ID, TRANSPOSE_ID, ZarrFormat
from tiffzarr.store._ngff import NgffAxes, ngff_axes
from tiffzarr.store._sequence import PARSE_CONCURRENCY, Files, open_sequence, sequence_files
from tiffzarr.store._store import TiffStore

__all__ = [
    "CODEC_ID",
    "OME_XML_KEY",
    "PARSE_CONCURRENCY",
    "TRANSPOSE_ID",
    "Hierarchy",
    "Files",
    "NgffAxes",
    "TiffStore",
    "ZarrFormat",
    "build_hierarchy",
    "ngff_axes",
    "open_sequence",
    "open_store",
    "read_array",
    "sequence_files",
]

ChunkMode = Literal["segment", "page"]


async def open_store(
    url: PathOrFile | TiffIndex,
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

    ``url`` is a path, any fsspec URL, a binary file object (``open(path, "rb")``,
    ``io.BytesIO``; it must stay unchanged while the store reads it, and the store
    holds it), or an already parsed :class:`~tiffzarr.model.TiffIndex` (then
    ``storage_options`` must be the ones it was opened with). A store over a file
    object cannot be pickled: the object exists in this process only. ``predict``
    lets runs of uniform pages be predicted instead of read (each predicted page
    is checked against the file before its pixels are served). ``chunkmode``
    ``"page"`` makes each page one chunk (for pages of many small strips).
    ``mode="r+"`` lets zarr write chunks of an uncompressed local file in place
    (for example a file created empty with :func:`tiffzarr.write`).
    ``squeeze`` leaves out dimensions of length 1 (``None``: as tifffile does for
    the kind of series); ``missing`` says what a missing file of a multi-file set
    becomes (an error naming it, or ``"fill"`` with a warning).
    """
    check_location("url", url, storage_options=storage_options, index=True)
    check_arguments(
        series=series,
        level=level,
        page=page,
        storage_options=storage_options,
        zarr_format=zarr_format,
        chunkmode=chunkmode,
        fill_value=fill_value,
        predict=predict,
        mode=mode,
        squeeze=squeeze,
        missing=missing,
    )
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
