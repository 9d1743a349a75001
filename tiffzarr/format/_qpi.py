"""PerkinElmer (Akoya) QPTIFF: the XML description of each page.

QPTIFF files (Vectra, Polaris, PhenoImager) say ``PerkinElmer-QPI`` in their
Software tag, and every page's ImageDescription is a
``PerkinElmer-QPI-ImageDescription`` element: the page's ``ImageType``
(``FullResolution``, ``Thumbnail``, ``ReducedResolution``, ``Overview``,
``Label``) and, for the pages of a channel, its ``Name`` and ``Color``
(``"R,G,B"``), with the scanner's settings (``Objective``, ``ExposureTime``,
``ScanProfile`` ...). The XML declares ``utf-16`` but is stored as 8-bit text.

>>> d = parse_qpi_description(
...     '<?xml version="1.0" encoding="utf-16"?><PerkinElmer-QPI-ImageDescription>'
...     '<ImageType>FullResolution</ImageType><Name>DAPI</Name><Color>0,0,255</Color>'
...     '</PerkinElmer-QPI-ImageDescription>')
>>> d.image_type, d.name, d.color
('FullResolution', 'DAPI', '0000FF')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tiffzarr.format._xml import child, parse_xml, text_of, xml_dict

__all__ = ["QPI_SOFTWARE", "QpiDescription", "is_qpi", "parse_qpi_description"]

QPI_SOFTWARE = "PerkinElmer-QPI"


def is_qpi(software: str | None, /) -> bool:
    """Whether a first page's Software names PerkinElmer's QPI writer."""
    return software is not None and software.startswith(QPI_SOFTWARE)


@dataclass(frozen=True, slots=True)
class QpiDescription:
    """What one page's description says: its image type, channel name and colour
    (``"RRGGBB"``), and all of it as JSON (``metadata``)."""

    image_type: str | None
    name: str | None
    color: str | None
    metadata: Any


def parse_qpi_description(text: str, /) -> QpiDescription:
    """The description of one page; raises :class:`~tiffzarr.errors.TiffFormatError`
    when it is not XML."""
    root = parse_xml(text, what="the QPTIFF ImageDescription")
    return QpiDescription(
        image_type=text_of(child(root, "ImageType")),
        name=text_of(child(root, "Name")) or text_of(child(root, "Biomarker")),
        color=_color(text_of(child(root, "Color"))),
        metadata=xml_dict(root),
    )


def _color(text: str | None) -> str | None:
    """``"R,G,B"`` (0-255 each) as ``"RRGGBB"``, else ``None``.

    >>> _color("255, 128,0"), _color("red"), _color("1,2,300")
    ('FF8000', None, None)
    """
    if text is None:
        return None
    parts = text.split(",")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        return None
    if len(values) != 3 or not all(0 <= v <= 255 for v in values):
        return None
    return "".join(f"{v:02X}" for v in values)
