"""Arrays over file sequences: files holding one image layout, in a grid of new axes.

The files' arrays must agree on everything but where their segments are: shape,
dtype, chunks, axes and codec. The array over them has the grid's dimensions in
front (one chunk per file along each), each file's segment tables under its own
URL, and no segments where the grid has no file. A *mosaic* (:func:`tile_files`)
instead lays the files side by side along dimensions of their image, as tiles of
a larger one.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from tiffzarr.errors import TiffFormatError
from tiffzarr.model._array import ArrayModel, ChunkManifest, whole_page_chunks
from tiffzarr.model._segments import FileCheck, FileReference, SegmentTable, TagArray

__all__ = ["FileCell", "MosaicManifest", "grid_files", "predicted_file", "tile_files"]


def _same_image(first: ArrayModel, other: ArrayModel, url: str) -> None:
    fields = ("shape", "dtype", "chunks", "axes", "codec")
    for name in fields:
        mine, theirs = getattr(other, name), getattr(first, name)
        if mine != theirs:
            raise TiffFormatError(
                f"the file's {name} {mine} differs from the first file's {theirs}", url=url
            )
    a, b = other.manifest, first.manifest
    if (a.page_grid, a.page_dims, a.inner_dims, a.whole_pages) != (
        b.page_grid,
        b.page_dims,
        b.inner_dims,
        b.whole_pages,
    ):
        raise TiffFormatError("the file's pages are arranged unlike the first file's", url=url)


def grid_files(
    cells: Sequence[ArrayModel | FileCell | None], /, *, shape: tuple[int, ...], axes: str
) -> ArrayModel:
    """One array over the arrays of files laid out in a grid of ``shape`` along ``axes``.

    ``cells`` holds each cell's array in C order (or a :class:`FileCell` predicted
    from the first array), ``None`` for a cell without a file (its chunks are
    fill). The array's shape is the grid's followed by the files' image shape;
    each chunk is still one segment of one file. Each array must come from one
    file (one URL) and have the first one's shape, dtype, chunks, axes and codec;
    the first mismatch raises
    :class:`~tiffzarr.errors.TiffFormatError` naming the file.
    """
    present = [_cell(a) for a in cells if a is not None]
    first = next((a for a in cells if isinstance(a, ArrayModel)), None)
    if first is None:
        raise ValueError("a sequence needs at least one file read, not only predicted ones")
    if len(cells) != math.prod(shape) or len(axes) != len(shape):
        raise ValueError(f"{len(cells)} cells along {axes!r} do not fill a grid of {shape}")
    for array in cells:
        if isinstance(array, ArrayModel):
            if len(array.manifest.urls) != 1:
                raise ValueError("each array of a sequence must come from one file")
            _same_image(first, array, array.manifest.urls[0])
    m = first.manifest
    pages = math.prod(m.page_grid)
    tables: list[SegmentTable | None] = []
    sources: list[int] = []
    number = 0  # the files before this cell: the index of its URL
    for a in cells:
        if a is None:
            tables += [None] * pages
            sources += [0] * pages
        else:
            tables += _cell(a).tables
            sources += [number] * pages
            number += 1
    k = len(shape)
    manifest = ChunkManifest(
        urls=tuple(cell.url for cell in present),
        layout=m.layout,
        page_grid=(*shape, *m.page_grid),
        page_dims=(*range(k), *(d + k for d in m.page_dims)),
        inner_dims=tuple(d + k if d >= 0 else -1 for d in m.inner_dims),
        tables=tuple(tables),
        sources=tuple(sources),
        whole_pages=m.whole_pages,
    )
    return dataclasses.replace(
        first,
        shape=(*shape, *first.shape),
        chunks=(*(1,) * k, *first.chunks),
        axes=axes + first.axes,
        manifest=manifest,
        dim_names=_new_names(axes, first.dims) + first.dims,  # the image's keep theirs
        order=(*range(k), *(d + k for d in first.order)) if first.order else (),
    )


def _cell(array: ArrayModel | FileCell) -> FileCell:
    if isinstance(array, FileCell):
        return array
    return FileCell(array.manifest.urls[0], array.manifest.tables)


def _new_names(axes: str, names: tuple[str, ...]) -> tuple[str, ...]:
    """Names of the grid's axes, unlike the image's ``names`` and each other."""
    new: list[str] = []
    for axis in axes:
        name = axis
        while name in names or name in new:
            name += axis
        new.append(name)
    return tuple(new)


def _fresh(array: TagArray) -> TagArray:
    """The same tag array in another file: inline values are the IFD's (checked),
    values elsewhere are loaded from that file."""
    if array.offset is None:
        return array
    return TagArray(array.offset, array.count, array.dtype, array.fix, array.fix_ref)


class FileCell(NamedTuple):
    """A file of a grid predicted to be laid out as the first: its URL and segment
    tables (their :class:`FileCheck` compares the file with the first before any of
    its pixels are served). Everything else is the first file's array."""

    url: str
    tables: Sequence[SegmentTable | None]


