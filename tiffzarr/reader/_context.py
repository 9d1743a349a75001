"""The reader's side of series interpretation: reads, tag values, files of a set.

An interpreter asks for bytes through the parse's :class:`ByteCache` (blocks
read while walking the IFDs are not read again) and for the other files of a
multi-file set by name. Those names are resolved in the opened file's folder, on
its filesystem, and must stay inside it (the rule reference files follow).
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from tiffzarr.errors import LimitError, TiffFormatError
from tiffzarr.format import Header, TagValue, decode_value
from tiffzarr.io import open_source
from tiffzarr.io._urls import Base, absolute_url, protocol_of
from tiffzarr.model import WINDOW, Ifd, SegmentTable, TiffIndex
from tiffzarr.reader._cache import ByteCache

__all__ = ["MAX_TEXT_BYTES", "MAX_VALUE_BYTES", "FileContext", "Missing", "member_url"]

MAX_VALUE_BYTES = 256 * 2**20
"""Largest tag value an interpreter may load."""
MAX_TEXT_BYTES = 64 * 2**20
"""Largest read of another file of a set (an OME companion XML, an NDTiff index)."""

Missing = Literal["error", "fill"]
"""What to do when a file of a set is missing: raise, or serve fill and warn."""


def member_url(url: str, name: str, /) -> str:
    """The URL of the file called ``name`` in the folder of the file at ``url``.

    ``name`` must be a plain file name: a path, a URL or a name that leaves the
    folder (``..``, or a symbolic link pointing out of it) is refused.

    >>> member_url("/data/set/a.ome.tif", "b.ome.tif")
    '/data/set/b.ome.tif'
    >>> member_url("https://host/d/a.tif", "b c.tif")
    'https://host/d/b%20c.tif'
    >>> member_url("/data/set/a.ome.tif", "../x.tif")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    tiffzarr.errors.TiffFormatError: '../x.tif' is not a file name in the opened file's folder ...
    """
    plain = (
        name not in ("", ".", "..")
        and "/" not in name
        and "\\" not in name
        and protocol_of(name) is None
        and "\x00" not in name
    )
    base = Base.of(url)
    target = base.resolve(name if base.protocol is None else urllib.parse.quote(name))
    if not plain or not base.contains(target):
        raise TiffFormatError(f"{name!r} is not a file name in the opened file's folder", url=url)
    return target


class FileContext:
    """A :class:`~tiffzarr.series.SeriesContext` over the parse of one file."""

    def __init__(
        self,
        index: TiffIndex,
        cache: ByteCache,
        *,
        warn: Callable[[str], None],
        open_member: Callable[[str], Awaitable[TiffIndex]],
        missing: Missing = "error",
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        self._index = index
        self._cache = cache
        self._warn = warn
        self._open_member = open_member
        self.missing: Missing = missing
        self.storage_options = storage_options
        self._members: dict[str, asyncio.Future[TiffIndex]] = {}

    @property
    def index(self) -> TiffIndex:
        return self._index

    @property
    def header(self) -> Header:
        return self._index.header

    async def read(self, offset: int, length: int, /) -> bytes:
        if length > MAX_VALUE_BYTES:
            raise LimitError(
                f"a read of {length} bytes exceeds {MAX_VALUE_BYTES}", url=self._index.url
            )
        return await self._cache.read(offset, length)

    async def read_many(self, ranges: Sequence[tuple[int, int]], /) -> list[bytes]:
        total = sum(length for _, length in ranges)
        if total > MAX_VALUE_BYTES:
            raise LimitError(
                f"reads of {total} bytes exceed {MAX_VALUE_BYTES}", url=self._index.url
            )
        return await self._cache.read_many(ranges)

    async def value(self, ifd: Ifd, code: int, /) -> TagValue | None:
        if code in ifd.values:
            return ifd.values[code]
        entry = ifd.entries.get(code)
        if entry is None or entry.datatype is None:
            return None
        if entry.value_offset is None:
            return decode_value(self.header, entry)
        if entry.value_offset + entry.nbytes > self._index.size:
            return None  # reported when the IFD was read
        data = await self.read(entry.value_offset, entry.nbytes)
        return decode_value(self.header, entry, data)

    async def load_table(self, table: SegmentTable, /) -> None:
        for array in (table.offsets, table.bytecounts):
            missing = array.missing(0, array.count)
            if not missing:
                continue
            if array.nbytes > MAX_VALUE_BYTES:
                raise LimitError(
                    f"a segment table of {array.count} values exceeds {MAX_VALUE_BYTES} bytes",
                    url=self._index.url,
                )
            assert array.offset is not None  # inline arrays are always loaded
            data = await self._cache.read(array.offset, array.nbytes)
            for w in missing:
                start = w * WINDOW * array.itemsize
                array.fill(w, data[start : start + WINDOW * array.itemsize])

    async def companion(self, name: str, /) -> TiffIndex:
        url = member_url(self._index.url, name)
        if url in (self._index.url, absolute_url(self._index.url)):
            return self._index
        future = self._members.get(url)
        if future is None:
            future = asyncio.ensure_future(self._open_member(url))
            self._members[url] = future
        return await asyncio.shield(future)

    async def companion_text(self, name: str, /) -> str:
        data = await self.companion_bytes(name)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            url = member_url(self._index.url, name)
            raise TiffFormatError(f"the file is not UTF-8 text: {exc}", url=url) from exc

    async def companion_bytes(
        self, name: str, /, offset: int = 0, length: int | None = None
    ) -> bytes:
        url = member_url(self._index.url, name)
        source = open_source(url, storage_options=self.storage_options)
        size = await source.size()
        offset = min(max(offset, 0), size)
        length = size - offset if length is None else min(max(length, 0), size - offset)
        if length > MAX_TEXT_BYTES:
            raise LimitError(f"{length} bytes of a set's file exceed {MAX_TEXT_BYTES}", url=url)
        return await source.read(offset, length)

    def warn(self, message: str, /) -> None:
        self._warn(message)
