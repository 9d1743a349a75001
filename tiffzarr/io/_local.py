"""Local files read with ``os.pread`` in worker threads."""

from __future__ import annotations

import asyncio
import os
import threading

from tiffzarr.errors import SourceError, SourceNotFoundError
from tiffzarr.io._base import ByteSource

__all__ = ["LocalFile", "LocalSource"]


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
                flags = (os.O_WRONLY if self.writable else os.O_RDONLY) | getattr(os, "O_BINARY", 0)
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


class LocalSource(ByteSource):
    """A local file. The descriptor opens on first use and is not pickled.

    >>> import asyncio, tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     _ = f.write(b"0123456789"); f.flush()
    ...     src = LocalSource(f.name)
    ...     asyncio.run(src.read(2, 3)), src.stats.requests
    (b'234', 1)
    """

    def __init__(self, path: str, /) -> None:
        super().__init__(os.fspath(path))
        self._file = LocalFile(self.url)

    async def _size(self) -> int:
        return await asyncio.to_thread(self._file.size)

    async def _read(self, offset: int, length: int) -> bytes:
        return await asyncio.to_thread(self._file.pread, length, offset)

    async def fingerprint(self) -> str | None:
        """Size, modification time and inode from ``os.stat``; ``None`` when it fails."""
        try:
            st = os.stat(self.url)
        except OSError:
            return None
        return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"

    def close(self) -> None:
        self._file.close()
