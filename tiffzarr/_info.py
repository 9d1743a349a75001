"""A JSON-able description of a parsed file, and its text rendering (``tiffzarr info``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tiffzarr.errors import NotFoundError
from tiffzarr.format import DATA_TYPES, TagValue
from tiffzarr.model import ArrayModel, GeoReference, Ifd, Page, Series, TiffIndex, format_path

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


def _geo(geo: GeoReference) -> dict[str, Any]:
    return {
        "crs": geo.crs_code or ("WKT" if geo.crs_wkt else None),
        "crs_note": geo.crs_note,
        "transform": list(geo.transform) if geo.transform is not None else None,
        "raster_type": geo.raster_type,
        "nodata": geo.nodata,
        "gcps": len(geo.gcps),
    }


def _series(number: int, series: Series, squeeze: bool | None) -> dict[str, Any]:
    """The metadata summary of one series, with its levels."""
    return {
        "index": number,
        "name": series.name,
        "kind": series.kind,
        "axes": series.get_axes(squeeze),
        "shape": list(series.get_shape(squeeze)),
        "dtype": str(series.dtype),
        "scales": {a: {"size": s.size, "unit": s.unit} for a, s in series.scales.items()},
        "channels": [c.name for c in series.channels],
        "geo": _geo(series.geo) if series.geo is not None else None,
        "masks": len(series.masks),
        "levels": [_array(a) for a in series.arrays(squeeze=squeeze)],
    }


def _chosen(index: TiffIndex, series: int | None) -> list[tuple[int, Series]]:
    if series is None:
        return list(enumerate(index.series))
    if not 0 <= series < len(index.series):
        raise NotFoundError(f"no series {series} (the file has {len(index.series)})", url=index.url)
    return [(series, index.series[series])]


def describe(
    index: TiffIndex,
    /,
    *,
    requests: int | None = None,
    nbytes: int | None = None,
    squeeze: bool | None = None,
    series: int | None = None,
) -> dict[str, Any]:
    """Everything ``tiffzarr info`` shows, as plain JSON-able data (series levels
    squeezed as :meth:`~tiffzarr.model.Series.level` squeezes them; only series
    number ``series`` when given)."""
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
        "series": [_series(i, s, squeeze) for i, s in _chosen(index, series)],
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


def _render_geo(geo: dict[str, Any]) -> str:
    crs = geo["crs"] or (f"none ({geo['crs_note']})" if geo["crs_note"] else "none")
    text = f"    geo: CRS {crs}"
    if geo["transform"] is not None:
        text += f", transform {tuple(geo['transform'])}"
    if geo["raster_type"] != "area":
        text += f", pixel is {geo['raster_type']}"
    if geo["nodata"] is not None:
        text += f", nodata {geo['nodata']}"
    if geo["gcps"]:
        text += f", {geo['gcps']} ground control points"
    return text


def _render_series(s: dict[str, Any]) -> list[str]:
    levels = len(s["levels"])
    lines = [
        f"  {s['index']} {s['kind']} {s['name']!r}: {tuple(s['shape'])} {s['dtype']} "
        f"{s['axes']}, {levels} level{'s' if levels != 1 else ''}"
        + (f", {s['masks']} masks" if s["masks"] else "")
    ]
    if s["scales"]:
        sizes = ", ".join(
            f"{axis} {v['size']:g}" + (f" {v['unit']}" if v["unit"] else "")
            for axis, v in s["scales"].items()
        )
        lines.append(f"    physical sizes: {sizes}")
    if any(name is not None for name in s["channels"]):
        lines.append(f"    channels: {', '.join(str(n) for n in s['channels'])}")
    if s["geo"] is not None:
        lines.append(_render_geo(s["geo"]))
    for j, lev in enumerate(s["levels"]):
        lines.append(
            f"    level {j}: {tuple(lev['shape'])} {lev['dtype']} {lev['axes']} "
            f"chunks {tuple(lev['chunks'])}"
            + (f" fill {lev['fill_value']}" if lev["fill_value"] is not None else "")
        )
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
    for s in info["series"]:
        lines += _render_series(s)
    lines += ["", "Pages:"]
    for page in info["pages"]:
        lines += _render_page(page, "  ")
    if info["warnings"]:
        lines += ["", "Warnings:"] + [f"  {w}" for w in info["warnings"]]
    return "\n".join(lines)
