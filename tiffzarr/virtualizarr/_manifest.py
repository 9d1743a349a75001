"""An open :class:`~tiffzarr.store.TiffStore` as a VirtualiZarr ``ManifestStore``.

The manifest holds the store's own nodes: its zarr v3 metadata documents (with
standard codecs where they are exact, see :func:`tiffzarr.refs.store_chunks`)
become ``ManifestArray`` and ``ManifestGroup`` objects, nested as the store nests
them, and each present chunk becomes an entry ``(url, offset, length)`` with an
absolute URL. Sparse segments have no entry: they read as the fill value.

A ``ManifestStore`` needs a group at its root; a store whose root is one array
(``level=``, a sequence) has it below a root group as :data:`ARRAY_NAME`, the name
tiffzarr's xarray backend gives a level's data variable. Keys that are not
metadata documents (``OME/METADATA.ome.xml``) have no place in a manifest and are
left out; the OME-XML stays in the TIFF.
"""

from __future__ import annotations

import json
import math
import pathlib
from collections.abc import Mapping
from typing import Any, cast

import numpy as np
from obspec_utils.registry import ObjectStoreRegistry
from virtualizarr.manifests import ChunkManifest, ManifestArray, ManifestGroup, ManifestStore
from zarr.core.metadata.v3 import ArrayV3Metadata

from tiffzarr._sync import run_sync
from tiffzarr.errors import UnsupportedError
from tiffzarr.io._urls import absolute_url, protocol_of
from tiffzarr.refs import CodecChoice, store_chunks
from tiffzarr.refs._codecs import ChunkLocation
from tiffzarr.store import TiffStore
from tiffzarr.store._metadata import chunk_keys

__all__ = ["ARRAY_NAME", "manifest_store", "manifest_store_sync"]

ARRAY_NAME = "image"
"""The name of a store's root array inside the manifest's root group."""

_METADATA = "zarr.json"


async def manifest_store(
    store: TiffStore,
    /,
    *,
    registry: ObjectStoreRegistry[Any] | None = None,
    codecs: CodecChoice = "portable",
) -> ManifestStore:
    """A VirtualiZarr ``ManifestStore`` over the chunks of an open store.

    Parameters
    ----------
    store
        A zarr v3 store from :func:`tiffzarr.open_store` or
        :func:`tiffzarr.open_sequence`, with segment chunks.
    registry
        Where the ``ManifestStore`` reads chunks from (``None``: nowhere; enough to
        write the references to Icechunk or kerchunk).
    codecs
        ``"portable"``: standard zarr v3 codecs wherever they decode the segments
        exactly, tiffzarr's codec ``tiffzarr.tiff`` elsewhere; ``"tiffzarr"``:
        tiffzarr's codec for every array. Reading ``tiffzarr.tiff`` arrays needs
        tiffzarr installed.

    Returns
    -------
    ManifestStore
        The store's groups and arrays, nested as the store nests them.

    Examples
    --------
    >>> import asyncio, numpy, tempfile, os, tiffzarr
    >>> path = os.path.join(tempfile.mkdtemp(), "a.tif")
    >>> tiffzarr.write(path, numpy.zeros((64, 64), "uint8"), tile=(32, 32))
    >>> store = tiffzarr.open_store(path, series=0, level=0)
    >>> manifests = asyncio.run(manifest_store(store))
    >>> manifests.to_virtual_dataset()["image"].dims
    ('Y', 'X')
    """
    if store.zarr_format != 3:
        raise UnsupportedError(
            "a ManifestStore holds zarr v3 metadata; open the store with zarr_format=3",
            url=store.index.url,
        )
    chunks = await store_chunks(store, codecs=codecs)
    arrays = _arrays(store, chunks.documents, chunks.locations)
    groups = {
        path: json.loads(chunks.documents[_document_key(path)])["attributes"]
        for path in _nodes(chunks.documents, "group")
    }
    if "" in arrays:
        root = ManifestGroup(arrays={ARRAY_NAME: arrays[""]})
    else:
        root = _group("", groups, arrays)
    return ManifestStore(root, registry=registry)


def manifest_store_sync(
    store: TiffStore,
    /,
    *,
    registry: ObjectStoreRegistry[Any] | None = None,
    codecs: CodecChoice = "portable",
) -> ManifestStore:
    """Blocking twin of :func:`manifest_store`."""
    return run_sync(manifest_store(store, registry=registry, codecs=codecs))


def _document_key(path: str) -> str:
    return f"{path}/{_METADATA}" if path else _METADATA


def _nodes(documents: Mapping[str, bytes], node_type: str) -> list[str]:
    """The paths of the nodes of one type among the store's v3 documents."""
    keys = [key for key in documents if key == _METADATA or key.endswith("/" + _METADATA)]
    return [
        key.removesuffix(_METADATA).removesuffix("/")
        for key in keys
        if json.loads(documents[key])["node_type"] == node_type
    ]


def _arrays(
    store: TiffStore, documents: Mapping[str, bytes], locations: tuple[ChunkLocation, ...]
) -> dict[str, ManifestArray]:
    """Every array of the store (path → manifest array), chunks in place."""
    found = {key: (url, offset, nbytes) for key, url, offset, nbytes in locations}
    urls = {url: _absolute_uri(url) for url, _, _ in found.values()}
    out = {}
    for path in _nodes(documents, "array"):
        doc = json.loads(documents[_document_key(path)])
        # ManifestStore lists only "."-separated chunk keys (c.0.1); the key encoding
        # is the manifest's, not the TIFF's
        doc["chunk_key_encoding"] = {"name": "default", "configuration": {"separator": "."}}
        metadata = ArrayV3Metadata.from_dict(doc)
        grid = tuple(math.ceil(n / c) for n, c in zip(metadata.shape, metadata.chunks, strict=True))
        paths = np.full(grid, "", dtype=np.dtypes.StringDType())
        offsets = np.zeros(grid, dtype=np.uint64)
        lengths = np.zeros(grid, dtype=np.uint64)
        array = store.hierarchy.arrays.get(path)  # arrays without chunks have no model
        for key, coords in () if array is None else chunk_keys(path, array, 3):
            where = found.get(key)
            if where is not None:
                paths[coords] = urls[where[0]]
                offsets[coords], lengths[coords] = where[1], where[2]
        manifest = ChunkManifest.from_arrays(
            paths=cast("np.ndarray[Any, np.dtypes.StringDType]", paths),
            offsets=offsets,
            lengths=lengths,
            validate_paths=False,
        )
        out[path] = ManifestArray(metadata=metadata, chunkmanifest=manifest)
    return out


def _group(
    path: str, groups: Mapping[str, Any], arrays: Mapping[str, ManifestArray]
) -> ManifestGroup:
    """The manifest group at ``path`` with every node below it."""

    def children(nodes: Mapping[str, Any]) -> list[str]:
        return [p for p in nodes if p and p.rpartition("/")[0] == path]

    return ManifestGroup(
        arrays={p.rpartition("/")[2]: arrays[p] for p in children(arrays)},
        groups={p.rpartition("/")[2]: _group(p, groups, arrays) for p in children(groups)},
        attributes=dict(groups[path]),
    )


def _absolute_uri(url: str) -> str:
    """The absolute URL a manifest names a file by: ``file://`` for local files."""
    if "::" in url:
        raise UnsupportedError(
            "a file inside a chained fsspec URL has no object-store location", url=url
        )
    if protocol_of(url) in (None, "file"):
        return pathlib.Path(absolute_url(url)).as_uri()
    return url
