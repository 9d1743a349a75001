"""Async byte sources: local files, HTTP(S), and any fsspec filesystem.

>>> open_source("/tmp/x.tif")
LocalSource('/tmp/x.tif')
"""

from __future__ import annotations

from typing import Any

from tiffzarr.io._base import ByteSource, SourceStats
from tiffzarr.io._fsspec import FsspecSource
from tiffzarr.io._http import HttpSource
from tiffzarr.io._local import LocalFile, LocalSource

__all__ = [
    "ByteSource",
    "FsspecSource",
    "HttpSource",
    "LocalFile",
    "LocalSource",
    "SourceStats",
    "open_source",
]


def open_source(url: str, /, *, storage_options: dict[str, Any] | None = None) -> ByteSource:
    """Return the byte source for a path or URL.

    Plain paths and ``file://`` URLs are local files; ``http://`` and ``https://``
    use :class:`HttpSource`; anything else goes through fsspec.
    """
    url = str(url)
    protocol, sep, rest = url.partition("://")
    if not sep:
        return LocalSource(url)
    protocol = protocol.lower()
    if protocol == "file":
        return LocalSource(rest)
    if protocol in ("http", "https"):
        return HttpSource(url, storage_options=storage_options)
    return FsspecSource(url, storage_options=storage_options)
