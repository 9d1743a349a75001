"""Philips TIFF (IntelliSite): the ``DataObject`` XML in the first ImageDescription.

A Philips slide says ``Philips DP`` in its Software tag; its first ImageDescription
is a ``DataObject`` of type ``DPUfsImport`` made of ``Attribute`` elements (named
by their ``Name``, DICOM-like). ``PIM_DP_SCANNED_IMAGES`` holds the scanned
images; the one whose ``PIM_DP_IMAGE_TYPE`` is ``WSI`` lists, in
``PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE``, a ``PixelDataRepresentation`` per
pyramid level with its ``DICOM_PIXEL_SPACING`` (row and column spacing in
millimetres, quoted). The pages of the levels are padded to whole tiles, so
their sizes are wrong; the spacings give the true ones.

OpenSlide's ``philips.*`` properties are the attributes without children of the
document, of its WSI image and (as ``PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE[i].…``)
of each level, every value as stored.

>>> doc = parse_philips(
...     '<DataObject ObjectType="DPUfsImport">'
...     '<Attribute Name="PIM_DP_SCANNED_IMAGES"><Array><DataObject ObjectType="DPScannedImage">'
...     '<Attribute Name="DICOM_PIXEL_SPACING">"0.00025" "0.0005"</Attribute>'
...     '<Attribute Name="PIM_DP_IMAGE_TYPE">WSI</Attribute></DataObject></Array></Attribute>'
...     '</DataObject>')
>>> doc.properties, doc.mpp
({'DICOM_PIXEL_SPACING': '"0.00025" "0.0005"', 'PIM_DP_IMAGE_TYPE': 'WSI'}, (0.5, 0.25))
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from tiffzarr.format._records import decode_text
from tiffzarr.format._xml import children, parse_xml

__all__ = ["PHILIPS_SOFTWARE", "PhilipsDocument", "is_philips", "parse_philips", "pixel_spacing"]

PHILIPS_SOFTWARE = "Philips DP"
SCANNED_IMAGES = "PIM_DP_SCANNED_IMAGES"
REPRESENTATIONS = "PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE"
LEVEL_SPACINGS = (
    ".//*/DataObject[@ObjectType='PixelDataRepresentation']/Attribute[@Name='DICOM_PIXEL_SPACING']"
)
"""Where tifffile finds the spacing of each level."""
MAX_OBJECTIVE_POWER = 200
"""Largest first ``levels=`` entry OpenSlide takes for an objective power."""


def is_philips(software: str | None, description: str | None, /) -> bool:
    """Whether a first page is a Philips slide's (tifffile's test)."""
    return (
        software is not None
        and description is not None
        and software.startswith(PHILIPS_SOFTWARE)
        and description[-16:].strip().endswith("</DataObject>")
    )


@dataclass(frozen=True, slots=True)
class PhilipsDocument:
    """The spacings ``(row, column)`` in millimetres of each level, OpenSlide's
    properties (without prefix), the pixel size ``(x, y)`` in microns, the
    objective power and the barcode (decoded)."""

    spacings: tuple[tuple[float, float] | None, ...]
    properties: dict[str, str]
    mpp: tuple[float | None, float | None]
    objective_power: int | None
    barcode: str | None


def parse_philips(text: str, /) -> PhilipsDocument:
    """The Philips description; raises :class:`~tiffzarr.errors.TiffFormatError`
    when it is not XML."""
    root = parse_xml(text, what="the Philips ImageDescription")
    properties: dict[str, str] = {}
    _properties(children(root, "Attribute"), "", properties)
    spacing = pixel_spacing(properties.get("DICOM_PIXEL_SPACING"))
    return PhilipsDocument(
        spacings=tuple(pixel_spacing(e.text) for e in root.iterfind(LEVEL_SPACINGS)),
        properties=properties,
        mpp=(1e3 * spacing[1], 1e3 * spacing[0]) if spacing else (None, None),
        objective_power=_objective_power(properties.get("DICOM_DERIVATION_DESCRIPTION")),
        barcode=_barcode(properties.get("PIM_DP_UFS_BARCODE")),
    )


def pixel_spacing(text: str | None, /) -> tuple[float, float] | None:
    """``(row, column)`` spacing from ``'"0.00025" "0.00025"'``, else ``None``.

    >>> pixel_spacing('"0.1" "0.2"'), pixel_spacing("0.1"), pixel_spacing('"a" "b"')
    ((0.1, 0.2), None, None)
    """
    if text is None:
        return None
    parts = text.replace('"', " ").split()
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        return None
    return (values[0], values[1]) if len(values) == 2 else None


def _properties(attributes: list[Element], prefix: str, out: dict[str, str]) -> None:
    """OpenSlide's walk: the WSI image and each level are entered, leaves kept."""
    for node in attributes:
        name = node.get("Name")
        if not name:
            continue
        objects = [
            obj for array in children(node, "Array") for obj in children(array, "DataObject")
        ]
        if name == SCANNED_IMAGES:
            wsi = next((obj for obj in objects if _is_wsi(obj)), None)
            if wsi is not None:
                _properties(children(wsi, "Attribute"), prefix, out)
        elif name == REPRESENTATIONS:
            for i, obj in enumerate(objects):
                _properties(children(obj, "Attribute"), f"{prefix}{name}[{i}].", out)
        elif not len(node):
            out[f"{prefix}{name}"] = node.text or ""


def _is_wsi(obj: Element) -> bool:
    attributes = children(obj, "Attribute")
    return any(a.get("Name") == "PIM_DP_IMAGE_TYPE" for a in attributes) and any(
        a.text == "WSI" for a in attributes
    )


def _objective_power(derivation: str | None) -> int | None:
    """The first ``levels=`` entry of ``DICOM_DERIVATION_DESCRIPTION`` when it looks
    like an objective power (OpenSlide's reading).

    >>> _objective_power("tiff-useBigTIFF=1-levels=20,10002-q80"), _objective_power("levels=10003")
    (20, None)
    """
    for item in (derivation or "").split("-"):
        key, _, value = item.partition("=")
        if key == "sourceFilename":
            break
        if key == "levels" and value:
            first = value.split(",")[0]
            if first.isdigit() and 0 < int(first) <= MAX_OBJECTIVE_POWER:
                return int(first)
            break
    return None


def _barcode(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return decode_text(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        return None
