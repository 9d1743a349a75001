"""The ``engine="tiffzarr"`` backend of :func:`xarray.open_dataset` and
:func:`xarray.open_datatree`."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, Literal
from urllib.parse import urlsplit

from xarray import Dataset, DataTree
from xarray.backends import BackendEntrypoint

from tiffzarr.api.synchronous import open_store, open_tiff
from tiffzarr.io import PathOrFile, is_file_object
from tiffzarr.model import TiffIndex
from tiffzarr.xarray._dataset import group_attrs, level_dataset, level_number
from tiffzarr.xarray._tree import file_groups

__all__ = ["SUFFIXES", "TiffBackendEntrypoint"]

SUFFIXES = (
    ".tif", ".tiff", ".btf", ".tf2", ".tf8", ".gtif", ".gtiff", ".ptif", ".ptiff", ".svs",
    ".ndpi", ".scn", ".qptiff", ".bif", ".zif", ".lsm", ".stk",
)  # fmt: skip
"""Names the backend claims when no engine is given (``.ome.tif`` ends in ``.tif``)."""

Source = PathOrFile | TiffIndex


def _index(source: Any, storage_options: dict[str, Any] | None) -> TiffIndex:
    if isinstance(source, TiffIndex):
        return source
    if is_file_object(source):
        return open_tiff(source, storage_options=storage_options)
    if not isinstance(source, str | os.PathLike):
        raise TypeError(
            f"engine 'tiffzarr' opens a path, URL, binary file object or TiffIndex, not {source!r}"
        )
    return open_tiff(os.fspath(source), storage_options=storage_options)


def _decoders(*values: Any) -> dict[str, Any]:
    """xarray's CF decoding options, by name, in the order the methods take them."""
    return dict(zip(DECODERS, values, strict=True))


DECODERS = (
    "mask_and_scale", "decode_times", "decode_timedelta", "use_cftime", "concat_characters",
    "decode_coords", "drop_variables",
)  # fmt: skip


class TiffBackendEntrypoint(BackendEntrypoint):
    """Open TIFF files lazily through tiffzarr's store: ``engine="tiffzarr"``.

    :meth:`open_dataset` gives one level of one series, :meth:`open_datatree`
    every series and level (``/{series}/{level}``). See
    :mod:`tiffzarr.xarray` for dimensions, coordinates and attributes.
    """

    description = "Open TIFF files, pyramids and whole-slide images lazily with tiffzarr"
    supports_groups = True

    def guess_can_open(self, filename_or_obj: Any) -> bool:
        """Whether ``filename_or_obj`` is named like a TIFF file (or is a parsed one).

        >>> entry = TiffBackendEntrypoint()
        >>> entry.guess_can_open("s3://b/slide.SVS"), entry.guess_can_open("a.ome.tif?x=1")
        (True, True)
        >>> entry.guess_can_open("a.zarr"), entry.guess_can_open("a.tif.zarr")
        (False, False)
        """
        if isinstance(filename_or_obj, TiffIndex):
            return True
        if not isinstance(filename_or_obj, str | os.PathLike):
            return False
        name = os.fspath(filename_or_obj)
        if isinstance(name, bytes):
            return False
        return urlsplit(name).path.lower().endswith(SUFFIXES)

    def open_dataset(  # type: ignore[override]
        self,
        filename_or_obj: Source,
        *,
        series: int = 0,
        level: int = 0,
        squeeze: bool | None = None,
        storage_options: dict[str, Any] | None = None,
        mask_and_scale: bool = False,
        decode_times: bool = True,
        decode_timedelta: bool | None = None,
        use_cftime: bool | None = None,
        concat_characters: bool = True,
        decode_coords: bool | Literal["coordinates", "all"] = True,
        drop_variables: str | Iterable[str] | None = None,
    ) -> Dataset:
        """Level ``level`` of series ``series`` as a dataset with one lazy variable,
        ``image`` (``squeeze``: as for :func:`tiffzarr.open_store`; nodata masked only
        with ``mask_and_scale``)."""
        index = _index(filename_or_obj, storage_options)
        store = open_store(index, series=series, squeeze=squeeze, storage_options=storage_options)
        number = series % len(index.series)
        chosen = index.series[number]
        level = level_number(chosen, level, url=index.url)
        decoders = _decoders(
            mask_and_scale, decode_times, decode_timedelta, use_cftime,
            concat_characters, decode_coords, drop_variables,
        )  # fmt: skip
        attrs = group_attrs(store, "", series=number, level=level)
        return level_dataset(store, "", chosen, level, attrs=attrs, decoders=decoders)

    def open_groups_as_dict(  # type: ignore[override]
        self,
        filename_or_obj: Source,
        *,
        squeeze: bool | None = None,
        storage_options: dict[str, Any] | None = None,
        mask_and_scale: bool = False,
        decode_times: bool = True,
        decode_timedelta: bool | None = None,
        use_cftime: bool | None = None,
        concat_characters: bool = True,
        decode_coords: bool | Literal["coordinates", "all"] = True,
        drop_variables: str | Iterable[str] | None = None,
    ) -> dict[str, Dataset]:
        """Every group of the file's OME-Zarr hierarchy: ``/``, ``/{series}`` (attributes
        only) and ``/{series}/{level}`` (datasets as :meth:`open_dataset` gives them)."""
        index = _index(filename_or_obj, storage_options)
        store = open_store(index, squeeze=squeeze, storage_options=storage_options)
        decoders = _decoders(
            mask_and_scale, decode_times, decode_timedelta, use_cftime,
            concat_characters, decode_coords, drop_variables,
        )  # fmt: skip
        return file_groups(index, store, decoders=decoders)

    def open_datatree(  # type: ignore[override]
        self,
        filename_or_obj: Source,
        *,
        squeeze: bool | None = None,
        storage_options: dict[str, Any] | None = None,
        mask_and_scale: bool = False,
        decode_times: bool = True,
        decode_timedelta: bool | None = None,
        use_cftime: bool | None = None,
        concat_characters: bool = True,
        decode_coords: bool | Literal["coordinates", "all"] = True,
        drop_variables: str | Iterable[str] | None = None,
    ) -> DataTree:
        """The groups of :meth:`open_groups_as_dict` as a tree."""
        groups = self.open_groups_as_dict(
            filename_or_obj,
            squeeze=squeeze,
            storage_options=storage_options,
            mask_and_scale=mask_and_scale,
            decode_times=decode_times,
            decode_timedelta=decode_timedelta,
            use_cftime=use_cftime,
            concat_characters=concat_characters,
            decode_coords=decode_coords,
            drop_variables=drop_variables,
        )
        return DataTree.from_dict(groups)
