"""Recently parsed files, shared by every open of the same URL in this process.

Opening a store per page, per series or per variable re-opens the same file;
each open after the first reuses the parsed model (and the segment-table
windows other stores already loaded) instead of fetching the header and IFDs
again. A cached model is used only while it still describes the file:

- local files: while ``os.stat`` reports the same size, modification time and
  inode (checked at every open; no read);
- remote files: for ``config.metadata_cache_seconds`` after they were parsed,
  or until a read finds that the file changed. Every later read is checked
  against the version seen when the file was parsed (HTTP ``ETag`` or
  ``Last-Modified``, S3 ``VersionId`` or ``ETag``) and its size, so a file
  replaced meanwhile raises :class:`~tiffzarr.errors.SourceChangedError` rather
  than yielding bytes from the wrong places; that error drops the cached model,
  and the next open parses the new file.

At most ``config.metadata_cache_files`` files are kept, least recently opened
dropped first; 0 turns the cache off. :func:`clear_cache` empties it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from tiffzarr._config import config
from tiffzarr.model import TiffIndex

__all__ = ["RECENT", "RecentIndexes", "clear_cache", "forget_file"]


@dataclass(frozen=True, slots=True)
class _Entry:
    index: TiffIndex
    fingerprint: str | None
    parsed_at: float


class RecentIndexes:
    """A thread-safe LRU of parsed files; see the module docstring.

    >>> from tiffzarr.format import parse_header
    >>> recent = RecentIndexes()
    >>> header = parse_header(b"II*\\x00\\x08\\x00\\x00\\x00", size=64)
    >>> index = TiffIndex(url="a.tif", size=8, header=header, pages=())
    >>> recent.put("a", index, fingerprint="8:1:2")
    >>> recent.get("a", fingerprint="8:1:2") is index, recent.get("a", fingerprint="9:1:2")
    (True, None)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()

    def get(self, key: Hashable, *, fingerprint: str | None) -> TiffIndex | None:
        """The model cached for ``key`` if it still describes the file, else ``None``.

        ``fingerprint`` is the file's current one (``None`` for remote files,
        which are trusted for ``config.metadata_cache_seconds``).
        """
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if fingerprint is not None or entry.fingerprint is not None:
                fresh = fingerprint == entry.fingerprint
            else:
                fresh = time.monotonic() - entry.parsed_at <= config.metadata_cache_seconds
            if not fresh:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry.index

    def put(self, key: Hashable, index: TiffIndex, *, fingerprint: str | None) -> None:
        """Remember ``index`` for ``key``, dropping the least recently used beyond the limit."""
        with self._lock:
            self._entries[key] = _Entry(index, fingerprint, time.monotonic())
            self._entries.move_to_end(key)
            while len(self._entries) > max(config.metadata_cache_files, 0):
                self._entries.popitem(last=False)

    def forget(self, url: str) -> None:
        """Drop every model parsed from ``url`` (which turned out to have changed)."""
        with self._lock:
            for key in [k for k, e in self._entries.items() if e.index.url == url]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


RECENT = RecentIndexes()
"""The process-wide cache :func:`~tiffzarr.reader.open_tiff` uses."""


def clear_cache() -> None:
    """Forget every parsed file, so that the next open reads the file again.

    >>> clear_cache()
    """
    RECENT.clear()


def forget_file(url: str, /) -> None:
    """Forget the models parsed from ``url``: it changed, the next open reads it again."""
    RECENT.forget(url)
