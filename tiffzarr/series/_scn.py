"""Series of Leica SCN slides, as tifffile reads them.

The first page's ImageDescription is the SCN collection (see
:mod:`tiffzarr.format._scn`). Every ``pixels`` of every ``image`` is a series of
kind ``scn`` named after the image (``Unknown`` without a name): its levels are
the resolutions in order of ``r``, each of shape ``(C, Z, *page)`` with axes
``CZ`` and the page's axes, its planes the pages the dimensions name (planes they
leave out are fill). tifffile refuses images with several focal planes; here they
are read along ``Z``.

The pixel size is the image's view over its first resolution (nanometres, as
micrometre scales); the image's ``leica.*`` properties and the collection's
barcode go into the ``openslide`` attributes; the collection's and the image's
XML, and whether the image is the slide's macro, into the ``leica`` attributes.
A description that does not parse gives the generic series, with a warning.
"""

from __future__ import annotations

from tiffzarr.errors import TiffFormatError
from tiffzarr.format._scn import ScnDocument, ScnImage, ScnLevel, is_scn, parse_scn
from tiffzarr.model import ArrayModel, AxisScale, Page, Series, TiffIndex, array_from_pages
from tiffzarr.series._pages import MAX_CLAIMED_PAGES, one_layout
from tiffzarr.series._protocol import Fallback, Interpretation, SeriesContext
from tiffzarr.series._slides import MICROMETER, openslide_int, slide_metadata

__all__ = ["FALLBACK", "KIND", "detect", "series"]

KIND = "scn"
FALLBACK: Fallback = "generic"
DESCRIPTION = 270
VENDOR = "leica"
NM_PER_MICROMETER = 1000.0


def detect(index: TiffIndex, /) -> bool:
    """The first page's ImageDescription is Leica SCN XML."""
    description = index.pages[0].ifd.get(DESCRIPTION)
    return isinstance(description, str) and is_scn(description)


async def series(context: SeriesContext, /) -> Interpretation:
    """A series per ``pixels`` of every image of the collection."""
    text = context.index.pages[0].ifd.get(DESCRIPTION)
    try:
        doc = parse_scn(text)
    except TiffFormatError as exc:
        context.warn(f"{exc}; the generic series are served")
        return Interpretation(())
    for problem in doc.problems:
        context.warn(f"SCN: {problem}")
    found = []
    for image in doc.images:
        for levels in image.pixels:
            arrays = _levels(context, image, levels)
            if arrays:
                found.append(_series(doc, image, levels, arrays))
    return Interpretation(tuple(found))


def _levels(
    context: SeriesContext, image: ScnImage, levels: tuple[ScnLevel, ...]
) -> list[ArrayModel]:
    """The arrays of an image's resolutions, up to the first that cannot be read."""
    out = []
    for level in levels:
        array = _level(context, image, level)
        if array is None:
            break
        out.append(array)
    return out


def _level(context: SeriesContext, image: ScnImage, level: ScnLevel) -> ArrayModel | None:
    index = context.index
    where = f"SCN image {image.name!r} resolution {level.r}"
    if level.channels * level.depth > MAX_CLAIMED_PAGES:
        context.warn(f"{where}: {level.channels} channels by {level.depth} planes; not read")
        return None
    planes: list[Page | None] = [None] * (level.channels * level.depth)
    for (c, z), ifd in level.planes.items():
        if ifd >= len(index.pages):
            context.warn(f"{where}: IFD {ifd} is past the {len(index.pages)} pages; not read")
            return None
        planes[c * level.depth + z] = index.pages[ifd]
    held = [p for p in planes if p is not None]
    layout = one_layout(held)
    if layout is None:
        context.warn(f"{where}: its pages are not images of one layout; not read")
        return None
    return array_from_pages(
        planes,
        urls=(index.url,),
        byteorder=index.header.byteorder,
        shape=(level.channels, level.depth, *layout.shape),
        axes="CZ" + layout.axes,
    )


def _series(
    doc: ScnDocument, image: ScnImage, levels: tuple[ScnLevel, ...], arrays: list[ArrayModel]
) -> Series:
    nm_x, nm_y = image.nm_per_pixel(levels)
    properties = dict(image.properties)
    if doc.barcode:
        properties["barcode"] = doc.barcode
    attrs, scales = slide_metadata(
        VENDOR,
        properties,
        mpp=(
            nm_x / NM_PER_MICROMETER if nm_x else None,
            nm_y / NM_PER_MICROMETER if nm_y else None,
        ),
        objective_power=openslide_int(properties.get("objective")),
    )
    if doc.barcode:
        attrs["openslide"]["openslide.barcode"] = doc.barcode
    if image.spacing_z is not None and levels[0].depth > 1:
        scales["Z"] = AxisScale(image.spacing_z / NM_PER_MICROMETER, MICROMETER)
    meta = {"collection": doc.collection, "image": image.metadata, "macro": image.is_macro}
    return Series(
        name=image.name,
        kind=KIND,
        levels=tuple(arrays),
        attrs={VENDOR: meta, **attrs},
        scales=scales,
    )
