"""URLs relative to a file: local paths made absolute, relative URLs, and folders.

A reference file names its targets relative to its own location, and a file of
a multi-file set (OME-TIFF, Micro-Manager) names the other files relative to
its own. :func:`relative_url` turns a URL into one relative to a file's folder
when it lies inside it; :class:`Base` resolves relative URLs and tells whether
a URL stays inside that folder.

>>> relative_url("/data/a/b.tif", "/data/a/refs.json")
'b.tif'
>>> relative_url("/data/b.tif", "/data/a/refs.json")
'/data/b.tif'
>>> relative_url("https://host/d/x.tif", "https://host/d/refs.json")
'x.tif'
>>> base = Base.of("/data/a/refs.json")
>>> base.resolve("b.tif"), base.contains("/data/a/b.tif"), base.contains("/data/a/../x")
('/data/a/b.tif', True, False)
"""

from __future__ import annotations

import os
import posixpath
import urllib.parse
from dataclasses import dataclass

__all__ = ["Base", "absolute_url", "protocol_of", "relative_url"]


def protocol_of(url: str, /) -> str | None:
    """The URL's protocol (lower case), ``None`` for a plain path.

    >>> protocol_of("S3://b/k"), protocol_of("/tmp/x"), protocol_of("file:///tmp/x")
    ('s3', None, 'file')
    """
    protocol, sep, _ = url.partition("://")
    return protocol.lower() if sep and protocol and "/" not in protocol else None


def absolute_url(url: str, /) -> str:
    """Plain paths and ``file://`` URLs as absolute local paths; other URLs unchanged.

    >>> absolute_url("file:///tmp/x.tif"), absolute_url("http://h/x.tif")
    ('/tmp/x.tif', 'http://h/x.tif')
    """
    protocol = protocol_of(url)
    if protocol is None:
        return os.path.abspath(url)
    if protocol == "file":
        return os.path.abspath(urllib.parse.unquote(url.partition("://")[2]))
    return url


def relative_url(url: str, reference_url: str, /) -> str:
    """``url`` relative to the folder of ``reference_url`` when it lies inside it.

    Otherwise (another host, protocol or folder above) the absolute URL is returned.

    >>> relative_url("http://h/a/b.tif", "http://h/a/r.json"), relative_url("http://h/b", "http://h/r")
    ('b.tif', 'b')
    """
    url, reference_url = absolute_url(url), absolute_url(reference_url)
    protocol = protocol_of(url)
    if protocol != protocol_of(reference_url):
        return url
    if protocol is None:
        folder = os.path.dirname(reference_url)
        relative = os.path.relpath(url, folder)
        if relative.split(os.sep)[0] == os.pardir:
            return url
        return relative.replace(os.sep, "/")
    target, reference = urllib.parse.urlsplit(url), urllib.parse.urlsplit(reference_url)
    if target.netloc != reference.netloc:
        return url
    folder = posixpath.dirname(reference.path).rstrip("/") + "/"
    if not target.path.startswith(folder) or target.path == folder:
        return url
    relative = target.path[len(folder) :]
    if ".." in relative.split("/"):
        return url
    return relative + (f"?{target.query}" if target.query else "")


@dataclass(frozen=True, slots=True)
class Base:
    """The folder of a file (a reference file, or one file of a set): local
    (``protocol`` ``None``) or remote.

    ``folder`` is an absolute local path, or ``protocol://netloc/path/`` for remote
    reference files.
    """

    protocol: str | None
    folder: str

    @classmethod
    def of(cls, reference_url: str, /) -> Base:
        """The folder of the file (or parquet folder) at ``reference_url``."""
        url = absolute_url(reference_url.rstrip("/"))
        protocol = protocol_of(url)
        if protocol is None:
            return cls(None, os.path.dirname(url))
        parts = urllib.parse.urlsplit(url)
        folder = posixpath.dirname(parts.path)
        return cls(protocol, f"{parts.scheme}://{parts.netloc}{folder.rstrip('/')}/")

    def resolve(self, url: str, /) -> str:
        """A target URL made absolute: relative ones are relative to the folder.

        An absolute path names a local file, as fsspec reads it, wherever the
        reference file is.
        """
        if protocol_of(url) is not None or os.path.isabs(url):
            return absolute_url(url)
        if self.protocol is None:
            return os.path.normpath(os.path.join(self.folder, url))
        base, relative = urllib.parse.urlsplit(self.folder), urllib.parse.urlsplit(url)
        path = posixpath.normpath(posixpath.join(base.path, relative.path))
        query = f"?{relative.query}" if relative.query else ""
        return f"{base.scheme}://{base.netloc}{path}{query}"

    def contains(self, url: str, /) -> bool:
        """Whether the absolute ``url`` lies inside the folder (after resolving ``..``,
        percent-escapes and, for local paths, symbolic links)."""
        protocol = protocol_of(url)
        if protocol != self.protocol and not (protocol == "file" and self.protocol is None):
            return False
        if self.protocol is None:
            folder = os.path.realpath(self.folder)
            target = os.path.realpath(absolute_url(url))
            return os.path.commonpath([folder, target]) == folder and target != folder
        base, parts = urllib.parse.urlsplit(self.folder), urllib.parse.urlsplit(url)
        if (base.scheme.lower(), base.netloc.lower()) != (
            parts.scheme.lower(),
            parts.netloc.lower(),
        ):
            return False
        root = posixpath.normpath(urllib.parse.unquote(base.path))
        path = posixpath.normpath(urllib.parse.unquote(parts.path))
        return path.startswith(root.rstrip("/") + "/")
