"""Rules a reader holds a file to: Cloud Optimized GeoTIFF layout, OME-TIFF consistency.

Every rule reads only the parsed model (:class:`~tiffzarr.model.TiffIndex`, its
pages and series) and returns :class:`Finding` values; ``error`` findings make a
file invalid, ``warning`` findings are what a reader may trip on.

The COG rules are those of GDAL's COG layout: the main image tiled, overviews
(reduced-resolution IFDs of the main chain) tiled and each smaller than the one
before, the main IFD near the start of the file, every IFD before the image
data, and the image data in reverse order of size (smallest overview first, the
main image last), so that a reader fetches the IFDs in one request and reads an
overview without touching the main image's tiles.

>>> from tiffzarr.format import page_layout
>>> from tiffzarr.model import Ifd, SegmentTable, TagArray
>>> layout = lambda w, h, tiled: page_layout(
...     {256: w, 257: h, 258: 8, **({322: w, 323: h} if tiled else {278: h})},
...     nsegments=1)
>>> def page(i, offset, data, w, h, tiled=True, subfile=0):
...     ifd = Ifd((i,), offset, "image", {}, {254: subfile}, frozenset(), 0)
...     table = SegmentTable(TagArray.from_values([data]), TagArray.from_values([10]))
...     return Page(ifd, layout(w, h, tiled), table)
>>> pages = [page(0, 8, 5000, 1024, 1024), page(1, 400, 4000, 512, 512, subfile=1)]
>>> cog_findings(pages)
[]
>>> untiled = [page(0, 8, 100, 1024, 1024, tiled=False)]
>>> [str(f) for f in cog_findings(untiled)]  # doctest: +NORMALIZE_WHITESPACE
['error: cog: the main image (1024 x 1024) is larger than 512 x 512 but not tiled',
 'warning: cog: the main image (1024 x 1024) is larger than 512 x 512 and has no overviews']
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tiffzarr.errors import TiffFormatError
from tiffzarr.format._ome import OmeDocument, OmePixels, is_ome, parse_ome, pixel_type
from tiffzarr.model import Page, TiffIndex
from tiffzarr.series import uncovered_pages

__all__ = [
    "COG_MAIN_IFD_LIMIT",
    "COG_UNTILED_LIMIT",
    "Finding",
    "cog_findings",
    "ome_findings",
    "parse_findings",
]

Level = Literal["error", "warning"]

COG_UNTILED_LIMIT = 512
"""Images (and overviews) wider or longer than this must be tiled in a COG."""

COG_MAIN_IFD_LIMIT = 300
"""The main IFD of a COG starts before this offset (after the header and GDAL's ghost area)."""

_REDUCED, _MASK = 1, 4  # NewSubfileType bits


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a rule found: ``error`` (the file breaks the rule) or ``warning``."""

    level: Level
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.rule}: {self.message}"


def _size(page: Page) -> str:
    assert page.layout is not None
    return f"{page.layout.width} x {page.layout.length}"


def _first_data(page: Page) -> int | None:
    """The offset of the first present segment of ``page`` (its table loaded)."""
    if page.segments is None:
        return None
    for i in range(page.segments.count):
        found = page.segments.locate(i)
        if found is not None:
            return found[0]
    return None


def _lowest_data(page: Page) -> int | None:
    if page.segments is None:
        return None
    offsets = [loc[0] for i in range(page.segments.count) if (loc := page.segments.locate(i))]
    return min(offsets, default=None)


def _cog_images(pages: Sequence[Page]) -> tuple[Page, list[Page]]:
    """The main image and its overviews, as GDAL finds them: the reduced-resolution,
    non-mask pages of the chain and the SubIFDs of the main image."""
    candidates = [*pages[1:], *(p for p in pages[0].subifds if p is not None)]
    overviews = [
        p
        for p in candidates
        if p.layout is not None and p.subfiletype & _REDUCED and not p.subfiletype & _MASK
    ]
    return pages[0], overviews


def _all_pages(pages: Sequence[Page]) -> list[Page]:
    """Every image page of the chain, SubIFDs included (depth first)."""
    out: list[Page] = []
    for page in pages:
        out.append(page)
        out += _all_pages([p for p in page.subifds if p is not None])
    return out


def _tiling(main: Page, overviews: list[Page]) -> list[Finding]:
    out: list[Finding] = []
    for i, page in enumerate([main, *overviews]):
        assert page.layout is not None
        big = max(page.layout.width, page.layout.length) > COG_UNTILED_LIMIT
        what = "the main image" if i == 0 else f"overview {i - 1}"
        if big and not page.layout.tiled:
            out.append(
                Finding(
                    "error",
                    "cog",
                    f"{what} ({_size(page)}) is larger than {COG_UNTILED_LIMIT} x "
                    f"{COG_UNTILED_LIMIT} but not tiled",
                )
            )
    assert main.layout is not None
    if max(main.layout.width, main.layout.length) > COG_UNTILED_LIMIT and not overviews:
        out.append(
            Finding(
                "warning",
                "cog",
                f"the main image ({_size(main)}) is larger than {COG_UNTILED_LIMIT} x "
                f"{COG_UNTILED_LIMIT} and has no overviews",
            )
        )
    return out


def _sizes_and_ifds(main: Page, overviews: list[Page]) -> list[Finding]:
    out: list[Finding] = []
    if main.ifd.offset >= COG_MAIN_IFD_LIMIT:
        out.append(
            Finding(
                "error",
                "cog",
                f"the main IFD is at offset {main.ifd.offset}, not before {COG_MAIN_IFD_LIMIT}",
            )
        )
    previous = main
    for i, page in enumerate(overviews):
        assert page.layout is not None and previous.layout is not None
        before = "the main image" if previous is main else f"overview {i - 1}"
        if page.layout.width > previous.layout.width or page.layout.length > previous.layout.length:
            out.append(
                Finding("error", "cog", f"overview {i} ({_size(page)}) is larger than {before}")
            )
        if page.ifd.offset < previous.ifd.offset:
            out.append(
                Finding(
                    "error",
                    "cog",
                    f"the IFD of overview {i} (offset {page.ifd.offset}) comes before the IFD "
                    f"of {before} (offset {previous.ifd.offset})",
                )
            )
        previous = page
    return out


def _data_order(pages: Sequence[Page], main: Page, overviews: list[Page]) -> list[Finding]:
    out: list[Finding] = []
    images = [p for p in pages if p.segments is not None]
    last_ifd = max(p.ifd.offset for p in pages)
    lowest = min((d for p in images if (d := _lowest_data(p)) is not None), default=None)
    if lowest is not None and lowest < last_ifd:
        out.append(
            Finding(
                "error",
                "cog",
                f"image data at offset {lowest} comes before the last IFD (offset {last_ifd}): "
                "every IFD must precede the image data",
            )
        )
    firsts = [_first_data(p) for p in (main, *overviews)]
    names = ["the main image", *(f"overview {i}" for i in range(len(overviews)))]
    for k in range(len(firsts) - 1):
        here, smaller = firsts[k], firsts[k + 1]
        if here is not None and smaller is not None and here < smaller:
            out.append(
                Finding(
                    "error",
                    "cog",
                    f"the data of {names[k]} (offset {here}) comes before the data of "
                    f"{names[k + 1]} (offset {smaller}): smaller overviews come first",
                )
            )
    return out


def cog_findings(pages: Sequence[Page], /) -> list[Finding]:
    """The COG layout rules over the main chain's ``pages`` and their SubIFDs (the segment
    tables loaded)."""
    if not pages or pages[0].layout is None:
        return [Finding("error", "cog", "the first IFD is not a readable image")]
    main, overviews = _cog_images(pages)
    everything = [p for p in _all_pages(pages) if p.layout is not None]
    return [
        *_tiling(main, overviews),
        *_sizes_and_ifds(main, overviews),
        *_data_order(everything, main, overviews),
    ]


def _description(index: TiffIndex) -> str | None:
    value = index.pages[0].ifd.get(270) if index.pages else None
    return value if isinstance(value, str) else None


def _ome_document(index: TiffIndex) -> OmeDocument | Finding:
    text = index.ome_xml
    if text is None:
        description = _description(index)
        if not is_ome(description):
            return Finding("error", "ome", "the first IFD holds no OME-XML")
        text = description
    assert text is not None
    try:
        return parse_ome(text)
    except TiffFormatError as exc:
        return Finding("error", "ome", f"the OME-XML does not parse: {exc}")


def _planes(pixels: OmePixels) -> int:
    """IFDs the sizes call for: one per Z, T and channel plane (samples share a plane)."""
    sizes = pixels.sizes
    samples = pixels.channels[0].samples if pixels.channels else None
    channels = sizes["C"] // samples if samples and sizes["C"] % samples == 0 else sizes["C"]
    return sizes["Z"] * sizes["T"] * channels


def _file_names(index: TiffIndex) -> set[str]:
    return {
        posixpath.basename(u.replace("\\", "/"))
        for u in (index.url, *(m.url for m in index.members))
    }


def _pixels_findings(index: TiffIndex, name: str, pixels: OmePixels) -> list[Finding]:
    out: list[Finding] = []
    here = posixpath.basename(index.url.replace("\\", "/"))
    readable = _file_names(index)
    counted, explicit = 0, True
    for td in pixels.tiffdata:
        counted += td.planes
        explicit = explicit and td.planes > 0
        if td.filename and td.filename not in readable:
            out.append(
                Finding(
                    "error",
                    "ome",
                    f"{name}: TiffData names file {td.filename!r}, which cannot be read",
                )
            )
            continue
        if td.filename not in (None, "", here):
            continue
        stop = td.ifd + max(td.planes, 1)
        if stop > len(index.pages):
            out.append(
                Finding(
                    "error",
                    "ome",
                    f"{name}: TiffData refers to IFD {stop - 1}, the file has {len(index.pages)}",
                )
            )
        elif pixels.type is not None and (page := index.pages[td.ifd]).layout is not None:
            out += _page_matches(name, pixels, page)
    expected = _planes(pixels)
    if pixels.tiffdata and explicit and counted != expected:
        out.append(
            Finding(
                "error",
                "ome",
                f"{name}: TiffData cover {counted} planes, DimensionOrder {pixels.dimension_order} "
                f"with sizes {dict(pixels.sizes)} gives {expected}",
            )
        )
    if not pixels.tiffdata and len(index.pages) != expected:
        out.append(
            Finding(
                "warning",
                "ome",
                f"{name}: no TiffData; the sizes give {expected} planes, the file has "
                f"{len(index.pages)} IFDs",
            )
        )
    return out


def _page_matches(name: str, pixels: OmePixels, page: Page) -> list[Finding]:
    assert page.layout is not None
    out = []
    found = pixel_type(page.layout.dtype)
    if found != pixels.type:
        out.append(
            Finding(
                "error",
                "ome",
                f"{name}: Type is {pixels.type!r}, IFD {page.path[0]} holds {page.layout.dtype}",
            )
        )
    size = (pixels.sizes["Y"], pixels.sizes["X"])
    if size != (page.layout.length, page.layout.width):
        out.append(
            Finding(
                "error",
                "ome",
                f"{name}: SizeY x SizeX is {size[0]} x {size[1]}, IFD {page.path[0]} is "
                f"{page.layout.length} x {page.layout.width}",
            )
        )
    return out


def ome_findings(index: TiffIndex, /) -> list[Finding]:
    """The OME-TIFF rules: OME-XML present and parsing, its sizes, TiffData and pixel
    types consistent with the IFDs, the files it names readable."""
    doc = _ome_document(index)
    if isinstance(doc, Finding):
        return [doc]
    out = [Finding("error", "ome", problem) for problem in doc.problems]
    if doc.binary_only is not None:
        return out  # the pixels' description is in the MetadataFile (read as the series were)
    if not doc.images:
        out.append(Finding("error", "ome", "the OME-XML describes no images"))
    for image in doc.images:
        name = f"Image {image.id or '?'}"
        if not image.pixels:
            out.append(Finding("error", "ome", f"{name} has no valid Pixels"))
        for pixels in image.pixels:
            out += _pixels_findings(index, name, pixels)
    return out


def parse_findings(index: TiffIndex, /, *, recorded: Sequence[str] = ()) -> list[Finding]:
    """What parsing the file reported (its warnings and ``recorded`` ones), and the image
    pages no series holds."""
    seen = dict.fromkeys([*index.warnings, *recorded])
    uncovered = uncovered_pages(index, index.series)
    out = [Finding("warning", "parse", message) for message in seen if message not in uncovered]
    out += [Finding("warning", "pages", message) for message in uncovered]
    return out
