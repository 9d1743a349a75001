"""Files inside a ZIP archive, read as byte ranges of the archive: ``zip://member::archive``.

A ZIP lists its members in a central directory at its end. It is read once per
archive (its size, its last 64 KiB, and the directory when it starts earlier)
through the archive's own byte source (local, HTTP, S3, any fsspec filesystem);
every member of that archive then shares this one source. A member that is
*stored* (compression method 0, not encrypted) is a plain byte range of the
archive: each read of it is one range read of the archive, and nothing else of
the archive is downloaded. Where its bytes start is known from its local header,
which the first read of the member fetches in the same request as the bytes
asked for (for a first read within :data:`SPECULATE` bytes of the member's
start; a first read further in costs one small read of the header before it).

Members compressed otherwise (deflate) are no byte range: they are read through
fsspec's ``zip`` filesystem, which inflates them (random access then inflates
from the member's start), and they have no byte range to put in references
(:func:`archive_locations` refuses them). CRC-32 checksums are not verified: a
member is read a range at a time, never as a whole.

>>> import asyncio, io, os, tempfile, zipfile
>>> path = os.path.join(tempfile.mkdtemp(), "a.zip")
>>> with zipfile.ZipFile(path, "w") as zf:
...     zf.writestr("run/b.tif", b"0123456789")
>>> source = ZipMemberSource(member_url(path, "run/b.tif"))
>>> asyncio.run(source.read(3, 4)), asyncio.run(source.size())
(b'3456', 10)
"""

from __future__ import annotations

import asyncio
import collections
import fnmatch
import json
import struct
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tiffzarr.errors import SourceChangedError, SourceError, SourceNotFoundError, UnsupportedError
from tiffzarr.io._base import ByteSource, Deliver, check_range
from tiffzarr.io._fsspec import FsspecSource

__all__ = [
    "SPECULATE",
    "ZipDirectory",
    "ZipMember",
    "ZipMemberSource",
    "archive_locations",
    "find_members",
    "member_url",
    "split_member_url",
    "zip_directory",
]

SPECULATE = 1 << 20
"""A member's first read ending within this many bytes of its start also fetches its
local header (one request); a read further in reads the header first."""
_SLACK = 256
"""Bytes the local header's extra field may exceed the central directory's by and
still arrive with the first read."""
_TAIL = (1 << 16) + 22 + 20
"""Bytes read from the archive's end: the end record, its comment (at most 64 KiB) and
the ZIP64 locator before it."""
_ARCHIVES = 64
"""Archives whose directory is kept (least recently used dropped first)."""

_EOCD = struct.Struct("<4s4H2LH")
_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_ENTRY = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")


@dataclass(frozen=True, slots=True)
class ZipMember:
    """One member as the central directory lists it (``header`` is the offset of its
    local header in the archive; ``extra`` the length of its central extra field)."""

    name: str
    header: int
    size: int
    compressed_size: int
    method: int
    flags: int
    raw_name: bytes
    extra: int

    @property
    def stored(self) -> bool:
        """Whether the member is a plain byte range of the archive."""
        return self.method == 0 and not self.flags & 1


@dataclass(frozen=True, slots=True)
class ZipDirectory:
    """The members of the archive at ``url`` (of ``size`` bytes), by name, in the
    directory's order."""

    url: str
    size: int
    members: Mapping[str, ZipMember]

    def member(self, name: str, /) -> ZipMember:
        found = self.members.get(name)
        if found is None:
            raise SourceNotFoundError(f"the ZIP has no member {name!r}", url=self.url)
        return found


def member_url(archive: str, name: str, /) -> str:
    """The URL of member ``name`` of ``archive`` (fsspec's chained ``zip://`` form).

    >>> member_url("https://h/run.zip", "run/a.tif")
    'zip://run/a.tif::https://h/run.zip'
    """
    return f"zip://{name}::{archive}"


