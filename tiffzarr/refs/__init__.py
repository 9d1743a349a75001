"""Kerchunk-style reference files: a store serialised, and opened again without it.

>>> import asyncio, numpy, tifffile, tempfile, os, zarr
>>> path = os.path.join(tempfile.mkdtemp(), "a.tif")
>>> tifffile.imwrite(path, numpy.arange(4096, dtype="uint16").reshape(64, 64),
...                  tile=(32, 32), compression="zlib")
>>> refs = asyncio.run(references(path))
>>> refs.fallbacks
{}
>>> store = asyncio.run(open_references(refs))
>>> int(zarr.open_group(store, mode="r")["0/0"][10, 20])
660
"""

from tiffzarr.refs._build import (
    CodecChoice,
    ReferenceSet,
    StoreChunks,
    Version,
    nest_references,
    references,
    store_chunks,
    store_references,
)
from tiffzarr.refs._many import ReferenceSummary, reference_names, write_many_references
from tiffzarr.refs._open import open_references
from tiffzarr.refs._store import ReferenceStore
from tiffzarr.refs._write import save_references, write_references

__all__ = [
    "CodecChoice",
    "ReferenceSet",
    "ReferenceStore",
    "ReferenceSummary",
    "StoreChunks",
    "Version",
    "nest_references",
    "open_references",
    "reference_names",
    "references",
    "save_references",
    "store_chunks",
    "store_references",
    "write_many_references",
    "write_references",
]