def predicted_file(first: ArrayModel, url: str, reference: FileReference, /) -> FileCell:
    """The file at ``url``, assumed to be laid out as ``first``.

    Its segment tables carry a :class:`FileCheck` against ``reference`` (the
    first file's layout bytes), so nothing is served from it unchecked.
    """
    check = FileCheck(reference)
    tables = tuple(
        None if t is None else SegmentTable(_fresh(t.offsets), _fresh(t.bytecounts), check)
        for t in first.manifest.tables
    )
    return FileCell(url, tables)


@dataclass(frozen=True, slots=True)
class MosaicManifest(ChunkManifest):
    """The manifest of a mosaic: its chunk coordinates map to those of the files
    stacked along their grid, which the other fields describe.

    Coordinate ``i`` of the stacked array is ``coords[d] // div``, and then
    ``% mod`` when ``mod``, for ``(d, div, mod) = stacked[i]``: along a tiled image
    dimension holding ``n`` chunks per file, chunk ``c`` of the mosaic is chunk
    ``c % n`` of the file at ``c // n`` along the grid.

    >>> two = dict(page_grid=(2,), page_dims=(0,), inner_dims=(1,), tables=(None, None))
    >>> m = MosaicManifest((), None, sources=(0, 0), whole_pages=True, **two,
    ...                    stacked=((0, 3, 0), (0, 1, 3)))  # 2 files of 3 chunks each
    >>> [m.split((c,))[0] for c in range(6)]  # the page (file) of each chunk
    [0, 0, 0, 1, 1, 1]
    """

    stacked: tuple[tuple[int, int, int], ...] = ()

    def split(self, coords: Sequence[int], /) -> tuple[int, int]:
        inner = tuple(
            coords[d] // div % mod if mod else coords[d] // div for d, div, mod in self.stacked
        )
        page = 0
        for dim, n in zip(self.page_dims, self.page_grid, strict=True):
            page = page * n + inner[dim]
        if self.whole_pages:
            return page, -1
        return page, self.layout.segment_index(
            tuple(inner[d] if d >= 0 else 0 for d in self.inner_dims)
        )


def tile_files(stacked: ArrayModel, tiled: Mapping[int, int], /, *, grid_dims: int) -> ArrayModel:
    """The files of a grid (``stacked``, as :func:`grid_files` makes it, its first
    ``grid_dims`` dimensions the grid's) laid side by side as tiles of one image.

    ``tiled`` maps grid dimensions to dimensions of the files' image (counted from 0
    after the grid): along each, the image grows to the grid's length times the
    file's, and the grid dimension goes away (tifffile's ``axestiled``). Each file's
    chunks stay the mosaic's chunks when they divide the file's image along every
    tiled dimension; otherwise each file (each page of it) is one chunk.
    """
    ndim = len(stacked.shape)
    pairs = {g: grid_dims + f for g, f in tiled.items()}
    if (
        len(set(pairs.values())) != len(pairs)
        or not all(0 <= g < grid_dims for g in pairs)
        or not all(grid_dims <= d < ndim for d in pairs.values())
    ):
        raise ValueError(
            f"axestiled {dict(tiled)} must map distinct axes of the {grid_dims}-D grid to "
            f"distinct axes of the {ndim - grid_dims}-D image"
        )
    if any(stacked.shape[d] % stacked.chunks[d] for d in pairs.values()):
        stacked = whole_page_chunks(stacked)  # chunks that do not divide a file: one per file
    shape, chunks = stacked.shape, stacked.chunks
    keep = [d for d in range(ndim) if d not in pairs]
    position = {d: i for i, d in enumerate(keep)}
    per_file = {d: shape[d] // chunks[d] for d in pairs.values()}
    grid_of = {d: g for g, d in pairs.items()}
    mapping = []
    for d in range(ndim):
        if d in pairs:
            mapping.append((position[pairs[d]], per_file[pairs[d]], 0))
        elif d in grid_of:
            mapping.append((position[d], 1, per_file[d]))
        else:
            mapping.append((position[d], 1, 0))
    fields = {f.name: getattr(stacked.manifest, f.name) for f in dataclasses.fields(ChunkManifest)}
    removed = sorted(pairs)
    order = (
        tuple(stacked.order[d] - sum(r < stacked.order[d] for r in removed) for d in keep)
        if stacked.order
        else ()
    )
    return dataclasses.replace(
        stacked,
        shape=tuple(shape[d] * shape[grid_of[d]] if d in grid_of else shape[d] for d in keep),
        chunks=tuple(chunks[d] for d in keep),
        axes="".join(stacked.axes[d] for d in keep),
        dim_names=tuple(stacked.dims[d] for d in keep),
        manifest=MosaicManifest(**fields, stacked=tuple(mapping)),
        order=order,
    )