def split_member_url(url: str, /) -> tuple[str, str] | None:
    """``(member name, archive URL)`` of a ``zip://member::archive`` URL, else ``None``.

    >>> split_member_url("zip://run/a.tif::s3://b/run.zip"), split_member_url("a.tif")
    (('run/a.tif', 's3://b/run.zip'), None)
    """
    protocol, sep, rest = url.partition("://")
    if not sep or protocol.lower() != "zip":
        return None
    name, chain, archive = rest.partition("::")
    return (name.lstrip("/"), archive) if chain and archive else None


class _Archive:
    """One archive's byte source, directory and learned member starts, shared by all
    sources of its members (see :func:`_archive`)."""

    def __init__(self, url: str, storage_options: dict[str, Any]) -> None:
        from tiffzarr.io import open_source  # the package routes URLs to sources

        self.url = url
        self.source = open_source(url, storage_options=storage_options)
        self.directory: ZipDirectory | None = None
        self.fingerprint: str | None = None
        self.starts: dict[str, int] = {}
        self._reading: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self.learning: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, asyncio.Future[int | None]]
        ] = weakref.WeakKeyDictionary()

    async def listing(self) -> ZipDirectory:
        """The directory, read once (one reader per loop at a time)."""
        if self.directory is not None:
            return self.directory
        lock = self._reading.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        async with lock:
            if self.directory is None:
                self.fingerprint = await self.source.fingerprint()
                self.directory = await _read_directory(self.source)
                self.source.expect(size=self.directory.size, version=self.source.version)
        return self.directory


_OPEN: collections.OrderedDict[tuple[str, str], _Archive] = collections.OrderedDict()
_OPEN_LOCK = threading.Lock()


def _archive(url: str, storage_options: dict[str, Any] | None) -> _Archive:
    key = (url, json.dumps(storage_options or {}, sort_keys=True, default=repr))
    with _OPEN_LOCK:
        archive = _OPEN.get(key)
        if archive is None:
            archive = _OPEN[key] = _Archive(url, dict(storage_options or {}))
        _OPEN.move_to_end(key)
        while len(_OPEN) > _ARCHIVES:
            _OPEN.popitem(last=False)
        return archive


def _forget(archive: _Archive) -> None:
    """Drop an archive that changed: the next use reads its directory anew."""
    with _OPEN_LOCK:
        for key, value in list(_OPEN.items()):
            if value is archive:
                del _OPEN[key]


async def zip_directory(
    url: str, /, *, storage_options: dict[str, Any] | None = None
) -> ZipDirectory:
    """The central directory of the ZIP at ``url`` (read once per archive and options)."""
    archive = _archive(url, storage_options)
    try:
        return await archive.listing()
    except SourceChangedError:
        _forget(archive)
        raise


async def find_members(
    archive: str,
    files: str | Sequence[str],
    /,
    *,
    storage_options: dict[str, Any] | None = None,
) -> list[str]:
    """The URLs of the members ``files`` names in ``archive``, in the directory's order.

    ``files`` is a pattern matched against whole member names (``*`` also matches
    ``/``, as tifffile's ``fnmatch`` does), one member's name, a folder in the
    archive (its ``.tif`` and ``.tiff`` members, not those of its subfolders), or a
    list of member names (each must exist; kept in their order). A local archive
    changed since its directory was read is read anew.
    """
    from tiffzarr.io._expand import TIFF_SUFFIXES, is_pattern

    known = _archive(archive, storage_options)
    if known.directory is not None and await known.source.fingerprint() != known.fingerprint:
        _forget(known)  # a local archive written anew since its directory was read
    directory = await zip_directory(archive, storage_options=storage_options)
    names = [n for n in directory.members if not n.endswith("/")]
    if not isinstance(files, str):
        return [member_url(archive, directory.member(name).name) for name in files]
    if is_pattern(files):
        found = [n for n in names if fnmatch.fnmatchcase(n, files)]
        what = f"no member matches the pattern {files!r}"
    elif files in directory.members:
        found = [files]
    else:
        folder = files.strip("/") + "/"
        found = [
            n
            for n in names
            if n.startswith(folder)
            and "/" not in n[len(folder) :]
            and n.lower().endswith(TIFF_SUFFIXES)
        ]
        what = f"no member {files!r}, and no .tif or .tiff member in a folder of that name"
    if not found:
        raise SourceNotFoundError(what, url=archive)
    return [member_url(archive, n) for n in found]


