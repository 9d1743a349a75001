"""OME-XML, the metadata of OME-TIFF files: its grammar for readers and writers.

Readers get :func:`parse_ome`, which parses the XML safely (no DTD, no entities,
no external references) and keeps what locates and describes the pixels: each
``Image`` with its ``Pixels`` (dimension order, sizes, type, physical sizes),
``Channel`` and ``TiffData`` elements (which IFDs, of which file, hold which
planes), the *modulo* annotations that split an axis, and ``BinaryOnly`` (the
XML lives in another file). Elements are matched by their local names, so every
schema version (2008-2016) reads alike. Writers get the same tables: pixel types,
the attributes that carry physical sizes and their default units, the dimension
order of a series' axes, and attribute formatting.

>>> doc = parse_ome(
...     '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" UUID="urn:uuid:1">'
...     '<Image ID="Image:0" Name="a"><Pixels DimensionOrder="XYCZT" Type="uint16" '
...     'SizeX="8" SizeY="4" SizeC="2" SizeZ="3" SizeT="1" PhysicalSizeX="0.5">'
...     '<Channel Name="DAPI" Color="-16776961"/><TiffData IFD="0" PlaneCount="6"/>'
...     "</Pixels></Image></OME>"
... )
>>> pixels = doc.images[0].pixels[0]
>>> doc.uuid, pixels.axes, pixels.shape, pixels.physical["X"], pixels.channels[0].color
('urn:uuid:1', 'TZCYX', (1, 3, 2, 4, 8), (0.5, 'µm'), 'FF0000')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element
from xml.sax.saxutils import quoteattr

import numpy as np

from tiffzarr.format._axes import axis_letter
from tiffzarr.format._xml import children, local_name, parse_xml

__all__ = [
    "DEFAULT_UNITS",
    "MAX_MODULO",
    "PIXEL_TYPES",
    "SCALE_ATTRS",
    "SCHEMA",
    "BinaryOnly",
    "ModuloAlong",
    "OmeChannel",
    "OmeDocument",
    "OmeImageInfo",
    "OmePixels",
    "TiffData",
    "color_hex",
    "dimension_order",
    "format_value",
    "is_ome",
    "parse_ome",
    "pixel_type",
    "xml_element",
]

SCHEMA = "http://www.openmicroscopy.org/Schemas/OME/2016-06"
"""The namespace writers use (readers accept any)."""

PIXEL_TYPES: dict[str, str] = {
    "b1": "bit",
    "u1": "uint8",
    "u2": "uint16",
    "u4": "uint32",
    "i1": "int8",
    "i2": "int16",
    "i4": "int32",
    "f4": "float",
    "f8": "double",
    "c8": "complex",
    "c16": "double-complex",
}
"""numpy type code (``dtype.str`` without byte order) → OME ``Pixels`` ``Type``."""

SCALE_ATTRS: dict[str, tuple[str, str]] = {
    "X": ("PhysicalSizeX", "PhysicalSizeXUnit"),
    "Y": ("PhysicalSizeY", "PhysicalSizeYUnit"),
    "Z": ("PhysicalSizeZ", "PhysicalSizeZUnit"),
    "T": ("TimeIncrement", "TimeIncrementUnit"),
}
"""Axis → the ``Pixels`` attributes of its physical pixel size (or time step) and unit."""

DEFAULT_UNITS: dict[str, str] = {"X": "µm", "Y": "µm", "Z": "µm", "T": "s"}
"""The units OME implies when a ``Pixels`` element names none."""

DIMENSIONS = frozenset("XYZCT")
MAX_MODULO = 2**20
"""Largest modulo axis length (labels or steps) accepted."""


@dataclass(frozen=True, slots=True)
class OmeChannel:
    """A ``Channel``: name, colour ``"RRGGBB"`` and samples per pixel, where given."""

    name: str | None = None
    color: str | None = None
    samples: int | None = None


@dataclass(frozen=True, slots=True)
class TiffData:
    """A ``TiffData``: ``planes`` planes from IFD ``ifd`` on, the first at ``first``
    (``{"Z": .., "C": .., "T": ..}``), in the file named by ``uuid``/``filename``.

    ``planes`` is 0 when the element says neither ``PlaneCount`` nor ``NumPlanes``
    nor ``IFD`` (then it means all pages of the file). ``has_uuid`` tells whether
    the element has a ``UUID`` child (whose text or file name may still be absent).
    """

    ifd: int = 0
    planes: int = 0
    first: Mapping[str, int] = field(default_factory=dict)
    has_uuid: bool = False
    uuid: str | None = None
    filename: str | None = None


@dataclass(frozen=True, slots=True)
class OmePixels:
    """A ``Pixels`` element: dimension order, sizes, type and physical sizes.

    ``physical`` maps ``X``, ``Y``, ``Z`` (and ``T`` for the time increment) to
    ``(size, unit)``, with OME's default units where the file names none.
    """

    dimension_order: str
    sizes: Mapping[str, int]
    type: str | None = None
    physical: Mapping[str, tuple[float, str]] = field(default_factory=dict)
    interleaved: bool | None = None
    significant_bits: int | None = None
    channels: tuple[OmeChannel, ...] = ()
    tiffdata: tuple[TiffData, ...] = ()

    @property
    def axes(self) -> str:
        """The dimensions slowest first (the reversed dimension order)."""
        return self.dimension_order[::-1]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.sizes[a] for a in self.axes)


@dataclass(frozen=True, slots=True)
class OmeImageInfo:
    """An ``Image``: ID, name, its first ``AnnotationRef`` and its ``Pixels``."""

    id: str | None
    name: str | None
    annotation_ref: str | None
    pixels: tuple[OmePixels, ...]


@dataclass(frozen=True, slots=True)
class ModuloAlong:
    """A ``ModuloAlongZ|C|T``: ``axis`` holds ``size`` steps of a new axis
    (``letter``, from ``type``) inside each of its steps."""

    axis: str
    type: str
    letter: str
    size: int


@dataclass(frozen=True, slots=True)
class BinaryOnly:
    """``BinaryOnly``: the OME-XML is in ``metadata_file``, the one with ``uuid``."""

    metadata_file: str | None
    uuid: str | None


@dataclass(frozen=True, slots=True)
class OmeDocument:
    """What an OME-XML document says about the pixels.

    ``modulo`` maps annotation IDs to the axes they split. ``problems`` lists the
    elements left out because their attributes are invalid.
    """

    uuid: str | None
    images: tuple[OmeImageInfo, ...]
    modulo: Mapping[str, tuple[ModuloAlong, ...]]
    binary_only: BinaryOnly | None = None
    problems: tuple[str, ...] = ()


def is_ome(description: str | None, /) -> bool:
    """Whether an ImageDescription holds OME-XML (it ends with the ``OME`` element).

    >>> is_ome('<?xml version="1.0"?><OME xmlns="x"></OME>  '), is_ome("ImageJ=1.53")
    (True, False)
    """
    return description is not None and description[-10:].strip().endswith("OME>")


def parse_ome(text: str, /) -> OmeDocument:
    """The pixel metadata of the OME-XML ``text``.

    Raises :class:`~tiffzarr.errors.TiffFormatError` when the XML is malformed or declares a DTD,
    entities or external references (those are never resolved).

    >>> parse_ome('<!DOCTYPE OME [<!ENTITY e SYSTEM "file:///etc/passwd">]><OME>&e;</OME>')
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    tiffzarr.errors.TiffFormatError: OME-XML refused: DTDForbidden(name='OME', ...)
    """
    root = parse_xml(text, what="OME-XML")
    problems: list[str] = []
    images: list[OmeImageInfo] = []
    modulo: dict[str, tuple[ModuloAlong, ...]] = {}
    binary_only = None
    for element in root:
        kind = local_name(element)
        if kind == "BinaryOnly":
            binary_only = BinaryOnly(element.get("MetadataFile"), element.get("UUID"))
            break
        if kind == "StructuredAnnotations":
            modulo.update(_modulo(element, problems))
        elif kind == "Image":
            images.append(_image(element, problems))
    return OmeDocument(
        uuid=root.get("UUID"),
        images=tuple(images),
        modulo=modulo,
        binary_only=binary_only,
        problems=tuple(problems),
    )


def _int(attrs: Mapping[str, str], key: str, default: int | None = None) -> int | None:
    """An integer attribute; ``ValueError`` when it is not one."""
    value = attrs.get(key)
    return default if value is None else int(value)


def _lenient_int(text: str | None) -> int | None:
    """An integer attribute that describes (not locates) the pixels: ``None`` if invalid."""
    try:
        return None if text is None else int(text)
    except ValueError:
        return None


def _image(element: Element, problems: list[str]) -> OmeImageInfo:
    ident = element.get("ID")
    refs = children(element, "AnnotationRef")
    pixels = []
    for node in children(element, "Pixels"):
        try:
            pixels.append(_pixels(node, problems, ident))
        except ValueError as exc:
            problems.append(f"Image {ident!r}: invalid Pixels ({exc})")
    return OmeImageInfo(
        id=ident,
        name=element.get("Name"),
        annotation_ref=refs[0].get("ID") if refs else None,
        pixels=tuple(pixels),
    )


def _pixels(node: Element, problems: list[str], image: str | None) -> OmePixels:
    attrs = node.attrib
    order = attrs.get("DimensionOrder", "")
    if len(order) != 5 or set(order) != DIMENSIONS:
        raise ValueError(f"DimensionOrder {order!r}")
    sizes = {a: _int(attrs, "Size" + a) for a in order}
    if any(n is None or n < 1 for n in sizes.values()):
        raise ValueError(f"sizes {sizes}")
    physical = {}
    for axis, (size_attr, unit_attr) in SCALE_ATTRS.items():
        if size_attr in attrs:
            try:
                physical[axis] = (
                    float(attrs[size_attr]),
                    attrs.get(unit_attr, DEFAULT_UNITS[axis]),
                )
            except ValueError:
                problems.append(f"Image {image!r}: {size_attr}={attrs[size_attr]!r} is no number")
    channels, tiffdata = [], []
    for child in node:
        kind = local_name(child)
        if kind == "Channel":
            channels.append(_channel(child.attrib))
        elif kind == "TiffData":
            try:
                tiffdata.append(_tiffdata(child))
            except ValueError as exc:
                problems.append(f"Image {image!r}: invalid TiffData ({exc})")
    interleaved = attrs.get("Interleaved")
    return OmePixels(
        dimension_order=order,
        sizes={a: int(n) for a, n in sizes.items() if n is not None},
        type=attrs.get("Type", attrs.get("PixelType")),
        physical=physical,
        interleaved=None if interleaved is None else interleaved.strip().lower() in ("true", "1"),
        significant_bits=_lenient_int(attrs.get("SignificantBits")),
        channels=tuple(channels),
        tiffdata=tuple(tiffdata),
    )


def _channel(attrs: Mapping[str, str]) -> OmeChannel:
    color = attrs.get("Color")
    try:
        hex_color = None if color is None else color_hex(int(color))
    except ValueError:
        hex_color = None
    return OmeChannel(
        name=attrs.get("Name"), color=hex_color, samples=_int(attrs, "SamplesPerPixel")
    )


def _tiffdata(node: Element) -> TiffData:
    attrs = node.attrib
    planes = _int(attrs, "NumPlanes", 1 if "IFD" in attrs else 0)
    planes = _int(attrs, "PlaneCount", planes)
    ifd = _int(attrs, "IFD", 0)
    assert planes is not None and ifd is not None
    if ifd < 0 or planes < 0:
        raise ValueError(f"IFD={ifd}, PlaneCount={planes}")
    first = {a: int(attrs.get("First" + a, 0)) for a in "ZCT"}
    uuids = children(node, "UUID")
    uuid = uuids[0] if uuids else None
    return TiffData(
        ifd=ifd,
        planes=planes,
        first=first,
        has_uuid=uuid is not None,
        uuid=None if uuid is None or uuid.text is None else uuid.text.strip(),
        filename=None if uuid is None else uuid.get("FileName"),
    )


def _modulo(element: Element, problems: list[str]) -> dict[str, tuple[ModuloAlong, ...]]:
    """The modulo annotations among ``StructuredAnnotations``, by annotation ID."""
    out = {}
    for annotation in element:
        ident = annotation.get("ID")
        if not annotation.get("Namespace", "").endswith("modulo") or ident is None:
            continue
        alongs = []
        for value in annotation:
            for modulo in value:
                for along in modulo:
                    name = local_name(along)
                    if name[:-1] != "ModuloAlong" or name[-1] not in "ZCT":
                        continue
                    try:
                        alongs.append(_along(along, name[-1]))
                    except (ValueError, ZeroDivisionError, OverflowError) as exc:
                        problems.append(f"modulo annotation {ident!r}: invalid {name} ({exc})")
        out[ident] = tuple(alongs)
    return out


def _along(along: Element, axis: str) -> ModuloAlong:
    kind = along.get("Type", "other")
    if "Start" in along.attrib:
        step = float(along.get("Step", 1))
        start = float(along.attrib["Start"])
        stop = float(along.attrib["End"]) + step
        size = max(0, math.ceil((stop - start) / step))  # numpy.arange's length
    else:
        size = len(children(along, "Label"))
    if size > MAX_MODULO:
        raise ValueError(f"{size} steps")
    return ModuloAlong(axis=axis, type=kind, letter=axis_letter(kind), size=size)


# -- pieces a writer needs ---------------------------------------------------


def color_hex(value: int, /) -> str:
    """An OME colour (a signed 32-bit RGBA integer) as ``"RRGGBB"``.

    >>> color_hex(-16776961), color_hex(-1), color_hex(16711935)
    ('FF0000', 'FFFFFF', '00FF00')
    """
    return f"{(value & 0xFFFFFFFF) >> 8:06X}"


def pixel_type(dtype: np.dtype, /) -> str | None:
    """The OME ``Type`` of ``dtype``, or ``None`` when OME cannot hold it.

    >>> pixel_type(np.dtype(">u2")), pixel_type(np.dtype("f2"))
    ('uint16', None)
    """
    return PIXEL_TYPES.get(dtype.newbyteorder("=").str[1:])


def dimension_order(axes: str, /) -> str:
    """The OME ``DimensionOrder`` of axes ``T``, ``Z``, ``C`` (in any order) followed by
    ``YX``: fastest first, the axes that are absent last.

    >>> dimension_order("CYX"), dimension_order("ZTCYXS")
    ('XYCZT', 'XYCTZ')
    """
    lead = [a for a in reversed(axes) if a in "TZC"]
    return "XY" + "".join(lead) + "".join(a for a in "ZCT" if a not in lead)


def format_value(value: Any, /) -> str:
    """An attribute value as OME-XML writes it (booleans in lower case).

    >>> format_value(True), format_value(2.0), format_value(7)
    ('true', '2.0', '7')
    """
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer() and not math.isinf(value):
        return repr(value)
    return str(value)


def xml_element(name: str, attrs: Mapping[str, Any], body: str | None = None) -> str:
    """An element with quoted attributes, empty unless it has a ``body``.

    >>> xml_element("TiffData", {"IFD": 0, "PlaneCount": 2})
    '<TiffData IFD="0" PlaneCount="2"/>'
    """
    text = "".join(f" {k}={quoteattr(format_value(v))}" for k, v in attrs.items())
    return f"<{name}{text}/>" if body is None else f"<{name}{text}>{body}</{name}>"
