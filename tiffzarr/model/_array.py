"""Arrays over TIFF segments: shape, dtype, chunk grid, codec and chunk manifest."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tiffzarr.codecs._spec import SegmentSpec
from tiffzarr.errors import NotFoundError
from tiffzarr.format import PageLayout
from tiffzarr.model._index import Page
from tiffzarr.model._segments import SegmentTable

__all__ = [
    "ArrayModel",
    "ChunkManifest",
    "Series",
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
        subsampling=layout.subsampling,
        t4options=int(ifd.get(292, 0)),
        **extra,
    )


def _ratios(value: Any) -> list[float]:
    """RATIONAL tag values as floats."""
    pairs = np.asarray(value, dtype="f8").reshape(-1, 2)
    return [float(n / d) if d else 0.0 for n, d in pairs]


@dataclass(frozen=True, slots=True)
class ChunkManifest:
    """Where every chunk of an array lives.

    The array's chunk grid is split into *page dimensions* (one chunk per page
    along each, at positions ``page_dims``) and the *inner* chunk dimensions of
    one page's :class:`PageLayout` (at positions ``inner_dims``); any other
    dimension has size 1. ``tables[i]`` lists the segments of the i-th page in C
    order over ``page_grid``; ``None`` marks a page that does not exist (its
    chunks are fill). ``sources[i]`` indexes ``urls``. With ``whole_pages`` one
    chunk holds a whole page (all its segments, framed), and the inner chunk
    coordinates are all 0.
    """

    urls: tuple[str, ...]
    layout: PageLayout
    page_grid: tuple[int, ...]
    page_dims: tuple[int, ...]
    inner_dims: tuple[int, ...]
    tables: tuple[SegmentTable | None, ...]
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
        inner = tuple(coords[d] for d in self.inner_dims)
        return page, self.layout.segment_index(inner)

    def table(self, page: int, /) -> SegmentTable | None:
        return self.tables[page]


@dataclass(frozen=True, slots=True)
class ArrayModel:
    """One N-D array over TIFF segments: what a zarr array needs, as data."""

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

    @property
    def grid(self) -> tuple[int, ...]:
        return tuple(-(-s // c) if s else 0 for s, c in zip(self.shape, self.chunks, strict=True))

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


@dataclass(frozen=True, slots=True)
class Series:
    """A named image in the file, with its pyramid levels (level 0 is full size)."""

    name: str
    kind: str
    levels: tuple[ArrayModel, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.levels[0].shape

    @property
    def dtype(self) -> np.dtype:
        return self.levels[0].dtype

    @property
    def axes(self) -> str:
        return self.levels[0].axes

    def level(self, index: int, /) -> ArrayModel:
        try:
            return self.levels[index]
        except IndexError as exc:
            raise NotFoundError(
                f"series {self.name!r} has {len(self.levels)} levels, not {index + 1}"
            ) from exc


def array_from_pages(
    pages: Sequence[Page | None],
    /,
    *,
    urls: tuple[str, ...],
    byteorder: str,
    lead_shape: tuple[int, ...] = (),
    lead_axes: str = "",
    sources: tuple[int, ...] | None = None,
    trailing_sample: bool = False,
    fill_value: int | float | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> ArrayModel:
    """An array stacking pages of one layout along leading dimensions.

    ``pages`` are in C order over ``lead_shape`` (``None`` for a missing page);
    ``trailing_sample`` appends a sample axis of length 1 (tifffile's generic
    series do that for images without samples).
    """
    keyframe = next(p for p in pages if p is not None)
    layout, _ = keyframe.require_layout()
    if len(lead_shape) != len(lead_axes) or math.prod(lead_shape) != len(pages):
        raise ValueError(f"{len(pages)} pages do not fill a {lead_shape} grid")
    lead = len(lead_shape)
    tail = ((1, 1, "S"),) if trailing_sample else ()
    shape = (*lead_shape, *layout.shape, *(t[0] for t in tail))
    chunks = (*(1,) * lead, *layout.chunks, *(t[1] for t in tail))
    axes = lead_axes + layout.axes + "".join(t[2] for t in tail)
    tables = tuple(None if p is None else p.require_layout()[1] for p in pages)
    manifest = ChunkManifest(
        urls=urls,
        layout=layout,
        page_grid=lead_shape,
        page_dims=tuple(range(lead)),
        inner_dims=tuple(range(lead, lead + len(layout.shape))),
        tables=tables,
        sources=sources if sources is not None else (0,) * len(pages),
    )
    return ArrayModel(
        shape=shape,
        dtype=layout.dtype.newbyteorder("="),
        chunks=chunks,
        axes=axes,
        codec=segment_spec(keyframe, byteorder),
        manifest=manifest,
        fill_value=fill_value,
        attrs=dict(attrs or {}),
    )


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
        chunks[dim] = max(1, n)
    layout = manifest.layout
    return dataclasses.replace(
        array,
        chunks=tuple(chunks),
        codec=dataclasses.replace(array.codec, grid=layout.grid, page=layout.shaped),
        manifest=dataclasses.replace(manifest, whole_pages=True),
    )
