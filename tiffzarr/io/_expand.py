"""The files a glob pattern or a folder names, on any fsspec filesystem, with the sizes
the listing gives.

A pattern (``run/*.tif``, ``s3://bucket/run/t*.tif``, ``zip://run/*.tif::run.zip``,
``https://host/run/*.tif`` through the server's listing page) is expanded with the
filesystem's ``glob``; a folder lists its ``.tif`` and ``.tiff`` files. Each listing
is one request (or one per page of the listing), whatever the number of files:
no file is asked for its size.

>>> import asyncio, fsspec
>>> for name in ("b.tif", "a.tif", "notes.txt"):
...     with fsspec.open(f"memory://expand-doc/{name}", "wb") as f:
...         _ = f.write(b"1234")
>>> sorted((f.url, f.size) for f in asyncio.run(expand_files("memory://expand-doc")))
[('memory:///expand-doc/a.tif', 4), ('memory:///expand-doc/b.tif', 4)]
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from typing import Any

from fsspec import AbstractFileSystem
from fsspec.core import url_to_fs

from tiffzarr.errors import SourceError, SourceNotFoundError

__all__ = ["TIFF_SUFFIXES", "FoundFile", "expand_files", "is_pattern"]

TIFF_SUFFIXES = (".tif", ".tiff")
"""What a folder's TIFF files are named (any case)."""

_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True, slots=True)
class FoundFile:
    """A file found by a listing: its URL, and its size when the listing gave one."""

    url: str
    size: int | None


def is_pattern(location: str, /) -> bool:
    """Whether ``location`` is a glob pattern (its first part, for a chained URL).

    >>> is_pattern("run/t*.tif"), is_pattern("zip://a.tif::run[1].zip"), is_pattern("a.tif")
    (True, False, False)
    """
    return _GLOB.search(location.partition("::")[0]) is not None


async def expand_files(
    location: str, /, *, storage_options: dict[str, Any] | None = None
) -> list[FoundFile]:
    """The files of a glob pattern, of a folder, or the file ``location`` itself.

    A file named ``.tif`` or ``.tiff`` is not asked for (its size is then ``None``).
    Files come in the order the listing gives them. Raises
    :class:`~tiffzarr.errors.SourceNotFoundError` when nothing is found, naming
    ``location``.
    """
    return await asyncio.to_thread(_expand, location, dict(storage_options or {}))


def _expand(location: str, storage_options: dict[str, Any]) -> list[FoundFile]:
    if not is_pattern(location) and location.lower().endswith(TIFF_SUFFIXES):
        return [FoundFile(location, None)]
    try:
        fs, path = url_to_fs(location, **storage_options)
        if is_pattern(location):
            entries = [e for e in fs.glob(path, detail=True).values() if e["type"] != "directory"]
            what = "no file matches the pattern"
        else:
            info = fs.info(path)
            entries = [info] if info["type"] != "directory" else _tiffs(fs.ls(path, detail=True))
            what = "the folder holds no .tif or .tiff file"
    except FileNotFoundError as exc:
        raise SourceNotFoundError(f"no such file or folder: {exc}", url=location) from exc
    except OSError as exc:
        raise SourceError(f"cannot list: {type(exc).__name__}: {exc}", url=location) from exc
    if not entries:
        raise SourceNotFoundError(what, url=location)
    return [FoundFile(_url(location, fs, e["name"]), _size(e)) for e in entries]


def _tiffs(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e["type"] == "file" and e["name"].lower().endswith(TIFF_SUFFIXES)]


def _size(entry: dict[str, Any]) -> int | None:
    size = entry.get("size")
    return int(size) if isinstance(size, int) else None


def _url(location: str, fs: AbstractFileSystem, name: str) -> str:
    """The URL of a listed file, spelled like ``location`` (relative local paths stay
    relative; a chained URL keeps its other parts)."""
    head, sep, rest = location.partition("::")
    if "://" not in head:
        return name if os.path.isabs(head) else os.path.relpath(name)
    url = str(fs.unstrip_protocol(name))
    return f"{url}{sep}{rest}"
