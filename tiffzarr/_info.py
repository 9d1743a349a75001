"""A JSON-able description of a parsed file, and its text rendering (``tiffzarr info``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tiffzarr.format import DATA_TYPES, TagValue
from tiffzarr.model import ArrayModel, Ifd, Page, TiffIndex, format_path

__all__ = ["describe", "render", "short_value"]

SHORT = 72


def short_value(value: TagValue | None, /, *, limit: int = SHORT) -> str:
    """A one-line rendering of a tag value.

    >>> short_value(np.arange(100, dtype="u2"))
    '[0 1 2 3 4 5 6 7 … (100 values)]'
    >>> short_value("a\\nb")
    "'a\\\\nb'"
    """
    if isinstance(value, np.ndarray):
        flat = value.reshape(-1)
        head = " ".join(str(v) for v in flat[:8])
        text = f"[{head} … ({flat.size} values)]" if flat.size > 8 else f"[{head}]"
    elif isinstance(value, bytes):
        text = f"{value[:24].hex(' ')}{' …' if len(value) > 24 else ''} ({len(value)} bytes)"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tags(ifd: Ifd) -> list[dict[str, Any]]:
    names = ifd.tag_names()
    out = []
    for code, entry in ifd.entries.items():
        dt = DATA_TYPES.get(entry.type)
        if code in ifd.values:
            value = short_value(ifd.values[code])
        elif code in ifd.deferred:
            value = f"<{entry.nbytes} bytes at offset {entry.value_offset}, loaded on demand>"
        else:
            value = "<invalid>"
        out.append(
            {
                "code": code,
                "name": names[code],
                "type": dt.name if dt is not None else str(entry.type),
                "count": entry.count,
                "value": value,
            }
        )
    return out


def _page(page: Page) -> dict[str, Any]:
    out: dict[str, Any] = {
        "path": format_path(page.path),
        "offset": page.ifd.offset,
        "tags": _tags(page.ifd),
    }
    if page.layout is not None:
        lay = page.layout
        out.update(
            shape=list(lay.shape),
            dtype=str(lay.dtype),
            axes=lay.axes,
            chunks=list(lay.chunks),
            segments=lay.nsegments,
        )
    else:
        out["error"] = str(page.error)
    for namespace, ifd in page.extra.items():
        out[namespace] = {"offset": ifd.offset, "tags": _tags(ifd)}
    out["subifds"] = [
        _page(sub) if sub is not None else {"error": "could not be read"} for sub in page.subifds
    ]
    return out


def _array(arr: ArrayModel) -> dict[str, Any]:
    return {
        "shape": list(arr.shape),
        "dtype": str(arr.dtype),
        "axes": arr.axes,
        "chunks": list(arr.chunks),
        "fill_value": arr.fill_value,
    }


def describe(
    index: TiffIndex,
    /,
    *,
    requests: int | None = None,
    nbytes: int | None = None,
    squeeze: bool | None = None,
) -> dict[str, Any]:
    """Everything ``tiffzarr info`` shows, as plain JSON-able data (series levels
    squeezed as :meth:`~tiffzarr.model.Series.level` squeezes them)."""
    header = index.header
    return {
        "url": index.url,
        "size": index.size,
        "header": {
            "byteorder": "little" if header.byteorder == "<" else "big",
            "format": header.layout.name,
            "first_ifd": header.first_ifd,
        },
        "flags": sorted(index.flags),
        "pages": [_page(p) for p in index.pages],
        "series": [
            {
                "name": s.name,
                "kind": s.kind,
                "levels": [_array(a) for a in s.arrays(squeeze=squeeze)],
            }
            for s in index.series
        ],
        "warnings": list(index.warnings),
        "requests": requests,
        "bytes": nbytes,
    }


def _render_tags(tags: list[dict[str, Any]], indent: str) -> list[str]:
    return [
        f"{indent}{t['code']:>5} {t['name']:<28} {t['type']:<9} {t['count']:>8}  {t['value']}"
        for t in tags
    ]


def _render_page(page: dict[str, Any], indent: str) -> list[str]:
    if "path" not in page:
        return [f"{indent}SubIFD: {page['error']}"]
    geometry = (
        f"{tuple(page['shape'])} {page['dtype']} {page['axes']} chunks {tuple(page['chunks'])}"
        if "shape" in page
        else f"not an image: {page['error']}"
    )
    lines = [f"{indent}IFD {page['path']} at {page['offset']}: {geometry}"]
    lines += _render_tags(page["tags"], indent + "  ")
    for namespace in ("exif", "gps", "interop"):
        if namespace in page:
            lines.append(f"{indent}  {namespace} IFD at {page[namespace]['offset']}")
            lines += _render_tags(page[namespace]["tags"], indent + "    ")
    for sub in page["subifds"]:
        lines += _render_page(sub, indent + "  ")
    return lines


def render(info: dict[str, Any], /) -> str:
    """The text form of :func:`describe`'s output."""
    h = info["header"]
    lines = [
        f"{info['url']}",
        f"  {info['size']} bytes, {h['format']} TIFF, {h['byteorder']}-endian, first IFD at "
        f"{h['first_ifd']}" + (f", {', '.join(info['flags'])}" if info["flags"] else ""),
    ]
    if info["requests"] is not None:
        lines.append(f"  opened with {info['requests']} requests, {info['bytes']} bytes")
    lines += ["", "Series:"]
    for i, s in enumerate(info["series"]):
        lines.append(f"  {i} {s['kind']} {s['name']!r}:")
        for j, lev in enumerate(s["levels"]):
            lines.append(
                f"    level {j}: {tuple(lev['shape'])} {lev['dtype']} {lev['axes']} "
                f"chunks {tuple(lev['chunks'])}"
                + (f" fill {lev['fill_value']}" if lev["fill_value"] is not None else "")
            )
    lines += ["", "Pages:"]
    for page in info["pages"]:
        lines += _render_page(page, "  ")
    if info["warnings"]:
        lines += ["", "Warnings:"] + [f"  {w}" for w in info["warnings"]]
    return "\n".join(lines)
