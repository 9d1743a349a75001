"""Local files read with ``os.pread``: in worker threads, but for small reads (at most
:data:`INLINE_READ_BYTES`, the size of a small tile) and the size (an ``fstat``), which
are done where they are asked for: from the page cache that takes microseconds, less
than a hop to a thread."""

from __future__ import annotations

import asyncio
import os
import threading

from tiffzarr.errors import SourceError, SourceNotFoundError
from tiffzarr.io._base import ByteSource

__all__ = ["INLINE_READ_BYTES", "LocalFile", "LocalSource", "identity"]

INLINE_READ_BYTES = 64 * 1024
"""Largest read done on the event loop rather than in a worker thread."""


class LocalFile:
    """A descriptor of a local file, opened on first use (thread-safe), never pickled.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     LocalFile(f.name, writable=True).pwrite(b"abc", 1)
    ...     LocalFile(f.name).pread(3, 1)
    b'abc'
    """

    def __init__(self, path: str, /, *, writable: bool = False) -> None:
        self.path = path
        self.writable = writable
        self._fd: int | None = None
        self._lock = threading.Lock()

    def fileno(self) -> int:
        with self._lock:
            if self._fd is None:
                flags = (os.O_RDWR if self.writable else os.O_RDONLY) | getattr(os, "O_BINARY", 0)
                try:
                    self._fd = os.open(self.path, flags)
                except FileNotFoundError as exc:
                    raise SourceNotFoundError("no such file", url=self.path) from exc
                except OSError as exc:
                    raise SourceError(f"cannot open: {exc.strerror}", url=self.path) from exc
            return self._fd

    def pread(self, length: int, offset: int) -> bytes:
        fd = self.fileno()
        try:
            return os.pread(fd, length, offset)
        except OSError as exc:
            raise SourceError(f"read failed: {exc.strerror}", url=self.path, offset=offset) from exc

    def pwrite(self, data: bytes, offset: int) -> None:
        fd = self.fileno()
        view = memoryview(data)
        while view:
            try:
                written = os.pwrite(fd, view, offset)
            except OSError as exc:
                message = f"write failed: {exc.strerror}"
                raise SourceError(message, url=self.path, offset=offset) from exc
            view, offset = view[written:], offset + written

    def size(self) -> int:
        return os.fstat(self.fileno()).st_size

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)


def identity(st: os.stat_result) -> str:
    """The version of a local file: inode, size and modification time (ns).

    A file replaced by a rename has another inode; one rewritten in place has
    another modification time. The device is left out, so that the version of
    a file on a shared filesystem is the same on every machine that mounts it.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     identity(os.stat(f.name)).count(":")
    2
    """
    return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


class LocalSource(ByteSource):
    """A local file, opened once (on first use) and checked against its version.

    The descriptor opens on first use and is not pickled. Its version
    (:func:`identity`) is learned when it opens, so a source told by
    :meth:`~ByteSource.expect` which version was parsed refuses another file
    now at the same path with :class:`~tiffzarr.errors.SourceChangedError`;
    every read is checked again afterwards, so bytes of a file rewritten in
    place are never returned. With ``writable`` (a store in ``mode="r+"``),
    :meth:`write` writes into the file; writers change its modification time,
    so then only the inode is checked.

    >>> import asyncio, tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     _ = f.write(b"0123456789"); f.flush()
    ...     src = LocalSource(f.name)
    ...     asyncio.run(src.read(2, 3)), src.stats.requests
    (b'234', 1)
    """

    def __init__(self, path: str, /, *, writable: bool = False) -> None:
        super().__init__(os.fspath(path))
        self.writable = writable
        self._file = LocalFile(self.url, writable=writable)
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None  # (size, mtime_ns) of the open file

    def _options(self) -> dict[str, object]:
        return {"writable": True} if self.writable else {}

    def _opened(self) -> int:
        """The descriptor; on first use, the version of what it opened is checked."""
        fd = self._file.fileno()
        with self._lock:
            if self._seen is None:
                st = os.fstat(fd)
                now = identity(st)
                if self.writable:  # writers change the time: only the inode must hold
                    inode = now.partition(":")[0]
                    if self._version is not None and self._version.partition(":")[0] != inode:
                        raise self._changed(f"version {self._version}, now {now} at this path")
                    self._version = now
                else:
                    self._learn_version(now, "another file is now at this path")
                self._seen = (st.st_size, st.st_mtime_ns)
        return fd

    def _size_now(self) -> int:
        return os.fstat(self._opened()).st_size

    def _pread(self, length: int, offset: int) -> bytes:
        fd = self._opened()
        data = self._file.pread(length, offset)
        if not self.writable:  # bytes of a file written meanwhile are not returned
            with self._lock:
                st = os.fstat(fd)
                if (st.st_size, st.st_mtime_ns) != self._seen:
                    raise self._changed(
                        f"version {self._version} became {identity(st)} during a read", offset
                    )
        return data

    async def _size(self) -> int:
        return self._size_now()  # an fstat: cheaper than a hop to a thread

    async def _read(self, offset: int, length: int) -> bytes:
        if length <= INLINE_READ_BYTES:  # cheaper than a hop to a thread
            return self._pread(length, offset)
        return await asyncio.to_thread(self._pread, length, offset)

    async def write(self, offset: int, data: bytes, /) -> None:
        """Write ``data`` at ``offset`` (``writable`` sources only)."""
        if not self.writable:
            raise SourceError("the source was not opened for writing", url=self.url)
        await asyncio.to_thread(self._pwrite, data, offset)

    def _pwrite(self, data: bytes, offset: int) -> None:
        self._opened()
        self._file.pwrite(data, offset)

    async def fingerprint(self) -> str | None:
        """The version of the file now at the path (:func:`identity`; no read),
        ``None`` when ``os.stat`` fails."""
        try:
            return identity(os.stat(self.url))
        except OSError:
            return None

    def close(self) -> None:
        self._file.close()
        with self._lock:
            self._seen = None
