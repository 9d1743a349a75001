"""TIFF files as VirtualiZarr manifests, for Icechunk and kerchunk (extra ``virtual``).

:class:`TiffParser` is a VirtualiZarr parser for one file;
:func:`manifest_store` turns any open store, a sequence from
:func:`tiffzarr.open_sequence` too, into a ``ManifestStore``. Chunk references
are the file's own segments, at absolute URLs.

>>> import numpy, tempfile, os, tiffzarr, virtualizarr, xarray
>>> from obspec_utils.registry import ObjectStoreRegistry
>>> from obstore.store import LocalStore
>>> path = os.path.join(tempfile.mkdtemp(), "a.tif")
>>> tiffzarr.write(path, numpy.arange(4096, dtype="uint16").reshape(64, 64),
...                tile=(32, 32), compression="zstd")
>>> registry = ObjectStoreRegistry({"file://": LocalStore()})
>>> manifests = TiffParser(level=0)(path, registry)
>>> ds = xarray.open_zarr(manifests, consolidated=False, zarr_format=3)
>>> int(ds["image"][10, 20])
660
"""

from __future__ import annotations

from tiffzarr.virtualizarr._manifest import ARRAY_NAME, manifest_store, manifest_store_sync
from tiffzarr.virtualizarr._parser import TiffParser

__all__ = ["ARRAY_NAME", "TiffParser", "manifest_store", "manifest_store_sync"]
