"""Local files read with ``os.pread`` in worker threads."""

from __future__ import annotations

import asyncio
import os
import threading

from tiffzarr.errors import SourceError, SourceNotFoundError
from tiffzarr.io._base import ByteSource

__all__ = ["LocalSource"]


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
        self._fd: int | None = None
        self._lock = threading.Lock()

    def _open(self) -> int:
        with self._lock:
            if self._fd is None:
                try:
                    self._fd = os.open(self.url, os.O_RDONLY | getattr(os, "O_BINARY", 0))
                except FileNotFoundError as exc:
                    raise SourceNotFoundError("no such file", url=self.url) from exc
                except OSError as exc:
                    raise SourceError(f"cannot open: {exc.strerror}", url=self.url) from exc
            return self._fd

    def _pread(self, offset: int, length: int) -> bytes:
        fd = self._open()
        try:
            return os.pread(fd, length, offset)
        except OSError as exc:
            raise SourceError(f"read failed: {exc.strerror}", url=self.url, offset=offset) from exc

    def _fstat_size(self) -> int:
        return os.fstat(self._open()).st_size

    async def _size(self) -> int:
        return await asyncio.to_thread(self._fstat_size)

    async def _read(self, offset: int, length: int) -> bytes:
        return await asyncio.to_thread(self._pread, offset, length)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)
