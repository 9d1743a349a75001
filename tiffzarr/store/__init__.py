"""A read-only zarr store over a parsed TIFF file."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from tiffzarr.model import PagePath, TiffIndex, whole_page_chunks
from tiffzarr.reader import open_tiff
from tiffzarr.store._hierarchy import Hierarchy, build_hierarchy, multiscales
from tiffzarr.store._metadata import CODEC_ID, ZarrFormat
from tiffzarr.store._store import TiffStore

__all__ = [
    "CODEC_ID",
    "Hierarchy",
    "TiffStore",
    "ZarrFormat",
    "build_hierarchy",
    "multiscales",
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
) -> TiffStore:
    """Parse the TIFF at ``url`` and return a read-only zarr store over it.

    ``url`` may also be an already parsed :class:`~tiffzarr.model.TiffIndex`
    (then ``storage_options`` must be the ones it was opened with). ``predict``
    lets runs of uniform pages be predicted instead of read (each predicted page
    is checked against the file before its pixels are served). ``chunkmode``
    ``"page"`` makes each page one chunk (for pages of many small strips).
    ``mode="r+"`` lets zarr write chunks of an uncompressed local file in place
    (for example a file created empty with :func:`tiffzarr.write`).
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
        index = await open_tiff(url, storage_options=storage_options, predict=predict)
    hierarchy = build_hierarchy(index, series=series, level=level, page=page)
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