class ZipMemberSource(ByteSource):
    """One member of a ZIP archive (``zip://member::archive``), read from the archive.

    ``storage_options`` are those of the archive's URL. Stored members are read as
    byte ranges of the archive, other members through fsspec (see the module).
    """

    def __init__(self, url: str, /, *, storage_options: dict[str, Any] | None = None) -> None:
        super().__init__(url)
        split = split_member_url(url)
        if split is None:
            raise ValueError(f"{url!r} is no zip://member::archive URL")
        self.name, self.archive_url = split
        self._storage_options = dict(storage_options or {})
        self._inflating: FsspecSource | None = None

    def _options(self) -> dict[str, object]:
        return {"storage_options": self._storage_options}

    def _archive(self) -> _Archive:
        return _archive(self.archive_url, self._storage_options)

    @property
    def version(self) -> str | None:
        """The archive's version (see :attr:`ByteSource.version`)."""
        return self._archive().source.version

    async def fingerprint(self) -> str | None:
        return await self._archive().source.fingerprint()

    async def _member(self) -> ZipMember:
        directory = await zip_directory(self.archive_url, storage_options=self._storage_options)
        member = directory.member(self.name)
        if member.flags & 1:
            raise UnsupportedError(f"the ZIP member {self.name!r} is encrypted", url=self.url)
        return member

    async def _size(self) -> int:
        return (await self._member()).size

    async def _read(self, offset: int, length: int) -> bytes:
        member = await self._member()
        check_range(self.url, offset, length, member.size)
        if not member.stored:
            if self._inflating is None:
                self._inflating = FsspecSource(self.url, storage_options=self._storage_options)
            return await self._inflating.read(offset, length)
        archive = self._archive()
        try:
            start = archive.starts.get(member.name)
            if start is None:
                start, data = await self._learn(archive, member, offset, length)
                if data is not None:
                    return data
            return await archive.source.read(start + offset, length)
        except SourceChangedError:
            _forget(archive)
            raise

    async def read_split(self, offset: int, ends: Sequence[int], deliver: Deliver, /) -> None:
        """As :meth:`ByteSource.read_split`; once the member's start is known, through the
        archive's source (over HTTP, pieces arrive while the rest is in transit)."""
        archive = self._archive()
        start = archive.starts.get(self.name)
        if start is None or archive.directory is None:
            await super().read_split(offset, ends, deliver)
            return
        await archive.source.read_split(
            start + offset, [start + e for e in ends], lambda at, piece: deliver(at - start, piece)
        )
        self.stats.record(offset, ends[-1])

    async def _learn(
        self, archive: _Archive, member: ZipMember, offset: int, length: int
    ) -> tuple[int, bytes | None]:
        """The member's start in the archive, and the bytes asked for when they came
        with its local header. One member's header is read once per loop at a time."""
        loop = asyncio.get_running_loop()
        learning = archive.learning.setdefault(loop, {})
        pending = learning.get(member.name)
        if pending is not None:
            start = await asyncio.shield(pending)
            if start is not None:
                return start, None
            return await self._learn(archive, member, offset, length)
        future: asyncio.Future[int | None] = loop.create_future()
        learning[member.name] = future
        try:
            wanted = offset + length if offset + length <= SPECULATE else 0
            start, data = await _local_header(archive, member, wanted)
        except BaseException:
            future.set_result(None)  # waiting reads try themselves
            raise
        finally:
            learning.pop(member.name, None)
        archive.starts[member.name] = start
        future.set_result(start)
        head = start - member.header
        if wanted and len(data) >= head + offset + length:
            return start, data[head + offset : head + offset + length]
        return start, None


