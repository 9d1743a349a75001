"""The blocking API: twins of the coroutines in :mod:`tiffzarr.api.asynchronous`.

Each runs its coroutine on zarr's background I/O loop; all are re-exported by
:mod:`tiffzarr`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy

from tiffzarr._check import check_arguments
from tiffzarr._sync import run_sync
from tiffzarr.io import PathOrFile
from tiffzarr.model import TiffIndex
from tiffzarr.reader import Missing
from tiffzarr.reader import open_tiff as _open_tiff
from tiffzarr.refs import ReferenceSet, ReferenceStore, ReferenceSummary
from tiffzarr.refs import open_references as _open_references
from tiffzarr.refs import references as _references
from tiffzarr.refs import write_many_references as _write_many_references
from tiffzarr.refs import write_references as _write_references
from tiffzarr.store import Files, TiffStore
from tiffzarr.store import open_sequence as _open_sequence
from tiffzarr.store import open_store as _open_store
from tiffzarr.store import read_array as _read_array

__all__ = [
    "imread",
    "open_references",
    "open_sequence",
    "open_store",
    "open_tiff",
    "read_array",
    "references",
    "write_many_references",
    "write_references",
]


def open_tiff(
    url: PathOrFile,
    /,
    *,
    storage_options: dict[str, Any] | None = None,
    predict: bool = True,
    squeeze: bool | None = None,
    missing: Missing = "error",
) -> TiffIndex:
    """Parse the TIFF at ``url`` into its model (blocking twin of the coroutine)."""
    return run_sync(
        _open_tiff(
            url,
            storage_options=storage_options,
            predict=predict,
            squeeze=squeeze,
            missing=missing,
        )
    )


def open_store(
    url: PathOrFile | TiffIndex,
    /,
    *,
    series: int | None = None,
    level: int | None = None,
    page: int | tuple[int, ...] | None = None,
    storage_options: dict[str, Any] | None = None,
    zarr_format: Literal[2, 3] = 3,
    chunkmode: Literal["segment", "page"] = "segment",
    fill_value: float | int | None = None,
    predict: bool = True,
    mode: Literal["r", "r+"] = "r",
    squeeze: bool | None = None,
    missing: Missing = "error",
) -> TiffStore:
    """A read-only zarr store over the TIFF at ``url`` (blocking twin).

    >>> import numpy, tifffile, tempfile, os, zarr
    >>> path = os.path.join(tempfile.mkdtemp(), "a.tif")
    >>> tifffile.imwrite(path, numpy.arange(64 * 64, dtype="uint16").reshape(64, 64),
    ...                  tile=(32, 32), compression="zlib")
    >>> group = zarr.open_group(open_store(path), mode="r")
    >>> z = group["0/0"]
    >>> z.shape, z.chunks, int(z[10, 20])
    ((64, 64), (32, 32), 660)
    >>> zarr.open_array(open_store(path, series=0, level=0), mode="r").shape
    (64, 64)
    """
    return run_sync(
        _open_store(
            url,
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
    )


def open_sequence(
    files: Files,
    /,
    *,
    pattern: str | re.Pattern[str] | None = None,
    axesorder: Sequence[int] | None = None,
    categories: Mapping[str, Mapping[str, int]] | None = None,
    sort: bool | None = None,
    container: str | os.PathLike[str] | None = None,
    axestiled: Mapping[int | str, int | str] | None = None,
    series: int = 0,
    level: int = 0,
    storage_options: dict[str, Any] | None = None,
    zarr_format: Literal[2, 3] = 3,
    fill_value: float | int | None = None,
    predict: bool = True,
    axis: str | None = None,
) -> TiffStore:
    """A read-only zarr store over a sequence of TIFF files: a list, a glob pattern or a
    folder, in the grid their names give with ``pattern`` (blocking twin; see
    :func:`tiffzarr.store.open_sequence`).

    >>> import numpy, tifffile, tempfile, os, zarr
    >>> folder = tempfile.mkdtemp()
    >>> for i in range(4):
    ...     tifffile.imwrite(os.path.join(folder, f"t{i}.tif"), numpy.full((8, 8), i, "uint16"))
    >>> z = zarr.open_array(open_sequence(folder), mode="r")
    >>> z.shape, int(z[3, 7, 7])
    ((4, 8, 8), 3)
    >>> store = open_sequence(os.path.join(folder, "t*.tif"), pattern=r"t(?P<t>[0-9])")
    >>> z = zarr.open_array(store, mode="r")
    >>> z.metadata.dimension_names, int(z[2, 0, 0])
    (('T', 'Y', 'X'), 2)
    """
    return run_sync(
        _open_sequence(
            files,
            pattern=pattern,
            axesorder=axesorder,
            categories=categories,
            sort=sort,
            container=container,
            axestiled=axestiled,
            series=series,
            level=level,
            storage_options=storage_options,
            zarr_format=zarr_format,
            fill_value=fill_value,
            predict=predict,
            axis=axis,
        )
    )


def imread(
    url: PathOrFile,
    /,
    *,
    series: int = 0,
    level: int = 0,
    page: int | tuple[int, ...] | None = None,
    storage_options: dict[str, Any] | None = None,
    squeeze: bool | None = None,
    missing: Missing = "error",
    selection: Sequence[slice] | None = None,
) -> numpy.ndarray:
    """Read a whole series level (or one page) into memory, in the shape tifffile gives
    it (``url`` and ``squeeze`` as for :func:`open_store`): the reads are planned for the
    whole level and each segment is decoded straight into the output (see
    :func:`read_array`). ``selection``, one slice per dimension, reads a window of it.

    >>> import io, numpy, tifffile
    >>> buffer = io.BytesIO()
    >>> tifffile.imwrite(buffer, numpy.arange(12, dtype="uint8").reshape(3, 4))
    >>> imread(buffer)[2].tolist()
    [8, 9, 10, 11]
    >>> imread(buffer, selection=(slice(1, 3), slice(2, None))).tolist()
    [[6, 7], [10, 11]]
    """
    check_arguments(selection=selection)
    if page is not None:
        store = open_store(url, page=page, storage_options=storage_options)
    else:
        store = open_store(
            url,
            series=series,
            level=level,
            storage_options=storage_options,
            squeeze=squeeze,
            missing=missing,
        )
    path = next(iter(store.hierarchy.arrays))
    return read_array(store, path, selection=selection)  # checks max_read_bytes


def read_array(
    store: TiffStore, path: str = "", /, *, selection: Sequence[slice] | None = None
) -> numpy.ndarray:
    """Read array ``path`` of an open ``store`` (``selection``: a window of it, one slice
    per dimension) into memory, its reads planned as a whole and each segment decoded
    straight into the output: the pixels zarr reads, faster and in fewer requests
    (blocking twin of the coroutine, :func:`tiffzarr.store._direct.read_array`).

    >>> import io, numpy, tifffile
    >>> buffer = io.BytesIO()
    >>> tifffile.imwrite(buffer, numpy.arange(12, dtype="uint8").reshape(3, 4))
    >>> store = open_store(buffer, series=0, level=0)
    >>> read_array(store, selection=(slice(0, 2), slice(1, 3))).tolist()
    [[1, 2], [5, 6]]
    """
    return run_sync(_read_array(store, path, selection=selection))


def references(
    url: str | TiffIndex | TiffStore,
    /,
    *,
    series: int | None = None,
    level: int | None = None,
    page: int | tuple[int, ...] | None = None,
    storage_options: dict[str, Any] | None = None,
    squeeze: bool | None = None,
    missing: Missing = "error",
    version: Literal[0, 1] = 1,
    zarr_format: Literal[2, 3] = 2,
    codecs: Literal["portable", "tiffzarr"] = "portable",
    inline_threshold: int = 0,
    target_url: str | None = None,
) -> ReferenceSet:
    """Kerchunk references of the store ``open_store`` makes, or of an open store
    such as ``open_sequence``'s (blocking twin of :func:`tiffzarr.refs.references`;
    see ``docs/references.md``)."""
    return run_sync(
        _references(
            url,
            series=series,
            level=level,
            page=page,
            storage_options=storage_options,
            squeeze=squeeze,
            missing=missing,
            version=version,
            zarr_format=zarr_format,
            codecs=codecs,
            inline_threshold=inline_threshold,
            target_url=target_url,
        )
    )


def write_references(
    url: str | TiffIndex | TiffStore,
    target: str,
    /,
    *,
    format: Literal["json", "parquet"] = "json",
    series: int | None = None,
    level: int | None = None,
    page: int | tuple[int, ...] | None = None,
    storage_options: dict[str, Any] | None = None,
    squeeze: bool | None = None,
    missing: Missing = "error",
    version: Literal[0, 1] = 1,
    zarr_format: Literal[2, 3] = 2,
    codecs: Literal["portable", "tiffzarr"] = "portable",
    inline_threshold: int = 0,
    target_url: str | None = None,
    target_options: dict[str, Any] | None = None,
) -> ReferenceSet:
    """Write the references of a TIFF, or of an open store such as ``open_sequence``'s,
    as JSON or parquet (blocking twin of :func:`tiffzarr.refs.write_references`)."""
    return run_sync(
        _write_references(
            url,
            target,
            format=format,
            series=series,
            level=level,
            page=page,
            storage_options=storage_options,
            squeeze=squeeze,
            missing=missing,
            version=version,
            zarr_format=zarr_format,
            codecs=codecs,
            inline_threshold=inline_threshold,
            target_url=target_url,
            target_options=target_options,
        )
    )


def write_many_references(
    files: Files,
    target_folder: str,
    /,
    *,
    format: Literal["json", "parquet"] = "json",
    concurrency: int = 64,
    client: Any = None,
    on_error: Literal["collect", "raise"] = "collect",
    series: int | None = None,
    level: int | None = None,
    page: int | tuple[int, ...] | None = None,
    storage_options: dict[str, Any] | None = None,
    squeeze: bool | None = None,
    missing: Missing = "error",
    version: Literal[0, 1] = 1,
    zarr_format: Literal[2, 3] = 2,
    codecs: Literal["portable", "tiffzarr"] = "portable",
    inline_threshold: int = 0,
    target_options: dict[str, Any] | None = None,
) -> ReferenceSummary:
    """Write the references of many TIFFs, one JSON file each or one parquet set, many
    at a time (blocking twin of :func:`tiffzarr.refs.write_many_references`).

    >>> import numpy, tifffile, tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> for i in range(3):
    ...     tifffile.imwrite(os.path.join(folder, f"t{i}.tif"), numpy.full((8, 8), i, "uint8"))
    >>> summary = write_many_references(folder, os.path.join(folder, "refs.parq"),
    ...                                 format="parquet")
    >>> summary.ok, sorted(summary.written.values())
    (True, ['t0', 't1', 't2'])
    """
    return run_sync(
        _write_many_references(
            files,
            target_folder,
            format=format,
            concurrency=concurrency,
            client=client,
            on_error=on_error,
            series=series,
            level=level,
            page=page,
            storage_options=storage_options,
            squeeze=squeeze,
            missing=missing,
            version=version,
            zarr_format=zarr_format,
            codecs=codecs,
            inline_threshold=inline_threshold,
            target_options=target_options,
        )
    )


def open_references(
    path_or_dict: str | os.PathLike[str] | Mapping[str, Any],
    /,
    *,
    storage_options: dict[str, Any] | None = None,
    remote_protocol: str | None = None,
    remote_options: dict[str, Any] | None = None,
    allow_external: bool = False,
) -> ReferenceStore:
    """A read-only zarr store over a reference set (blocking twin of
    :func:`tiffzarr.refs.open_references`).

    >>> import numpy, tifffile, tempfile, os, zarr
    >>> path = os.path.join(tempfile.mkdtemp(), "a.tif")
    >>> tifffile.imwrite(path, numpy.arange(4096, dtype="uint16").reshape(64, 64),
    ...                  tile=(32, 32), compression="zlib")
    >>> refs = references(path, series=0, level=0)
    >>> int(zarr.open_array(open_references(refs), mode="r")[10, 20])
    660
    """
    return run_sync(
        _open_references(
            path_or_dict,
            storage_options=storage_options,
            remote_protocol=remote_protocol,
            remote_options=remote_options,
            allow_external=allow_external,
        )
    )
