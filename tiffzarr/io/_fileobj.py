"""Binary file objects as byte sources: ``open(path, "rb")``, :class:`io.BytesIO`, or any
object with ``read`` and ``seek``.

A file object has no URL, so each one gets a name of its own while it lives,
``fileobj://<n>/<file name>``: the model of a file parsed from it (its
:class:`~tiffzarr.model.TiffIndex`) and every store made from that model name it,
and :func:`~tiffzarr.io.open_source` finds the object again by that name. The
number is never reused, so two objects (even two at the same address, one after
the other) never share a name, nor a cached parse. The name holds the object
weakly: a store over it holds it (see :class:`~tiffzarr.store.TiffStore`), a
model does not.

>>> import asyncio, io
>>> source = FileObjectSource(io.BytesIO(b"0123456789"))
>>> asyncio.run(source.read(2, 3)), source.url.startswith("fileobj://")
(b'234', True)
"""

from __future__ import annotations

import asyncio
import io
import itertools
import os
import stat
import threading
import urllib.parse
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, TypeGuard, TypeVar

from tiffzarr.errors import SourceError, SourceNotFoundError
from tiffzarr.io._base import ByteSource
from tiffzarr.io._local import INLINE_READ_BYTES, identity
from tiffzarr.io._urls import protocol_of

__all__ = [
    "FILE_OBJECT_PROTOCOL",
    "BinaryFile",
    "FileObjectSource",
    "is_file_object",
    "is_file_object_url",
    "refuse_file_objects",
]

FILE_OBJECT_PROTOCOL = "fileobj"
"""The protocol of the names file objects get (never a real filesystem)."""

T = TypeVar("T")


class BinaryFile(Protocol):
    """What tiffzarr needs of a file object: ``read`` and ``seek`` (binary, readable,
    seekable)."""

    def read(self, size: int = ..., /) -> bytes: ...

    def seek(self, offset: int, whence: int = ..., /) -> int: ...


def is_file_object(value: object, /) -> TypeGuard[BinaryFile]:
    """Whether ``value`` is a file object rather than a path or URL (duck-typed).

    >>> is_file_object(io.BytesIO()), is_file_object("a.tif")
    (True, False)
    """
    if isinstance(value, str | bytes | os.PathLike):
        return False
    return callable(getattr(value, "read", None)) and callable(getattr(value, "seek", None))


def is_file_object_url(url: str, /) -> bool:
    """Whether ``url`` is the name of a file object (``fileobj://...``)."""
    return protocol_of(url) == FILE_OBJECT_PROTOCOL


def refuse_file_objects(urls: Iterable[str], /, *, why: str) -> None:
    """Raise :class:`TypeError` (saying ``why``) if one of ``urls`` names a file object.

    >>> refuse_file_objects(["a.tif"], why="it cannot be pickled")
    """
    for url in urls:
        if is_file_object_url(url):
            raise _refusal(url, why)


def _refusal(url: str, why: str) -> TypeError:
    return TypeError(f"{url} is a file object: {why}")


@dataclass(eq=False, slots=True)
class _Handle:
    """One live file object: its name, a weak reference, and the lock its reads take."""

    url: str
    ref: weakref.ref[BinaryFile]
    lock: threading.Lock
    descriptor: int | None  # a regular file's descriptor holding the same bytes
    memory: bool  # an io.BytesIO: reads are memory copies


_REGISTRY_LOCK = threading.RLock()  # re-entrant: a weakref callback may run inside
_BY_URL: dict[str, _Handle] = {}
_BY_ID: dict[int, _Handle] = {}
_NUMBERS = itertools.count(1)


def _describe(file: object) -> str:
    return f"the file object {type(file).__name__}"


def _checked(file: BinaryFile) -> None:
    """Refuse what cannot serve random reads of bytes (argument errors, as ``io`` has them)."""
    what = _describe(file)
    if isinstance(file, io.TextIOBase):
        raise TypeError(f"{what} is in text mode: open the file in binary mode ('rb')")
    if getattr(file, "closed", False):
        raise ValueError(f"{what} is closed")
    readable: Callable[[], bool] | None = getattr(file, "readable", None)
    if readable is not None and not readable():
        raise ValueError(f"{what} is not readable (open the file with 'rb')")
    seekable: Callable[[], bool] | None = getattr(file, "seekable", None)
    if seekable is not None and not seekable():
        raise TypeError(f"{what} is not seekable: read it into io.BytesIO first")


def _descriptor(file: BinaryFile) -> int | None:
    """The descriptor of the regular file whose bytes ``file`` reads unchanged, else ``None``.

    Only :class:`io.FileIO` and the buffered readers over one qualify: other objects
    with a ``fileno`` (a ``gzip.GzipFile``) read bytes other than the descriptor's.
    """
    raw = file.raw if isinstance(file, io.BufferedReader | io.BufferedRandom) else file
    if not isinstance(raw, io.FileIO) or not hasattr(os, "pread"):
        return None
    try:
        fd = raw.fileno()
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except (OSError, ValueError):
        return None
    return fd if regular else None


def _name(file: BinaryFile) -> str:
    name = getattr(file, "name", None)
    label = os.path.basename(name) if isinstance(name, str) and name else type(file).__name__
    return urllib.parse.quote(label)


