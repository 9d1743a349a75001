"""Arrays over file sequences: files holding one image layout, in a grid of new axes.

The files' arrays must agree on everything but where their segments are: shape,
dtype, chunks, axes and codec. The array over them has the grid's dimensions in
front (one chunk per file along each), each file's segment tables under its own
URL, and no segments where the grid has no file.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from tiffzarr.errors import TiffFormatError
from tiffzarr.model._array import ArrayModel, ChunkManifest
from tiffzarr.model._segments import FileCheck, FileReference, SegmentTable, TagArray

__all__ = ["grid_files", "predicted_file"]


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
    cells: Sequence[ArrayModel | None], /, *, shape: tuple[int, ...], axes: str
) -> ArrayModel:
    """One array over the arrays of files laid out in a grid of ``shape`` along ``axes``.

    ``cells`` holds each cell's array in C order, ``None`` for a cell without a
    file (its chunks are fill). The array's shape is the grid's followed by the
    files' image shape; each chunk is still one segment of one file. Each array
    must come from one file (one URL) and have the first one's shape, dtype,
    chunks, axes and codec; the first mismatch raises
    :class:`~tiffzarr.errors.TiffFormatError` naming the file.
    """
    arrays = [a for a in cells if a is not None]
    if not arrays:
        raise ValueError("a sequence needs at least one file")
    if len(cells) != math.prod(shape) or len(axes) != len(shape):
        raise ValueError(f"{len(cells)} cells along {axes!r} do not fill a grid of {shape}")
    first = arrays[0]
    for array in arrays:
        if len(array.manifest.urls) != 1:
            raise ValueError("each array of a sequence must come from one file")
        _same_image(first, array, array.manifest.urls[0])
    m = first.manifest
    pages = math.prod(m.page_grid)
    tables: list[SegmentTable | None] = []
    sources: list[int] = []
    present = 0  # the files before this cell: the index of its URL
    for a in cells:
        if a is None:
            tables += [None] * pages
            sources += [0] * pages
        else:
            tables += a.manifest.tables
            sources += [present] * pages
            present += 1
    k = len(shape)
    manifest = ChunkManifest(
        urls=tuple(a.manifest.urls[0] for a in arrays),
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


def predicted_file(first: ArrayModel, url: str, reference: FileReference, /) -> ArrayModel:
    """The array of the file at ``url``, assumed to be laid out as ``first``.

    Its segment tables carry a :class:`FileCheck` against ``reference`` (the
    first file's layout bytes), so nothing is served from it unchecked.
    """
    check = FileCheck(reference)
    tables = tuple(
        None if t is None else SegmentTable(_fresh(t.offsets), _fresh(t.bytecounts), check)
        for t in first.manifest.tables
    )
    manifest = dataclasses.replace(first.manifest, urls=(url,), tables=tables)
    return dataclasses.replace(first, manifest=manifest)
