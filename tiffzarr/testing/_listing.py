"""Folder listings of the loopback Range server: HTML index pages as Python's
``http.server`` writes them, which fsspec's ``HTTPFileSystem`` reads for ``ls``
and ``glob`` (it takes every ``<a href=...>`` of the page).

>>> print(index_page("run/", ["a.tif", "sub/"]).decode())  # doctest: +NORMALIZE_WHITESPACE
<!DOCTYPE HTML>
<html lang="en">
<head><meta charset="utf-8"><title>Directory listing for /run/</title></head>
<body><h1>Directory listing for /run/</h1><hr><ul>
<li><a href="/run/a.tif">a.tif</a></li>
<li><a href="/run/sub/">sub/</a></li>
</ul><hr></body></html>
"""

from __future__ import annotations

import html
import os
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

__all__ = ["folder_entries", "index_page", "member_entries"]


def index_page(folder: str, entries: Iterable[str], /) -> bytes:
    """The index page of ``folder`` (a name relative to the served root, ``""`` for the
    root) listing ``entries`` (names in it; a subfolder's ends with ``/``).

    Links are absolute paths on the server, so the page reads the same whether the
    folder was asked for with or without its trailing slash.
    """
    base = "/" + (folder.rstrip("/") + "/" if folder.strip("/") else "")
    title = html.escape(base)
    lines = [
        "<!DOCTYPE HTML>",
        '<html lang="en">',
        f'<head><meta charset="utf-8"><title>Directory listing for {title}</title></head>',
        f"<body><h1>Directory listing for {title}</h1><hr><ul>",
        *(
            f'<li><a href="{html.escape(urllib.parse.quote(base + e), quote=True)}">'
            f"{html.escape(e)}</a></li>"
            for e in entries
        ),
        "</ul><hr></body></html>",
    ]
    return ("\n".join(lines) + "\n").encode()


def folder_entries(folder: Path, /) -> list[str]:
    """The names in a folder on disk, sorted; subfolders end with ``/``."""
    with os.scandir(folder) as found:
        return sorted(e.name + ("/" if e.is_dir() else "") for e in found)


def member_entries(names: Iterable[str], folder: str, /) -> list[str] | None:
    """The names in ``folder`` among the in-memory files ``names`` (paths with ``/``),
    sorted, subfolders ending with ``/``; ``None`` when no file is in it.

    >>> member_entries(["run/a.tif", "run/x/b.tif", "c.tif"], "run")
    ['a.tif', 'x/']
    >>> member_entries(["run/a.tif", "c.tif"], ""), member_entries(["c.tif"], "run")
    (['c.tif', 'run/'], None)
    """
    prefix = folder.strip("/") + "/" if folder.strip("/") else ""
    found: set[str] = set()
    for name in names:
        if name.startswith(prefix) and len(name) > len(prefix):
            head, sep, _ = name[len(prefix) :].partition("/")
            found.add(head + sep)
    return sorted(found) if found else None
