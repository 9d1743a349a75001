"""Open a TIFF: read its header and IFD tree, build pages and series."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

from fsspec.utils import tokenize

from tiffzarr._check import check_arguments, check_location
from tiffzarr._config import config
from tiffzarr.errors import SourceChangedError
from tiffzarr.format import parse_ghost, parse_header
from tiffzarr.io import ByteSource, PathOrFile, open_source
from tiffzarr.model import FileVersion, TiffIndex
from tiffzarr.reader._cache import ByteCache
from tiffzarr.reader._context import FileContext, Missing
from tiffzarr.reader._ojpeg import old_jpeg_pages
from tiffzarr.reader._recent import RECENT
from tiffzarr.reader._walk import IfdWalker
from tiffzarr.series import chain_ends, interpret

__all__ = ["FIRST_READ", "open_tiff", "read_index"]

FIRST_READ = 64 * 1024
"""Size of the first request: enough for the header and IFDs of most COGs."""

PARSE_ATTEMPTS = 3
"""Parses of a file that keeps changing while it is parsed before the error is raised."""


async def read_index(
    source: ByteSource,
    /,
    *,
    predict: bool = True,
    series: bool = True,
    missing: Missing = "error",
    storage_options: dict[str, Any] | None = None,
) -> TiffIndex:
    """Parse the file behind ``source`` into a :class:`~tiffzarr.model.TiffIndex`.

    With ``predict``, runs of uniform pages are predicted from two of them and
    checked lazily (see :mod:`tiffzarr.reader._predict`). Raises the first
    page's error when no page of the main chain describes a readable image.
    With ``series``, the series interpreters run (other files of a multi-file
    set are opened with ``storage_options``; ``missing`` says what a missing
    one becomes); without, only the pages are parsed (and image descriptions
    are not loaded), as for the other files of a set.
    """
    head = await source.read_head(FIRST_READ)
    size = await source.size()
    header = parse_header(head, size=size, url=source.url)
    cache = ByteCache(source, size)
    cache.add(0, head)
    walker = IfdWalker(
        cache,
        header,
        url=source.url,
        predict=predict,
        descriptions=series,
        chain_ends=chain_ends if series else None,
    )
    pages = await walker.walk()
    pages = await old_jpeg_pages(
        pages, cache, header=header, url=source.url, warn=walker.reader.warn
    )
    if all(p.error is not None for p in pages):
        error = pages[0].error
        assert error is not None
        raise error
    flags = {"ndpi"} if walker.ndpi else set()
    if walker.first_only:
        flags.add("first-ifd")
    ghost = parse_ghost(head, header)
    if ghost.get("LAYOUT") == "IFDS_BEFORE_DATA":
        flags.add("cog")
    if ghost.get("KNOWN_INCOMPATIBLE_EDITION") == "YES":
        walker.reader.warn("the file says it was edited in a way that breaks its COG layout")
    elif (
        ghost.get("BLOCK_LEADER") == "SIZE_AS_UINT4"
        and ghost.get("BLOCK_TRAILER") == "LAST_4_BYTES_REPEATED"
    ):
        flags.add("block-leaders")
    index = TiffIndex(
        url=source.url,
        size=size,
        header=header,
        pages=pages,
        flags=frozenset(flags),
        warnings=tuple(walker.warnings),
        version=source.version,
    )
    if not series:
        return index

    async def open_member(url: str) -> TiffIndex:
        return await _open(url, storage_options, predict, series=False, missing=missing)

    context = FileContext(
        index,
        cache,
        warn=walker.reader.warn,
        open_member=open_member,
        missing=missing,
        storage_options=storage_options,
    )
    found = await interpret(context)
    members = tuple(FileVersion(m.url, m.size, m.version) for m in found.members)
    return dataclasses.replace(
        index,
        series=found.series,
        ome_xml=found.ome_xml,
        members=members,
        warnings=tuple(walker.warnings),
    )


async def open_tiff(
    url: PathOrFile,
    /,
    *,
    storage_options: dict[str, Any] | None = None,
    predict: bool = True,
    squeeze: bool | None = None,
    missing: Missing = "error",
) -> TiffIndex:
    """Parse the TIFF at ``url`` (a path, any fsspec URL, or a binary file object) into
    its model.

    A file object (``open(path, "rb")``, ``io.BytesIO``) is named
    ``fileobj://<n>/<name>`` in the model; it must stay open and unchanged while
    the model is used (see :class:`~tiffzarr.io.FileObjectSource`).

    ``squeeze`` sets whether the series' shapes leave out dimensions of length 1
    (``None``: as tifffile does for each kind of series). ``missing`` says what a
    missing file of a multi-file set (OME-TIFF) becomes: an error naming it, or
    fill with a warning (``"fill"``). A file opened recently with the same options
    is not read again while it still describes the file (see
    :mod:`tiffzarr.reader._recent`).

    >>> import asyncio, numpy, tifffile, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.tif")
    >>> tifffile.imwrite(path, numpy.zeros((8, 64, 64), "uint16"), tile=(32, 32))
    >>> index = asyncio.run(open_tiff(path))
    >>> len(index.pages), index.series[0].shape, index.series[0].levels[0].chunks
    (8, (8, 64, 64), (1, 32, 32))
    """
    check_location("url", url, storage_options=storage_options)
    check_arguments(
        storage_options=storage_options, predict=predict, squeeze=squeeze, missing=missing
    )
    index = await _open(url, storage_options, predict, series=True, missing=missing)
    if squeeze is None:
        return index
    series = tuple(dataclasses.replace(s, squeeze=squeeze) for s in index.series)
    return dataclasses.replace(index, series=series)


async def _open(
    url: PathOrFile,
    storage_options: dict[str, Any] | None,
    predict: bool,
    *,
    series: bool,
    missing: Missing,
) -> TiffIndex:
    """The parsed file, from the cache of recent parses while it is fresh."""
    source = open_source(url, storage_options=storage_options)

    async def parse() -> TiffIndex:
        return await read_index(
            open_source(url, storage_options=storage_options),
            predict=predict,
            series=series,
            missing=missing,
            storage_options=storage_options,
        )

    async def read() -> TiffIndex:
        """Parse the file; one that changed while it was parsed is parsed again."""
        for _ in range(PARSE_ATTEMPTS - 1):
            with contextlib.suppress(SourceChangedError):
                return await parse()
        return await parse()

    if config.metadata_cache_files <= 0:
        return await read()
    key = (type(source).__name__, source.url, tokenize(storage_options), predict, series, missing)
    fingerprint = await source.fingerprint()
    index = RECENT.get(key, fingerprint=fingerprint)
    if index is None:
        index = await read()
        # a local file's version is the one parsed, even if the path changed since the stat
        RECENT.put(key, index, fingerprint=None if fingerprint is None else index.version)
    return index