def _register(file: BinaryFile) -> _Handle:
    """The handle of ``file``, made (with a new name) on first use."""
    _checked(file)
    with _REGISTRY_LOCK:
        handle = _BY_ID.get(id(file))
        if handle is not None and handle.ref() is file:
            return handle
        url = f"{FILE_OBJECT_PROTOCOL}://{next(_NUMBERS)}/{_name(file)}"
        key = id(file)

        def forget(_: object) -> None:
            with _REGISTRY_LOCK:
                _BY_URL.pop(url, None)
                if _BY_ID.get(key) is handle:
                    del _BY_ID[key]

        try:
            ref = weakref.ref(file, forget)
        except TypeError:
            raise TypeError(f"{_describe(file)} does not support weak references") from None
        handle = _Handle(
            url, ref, threading.Lock(), _descriptor(file), isinstance(file, io.BytesIO)
        )
        _BY_URL[url] = _BY_ID[key] = handle
        return handle


def _lookup(url: str) -> tuple[_Handle, BinaryFile]:
    with _REGISTRY_LOCK:
        handle = _BY_URL.get(url)
    file = None if handle is None else handle.ref()
    if handle is None or file is None:
        raise SourceNotFoundError(
            "no file object of this process has this name: file objects cannot be shared"
            " with other processes, and this one may have been closed and collected",
            url=url,
        )
    return handle, file


class FileObjectSource(ByteSource):
    """A binary file object (or the ``fileobj://`` name of one) read as a byte source.

    Reads of a regular file's descriptor use ``os.pread`` (the object's position is
    left alone); other objects are read with ``seek`` and ``read`` under a lock
    shared by every source of the object, so their position is undefined while a
    store reads them. Reads run in a worker thread, but small ones of an
    :class:`io.BytesIO` or a descriptor, as :class:`~tiffzarr.io.LocalSource` does.

    The file must not change while it is read: its version is its size when first
    read (for a regular file: inode, size and modification time), checked at every
    read of a regular file or an :class:`io.BytesIO`; a file object cannot say what
    else changed. The source holds the object
    (so a store keeps it alive) and cannot be pickled: the object exists in this
    process only (an :class:`io.BytesIO` too: write its bytes to a file to share them).
    """

    def __init__(self, file: BinaryFile | str, /) -> None:
        if isinstance(file, str):
            handle, obj = _lookup(file)
        else:
            handle, obj = _register(file), file
        super().__init__(handle.url)
        self._handle = handle
        self._file = obj
        self._seen = False

    def __reduce__(self) -> tuple[object, ...]:
        raise _refusal(self.url, "it exists in this process only, so it cannot be pickled")

    def _version_now(self) -> str:
        """The file's version now (without reading from it)."""
        descriptor = self._handle.descriptor
        if descriptor is not None:
            return identity(os.fstat(descriptor))
        with self._handle.lock:
            return f"{self._file.seek(0, os.SEEK_END)} bytes"

    def _guarded(self, do: Callable[[], T], what: str, offset: int | None = None) -> T:
        """``do()``, its failures as :class:`SourceError`. The first call learns the
        version; later calls check it again where that is cheap (a descriptor's
        ``fstat``, an :class:`io.BytesIO`'s size), not where finding the end may cost
        a pass over the data (a decompressing reader)."""
        if getattr(self._file, "closed", False):
            raise SourceError("the file object is closed", url=self.url, offset=offset)
        handle = self._handle
        again = handle.memory or handle.descriptor is not None
        try:
            first = None if self._seen else self._version_now()
            result = do()
            now = self._version_now() if again else first
        except (OSError, ValueError) as exc:
            message = f"{what} failed: {type(exc).__name__}: {exc}"
            raise SourceError(message, url=self.url, offset=offset) from exc
        if first is not None:
            self._learn_version(first, "the file object changed")
            self._seen = True
        if now is not None and now != self._version:
            raise self._changed(f"version {self._version} became {now} during a read", offset)
        return result

    def _size_now(self) -> int:
        descriptor = self._handle.descriptor
        if descriptor is not None:
            return os.fstat(descriptor).st_size
        with self._handle.lock:
            return self._file.seek(0, os.SEEK_END)

    def _read_now(self, offset: int, length: int) -> bytes:
        descriptor = self._handle.descriptor
        if descriptor is not None:
            return os.pread(descriptor, length, offset)
        with self._handle.lock:
            self._file.seek(offset)
            parts: list[bytes] = []
            wanted = length
            while wanted > 0:
                part = self._file.read(wanted)
                if not part:  # the end of the file (or nothing ready): check_length says
                    break
                parts.append(bytes(part))
                wanted -= len(part)
            return parts[0] if len(parts) == 1 else b"".join(parts)

    def _inline(self, length: int) -> bool:
        """Whether a read is cheaper where it is asked for than in a worker thread."""
        handle = self._handle
        return length <= INLINE_READ_BYTES and (handle.memory or handle.descriptor is not None)

    async def _run(self, do: Callable[[], T], length: int) -> T:
        return do() if self._inline(length) else await asyncio.to_thread(do)

    async def _size(self) -> int:
        return await self._run(lambda: self._guarded(self._size_now, "finding the size"), 0)

    async def _read(self, offset: int, length: int) -> bytes:
        def read() -> bytes:
            return self._guarded(lambda: self._read_now(offset, length), "read", offset)

        return await self._run(read, length)

    async def fingerprint(self) -> str | None:
        """The file's version now (no read), ``None`` when it cannot be found."""
        try:
            return await self._run(self._version_now, 0)
        except (OSError, ValueError):
            return None
