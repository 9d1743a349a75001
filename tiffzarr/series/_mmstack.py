"""Series of Micro-Manager stacks (MMStack, OME or ImageJ flavour), as tifffile reads them.

Micro-Manager's header block at offset 8 points to a summary (the data set's
dimensions, channel names, pixel size) and an index map that gives the channel,
slice, frame and position of every image with its IFD offset (see
:mod:`tiffzarr.format._micromanager`). The series has axes ``TRZC`` (or the
order the summary says) followed by the image's axes; each image is the page
whose IFD the index map names (an image without a readable IFD is read, as
tifffile does, from 162 bytes after its IFD offset). A data set larger than
the file's index map is spread over several files, ``<prefix>_MMStack_<position>
[_<n>].ome.tif``: those are opened too. When they cannot be found, the series is
the part this file holds, as tifffile does. Images the index map does not list
are fill (with a warning).

When the file is not an MMStack (an NDTiff, or a header that does not parse),
the next interpreters (OME, ImageJ, ...) try it, as in tifffile.
"""

from __future__ import annotations

import dataclasses
import math
import os.path
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tiffzarr.errors import TiffZarrError
from tiffzarr.format._micromanager import (
    HEADER_SPAN,
    INDEX_COLUMNS,
    INDEX_RECORD,
    MAX_MEMBERS,
    MAX_PLANES,
    MicroManagerHeader,
    member_names,
    mmstack_axes,
    mmstack_shape,
    parse_header,
    parse_index_map,
    parse_index_map_count,
    parse_summary,
    plane_pixel_size,
    summary_channels,
    summary_scales,
)
from tiffzarr.format._records import bounded_json
from tiffzarr.model import (
    AxisScale,
    Channel,
    Page,
    SegmentTable,
    Series,
    TagArray,
    TiffIndex,
    array_from_pages,
)
from tiffzarr.series._protocol import Fallback, Interpretation, SeriesContext

__all__ = [
    "FALLBACK",
    "KIND",
    "detect",
    "file_name",
    "micromanager_channels",
    "micromanager_scales",
    "read_header",
    "read_summary",
    "series",
]

KIND = "mmstack"
FALLBACK: Fallback = "next"

MICROMANAGER_METADATA = 51123
"""The tag of Micro-Manager's per-image metadata (JSON)."""
DESCRIPTION = 270
IMAGE_AFTER_IFD = 162
"""Where an image starts after its IFD (13 entries) in Micro-Manager's layout."""
MAX_SUMMARY_BYTES = 64 * 2**20
MAX_MISSES = 16
"""The search for the other files of a data set stops after this many names in a
row that do not exist."""

Reader = Callable[[int, int], Awaitable[bytes]]
"""``read(offset, length)`` of one file of the set (clipped at its end)."""


def detect(index: TiffIndex, /) -> bool:
    """The first page has Micro-Manager's per-image metadata tag."""
    return MICROMANAGER_METADATA in index.pages[0].ifd


def file_name(url: str, /) -> str:
    """The name of the file at ``url`` (a path or a URL, whose name is unquoted)."""
    if "://" not in url:
        return os.path.basename(url)
    return urllib.parse.unquote(url.rstrip("/").rsplit("/", 1)[-1])


def clipped(read: Callable[[int, int], Awaitable[bytes]], size: int) -> Reader:
    """``read`` limited to the ``size`` bytes of its file."""

    async def within(offset: int, length: int) -> bytes:
        length = min(length, size - offset)
        return await read(offset, length) if offset >= 0 and length > 0 else b""

    return within


async def read_header(
    read: Reader, byteorder: str, warn: Callable[[str], None], /
) -> MicroManagerHeader | None:
    """Micro-Manager's header block of a file, or ``None`` (with a warning)."""
    try:
        return parse_header(await read(*HEADER_SPAN), byteorder)
    except ValueError as exc:
        warn(f"no Micro-Manager header: {exc}")
        return None


async def read_summary(
    read: Reader, header: MicroManagerHeader, warn: Callable[[str], None], /
) -> dict[str, Any] | None:
    """The summary metadata the header points to, or ``None`` (with a warning)."""
    if header.summary is None:
        warn("the Micro-Manager header has no summary metadata")
        return None
    offset, length = header.summary
    if length > MAX_SUMMARY_BYTES:
        warn(f"Micro-Manager summary metadata of {length} bytes exceed {MAX_SUMMARY_BYTES}")
        return None
    data = await read(offset, length)
    try:
        if len(data) != length:
            raise ValueError(f"{length} bytes at offset {offset} are cut by the end of the file")
        return parse_summary(data)
    except (ValueError, UnicodeDecodeError) as exc:
        warn(f"the Micro-Manager summary metadata are not valid: {exc}")
        return None


