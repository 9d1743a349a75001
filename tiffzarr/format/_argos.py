"""Argos AVS: the scan's XML in private tag 65000.

An AVS slide (Argos/Sakura) keeps an ``Argos.Scan.Metadata`` XML document in
tag 65000 of its first page; tifffile knows the file by the tag's text starting
``<Argos``. OpenSlide's ``argos.*`` properties are the elements with text only
(no attributes, no child elements), named by their path below the root
(``ScanArea.X1``); ``ObjectiveMagnification`` is the objective power and
``Barcode`` the barcode.

>>> argos_properties('<Argos.Scan.Metadata><ScanArea><X1>0.15</X1></ScanArea>'
...                  '<MinZ>0</MinZ><Pos Z="1">x</Pos></Argos.Scan.Metadata>')
{'ScanArea.X1': '0.15', 'MinZ': '0'}
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from tiffzarr.format._xml import local_name, parse_xml

__all__ = ["ARGOS_TAG", "argos_properties", "is_argos"]

ARGOS_TAG = 65000
ARGOS_PREFIX = "<Argos"


def is_argos(text: object, /) -> bool:
    """Whether a tag 65000 value is Argos XML (tifffile's test)."""
    return isinstance(text, str) and text.startswith(ARGOS_PREFIX)


def argos_properties(text: str, /) -> dict[str, str]:
    """OpenSlide's ``argos.*`` properties (without prefix); raises
    :class:`~tiffzarr.errors.TiffFormatError` when the text is not XML."""
    out: dict[str, str] = {}
    _walk(parse_xml(text, what="the Argos metadata (tag 65000)"), "", out)
    return out


def _walk(element: Element, prefix: str, out: dict[str, str]) -> None:
    for sub in element:
        name = local_name(sub)
        if not name:
            continue  # comments
        key = f"{prefix}{name}"
        _walk(sub, f"{key}.", out)
        if not sub.attrib and not len(sub) and sub.text:
            out[key] = sub.text
