"""Series of Micro-Manager NDTiff data sets (v2 and v3), as tifffile reads them.

An NDTiff data set is a folder of TIFF files and an ``NDTiff.index`` file that
lists every image: its axis coordinates (``{"time": 3, "channel": "GFP"}``), the
file that holds it and where its pixels start (see
:mod:`tiffzarr.format._micromanager`). The series spans the coordinates, with
its axes ordered by how they vary in the index and named by tifffile's letters
(``time`` → ``T``, ``position`` → ``R``, unknown → ``Q``), followed by the
image's axes; a position the index does not list is fill. Each image is the page
whose pixels start where the index says (an image without an IFD of its own is
read with the layout of its file's first page).

When the file's Micro-Manager header says NDTiff but ``NDTiff.index`` is missing,
the next interpreters try the file; when the index cannot be used, the file's
generic series are served (with a warning), as tifffile falls back.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tiffzarr.errors import TiffZarrError
from tiffzarr.format._axes import axis_letter
from tiffzarr.format._micromanager import (
    NDTIFF_PIXEL_TYPES,
    NdtiffEntry,
    ndtiff_grid,
    parse_ndtiff_index,
)
from tiffzarr.format._records import bounded_json
from tiffzarr.model import (
    Channel,
    Page,
    SegmentTable,
    Series,
    TagArray,
    TiffIndex,
    array_from_pages,
)
from tiffzarr.series import _generic
from tiffzarr.series._mmstack import (
    MICROMANAGER_METADATA,
    clipped,
    file_name,
    micromanager_channels,
    micromanager_scales,
    read_header,
    read_summary,
)
from tiffzarr.series._protocol import Fallback, Interpretation, SeriesContext

__all__ = ["FALLBACK", "INDEX_NAME", "KIND", "detect", "series"]

KIND = "ndtiff"
FALLBACK: Fallback = "next"
INDEX_NAME = "NDTiff.index"
MAX_IMAGES = 2**20
"""Most images read from an NDTiff.index."""
NONE = 1
"""TIFF Compression: none (NDTiff images are stored uncompressed)."""


def detect(index: TiffIndex, /) -> bool:
    """The first page has Micro-Manager's per-image metadata tag."""
    return MICROMANAGER_METADATA in index.pages[0].ifd


class _IndexError(ValueError):
    """``NDTiff.index`` does not describe the files' images."""


async def series(context: SeriesContext, /) -> Interpretation:
    """The NDTiff series; none when the file is no NDTiff; the generic series when
    its index cannot be used."""
    index = context.index
    read = clipped(context.read, index.size)
    header = await read_header(read, index.header.byteorder, context.warn)
    if header is None or header.major_version < 2 or index.pages[0].layout is None:
        return Interpretation(())
    try:
        data = await context.companion_bytes(INDEX_NAME)
    except FileNotFoundError:
        context.warn(f"{INDEX_NAME} not found beside the NDTiff file")
        return Interpretation(())
    except TiffZarrError as exc:
        context.warn(f"{INDEX_NAME} cannot be read: {exc}")
        return Interpretation(_generic.generic_series(index))
    entries, problem = parse_ndtiff_index(data, limit=MAX_IMAGES)
    if problem:
        context.warn(f"{INDEX_NAME}: {problem}; the images before it are used")
    summary = await read_summary(read, header, context.warn) or {}
    try:
        found = await _series(context, entries, summary)
    except _IndexError as exc:
        context.warn(f"{INDEX_NAME} does not describe the images: {exc}")
        return Interpretation(_generic.generic_series(index))
    attrs = {"MajorVersion": header.major_version, "Summary": bounded_json(summary)}
    if header.minor_version is not None:
        attrs["MinorVersion"] = header.minor_version
    result = dataclasses.replace(found[0], attrs={"micromanager": attrs})
    return Interpretation((result,), members=found[1])