async def _index_map(
    read: Reader, size: int, offset: int, byteorder: str, warn: Callable[[str], None]
) -> np.ndarray | None:
    """The index map at ``offset`` of a file of ``size`` bytes, or ``None`` (with a
    warning)."""
    try:
        count = parse_index_map_count(await read(offset, 8), byteorder)
        if count > MAX_PLANES:
            raise ValueError(f"{count} records exceed {MAX_PLANES}")
        if offset + 8 + count * INDEX_RECORD > size:
            raise ValueError(f"{count} records are cut by the end of the file")
        data = await read(offset + 8, count * INDEX_RECORD)
    except ValueError as exc:
        warn(f"the Micro-Manager index map at offset {offset} is not valid: {exc}")
        return None
    return parse_index_map(data, byteorder, count)


def micromanager_scales(summary: dict[str, Any], first: Page, /) -> dict[str, AxisScale]:
    """Physical sizes from the summary (pixel size also from the first image's metadata)."""
    plane = first.ifd.get(MICROMANAGER_METADATA)
    pixel = plane_pixel_size(plane if isinstance(plane, str) else None)
    return {
        axis: AxisScale(size, unit)
        for axis, (size, unit) in summary_scales(summary, pixel_size=pixel).items()
    }


def micromanager_channels(summary: dict[str, Any], count: int, /) -> tuple[Channel, ...]:
    """Channel names, colours and windows from the summary (when they match ``count``)."""
    return tuple(Channel(n, c, w) for n, c, w in summary_channels(summary, count))


@dataclass(slots=True)
class _Planes:
    """The images of the series being gathered from the files of the set."""

    layout_page: Page
    byteorder: str
    axes: str
    shape: tuple[int, ...]
    warn: Callable[[str], None]
    pages: list[Page | None] = field(default_factory=list)
    sources: list[int] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    members: list[TiffIndex] = field(default_factory=list)
    found: int = 0

    def __post_init__(self) -> None:
        self.pages = [None] * math.prod(self.shape)
        self.sources = [0] * len(self.pages)

    def add_file(self, file: TiffIndex, indexmap: np.ndarray) -> None:
        """Place the images of ``file`` that its index map lists."""
        first = file.pages[0]
        if first.layout != self.layout_page.layout:
            self.warn(f"{file.url}: its images differ from the first file's; left out")
            return
        if file.url not in self.urls:
            self.urls.append(file.url)
            if len(self.urls) > 1:
                self.members.append(file)
        source = self.urls.index(file.url)
        records = indexmap[np.argsort(indexmap[:, 4], kind="stable")]
        order = [INDEX_COLUMNS[a] for a in self.axes]
        coords = records[:, order]
        inside = np.all((coords >= 0) & (coords < np.array(self.shape)), axis=1)
        if not inside.all():
            self.warn(f"{file.url}: {int((~inside).sum())} index map records are out of range")
        flat = np.ravel_multi_index(tuple(coords[inside].T), self.shape)
        by_offset = {p.ifd.offset: p for p in file.pages}
        for position, offset in zip(flat.tolist(), records[inside, 4].tolist(), strict=True):
            page = self._page(file, first, by_offset.get(offset), offset)
            self.pages[position] = page
            self.sources[position] = source
            self.found += page is not None

    def _page(self, file: TiffIndex, first: Page, real: Page | None, offset: int) -> Page | None:
        if offset == first.ifd.offset:
            return first
        if real is not None and real.layout == first.layout:
            return real
        table = first.require_layout()[1]
        counts = table.bytecounts
        end = file.size - counts[0] - IMAGE_AFTER_IFD
        if not table.loaded(0, table.count) or not 0 < offset <= end:
            return None  # the file is cut (as tifffile assumes)
        offsets = table.offsets.values().astype("i8")
        shifted = offsets - offsets[0] + offset + IMAGE_AFTER_IFD
        return dataclasses.replace(
            first, segments=SegmentTable(TagArray.from_values(shifted), counts)
        )


