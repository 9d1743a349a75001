"""The parsed structure of one TIFF file: IFDs, pages, SubIFDs, series."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tiffzarr.errors import NotFoundError, TiffZarrError
from tiffzarr.format import Header, Namespace, PageLayout, TagEntry, TagValue, tag_name
from tiffzarr.model._segments import SegmentTable

if TYPE_CHECKING:
    from tiffzarr.model._series import Series

__all__ = ["FileVersion", "Ifd", "Page", "PagePath", "TiffIndex", "format_path"]

PagePath = tuple[int, ...]
"""``(k,)`` is IFD k of the main chain; ``(k, j)`` its SubIFD j; and so on."""


def format_path(path: PagePath, /) -> str:
    """``(3,)`` → ``"3"``, ``(3, 1)`` → ``"3/1"``."""
    return "/".join(str(i) for i in path)


@dataclass(frozen=True, slots=True)
class Ifd:
    """One parsed IFD: where it is, its entries and the values loaded at open.

    ``deferred`` names the tags whose values were not loaded (large arrays that
    are loaded on demand, or big private blobs).
    """

    path: PagePath
    offset: int
    namespace: Namespace
    entries: Mapping[int, TagEntry]
    values: Mapping[int, TagValue]
    deferred: frozenset[int]
    next_offset: int

    def get(self, code: int, default: Any = None, /) -> Any:
        return self.values.get(code, default)

    def __contains__(self, code: object) -> bool:
        return code in self.entries

    def tag_names(self) -> dict[int, str]:
        return {code: tag_name(code, namespace=self.namespace) for code in self.entries}


@dataclass(frozen=True, slots=True)
class Page:
    """An image IFD with the array geometry derived from its tags.

    ``layout`` and ``segments`` are ``None`` when the tags do not describe a
    readable image; ``error`` then says why. ``jpegheader`` is the JPEG header
    the segments' bytes continue, when the reader rebuilt one (old-style JPEG).
    """

    ifd: Ifd
    layout: PageLayout | None
    segments: SegmentTable | None
    error: TiffZarrError | None = None
    subifd_offsets: tuple[int, ...] = ()
    subifds: tuple[Page | None, ...] = ()
    extra: Mapping[str, Ifd] = field(default_factory=dict)
    jpegheader: bytes | None = None

    def __repr__(self) -> str:
        what = (
            f"{self.layout.shape} {self.layout.dtype}" if self.layout else f"error={self.error!s}"
        )
        return f"Page({format_path(self.path)}, {what}, subifds={len(self.subifd_offsets)})"

    @property
    def path(self) -> PagePath:
        return self.ifd.path

    @property
    def jpegtables(self) -> bytes | None:
        value = self.ifd.get(347)
        return value if isinstance(value, bytes) else None

    @property
    def subfiletype(self) -> int:
        value = self.ifd.get(254, 0)
        return value if isinstance(value, int) else 0

    def require_layout(self) -> tuple[PageLayout, SegmentTable]:
        """The layout and segments, or the error that prevented them."""
        if self.layout is None or self.segments is None:
            assert self.error is not None
            raise self.error
        return self.layout, self.segments


@dataclass(frozen=True, slots=True)
class FileVersion:
    """A file as it was when it was parsed: its size and version (if known)."""

    url: str
    size: int
    version: str | None = None


@dataclass(frozen=True, slots=True)
class TiffIndex:
    """Everything parsed from one file: header, pages (with SubIFDs), series.

    ``flags``: ``"ndpi"`` (NDPI 64-bit offsets), ``"cog"`` (GDAL's COG ghost area
    says every IFD precedes the pixel data), ``"block-leaders"`` (it says each
    segment sits between a 4-byte size leader and a copy of its last 4 bytes),
    ``"first-ifd"`` (only the first IFD was read: its metadata describes all the
    image data, stored contiguously after it, as ImageJ hyperstacks do).
    """

    url: str
    size: int
    header: Header
    pages: Sequence[Page]
    """The pages of the main chain (a :class:`~tiffzarr.model.Pages` when parsed)."""
    series: tuple[Series, ...] = ()
    flags: frozenset[str] = frozenset()
    warnings: tuple[str, ...] = ()
    version: str | None = None
    """The file's version when it was parsed (HTTP ``ETag``/``Last-Modified``), if known."""
    ome_xml: str | None = None
    """The OME-XML that describes the series, when the file (or its set) has one."""
    members: tuple[FileVersion, ...] = ()
    """The other files of a multi-file set whose pages the series use."""

    def __repr__(self) -> str:
        return (
            f"TiffIndex({self.url!r}, {self.header.layout.name}, pages={len(self.pages)}, "
            f"series={[s.shape for s in self.series]})"
        )

    def page(self, path: int | PagePath, /) -> Page:
        """The page at ``path`` (an int for the main chain)."""
        if isinstance(path, int):
            path = (path,)
        if not path or not -len(self.pages) <= path[0] < len(self.pages):
            raise NotFoundError(
                f"no page {format_path(tuple(path))} (the file has {len(self.pages)} pages)",
                url=self.url,
            )
        page: Page | None = self.pages[path[0]]
        for depth, j in enumerate(path[1:], start=1):
            assert page is not None
            if not -len(page.subifds) <= j < len(page.subifds):
                raise NotFoundError(
                    f"no SubIFD {format_path(tuple(path[: depth + 1]))} (page "
                    f"{format_path(tuple(path[:depth]))} has {len(page.subifds)} SubIFDs)",
                    url=self.url,
                )
            page = page.subifds[j]
        if page is None:
            raise NotFoundError(
                f"SubIFD {format_path(tuple(path))} could not be read", url=self.url
            )
        return page

    def iter_pages(self) -> Iterator[Page]:
        """All image pages, depth first: each main page, then its SubIFDs."""

        def walk(page: Page) -> Iterator[Page]:
            yield page
            for sub in page.subifds:
                if sub is not None:
                    yield from walk(sub)

        for page in self.pages:
            yield from walk(page)