@dataclass(slots=True)
class _Files:
    """The files of the data set met in the index, with their first pages."""

    context: SeriesContext
    urls: list[str] = field(default_factory=list)
    members: list[TiffIndex] = field(default_factory=list)
    firsts: dict[str, tuple[int, Page, dict[int, Page]]] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)

    async def open(self, name: str) -> tuple[int, Page, dict[int, Page]] | None:
        """The file ``name``: its place in ``urls``, its first page and its pages by
        where their pixels start; ``None`` when it is missing and the context says
        to serve fill for it."""
        known = self.firsts.get(name)
        if known is not None or name in self.missing:
            return known
        index = self.context.index
        if name == file_name(index.url):
            file = index
        else:
            try:
                file = await self.context.companion(name)
            except FileNotFoundError:
                if self.context.missing == "error":
                    raise
                self.context.warn(f"{name}, a file of the NDTiff data set, is missing: fill")
                self.missing.add(name)
                return None
            except TiffZarrError as exc:
                raise _IndexError(f"its file {name!r} cannot be read: {exc}") from exc
            if file is not index:
                self.members.append(file)
        first = file.pages[0]
        if first.layout is None or first.segments is None:
            raise _IndexError(f"the first page of {name!r} is not an image")
        if file is index:
            await self.context.load_table(first.segments)
        self.urls.append(file.url)
        known = (len(self.urls) - 1, first, _by_data_offset(file))
        self.firsts[name] = known
        return known


def _by_data_offset(file: TiffIndex) -> dict[int, Page]:
    """The pages of ``file`` whose segment offsets are at hand, by their first offset."""
    out: dict[int, Page] = {}
    for page in file.pages:
        table = page.segments
        if page.layout is not None and table is not None and table.count and table.loaded(0, 1):
            out.setdefault(table.offsets[0], page)
    return out


async def _series(
    context: SeriesContext, entries: list[NdtiffEntry], summary: dict[str, Any]
) -> tuple[Series, tuple[TiffIndex, ...]]:
    try:
        grid = ndtiff_grid([e.coords for e in entries])
    except ValueError as exc:
        raise _IndexError(str(exc)) from exc
    files = _Files(context)
    images: list[tuple[int, Page | None]] = []
    for entry in entries:
        images.append(await _image(files, entry))
    if not files.firsts:
        raise _IndexError("none of its files can be read")
    keyframe = next(iter(files.firsts.values()))[1]
    layout, _ = keyframe.require_layout()
    pages: list[Page | None] = []
    sources = []
    for position in grid.entries:
        source, page = images[position] if position >= 0 else (0, None)
        if page is not None and page.layout != layout:
            raise _IndexError("its files' images differ in layout")
        pages.append(page)
        sources.append(source)
    level = array_from_pages(
        pages,
        urls=tuple(files.urls),
        byteorder=context.index.header.byteorder,
        shape=(*grid.shape, *layout.shape),
        axes="".join(axis_letter(d.lower()) for d in grid.dims) + layout.axes,
        sources=tuple(sources),
    )
    channels: tuple[Channel, ...] = ()
    if "channel" in grid.names:
        channels = tuple(Channel(name=n[:256]) for n in grid.names["channel"])
    elif "C" in level.axes:
        channels = micromanager_channels(summary, level.shape[level.axes.index("C")])
    result = Series(
        name="",
        kind=KIND,
        levels=(level,),
        scales=micromanager_scales(summary, keyframe),
        channels=channels,
    )
    return result, tuple(files.members)


async def _image(files: _Files, entry: NdtiffEntry) -> tuple[int, Page | None]:
    """Where the image of ``entry`` is: the first page of its file for the first
    image met in that file (as tifffile has it), else the page whose pixels start
    at the entry's offset (one laid out like the file's first page if none);
    ``None`` in a missing file."""
    known = files.firsts.get(entry.filename)
    opened = await files.open(entry.filename)
    if opened is None:
        return 0, None
    source, first, by_offset = opened
    if known is None:
        return source, first
    layout, table = first.require_layout()
    if (layout.length, layout.width) != (entry.height, entry.width):
        raise _IndexError(
            f"an image of {entry.height}x{entry.width} in {entry.filename!r} differs from "
            f"its first page's {layout.length}x{layout.width}"
        )
    pixel = NDTIFF_PIXEL_TYPES.get(entry.pixel_type)
    if entry.compression != 0 or layout.compression != NONE:
        raise _IndexError(f"compressed images are not NDTiff images ({entry.filename!r})")
    if pixel is None or np.dtype(pixel[0]) != layout.dtype.newbyteorder("="):
        raise _IndexError(f"pixel type {entry.pixel_type} does not match {layout.dtype}")
    real = by_offset.get(entry.offset)
    if real is not None and real.layout == layout:
        return source, real
    if not table.loaded(0, table.count):
        raise _IndexError(f"the images of {entry.filename!r} have no IFDs of their own")
    offsets = table.offsets.values().astype("i8")
    shifted = TagArray.from_values(offsets - offsets[0] + entry.offset)
    return source, dataclasses.replace(first, segments=SegmentTable(shifted, table.bytecounts))
