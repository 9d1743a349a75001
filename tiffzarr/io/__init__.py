"""Async byte sources: local files, HTTP(S), any fsspec filesystem, and file objects.

>>> open_source("/tmp/x.tif")
LocalSource('/tmp/x.tif')
"""

from __future__ import annotations

import os
from typing import Any

from tiffzarr.io._base import ByteSource, SourceStats
from tiffzarr.io._expand import TIFF_SUFFIXES, FoundFile, expand_files, is_pattern
from tiffzarr.io._fileobj import (
    BinaryFile,
    FileObjectSource,
    is_file_object,
    is_file_object_url,
    refuse_file_objects,
)
from tiffzarr.io._fsspec import FsspecSource
from tiffzarr.io._http import HttpSource
from tiffzarr.io._local import LocalFile, LocalSource
from tiffzarr.io._zip import ZipMemberSource, split_member_url

__all__ = [
    "TIFF_SUFFIXES",
    "BinaryFile",
    "ByteSource",
    "FileObjectSource",
    "FoundFile",
    "FsspecSource",
    "HttpSource",
    "LocalFile",
    "LocalSource",
    "PathOrFile",
    "SourceStats",
    "ZipMemberSource",
    "expand_files",
    "is_file_object",
    "is_file_object_url",
    "is_pattern",
    "open_source",
    "refuse_file_objects",
]

PathOrFile = str | os.PathLike[str] | BinaryFile
"""What every reading function accepts: a path, a URL, or a binary file object."""


def open_source(url: PathOrFile, /, *, storage_options: dict[str, Any] | None = None) -> ByteSource:
    """Return the byte source for a path, URL or binary file object.

    Plain paths and ``file://`` URLs are local files; ``http://`` and ``https://``
    use :class:`HttpSource`; a file object (``open(path, "rb")``, ``io.BytesIO``),
    or the ``fileobj://`` name of one, :class:`FileObjectSource` (``storage_options``
    do not apply); anything else goes through fsspec.
    """
    if is_file_object(url):
        return FileObjectSource(url)
    path = os.fspath(url) if isinstance(url, os.PathLike) else url
    if not isinstance(path, str):
        raise TypeError(f"expected a path, URL or binary file object, not {url!r}")
    protocol, sep, rest = path.partition("://")
    if not sep:
        return LocalSource(path)
    protocol = protocol.lower()
    if protocol == "file":
        return LocalSource(rest)
    if protocol in ("http", "https"):
        return HttpSource(path, storage_options=storage_options)
    if is_file_object_url(path):
        return FileObjectSource(path)
    if protocol == "zip" and split_member_url(path) is not None:
        return ZipMemberSource(path, storage_options=storage_options)
    return FsspecSource(path, storage_options=storage_options)
