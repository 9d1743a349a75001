"""Open a TIFF: read its header and IFD tree, build pages and series."""

from __future__ import annotations

import dataclasses
from typing import Any

from fsspec.utils import tokenize

from tiffzarr._config import config
from tiffzarr.format import parse_ghost, parse_header
from tiffzarr.formats import interpret
from tiffzarr.io import ByteSource, open_source
from tiffzarr.model import TiffIndex
from tiffzarr.reader._cache import ByteCache
from tiffzarr.reader._pages import build_page
from tiffzarr.reader._recent import RECENT
from tiffzarr.reader._walk import IfdWalker

__all__ = ["FIRST_READ", "open_tiff", "read_index"]

FIRST_READ = 64 * 1024
"""Size of the first request: enough for the header and IFDs of most COGs."""


async def read_index(source: ByteSource, /, *, predict: bool = True) -> TiffIndex:
    """Parse the file behind ``source`` into a :class:`~tiffzarr.model.TiffIndex`.

    With ``predict``, runs of uniform pages are predicted from two of them and
    checked lazily (see :mod:`tiffzarr.reader._predict`). Raises the first
    page's error when no page of the main chain describes a readable image.
    """
    head = await source.read_head(FIRST_READ)
    size = await source.size()
    header = parse_header(head, size=size, url=source.url)
    cache = ByteCache(source, size)
    cache.add(0, head)
    walker = IfdWalker(cache, header, url=source.url, predict=predict)
    chain = await walker.walk()
    pages = tuple(
        build_page(
            w, cache=cache, header=header, url=source.url, ndpi=walker.ndpi, checks=walker.checks
        )
        for w in chain
    )
    if all(p.error is not None for p in pages):
        error = pages[0].error
        assert error is not None
        raise error
    flags = {"ndpi"} if walker.ndpi else set()
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
    return dataclasses.replace(index, series=interpret(index))


async def open_tiff(
    url: str, /, *, storage_options: dict[str, Any] | None = None, predict: bool = True
) -> TiffIndex:
    """Parse the TIFF at ``url`` (a path or any fsspec URL) into its model.

    A file opened recently with the same options is not read again while it
    still describes the file (see :mod:`tiffzarr.reader._recent`).

    >>> import asyncio, numpy, tifffile, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.tif")
    >>> tifffile.imwrite(path, numpy.zeros((8, 64, 64), "uint16"), tile=(32, 32))
    >>> index = asyncio.run(open_tiff(path))
    >>> len(index.pages), index.series[0].shape, index.series[0].levels[0].chunks
    (8, (8, 64, 64), (1, 32, 32))
    """
    source = open_source(url, storage_options=storage_options)
    if config.metadata_cache_files <= 0:
        return await read_index(source, predict=predict)
    key = (type(source).__name__, source.url, tokenize(storage_options), predict)
    fingerprint = await source.fingerprint()
    index = RECENT.get(key, fingerprint=fingerprint)
    if index is None:
        index = await read_index(source, predict=predict)
        RECENT.put(key, index, fingerprint=fingerprint)
    return index
