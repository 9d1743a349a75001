"""Arrays over TIFF segments: shape, dtype, chunk grid, codec and chunk manifest."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tiffzarr.codecs._spec import SegmentSpec
from tiffzarr.codecs._ycbcr import is_planar_subsampled
from tiffzarr.format import PageLayout
from tiffzarr.model._index import Page
from tiffzarr.model._pages import Pages
from tiffzarr.model._segments import SegmentTable

__all__ = [
    "ArrayModel",
    "ChunkManifest",
    "array_from_pages",
    "segment_spec",
    "whole_page_chunks",
]


def segment_spec(page: Page, byteorder: str) -> SegmentSpec:
    """The codec configuration that decodes the segments of ``page``."""
    layout, _ = page.require_layout()
    ifd = page.ifd
    coefficients = ifd.get(529)
    reference = ifd.get(532)
    short = 0 if layout.tiled else layout.length % layout.tile[1]  # rows of a short last strip
    crop = tuple(max(1, min(t, n)) for t, n in zip(layout.tile, layout.shaped[1:4], strict=True))
    extra: dict[str, Any] = {}
    if coefficients is not None:
        extra["ycbcrcoefficients"] = tuple(_ratios(coefficients))
    if reference is not None:
        extra["referenceblackwhite"] = tuple(_ratios(reference))
    return SegmentSpec(
        compression=layout.compression,
        shape=layout.segment_shape,
        dtype=layout.dtype.newbyteorder("=").str,
        bitspersample=layout.bitspersample,
        sampleformat=layout.sampleformat,
        byteorder=byteorder,  # type: ignore[arg-type]
        predictor=layout.predictor,
        fillorder=layout.fillorder,
        photometric=layout.photometric,
        jpegtables=page.jpegtables,
        jpegheader=page.jpegheader,
        subsampling=layout.subsampling,
        t4options=int(ifd.get(292, 0)),
        lastrows=short or None,
        crop=None if crop == layout.tile else crop,  # type: ignore[arg-type]
        **extra,
    )


def _ratios(value: Any) -> list[float]:
    """RATIONAL tag values (numerator, denominator pairs) as floats; integer values as
    they are (some writers store ReferenceBlackWhite as LONG; libtiff reads the numbers).

    >>> _ratios([[2990, 10000], [5870, 10000]]), _ratios([16, 235])
    ([0.299, 0.587], [16.0, 235.0])
    """
    values = np.asarray(value, dtype="f8")
    if values.ndim < 2:
        return [float(v) for v in values.reshape(-1)]
    return [float(n / d) if d else 0.0 for n, d in values.reshape(-1, 2)]


@dataclass(frozen=True, slots=True)
class ChunkManifest:
    """Where every chunk of an array lives.

    The array's chunk grid is split into *page dimensions* (one chunk per page
    along each, at array positions ``page_dims``) and the *inner* dimensions of
    one page's :class:`PageLayout` (``inner_dims[j]`` is the array position of the
    layout's dimension ``j``, or -1 when the array leaves out that dimension of
    length 1); any other dimension has length 1. ``tables[i]`` lists the segments
    of the i-th page in C order over ``page_grid``; ``None`` marks a page that
    does not exist (its chunks are fill). ``sources[i]`` indexes ``urls``. With
    ``whole_pages`` one chunk holds a whole page (all its segments, framed), and
    the inner chunk coordinates are all 0.
    """

    urls: tuple[str, ...]
    layout: PageLayout
    page_grid: tuple[int, ...]
    page_dims: tuple[int, ...]
    inner_dims: tuple[int, ...]
    tables: Sequence[SegmentTable | None]
    sources: tuple[int, ...]
    whole_pages: bool = False

    def __post_init__(self) -> None:
        if len(self.tables) != math.prod(self.page_grid):
            raise ValueError("one segment table per page is required")

    def split(self, coords: Sequence[int], /) -> tuple[int, int]:
        """Map chunk coordinates to ``(page number, segment index)``."""
        page = 0
        for dim, n in zip(self.page_dims, self.page_grid, strict=True):
            page = page * n + coords[dim]
        if self.whole_pages:
            return page, -1
        inner = tuple(coords[d] if d >= 0 else 0 for d in self.inner_dims)
        return page, self.layout.segment_index(inner)

    def table(self, page: int, /) -> SegmentTable | None:
        return self.tables[page]

    def moved(self, position: Callable[[int], int], /) -> ChunkManifest:
        """The manifest of an array whose dimension ``d`` moved to ``position(d)``
        (-1: left out, for dimensions of length 1)."""
        keep = [(d, n) for d, n in zip(self.page_dims, self.page_grid, strict=True)]
        kept = [(position(d), n) for d, n in keep if position(d) >= 0 or n != 1]
        if any(d < 0 for d, _ in kept):
            raise ValueError("only dimensions of length 1 can be left out")
        return dataclasses.replace(
            self,
            page_grid=tuple(n for _, n in kept),
            page_dims=tuple(d for d, _ in kept),
            inner_dims=tuple(position(d) if d >= 0 else -1 for d in self.inner_dims),
        )


@dataclass(frozen=True, slots=True)
class ArrayModel:
    """One N-D array over TIFF segments: what a zarr array needs, as data.

    ``order`` is empty when the array's dimensions are stored in their order;
    otherwise dimension ``i`` of the array is dimension ``order[i]`` of what the
    codec decodes (see :func:`~tiffzarr.model.transpose_array`).
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    chunks: tuple[int, ...]
    axes: str
    codec: SegmentSpec
    manifest: ChunkManifest
    fill_value: int | float | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)
    dim_names: tuple[str, ...] = ()
    """Dimension names, when not derived from the axes (see :attr:`dims`)."""
    order: tuple[int, ...] = ()

    def __repr__(self) -> str:
        order = f", order={self.order}" if self.order else ""
        return (
            f"ArrayModel({self.shape} {self.dtype} {self.axes}, chunks={self.chunks}, "
            f"pages={len(self.manifest.tables)}{order})"
        )

    @property
    def grid(self) -> tuple[int, ...]:
        return tuple(-(-s // c) if s else 0 for s, c in zip(self.shape, self.chunks, strict=True))

    @property
    def stored_chunks(self) -> tuple[int, ...]:
        """The chunk shape in the order the codec decodes it."""
        if not self.order:
            return self.chunks
        stored = [0] * len(self.chunks)
        for i, d in enumerate(self.order):
            stored[d] = self.chunks[i]
        return tuple(stored)

    @property
    def dims(self) -> tuple[str, ...]:
        """Dimension names: ``dim_names``, or the axis letters made unique where they repeat."""
        if self.dim_names:
            return self.dim_names
        names: list[str] = []
        for a in self.axes:
            name = a
            while name in names:
                name += a
            names.append(name)
        return tuple(names)


def array_from_pages(
    pages: Sequence[Page | None],
    /,
    *,
    urls: tuple[str, ...],
    byteorder: str,
    shape: Sequence[int] | None = None,
    axes: str | None = None,
    sources: tuple[int, ...] | None = None,
    fill_value: int | float | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> ArrayModel:
    """An array of ``shape`` over pages of one layout, as tifffile's series are.

    The array holds the pages' images one after the other (in C order; ``None``
    for a missing page, served as fill): its last dimensions must hold one page
    (dimensions of length 1 may be added or left out) and its leading ones
    enumerate the pages. Without ``shape`` the array is one page, or the pages
    stacked along a leading ``I``. Raises :class:`ValueError` when the pages
    cannot be laid out so.

    >>> from tiffzarr.format import page_layout
    >>> from tiffzarr.model import Ifd, TagArray
    >>> layout = page_layout({256: 4, 257: 2, 258: 8}, nsegments=1)
    >>> table = SegmentTable(TagArray.from_values([8]), TagArray.from_values([8]))
    >>> page = Page(Ifd((0,), 8, "image", {}, {}, frozenset(), 0), layout, table)
    >>> a = array_from_pages([page] * 6, urls=("a.tif",), byteorder="<", shape=(3, 2, 1, 2, 4),
    ...                      axes="TZCYX")
    >>> a.chunks, a.manifest.page_dims, a.manifest.inner_dims
    ((1, 1, 1, 2, 4), (0, 1), (3, 4))
    """
    keyframe = next(p for p in pages if p is not None)
    layout, _ = keyframe.require_layout()
    if shape is None:
        shape = layout.shape if len(pages) == 1 else (len(pages), *layout.shape)
        axes = layout.axes if len(pages) == 1 else "I" + layout.axes
    shape = tuple(int(n) for n in shape)
    if axes is None or len(axes) != len(shape):
        raise ValueError(f"axes {axes!r} do not name the dimensions of {shape}")
    lead, inner_dims = _align(shape, layout.shape, len(pages))
    chunks = [1] * len(shape)
    for d, n in zip(inner_dims, layout.chunks, strict=True):
        if d >= 0:
            chunks[d] = max(1, min(n, shape[d]))  # an image smaller than a tile: the codec crops
    tables: Sequence[SegmentTable | None]
    if isinstance(pages, Pages):
        tables = pages.tables()  # built when asked for: runs of pages stay compact
    else:
        tables = tuple(None if p is None else p.require_layout()[1] for p in pages)
    manifest = ChunkManifest(
        urls=urls,
        layout=layout,
        page_grid=shape[:lead],
        page_dims=tuple(range(lead)),
        inner_dims=inner_dims,
        tables=tables,
        sources=sources if sources is not None else (0,) * len(pages),
    )
    array = ArrayModel(
        shape=shape,
        dtype=layout.dtype.newbyteorder("="),
        chunks=tuple(chunks),
        axes=axes,
        codec=segment_spec(keyframe, byteorder),
        manifest=manifest,
        fill_value=fill_value,
        attrs=dict(attrs or {}),
    )
    if layout.separate and is_planar_subsampled(array.codec):
        return whole_page_chunks(array)  # subsampled YCbCr planes convert to RGB together
    return array


def _align(
    shape: tuple[int, ...], page: tuple[int, ...], npages: int
) -> tuple[int, tuple[int, ...]]:
    """How an array of ``shape`` holds ``npages`` pages of shape ``page``: the number of
    leading dimensions that enumerate the pages, and where each page dimension is."""
    for lead in range(len(shape) + 1):  # the fewest: page dimensions of length 1 stay inner
        if math.prod(shape[:lead]) != npages:
            continue
        found = _match_tail(shape, lead, page)
        if found is not None:
            return lead, found
    raise ValueError(f"{npages} pages of shape {page} do not make an array of shape {shape}")


def _match_tail(shape: tuple[int, ...], lead: int, page: tuple[int, ...]) -> tuple[int, ...] | None:
    """Positions of the page's dimensions among ``shape[lead:]`` (-1 for a page
    dimension of length 1 the array leaves out), or ``None``."""
    positions: list[int] = []
    d = lead
    for n in page:
        while d < len(shape) and shape[d] == 1 and n != 1:
            d += 1  # an added dimension of length 1
        if d < len(shape) and shape[d] == n:
            positions.append(d)
            d += 1
        elif n == 1:
            positions.append(-1)
        else:
            return None
    if any(n != 1 for n in shape[d:]):
        return None
    return tuple(positions)


def whole_page_chunks(array: ArrayModel, /) -> ArrayModel:
    """The same array chunked by whole pages (chunk mode ``"page"``).

    Pages made of many small strips become one chunk each; the chunk's bytes
    frame all the page's segments (see :mod:`tiffzarr.codecs._page`).
    """
    manifest = array.manifest
    if manifest.whole_pages:
        return array
    chunks = list(array.chunks)
    for dim, n in zip(manifest.inner_dims, manifest.layout.shape, strict=True):
        if dim >= 0:
            chunks[dim] = max(1, n)
    layout = manifest.layout
    return dataclasses.replace(
        array,
        chunks=tuple(chunks),
        codec=dataclasses.replace(array.codec, grid=layout.grid, page=layout.shaped, crop=None),
        manifest=dataclasses.replace(manifest, whole_pages=True),
    )
