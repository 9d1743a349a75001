"""OME-XML for OME-TIFF: one Image per series, written with the first IFD.

Each series is an OME ``Image`` whose ``Pixels`` name the dimension order, sizes,
physical sizes and units, time increment and channels, and whose ``TiffData``
maps its planes to IFDs (pyramid levels are SubIFDs and are not counted). The
metadata keys are those of :class:`tifffile.OmeXml`: ``axes``, ``Name``,
``PhysicalSizeX`` (and ``Y``, ``Z``) with ``PhysicalSizeXUnit``,
``TimeIncrement`` and ``TimeIncrementUnit``, ``Channel`` (``{"Name": [...]}``
or a list of attribute dicts).

>>> meta = {"axes": "CYX", "PhysicalSizeX": 0.5, "Channel": {"Name": ["a", "b"]}}
>>> image = OmeImage((2, 64, 32), np.dtype("uint16"), samples=1, separate=False, metadata=meta)
>>> image.dimension_order, image.planes
('XYCZT', 2)
>>> xml = ome_xml([image], uuid="0")
>>> 'SizeC="2"' in xml, 'PhysicalSizeX="0.5"' in xml, '<TiffData IFD="0" PlaneCount="2"/>' in xml
(True, True, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np

from tiffzarr.format._ome import SCALE_ATTRS, SCHEMA, dimension_order, pixel_type, xml_element

__all__ = ["OmeImage", "ome_xml"]

_PIXEL_ATTRS = tuple(name for attrs in SCALE_ATTRS.values() for name in attrs)
"""The metadata keys written as ``Pixels`` attributes: physical sizes and units."""


@dataclass(frozen=True)
class OmeImage:
    """One series as OME sees it: data shape and dtype, samples per pixel, metadata."""

    shape: tuple[int, ...]
    dtype: np.dtype
    samples: int
    separate: bool
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def axes(self) -> str:
        axes = self.metadata.get("axes")
        if axes is None:
            core = "YXS" if self.samples > 1 and not self.separate else "YX"
            core = "SYX" if self.samples > 1 and self.separate else core
            lead = len(self.shape) - len(core)
            if lead > 3 or lead < 0:
                raise ValueError(f"cannot name the axes of shape {self.shape}; give 'axes'")
            return "TZC"[3 - lead :] + core
        axes = str(axes).upper()
        if len(axes) != len(self.shape):
            raise ValueError(f"OME axes {axes!r} do not match shape {self.shape}")
        core = axes.lstrip("TZC")
        if core not in ("YX", "YXS", "SYX") or len(set(axes)) != len(axes):
            raise ValueError(f"OME axes {axes!r}: T, Z, C in any order, then YX, YXS or SYX")
        return axes

    @property
    def sizes(self) -> dict[str, int]:
        sizes = dict.fromkeys("TZCS", 1)
        sizes.update(zip(self.axes, self.shape, strict=True))
        return sizes

    @property
    def dimension_order(self) -> str:
        return dimension_order(self.axes)

    @property
    def planes(self) -> int:
        """IFDs of the series: one per T, Z and C plane."""
        sizes = self.sizes
        return sizes["T"] * sizes["Z"] * sizes["C"]

    def element(self, index: int, first_ifd: int) -> str:
        """The ``<Image>`` element for series ``index`` whose first IFD is ``first_ifd``."""
        sizes = self.sizes
        samples = sizes["S"]
        dtype = pixel_type(self.dtype)
        if dtype is None:
            raise ValueError(f"OME-TIFF cannot hold {self.dtype}")
        meta = self.metadata
        pixels = {
            "ID": f"Pixels:{index}",
            "DimensionOrder": self.dimension_order,
            "Type": dtype,
            "SizeX": sizes["X"],
            "SizeY": sizes["Y"],
            "SizeC": sizes["C"] * samples,
            "SizeZ": sizes["Z"],
            "SizeT": sizes["T"],
            **{k: meta[k] for k in _PIXEL_ATTRS if k in meta},
            "BigEndian": "false",
            "Interleaved": "true" if samples > 1 and not self.separate else "false",
            "SignificantBits": 1 if dtype == "bit" else self.dtype.itemsize * 8,
        }
        if self.dtype.kind == "c":
            pixels["SignificantBits"] = self.dtype.itemsize * 4
        channels = "".join(
            xml_element(
                "Channel",
                {"ID": f"Channel:{index}:{c}", "SamplesPerPixel": samples, **attrs},
                "<LightPath/>",
            )
            for c, attrs in enumerate(_channels(meta.get("Channel"), sizes["C"]))
        )
        tiffdata = xml_element("TiffData", {"IFD": first_ifd, "PlaneCount": self.planes})
        name = {"Name": meta["Name"]} if "Name" in meta else {}
        body = xml_element("Pixels", pixels, channels + tiffdata)
        return xml_element("Image", {"ID": f"Image:{index}", **name}, body)


def _channels(value: Any, count: int) -> list[dict[str, Any]]:
    """Per-channel attributes from ``{"Name": [...]}`` or a list of dicts."""
    channels: list[dict[str, Any]] = [{} for _ in range(count)]
    if isinstance(value, Mapping):
        for key, values in value.items():
            items = (
                values if isinstance(values, Sequence) and not isinstance(values, str) else [values]
            )
            for c, item in enumerate(items[:count]):
                channels[c][key] = item
    elif isinstance(value, Sequence):
        for c, attrs in enumerate(value[:count]):
            channels[c].update(attrs)
    return channels


def ome_xml(
    images: Sequence[OmeImage], /, *, uuid: str | None = None, creator: str = "tiffzarr"
) -> str:
    """The OME-XML document for ``images``, stored one after the other in the main IFDs."""
    if uuid is None:
        import uuid as _uuid

        uuid = str(_uuid.uuid4())
    elements, ifd = [], 0
    for index, image in enumerate(images):
        elements.append(image.element(index, ifd))
        ifd += image.planes
    head = (
        f'<OME xmlns="{SCHEMA}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{SCHEMA} {SCHEMA}/ome.xsd" UUID="urn:uuid:{uuid}" '
        f"Creator={quoteattr(creator)}>"
    )
    return '<?xml version="1.0" encoding="UTF-8"?>' + head + "".join(elements) + "</OME>"
