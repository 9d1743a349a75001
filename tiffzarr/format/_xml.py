"""XML in TIFF tags, parsed safely and kept as plain JSON.

OME-TIFF files and whole-slide scanners describe their images in XML (OME,
Leica SCN, PerkinElmer QPTIFF, Ventana BIF, Philips, Argos AVS, GDAL's
metadata). The text comes from the file, so it is parsed with defusedxml: a
DTD, entities or external references are refused, never resolved.
:func:`xml_dict` turns an element into bounded JSON: attributes
and child elements by name (repeated names as lists), text as the value of an
element that has nothing else, else under ``"#text"``.
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeElementTree

from tiffzarr.errors import TiffFormatError
from tiffzarr.format._records import bounded_json

__all__ = ["XML_ITEMS", "child", "children", "local_name", "parse_xml", "text_of", "xml_dict"]

XML_ITEMS = 256
"""Most attributes plus children :func:`xml_dict` keeps of one element."""
XML_DEPTH = 8
"""Deepest nesting :func:`xml_dict` follows."""


def parse_xml(text: str, /, *, what: str) -> Element:
    """The root element of ``text``; :class:`~tiffzarr.errors.TiffFormatError`
    (naming ``what``) when it is malformed or declares a DTD.

    >>> parse_xml("<a b='1'/>", what="test").get("b")
    '1'
    >>> parse_xml("<a>", what="the ImageDescription")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    tiffzarr.errors.TiffFormatError: the ImageDescription is not valid XML: ...
    """
    try:
        root: Element = SafeElementTree.fromstring(text, forbid_dtd=True)
        return root
    except ParseError as exc:
        raise TiffFormatError(f"{what} is not valid XML: {exc}") from exc
    except ValueError as exc:  # defusedxml's refusals are ValueErrors
        raise TiffFormatError(f"{what} refused: {exc!r}") from exc


def local_name(element: Element, /) -> str:
    """The element's tag without its namespace.

    >>> local_name(parse_xml('<scn xmlns="urn:x"/>', what="test"))
    'scn'
    """
    tag = element.tag if isinstance(element.tag, str) else ""
    return tag.rsplit("}", 1)[-1]


def children(element: Element, name: str, /) -> list[Element]:
    """The child elements called ``name`` (in any namespace)."""
    return [e for e in element if local_name(e) == name]


def child(element: Element, name: str, /) -> Element | None:
    """The first child element called ``name``, else ``None``."""
    return next((e for e in element if local_name(e) == name), None)


def text_of(element: Element | None, /) -> str | None:
    """The element's stripped text, ``None`` when it has none (or is missing)."""
    if element is None or element.text is None:
        return None
    text = element.text.strip()
    return text or None


def xml_dict(element: Element, /) -> Any:
    """The element as bounded JSON (see the module docstring).

    >>> xml_dict(parse_xml('<a n="1"><b>x</b><b>y</b><c/>t</a>', what="test"))
    {'n': '1', 'b': ['x', 'y'], 'c': None, '#text': 't'}
    """
    return bounded_json(_element(element, XML_DEPTH))


def _element(element: Element, depth: int) -> Any:
    text = "".join(element.itertext()).strip() if depth <= 0 else _own_text(element)
    if depth <= 0 or (not element.attrib and not len(element)):
        return text or None
    out: dict[str, Any] = {}
    for key, value in list(element.attrib.items())[:XML_ITEMS]:
        out[key.rsplit("}", 1)[-1]] = value
    repeated: set[str] = set()
    for sub in list(element)[: max(0, XML_ITEMS - len(out))]:
        name = local_name(sub)
        if not name:
            continue  # comments and processing instructions
        value = _element(sub, depth - 1)
        if name in repeated:
            out[name].append(value)
        elif name in out:
            out[name] = [out[name], value]
            repeated.add(name)
        else:
            out[name] = value
    if text:
        out["#text"] = text
    return out


def _own_text(element: Element) -> str:
    """The element's text and the tails of its children (its mixed content)."""
    parts = [element.text or ""] + [sub.tail or "" for sub in element]
    return "".join(parts).strip()
