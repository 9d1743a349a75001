"""Ventana/Roche BIF: the iScan XMP, level descriptions and the tile layout.

A BIF file (Ventana iScan, DP 200/600; written by ``ScanOutputManager``) has an
XMP packet on its first page whose ``iScan`` element (the root, or under
``Metadata``) describes the scan as attributes (``Magnification``,
``ScanRes`` in microns per pixel, ``UnitNumber`` ...). Pages are told apart by
their ImageDescription: ``Label Image``/``Label_Image``, ``Thumbnail``,
``Probability_Image``, and ``level=N mag=M quality=Q`` for the pyramid. The
first level's XMP (``EncodeInfo``) tells how its tiles were scanned: areas of
interest (``SlideStitchInfo/ImageInfo``, ``AoiOrigin``) whose tiles overlap by
the amounts its ``TileJointInfo`` elements give; the tiles are stored as
scanned, not stitched.

>>> iscan_attributes('<Metadata><iScan Magnification="40" ScanRes="0.25" Empty=""/></Metadata>')
{'Magnification': '40', 'ScanRes': '0.25'}
>>> level_fields("level=1 mag=20 quality=95")
{'level': '1', 'mag': '20', 'quality': '95'}
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element

from tiffzarr.errors import TiffFormatError
from tiffzarr.format._xml import child, children, local_name, parse_xml, xml_dict

__all__ = [
    "BIF_LABELS",
    "BIF_SOFTWARE",
    "encode_info",
    "is_bif",
    "iscan_attributes",
    "level_fields",
]

BIF_SOFTWARE = ("Ventana", "ScanOutputManager")
"""Software that writes BIF files: ``Ventana`` anywhere in it, or at its start
``ScanOutputManager``."""
BIF_LABELS = frozenset({"Label Image", "Label_Image", "Probability_Image"})
"""First-page descriptions of BIF files whose Software says nothing."""
JOINT = "TileJointInfo"


def is_bif(software: str, description: str, has_xmp: bool, /) -> bool:
    """Whether a first page is a BIF page: it has an XMP packet, and its Software
    or its description is Ventana's."""
    return has_xmp and (
        BIF_SOFTWARE[0] in software
        or software.startswith(BIF_SOFTWARE[1])
        or description in BIF_LABELS
    )


def _iscan(root: Element) -> Element | None:
    if local_name(root) == "iScan":
        return root
    if local_name(root) == "Metadata":
        return child(root, "iScan")
    return None


def iscan_attributes(xmp: str, /) -> dict[str, str]:
    """The non-empty attributes of the XMP's ``iScan`` element; raises
    :class:`~tiffzarr.errors.TiffFormatError` when there is none."""
    root = parse_xml(xmp, what="the BIF XMP packet")
    iscan = _iscan(root)
    if iscan is None:
        raise TiffFormatError("the BIF XMP packet has no iScan element")
    return {key: value for key, value in iscan.attrib.items() if value}


def level_fields(description: str, /) -> dict[str, str]:
    """The ``key=value`` fields of a level's description."""
    return dict(item.split("=", 1) for item in description.split(" ") if "=" in item)


def encode_info(xmp: str, /) -> Any:
    """The first level's ``EncodeInfo`` as JSON, each area's tile joints left out
    and counted (``TileJointInfo`` becomes their number, as text); raises
    :class:`~tiffzarr.errors.TiffFormatError` when it is not XML.

    >>> encode_info('<EncodeInfo Ver="2"><SlideStitchInfo><ImageInfo NumRows="2">'
    ...             '<TileJointInfo Tile1="1"/><TileJointInfo Tile1="2"/></ImageInfo>'
    ...             '</SlideStitchInfo></EncodeInfo>')
    {'Ver': '2', 'SlideStitchInfo': {'ImageInfo': {'NumRows': '2', 'TileJointInfo': '2'}}}
    """
    root = parse_xml(xmp, what="the BIF level XMP packet")
    for stitch in children(root, "SlideStitchInfo"):
        for info in children(stitch, "ImageInfo"):
            joints = children(info, JOINT)
            for joint in joints:
                info.remove(joint)
            info.set(JOINT, str(len(joints)))
    return xml_dict(root)
