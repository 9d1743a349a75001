"""Leica SCN: the XML collection in the first ImageDescription.

An SCN file (Leica SCN400) is a tiled BigTIFF whose first ImageDescription is
an XML document in a Leica namespace ending ``</scn>``. Its ``collection`` (the
slide, ``sizeX``/``sizeY`` in nanometres, a base64 ``barcode``) holds one
``image`` per scan: the slide overview (the *macro*, whose view is the whole
collection) and the scanned regions. Each image's ``pixels`` list a
``dimension`` per page: its resolution ``r`` (0 is full size), channel ``c``,
focal plane ``z`` and main-chain IFD ``ifd``; its ``view`` gives the image's
size and offset on the slide in nanometres, so the view's width divided by the
width of resolution 0 is the pixel size. OpenSlide's ``leica.*`` properties
come from the image's ``creationDate``, ``device`` and ``scanSettings``.

>>> doc = parse_scn(
...     '<scn xmlns="http://www.leica-microsystems.com/scn/2010/10/01">'
...     '<collection sizeX="4000" sizeY="2000"><image name="a"><pixels>'
...     '<dimension sizeX="8" sizeY="4" r="0" ifd="0"/>'
...     '<dimension sizeX="2" sizeY="1" r="1" ifd="1"/>'
...     '</pixels><view sizeX="4000" sizeY="2000" offsetX="0" offsetY="0"/></image>'
...     '</collection></scn>')
>>> image = doc.images[0]
>>> image.name, image.is_macro, [level.planes for level in image.pixels[0]]
('a', True, [{(0, 0): 0}, {(0, 0): 1}])
>>> image.nm_per_pixel(image.pixels[0])
(500.0, 500.0)
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element

from tiffzarr.format._records import decode_text
from tiffzarr.format._xml import child, children, parse_xml, text_of, xml_dict

__all__ = ["SCN_NAMESPACES", "ScnDocument", "ScnImage", "ScnLevel", "is_scn", "parse_scn"]

SCN_NAMESPACES = (
    "http://www.leica-microsystems.com/scn/2010/03/10",
    "http://www.leica-microsystems.com/scn/2010/10/01",
)
BASE64_BARCODE_NAMESPACE = SCN_NAMESPACES[1]
"""The namespace whose ``barcode`` element is base64 text (OpenSlide decodes it)."""
LEICA_PROPERTIES: dict[str, tuple[str, ...]] = {
    "creation-date": ("creationDate",),
    "device-model": ("device", "@model"),
    "device-version": ("device", "@version"),
    "illumination-source": ("scanSettings", "illuminationSettings", "illuminationSource"),
    "objective": ("scanSettings", "objectiveSettings", "objective"),
    "aperture": ("scanSettings", "illuminationSettings", "numericalAperture"),
}
"""OpenSlide's ``leica.*`` property names and where an image holds their values."""


def is_scn(description: str | None, /) -> bool:
    """Whether a first ImageDescription is Leica SCN XML (it ends ``</scn>``)."""
    return description is not None and description[-10:].strip().endswith("</scn>")


@dataclass(frozen=True, slots=True)
class ScnLevel:
    """One resolution of an image's pixels: ``planes`` maps ``(c, z)`` to a
    main-chain IFD; ``channels`` and ``depth`` are one more than the largest
    ``c`` and ``z``; ``size`` is the ``(sizeX, sizeY)`` of its first plane."""

    r: int
    planes: Mapping[tuple[int, int], int]
    channels: int
    depth: int
    size: tuple[int, int] | None


@dataclass(frozen=True, slots=True)
class ScnImage:
    """One ``image`` of the collection: each of its ``pixels`` is a pyramid
    (levels sorted by resolution), ``view`` its ``(sizeX, sizeY, offsetX, offsetY)``
    in nanometres, ``properties`` OpenSlide's ``leica.*`` values (without prefix)."""

    name: str
    pixels: tuple[tuple[ScnLevel, ...], ...]
    view: tuple[int, int, int, int] | None
    spacing_z: float | None
    is_macro: bool
    properties: Mapping[str, str]
    metadata: Any

    def nm_per_pixel(self, levels: tuple[ScnLevel, ...], /) -> tuple[float | None, float | None]:
        """Nanometres per pixel of the first level along X and Y (the view's size
        over the level's)."""
        size = levels[0].size if levels else None
        if self.view is None or size is None:
            return None, None
        return tuple(  # type: ignore[return-value]
            nm / n if n > 0 and nm > 0 else None for nm, n in zip(self.view[:2], size, strict=True)
        )


