"""Writing chunks back into an existing uncompressed TIFF (``open_store(..., mode="r+")``).

Only segments that exist can take new bytes, at their place and size: the file's
structure never changes. That suits files created empty and then filled through
zarr; compressed segments would change size, so they are refused.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Mapping

from tiffzarr.errors import SourceError, UnsupportedError
from tiffzarr.format import Compression
from tiffzarr.model import ArrayModel

__all__ = ["SegmentWriter", "check_writable"]


def check_writable(arrays: Mapping[str, ArrayModel], path: str, /) -> None:
    """Refuse ``mode="r+"`` for what cannot be written in place."""
    for name, array in arrays.items():
        codec = array.codec
        if codec.compression != Compression.NONE or codec.predictor != 1 or codec.fillorder != 1:
            raise UnsupportedError(
                f"array {name or '/'} is compressed or predicted: its segments cannot be "
                "rewritten in place (mode='r+' needs uncompressed data)",
                url=path,
            )
        if array.manifest.whole_pages:
            raise UnsupportedError("mode='r+' works with chunkmode='segment'", url=path)
        if len(array.manifest.urls) != 1 or array.manifest.urls[0] != path:
            raise UnsupportedError("mode='r+' needs one local file", url=path)


class SegmentWriter:
    """``os.pwrite`` into a local file, from worker threads; the descriptor opens lazily."""

    def __init__(self, path: str, /) -> None:
        self.path = path
        self._fd: int | None = None
        self._lock = threading.Lock()

    def _open(self) -> int:
        with self._lock:
            if self._fd is None:
                try:
                    self._fd = os.open(self.path, os.O_WRONLY | getattr(os, "O_BINARY", 0))
                except OSError as exc:
                    raise SourceError(
                        f"cannot open for writing: {exc.strerror}", url=self.path
                    ) from exc
            return self._fd

    def _pwrite(self, offset: int, data: bytes) -> None:
        fd = self._open()
        view = memoryview(data)
        while view:
            try:
                written = os.pwrite(fd, view, offset)
            except OSError as exc:
                raise SourceError(
                    f"write failed: {exc.strerror}", url=self.path, offset=offset
                ) from exc
            view, offset = view[written:], offset + written

    async def write(self, offset: int, data: bytes, /) -> None:
        await asyncio.to_thread(self._pwrite, offset, data)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)
