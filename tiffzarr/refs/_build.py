"""A store serialised as a kerchunk reference set (version 0 or 1, zarr v2 or v3).

The metadata documents and chunk keys are the store's own; only the codec
description of an array changes, to standard codecs where they decode its
segments exactly (``codecs="portable"``). Sparse segments have no entry.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import Any, Literal

from tiffzarr._check import check_arguments
from tiffzarr.io import is_file_object, refuse_file_objects
from tiffzarr.io._urls import absolute_url, relative_url
from tiffzarr.io._zip import archive_locations
from tiffzarr.model import PagePath, TiffIndex
from tiffzarr.reader import Missing
from tiffzarr.refs._codecs import ChunkLocation, Swapped, swap_codecs
from tiffzarr.store import TiffStore, ZarrFormat, open_store

__all__ = [
    "CodecChoice",
    "ReferenceSet",
    "StoreChunks",
    "Version",
    "nest_references",
    "references",
    "store_chunks",
    "store_references",
]

Version = Literal[0, 1]
CodecChoice = Literal["portable", "tiffzarr"]


class ReferenceSet(dict[str, Any]):
    """A kerchunk reference set: a plain ``dict`` (JSON-able as it is) that also says
    which arrays kept tiffzarr's codec.

    ``fallbacks`` maps the path of each array (``""`` for an array at the root)
    whose segments no standard codec decodes exactly to the reason; reading those
    arrays needs tiffzarr installed (its ``tiffzarr.tiff`` codec). It is empty when
    every array is portable, and always empty for ``codecs="tiffzarr"``.
    """

    __slots__ = ("fallbacks",)

    def __init__(self, data: Mapping[str, Any], /, *, fallbacks: Mapping[str, str]) -> None:
        super().__init__(data)
        self.fallbacks: dict[str, str] = dict(fallbacks)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (dict(self), self.fallbacks))


def _rebuild(data: dict[str, Any], fallbacks: dict[str, str]) -> ReferenceSet:
    return ReferenceSet(data, fallbacks=fallbacks)


async def references(
    url_or_index: str | TiffIndex | TiffStore,
    /,
    *,
    series: int | None = None,
    level: int | None = None,
    page: int | PagePath | None = None,
    storage_options: dict[str, Any] | None = None,
    squeeze: bool | None = None,
    missing: Missing = "error",
    version: Version = 1,
    zarr_format: ZarrFormat = 2,
    codecs: CodecChoice = "portable",
    inline_threshold: int = 0,
    target_url: str | None = None,
) -> ReferenceSet:
    """The kerchunk references of the store that ``open_store`` makes with these arguments.

    Parameters
    ----------
    url_or_index
        The TIFF's path or URL, or its parsed :class:`~tiffzarr.model.TiffIndex`, or
        an open :class:`~tiffzarr.store.TiffStore` (from ``open_store`` or
        ``open_sequence``: one reference set over all its files, a template per
        file). A file object, or a model parsed from one, raises :class:`TypeError`:
        references name the file by path or URL, which a file object does not have.
    series, level, page, storage_options, squeeze, missing
        As for :func:`tiffzarr.open_store`; they do not apply to a store (it is open).
    version
        1: URLs as ``{{u}}`` templates (``u``, or ``u0``, ``u1``... for several files);
        0: every reference holds its URL.
    zarr_format
        2 (``.zarray``; what kerchunk tools expect) or 3 (``zarr.json``).
    codecs
        ``"portable"``: standard numcodecs/imagecodecs codecs wherever they decode the
        segments exactly, tiffzarr's codec elsewhere (see ``ReferenceSet.fallbacks``);
        ``"tiffzarr"``: tiffzarr's codec for every array.
    inline_threshold
        Chunks smaller than this many bytes are read now and stored in the reference
        set (``"base64:..."``), as kerchunk does.
    target_url
        Where the reference file will be: target URLs in its folder are written
        relative to it.

    Returns
    -------
    ReferenceSet
        A ``dict``; ``.fallbacks`` names the arrays that kept tiffzarr's codec.

    Examples
    --------
    >>> import asyncio, numpy, tifffile, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.tif")
    >>> tifffile.imwrite(path, numpy.zeros((64, 64), "uint16"), tile=(32, 32),
    ...                  compression="zlib")
    >>> refs = asyncio.run(references(path, series=0, level=0, target_url=path + ".json"))
    >>> refs["templates"], refs["refs"]["0.1"][0], json.loads(refs["refs"][".zarray"])["compressor"]
    ({'u': 'a.tif'}, '{{u}}', {'id': 'zlib', 'level': 6})
    """
    if is_file_object(url_or_index):
        raise TypeError(
            "url_or_index is a file object, and references name the file by its path or"
            " URL: make them from the path or URL (file objects can be read with open_store)"
        )
    check_arguments(
        version=version, codecs=codecs, inline_threshold=inline_threshold, target_url=target_url
    )
    if isinstance(url_or_index, TiffStore):
        opening = {"series": series, "level": level, "page": page, "squeeze": squeeze}
        given = [k for k, v in opening.items() if v is not None]
        given += ["storage_options"] if storage_options is not None else []
        if given or missing != "error":
            raise ValueError(
                f"{', '.join(given or ['missing'])} apply when a file is opened, not to an"
                " open store"
            )
        return await store_references(
            _in_format(url_or_index, zarr_format),
            version=version,
            codecs=codecs,
            inline_threshold=inline_threshold,
            target_url=target_url,
        )
    store = await open_store(
        url_or_index,
        series=series,
        level=level,
        page=page,
        storage_options=storage_options,
        zarr_format=zarr_format,
        squeeze=squeeze,
        missing=missing,
    )
    return await store_references(
        store,
        version=version,
        codecs=codecs,
        inline_threshold=inline_threshold,
        target_url=target_url,
    )


async def store_references(
    store: TiffStore,
    /,
    *,
    version: Version = 1,
    codecs: CodecChoice = "portable",
    inline_threshold: int = 0,
    target_url: str | None = None,
) -> ReferenceSet:
    """The reference set of an open store (see :func:`references` for the options).

    Segment tables load window by window: this costs a few requests per array,
    never one per chunk (except for chunks inlined by ``inline_threshold``).
    """
    check_arguments(
        version=version, codecs=codecs, inline_threshold=inline_threshold, target_url=target_url
    )
    refuse_file_objects([store.index.url], why="references name files by path or URL")
    chunks = await store_chunks(store, codecs=codecs)
    documents, fallbacks, locations = chunks.documents, chunks.fallbacks, chunks.locations
    inline = await _inline_chunks(store, locations, inline_threshold, skip=chunks.grown)
    written: dict[str, str] = {}
    for _, url, _, _ in locations:
        if url not in written:
            written[url] = relative_url(url, target_url) if target_url else absolute_url(url)
    refs: dict[str, Any] = {key: doc.decode() for key, doc in documents.items()}
    if version == 0:
        for key, url, offset, nbytes in locations:
            refs[key] = inline.get(key) or [written[url], offset, nbytes]
        return ReferenceSet(refs, fallbacks=fallbacks)
    names = _template_names(list(written))
    for key, url, offset, nbytes in locations:
        refs[key] = inline.get(key) or [f"{{{{{names[url]}}}}}", offset, nbytes]
    templates = {names[url]: written[url] for url in written}
    return ReferenceSet({"version": 1, "templates": templates, "refs": refs}, fallbacks=fallbacks)


@dataclass(frozen=True, slots=True)
class StoreChunks:
    """A store's metadata documents with the codecs chosen, and where its chunks are.

    ``locations`` are ``(key, url, offset, nbytes)`` of every present chunk (sparse
    ones are left out); ``grown`` names the chunks whose ``nbytes`` was grown to a
    whole segment for a standard codec (see :mod:`tiffzarr.refs._codecs`), and
    ``fallbacks`` the arrays that kept tiffzarr's codec (path → reason).
    """

    documents: Mapping[str, bytes]
    locations: tuple[ChunkLocation, ...]
    fallbacks: Mapping[str, str]
    grown: frozenset[str]


async def store_chunks(store: TiffStore, /, *, codecs: CodecChoice = "portable") -> StoreChunks:
    """The documents and chunk locations of an open store, for every adapter that
    references its chunks (kerchunk references, VirtualiZarr manifests)."""
    check_arguments(codecs=codecs)
    found = [loc async for loc in store.chunk_locations()]
    portable = codecs == "portable"
    swapped = swap_codecs(store, found) if portable else Swapped(dict(store.metadata))
    locations = tuple(
        (key, url, offset, swapped.lengths.get(key, nbytes)) for key, url, offset, nbytes in found
    )
    # members of a ZIP: ranges of the archive, which any reader can fetch
    locations = await archive_locations(locations, storage_options=store.storage_options)
    return StoreChunks(swapped.documents, locations, swapped.fallbacks, frozenset(swapped.lengths))


def _in_format(store: TiffStore, zarr_format: ZarrFormat) -> TiffStore:
    """The store serving ``zarr_format`` metadata (the same model, hence the same
    loaded segment tables and checked files)."""
    if store.zarr_format == zarr_format:
        return store
    return TiffStore(
        store.index,
        hierarchy=store.hierarchy,
        storage_options=store.storage_options,
        zarr_format=zarr_format,
        fill_value=store.fill_value,
    )


def _template_names(urls: list[str]) -> dict[str, str]:
    """``u`` for one file, ``u0``, ``u1``... for several (in order of first use)."""
    if len(urls) == 1:
        return {urls[0]: "u"}
    return {url: f"u{i}" for i, url in enumerate(urls)}


async def _inline_chunks(
    store: TiffStore,
    locations: tuple[ChunkLocation, ...],
    threshold: int,
    *,
    skip: Set[str],
) -> dict[str, str]:
    """``"base64:..."`` data of the chunks smaller than ``threshold`` bytes (not those in
    ``skip``: references grown past the store's chunk)."""
    keys = [key for key, _, _, nbytes in locations if nbytes < threshold and key not in skip]
    if not keys:
        return {}
    buffers = await asyncio.gather(*(store.get(key) for key in keys))
    out = {}
    for key, buffer in zip(keys, buffers, strict=True):
        if buffer is not None:
            out[key] = "base64:" + base64.b64encode(buffer.to_bytes()).decode("ascii")
    return out


def nest_references(refs: Mapping[str, Any], path: str, /) -> dict[str, Any]:
    """The reference set with every node moved below a new root group, under ``path``.

    kerchunk tools work on groups of named arrays: ``MultiZarrToZarr`` combines
    the arrays of groups, and a parquet reference set (fsspec's
    ``LazyReferenceMapper``) cannot hold the chunks of an array at its root. A
    single-array store has its array at the root; this moves it to ``path``.

    >>> nested = nest_references({".zarray": "{}", "0.0": ["a.tif", 8, 100]}, "image")
    >>> sorted(nested)
    ['.zattrs', '.zgroup', 'image/.zarray', 'image/0.0']
    """
    path = path.strip("/")
    if not path:
        raise ValueError("nest_references needs a non-empty path")
    version = refs.get("version")
    entries: Mapping[str, Any] = refs.get("refs", {}) if version == 1 else refs
    v3 = any(key == "zarr.json" or key.endswith("/zarr.json") for key in entries)
    moved: dict[str, Any] = {}
    if v3:
        group = {"zarr_format": 3, "node_type": "group", "attributes": {}}
        moved["zarr.json"] = json.dumps(group, indent=1)
    else:
        moved[".zgroup"] = json.dumps({"zarr_format": 2}, indent=1)
        moved[".zattrs"] = json.dumps({}, indent=1)
    for key, value in entries.items():
        if version != 1 and key == "version":
            continue
        moved[f"{path}/{key}"] = value
    if version == 1:
        return {**refs, "refs": moved}
    return moved