async def series(context: SeriesContext, /) -> Interpretation:
    """The MMStack series, or none when the file is not an MMStack."""
    index = context.index
    first = index.pages[0]
    if first.layout is None or first.segments is None:
        return Interpretation(())
    byteorder = index.header.byteorder
    read = clipped(context.read, index.size)
    header = await read_header(read, byteorder, context.warn)
    if header is None or header.major_version != 0 or header.index_map is None:
        return Interpretation(())
    summary = await read_summary(read, header, context.warn)
    if summary is None or "MicroManagerVersion" not in summary or "Frames" not in summary:
        return Interpretation(())
    indexmap = await _index_map(read, index.size, header.index_map, byteorder, context.warn)
    if indexmap is None:
        return Interpretation(())
    axes = mmstack_axes(summary)
    try:
        shape = mmstack_shape(summary, indexmap, axes)
    except ValueError as exc:
        context.warn(f"the MMStack series is not valid: {exc}")
        return Interpretation(())
    await context.load_table(first.segments)
    planes = _Planes(first, byteorder, axes, shape, context.warn)
    planes.add_file(index, indexmap)
    if math.prod(shape) > len(indexmap):
        await _other_files(context, planes, summary)
        if not planes.members:
            planes = _subset(planes, indexmap)
            planes.add_file(index, indexmap)
    return _interpretation(planes, summary, first)


def _subset(planes: _Planes, indexmap: np.ndarray) -> _Planes:
    """The part of the data set this file holds (its other files were not found)."""
    low = indexmap[:, :4].min(axis=0)
    high = indexmap[:, :4].max(axis=0)
    indexmap[:, :4] -= low
    shape = tuple(int(high[INDEX_COLUMNS[a]] - low[INDEX_COLUMNS[a]] + 1) for a in planes.axes)
    if shape != planes.shape:
        planes.warn(
            f"the MMStack series is missing files; its part in this file, {shape} of "
            f"{planes.shape}, is served"
        )
    return _Planes(planes.layout_page, planes.byteorder, planes.axes, shape, planes.warn)


async def _other_files(context: SeriesContext, planes: _Planes, summary: dict[str, Any]) -> None:
    """Open the other files of the data set and place their images."""
    index = context.index
    filename = file_name(index.url)
    prefix = summary.get("Prefix")
    if "_MMStack" not in filename or (isinstance(prefix, str) and not filename.startswith(prefix)):
        context.warn(f"the MMStack file name {filename!r} does not name its data set")
        return
    description = index.pages[0].ifd.get(DESCRIPTION)
    tried = {filename}
    size = math.prod(planes.shape)
    misses = 0  # chains in a row whose first file does not exist
    for chain in member_names(
        filename, summary, description if isinstance(description, str) else None
    ):
        for k, name in enumerate(chain):
            if planes.found >= size or len(tried) > MAX_MEMBERS or misses >= MAX_MISSES:
                return
            if name in tried:
                continue
            tried.add(name)
            if not await _add_member(context, planes, name):
                misses = misses + 1 if k == 0 else 0
                break
            misses = 0


async def _add_member(context: SeriesContext, planes: _Planes, name: str) -> bool:
    """Place the images of the file ``name``; whether it exists."""
    try:
        member = await context.companion(name)
    except FileNotFoundError:
        return False
    except TiffZarrError as exc:
        context.warn(f"{name}: not read as a file of the MMStack data set: {exc}")
        return False
    if member is context.index:
        return True
    if member.header.byteorder != context.index.header.byteorder:
        context.warn(f"{name}: its byte order differs from the first file's; left out")
        return True

    async def read(offset: int, length: int) -> bytes:
        return await context.companion_bytes(name, offset, length)

    within = clipped(read, member.size)
    where = f"{name}: "
    header = await read_header(within, member.header.byteorder, lambda m: context.warn(where + m))
    if header is None or header.index_map is None:
        return True
    indexmap = await _index_map(
        within,
        member.size,
        header.index_map,
        member.header.byteorder,
        lambda m: context.warn(where + m),
    )
    if indexmap is not None:
        planes.add_file(member, indexmap)
    return True


def _interpretation(planes: _Planes, summary: dict[str, Any], first: Page) -> Interpretation:
    size = len(planes.pages)
    if planes.found < size:
        planes.warn(
            f"the MMStack series is missing {size - planes.found} of {size} images; "
            f"they are served as fill"
        )
    if planes.found == 0:
        return Interpretation(())
    layout, _ = first.require_layout()
    level = array_from_pages(
        planes.pages,
        urls=tuple(planes.urls),
        byteorder=planes.byteorder,
        shape=(*planes.shape, *layout.shape),
        axes=planes.axes + layout.axes,
        sources=tuple(planes.sources),
    )
    channels = planes.shape[planes.axes.index("C")]
    result = Series(
        name="",
        kind=KIND,
        levels=(level,),
        attrs={"micromanager": {"MajorVersion": 0, "Summary": bounded_json(summary)}},
        scales=micromanager_scales(summary, first),
        channels=micromanager_channels(summary, channels),
    )
    return Interpretation((result,), members=tuple(planes.members))
