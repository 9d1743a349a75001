"""Arrays over file sequences: files holding one image layout, stacked along a new axis.

The files' arrays must agree on everything but where their segments are: shape,
dtype, chunks, axes and codec. The stacked array has one more leading dimension
(one chunk per file) and each file's segment tables under its own URL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from tiffzarr.errors import TiffFormatError
from tiffzarr.model._array import ArrayModel, ChunkManifest
from tiffzarr.model._segments import FileCheck, FileReference, SegmentTable, TagArray

__all__ = ["predicted_file", "stack_files"]


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


def stack_files(arrays: Sequence[ArrayModel], /, *, axis: str = "I") -> ArrayModel:
    """One array over the arrays of several files, stacked along a new first axis.

    Each array must come from one file (one URL) and have the first one's shape,
    dtype, chunks, axes and codec; the first mismatch raises
    :class:`~tiffzarr.errors.TiffFormatError` naming the file.
    """
    if not arrays:
        raise ValueError("a sequence needs at least one file")
    first = arrays[0]
    for array in arrays:
        if len(array.manifest.urls) != 1:
            raise ValueError("each array of a sequence must come from one file")
        _same_image(first, array, array.manifest.urls[0])
    m = first.manifest
    manifest = ChunkManifest(
        urls=tuple(a.manifest.urls[0] for a in arrays),
        layout=m.layout,
        page_grid=(len(arrays), *m.page_grid),
        page_dims=(0, *(d + 1 for d in m.page_dims)),
        inner_dims=tuple(d + 1 if d >= 0 else -1 for d in m.inner_dims),
        tables=tuple(t for a in arrays for t in a.manifest.tables),
        sources=tuple(i for i, a in enumerate(arrays) for _ in a.manifest.tables),
        whole_pages=m.whole_pages,
    )
    dims = (_new_name(axis, first.dims), *first.dims) if first.dim_names else ()
    return dataclasses.replace(
        first,
        shape=(len(arrays), *first.shape),
        chunks=(1, *first.chunks),
        axes=axis + first.axes,
        manifest=manifest,
        dim_names=dims,
        order=(0, *(d + 1 for d in first.order)) if first.order else (),
    )


def _new_name(axis: str, names: tuple[str, ...]) -> str:
    name = axis
    while name in names:
        name += axis
    return name


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