async def _local_header(archive: _Archive, member: ZipMember, upto: int) -> tuple[int, bytes]:
    """The member's start (after its local header) and the bytes read from the header on:
    enough for ``upto`` bytes of the member when its extra field is as expected."""
    directory = await archive.listing()
    guess = _LOCAL.size + len(member.raw_name) + member.extra + _SLACK
    stop = min(directory.size, member.header + guess + upto)
    data = await archive.source.read(member.header, stop - member.header)
    where = f"the local header of member {member.name!r}"
    if len(data) < _LOCAL.size:
        raise SourceError(f"{where} is cut short", url=archive.url, offset=member.header)
    sig, _, _, method, _, _, _, _, _, nlen, xlen = _LOCAL.unpack_from(data)
    if sig != b"PK\x03\x04" or method != member.method or nlen != len(member.raw_name):
        raise SourceError(
            f"{where} does not match the central directory: is the ZIP damaged?",
            url=archive.url,
            offset=member.header,
        )
    start = member.header + _LOCAL.size + nlen + xlen
    if start + member.compressed_size > directory.size:
        raise SourceError(
            f"member {member.name!r} [{start}, {start + member.compressed_size}) is outside "
            f"the ZIP ({directory.size} bytes)",
            url=archive.url,
            offset=start,
        )
    return start, data


async def _read_directory(source: ByteSource) -> ZipDirectory:
    """Parse the end record (ZIP64 too) and the central directory."""
    size = await source.size()
    tail_start = max(0, size - _TAIL)
    tail = await source.read(tail_start, size - tail_start)
    at = _end_record(tail, source.url)
    _, disk, cd_disk, _, count, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
    if 0xFFFF in (count, disk) or 0xFFFFFFFF in (cd_size, cd_offset):
        count, cd_size, cd_offset, disk, cd_disk = await _zip64_end(source, tail, tail_start, at)
    if disk or cd_disk:
        raise UnsupportedError("ZIP archives split over several disks", url=source.url)
    if cd_offset + cd_size > tail_start + at:
        raise SourceError(
            f"the central directory [{cd_offset}, {cd_offset + cd_size}) overlaps its end record",
            url=source.url,
        )
    if cd_offset >= tail_start:
        block = tail[cd_offset - tail_start : cd_offset - tail_start + cd_size]
    else:
        block = await source.read(cd_offset, cd_size)
    members = _entries(block, count, source.url, cd_offset)
    return ZipDirectory(source.url, size, members)


def _end_record(tail: bytes, url: str) -> int:
    """The position of the end-of-central-directory record in ``tail``."""
    at = len(tail) - _EOCD.size
    while at >= 0:
        at = tail.rfind(b"PK\x05\x06", 0, at + 4)
        if at < 0:
            break
        (comment,) = struct.unpack_from("<H", tail, at + 20)
        if at + _EOCD.size + comment == len(tail):
            return at
        at -= 1
    raise SourceError("not a ZIP archive: no end of central directory record", url=url)


async def _zip64_end(
    source: ByteSource, tail: bytes, tail_start: int, at: int
) -> tuple[int, int, int, int, int]:
    """``(entries, size, offset, disk, directory disk)`` from the ZIP64 end record."""
    if at < _LOCATOR.size or tail[at - _LOCATOR.size : at - _LOCATOR.size + 4] != b"PK\x06\x07":
        raise SourceError("the ZIP64 end record locator is missing", url=source.url)
    _, _, offset, _ = _LOCATOR.unpack_from(tail, at - _LOCATOR.size)
    if offset >= tail_start and offset - tail_start + _EOCD64.size <= len(tail):
        record = tail[offset - tail_start : offset - tail_start + _EOCD64.size]
    else:
        record = await source.read(offset, _EOCD64.size)
    sig, _, _, _, disk, cd_disk, _, count, cd_size, cd_offset = _EOCD64.unpack(record)
    if sig != b"PK\x06\x06":
        raise SourceError("no ZIP64 end record where its locator points", url=source.url)
    return count, cd_size, cd_offset, disk, cd_disk


