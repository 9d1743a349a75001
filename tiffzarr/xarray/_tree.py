"""Every series and level of a file as groups: ``/{series}/{level}``, the store's
OME-Zarr hierarchy, each level a dataset as :func:`xarray.open_dataset` gives it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xarray import Dataset

from tiffzarr.model import TiffIndex
from tiffzarr.store import TiffStore
from tiffzarr.xarray._dataset import group_attrs, level_dataset

__all__ = ["file_groups"]


def file_groups(
    index: TiffIndex, store: TiffStore, /, *, decoders: Mapping[str, Any]
) -> dict[str, Dataset]:
    """The datasets of every group of ``store`` (the whole file's store over
    ``index``): the root and each series hold attributes only, the levels hold data."""
    groups = {"/": Dataset(attrs=group_attrs(store, ""))}
    for i, series in enumerate(index.series):
        prefix = str(i)
        described = group_attrs(store, prefix)
        groups[f"/{prefix}"] = Dataset(attrs=described)
        for j in range(len(series.levels)):
            attrs = {"tiffzarr": {**described["tiffzarr"], "series": i, "level": j}}
            groups[f"/{prefix}/{j}"] = level_dataset(
                store, prefix, series, j, attrs=attrs, decoders=decoders
            )
    return groups
