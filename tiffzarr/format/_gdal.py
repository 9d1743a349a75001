"""GDAL_METADATA (tag 42112): the dataset and band metadata GDAL keeps in a TIFF.

The tag holds ``<GDALMetadata>`` with one ``<Item name="..." [sample="i"]
[domain="..."] [role="..."]>value</Item>`` per item. Items without ``sample``
describe the dataset (the default domain in ``"dataset"``, others under
``"domains"``); items with ``sample="i"`` describe band ``i``: its
``description``, ``scale``, ``offset``, ``unit`` and ``colorinterp`` (by role),
its ``statistics`` (``STATISTICS_MINIMUM`` ... as numbers) and other items under
``"metadata"``. The XML is parsed with defusedxml.

>>> parse_gdal_metadata('<GDALMetadata><Item name="A">1</Item>'
...     '<Item name="SCALE" sample="0" role="scale">0.5</Item>'
...     '<Item name="STATISTICS_MEAN" sample="0">7.25</Item></GDALMetadata>')
{'dataset': {'A': '1'}, 'bands': [{'scale': 0.5, 'statistics': {'mean': 7.25}}]}
"""

from __future__ import annotations

from typing import Any

from tiffzarr.format._xml import local_name, parse_xml

__all__ = ["MAX_BANDS", "parse_gdal_metadata"]

MAX_BANDS = 65536
"""Items for higher sample numbers are left out (a hostile ``sample`` cannot allocate)."""
_NUMERIC_ROLES = frozenset({"scale", "offset"})
_ROLES = {"unittype": "unit"}
_STATISTICS = "STATISTICS_"


def parse_gdal_metadata(text: str, /) -> dict[str, Any]:
    """The GDAL_METADATA XML as ``{"dataset", "domains", "bands"}`` (empty parts left out).

    Raises :class:`~tiffzarr.errors.TiffFormatError` when the text is not XML.
    """
    root = parse_xml(text, what="GDAL_METADATA")
    dataset: dict[str, Any] = {}
    domains: dict[str, dict[str, Any]] = {}
    bands: dict[int, dict[str, Any]] = {}
    for item in root:
        name = item.get("name")
        if local_name(item) != "Item" or not name:
            continue
        value = (item.text or "").strip()
        domain = item.get("domain") or ""
        sample = item.get("sample")
        if sample is None:
            (domains.setdefault(domain, {}) if domain else dataset)[name] = value
        elif sample.isdigit() and int(sample) < MAX_BANDS:
            _band_item(bands.setdefault(int(sample), {}), name, value, item.get("role"), domain)
    out: dict[str, Any] = {}
    if dataset:
        out["dataset"] = dataset
    if domains:
        out["domains"] = domains
    if bands:
        out["bands"] = [bands.get(i, {}) for i in range(max(bands) + 1)]
    return out


def _band_item(band: dict[str, Any], name: str, value: str, role: str | None, domain: str) -> None:
    if role:
        key = _ROLES.get(role, role)
        band[key] = _number(value) if key in _NUMERIC_ROLES else value
    elif name.startswith(_STATISTICS) and not domain:
        band.setdefault("statistics", {})[name[len(_STATISTICS) :].lower()] = _number(value)
    else:
        target = band.setdefault("metadata", {})
        (target.setdefault(domain, {}) if domain else target)[name] = value


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text