def _entries(block: bytes, count: int, url: str, base: int) -> dict[str, ZipMember]:
    members: dict[str, ZipMember] = {}
    at = 0
    for _ in range(count):
        if len(block) < at + _ENTRY.size or block[at : at + 4] != b"PK\x01\x02":
            raise SourceError("a central directory entry is damaged", url=url, offset=base + at)
        (_, _, _, flags, method, _, _, _, csize, usize, nlen, xlen, clen, _, _, _, header) = (
            _ENTRY.unpack_from(block, at)
        )
        raw = block[at + _ENTRY.size : at + _ENTRY.size + nlen]
        extra = block[at + _ENTRY.size + nlen : at + _ENTRY.size + nlen + xlen]
        usize, csize, header = _zip64_sizes(extra, usize, csize, header)
        name = raw.decode("utf-8" if flags & 0x800 else "cp437")
        members[name] = ZipMember(name, header, usize, csize, method, flags, raw, xlen)
        at += _ENTRY.size + nlen + xlen + clen
    return members


def _zip64_sizes(extra: bytes, usize: int, csize: int, header: int) -> tuple[int, int, int]:
    """Sizes and offset from the ZIP64 extra field where the entry's are ``0xFFFFFFFF``.

    >>> _zip64_sizes(struct.pack("<HHQ", 1, 8, 5_000_000_000), 0xFFFFFFFF, 10, 0)
    (5000000000, 10, 0)
    """
    at = 0
    while at + 4 <= len(extra):
        tag, n = struct.unpack_from("<HH", extra, at)
        if tag == 1:
            values = iter(struct.unpack_from(f"<{n // 8}Q", extra, at + 4))
            usize = next(values) if usize == 0xFFFFFFFF else usize
            csize = next(values) if csize == 0xFFFFFFFF else csize
            header = next(values) if header == 0xFFFFFFFF else header
            break
        at += 4 + n
    return usize, csize, header


async def archive_locations(
    locations: Sequence[tuple[str, str, int, int]],
    /,
    *,
    storage_options: dict[str, Any] | None = None,
) -> tuple[tuple[str, str, int, int], ...]:
    """Chunk locations ``(key, url, offset, nbytes)`` with ZIP members replaced by the
    range of their archive (other URLs as they are).

    A member's start is learned from its local header when no read learned it yet
    (one read of each such member). A member that is not stored raises
    :class:`~tiffzarr.errors.UnsupportedError`: its bytes are no range of the archive.
    """
    starts: dict[str, tuple[str, int]] = {}
    for url in {loc[1] for loc in locations}:
        split = split_member_url(url)
        if split is not None:
            starts[url] = await _member_start(url, split, storage_options)
    out = []
    for key, url, offset, nbytes in locations:
        found = starts.get(url)
        out.append(
            (key, url, offset, nbytes)
            if found is None
            else (key, found[0], found[1] + offset, nbytes)
        )
    return tuple(out)


async def _member_start(
    url: str, split: tuple[str, str], storage_options: dict[str, Any] | None
) -> tuple[str, int]:
    name, archive_url = split
    archive = _archive(archive_url, storage_options)
    member = (await archive.listing()).member(name)
    if not member.stored:
        raise UnsupportedError(
            f"the ZIP member {name!r} is compressed (method {member.method}): its bytes are "
            "no range of the archive; store it uncompressed (zip -0) to reference it",
            url=url,
        )
    start = archive.starts.get(name)
    if start is None:
        start, _ = await _local_header(archive, member, 0)
        archive.starts[name] = start
    return archive_url, start
