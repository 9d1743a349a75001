"""Lazy arrays for xarray: a level of a store, read through zarr when indexed.

:class:`TiffBackendArray` is what xarray wraps (lazily indexed, or chunked
with dask): it holds the store, which is plain data, so it pickles to dask
workers in other processes; each process opens its zarr array on first use.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import zarr
from xarray.backends import BackendArray
from xarray.core import indexing

from tiffzarr.store import TiffStore

__all__ = ["TiffBackendArray"]


class TiffBackendArray(BackendArray):
    """The array at ``path`` of ``store``; with ``expand`` it gets a leading
    dimension of length 1 (the ``band`` of a single-band raster).

    >>> import numpy, tifffile, tempfile, os
    >>> from tiffzarr import open_store
    >>> path = os.path.join(tempfile.mkdtemp(), "a.tif")
    >>> tifffile.imwrite(path, numpy.arange(12, dtype="uint8").reshape(3, 4))
    >>> a = TiffBackendArray(open_store(path, series=0), "0", expand=True)
    >>> a.shape, a.dtype
    ((1, 3, 4), dtype('uint8'))
    >>> a[indexing.BasicIndexer((0, slice(1, 3), 2))].tolist()
    [6, 10]
    """

    def __init__(self, store: TiffStore, path: str, /, *, expand: bool = False) -> None:
        model = store.hierarchy.arrays[path]
        self.store = store
        self.path = path
        self.expand = expand
        self.shape = (1, *model.shape) if expand else model.shape
        self.dtype = model.dtype
        self._zarr: zarr.Array[Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"store": self.store, "path": self.path, "expand": self.expand}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["store"], state["path"], expand=state["expand"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"TiffBackendArray({self.store!r}, {self.path!r}, shape={self.shape})"

    def _array(self) -> zarr.Array[Any]:
        if self._zarr is None:
            opened = zarr.open_array(self.store, path=self.path, mode="r")
            assert isinstance(opened, zarr.Array)
            self._zarr = opened
        return self._zarr

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        values: np.ndarray = indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.OUTER, self._outer
        )
        return values

    def _outer(self, key: tuple[Any, ...]) -> np.ndarray:
        """Orthogonal indexing (integers, slices, integer arrays) of the array."""
        if self.expand:
            expanded: np.ndarray = np.expand_dims(self._read(key[1:]), 0)[key[:1]]
            return expanded
        return self._read(key)

    def _read(self, key: tuple[Any, ...]) -> np.ndarray:
        array = self._array()
        if all(isinstance(k, int | np.integer | slice) for k in key):
            return np.asarray(array[key])
        return np.asarray(array.oindex[key])