@dataclass(frozen=True, slots=True)
class ScnDocument:
    """The collection: its images, barcode (decoded) and metadata, and what was
    skipped (``problems``)."""

    images: tuple[ScnImage, ...]
    barcode: str | None
    collection: Any
    problems: tuple[str, ...] = field(default=())


def parse_scn(text: str, /) -> ScnDocument:
    """The collections of an SCN description (every ``collection`` under the root,
    as tifffile reads them). Raises :class:`~tiffzarr.errors.TiffFormatError` when the
    XML is malformed."""
    root = parse_xml(text, what="the SCN ImageDescription")
    namespace = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    problems: list[str] = []
    images: list[ScnImage] = []
    barcode = None
    collections = children(root, "collection")
    for collection in collections:
        size = (_int(collection.get("sizeX")), _int(collection.get("sizeY")))
        for element in children(collection, "image"):
            images.append(_image(element, size, problems))
    if collections:
        barcode = _barcode(collections[0], namespace)
    return ScnDocument(
        images=tuple(images),
        barcode=barcode,
        collection=_collection_metadata(collections[0]) if collections else None,
        problems=tuple(problems),
    )


def _barcode(collection: Element, namespace: str) -> str | None:
    text = text_of(child(collection, "barcode"))
    if text is None:
        return collection.get("barcode")
    if namespace != BASE64_BARCODE_NAMESPACE:
        return text
    try:
        return decode_text(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        return text


def _collection_metadata(collection: Element) -> Any:
    meta = xml_dict(collection)
    if isinstance(meta, dict):
        meta.pop("image", None)
    return meta


def _image(
    element: Element, collection: tuple[int | None, int | None], problems: list[str]
) -> ScnImage:
    name = element.get("name", "Unknown")
    view_element = child(element, "view")
    view = None
    if view_element is not None:
        values = [_int(view_element.get(k)) for k in ("sizeX", "sizeY", "offsetX", "offsetY")]
        if values[0] is not None and values[1] is not None:
            view = (values[0], values[1], values[2] or 0, values[3] or 0)
    spacing = _float(view_element.get("spacingZ")) if view_element is not None else None
    pixels = tuple(
        levels
        for levels in (_levels(p, name, problems) for p in children(element, "pixels"))
        if levels
    )
    meta = xml_dict(element)
    if isinstance(meta, dict):
        meta.pop("pixels", None)
    return ScnImage(
        name=name,
        pixels=pixels,
        view=view,
        spacing_z=spacing,
        is_macro=view is not None and view[2:] == (0, 0) and view[:2] == collection,
        properties=_properties(element),
        metadata=meta,
    )


def _levels(pixels: Element, name: str, problems: list[str]) -> tuple[ScnLevel, ...]:
    """The resolutions of one ``pixels`` element, by ``r``."""
    found: dict[int, dict[tuple[int, int], int]] = {}
    sizes: dict[int, tuple[int, int]] = {}
    for dimension in children(pixels, "dimension"):
        c, z, r = (_int(dimension.get(k, "0")) for k in "czr")
        ifd = _int(dimension.get("ifd"))
        if c is None or z is None or r is None or ifd is None or min(c, z, r, ifd) < 0:
            problems.append(f"image {name!r}: a dimension without valid c/z/r/ifd is skipped")
            continue
        found.setdefault(r, {})[(c, z)] = ifd
        width, height = _int(dimension.get("sizeX")), _int(dimension.get("sizeY"))
        if width is not None and height is not None:
            sizes.setdefault(r, (width, height))
    return tuple(
        ScnLevel(
            r=r,
            planes=planes,
            channels=max(c for c, _ in planes) + 1,
            depth=max(z for _, z in planes) + 1,
            size=sizes.get(r),
        )
        for r, planes in sorted(found.items())
    )


def _properties(image: Element) -> dict[str, str]:
    out = {}
    for key, path in LEICA_PROPERTIES.items():
        element: Element | None = image
        for step in path[:-1]:
            element = child(element, step) if element is not None else None
        if element is None:
            continue
        last = path[-1]
        value = element.get(last[1:]) if last[0] == "@" else text_of(child(element, last))
        if value:
            out[key] = value
    return out


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _float(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None
