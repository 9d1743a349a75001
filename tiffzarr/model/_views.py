"""Other views of the same array: without its dimensions of length 1, or with its
dimensions in another order. The chunks stay the file's segments; only the
map from chunk coordinates to segments and the codec's output order change."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from tiffzarr.model._array import ArrayModel

__all__ = ["SQUEEZE_KEEP", "squeeze_array", "squeezed_dims", "transpose_array"]

SQUEEZE_KEEP = "XY"
"""Axes kept by :func:`squeeze_array` even when they have length 1 (as tifffile)."""


def squeezed_dims(shape: Sequence[int], axes: str, /, *, keep: str = SQUEEZE_KEEP) -> list[bool]:
    """Which dimensions a squeeze keeps: those longer than 1 or named in ``keep``;
    the last one when that would leave none.

    >>> squeezed_dims((5, 1, 2, 1, 1), "TZYXC")
    [True, False, True, True, False]
    >>> squeezed_dims((1,), "Q")
    [True]
    """
    kept = [n != 1 or a in keep for n, a in zip(shape, axes, strict=True)]
    if kept and not any(kept):
        kept[-1] = True
    return kept


def squeeze_array(array: ArrayModel, /, *, keep: str = SQUEEZE_KEEP) -> ArrayModel:
    """The array without its dimensions of length 1 (but those of axes in ``keep``).

    >>> from tiffzarr.format import page_layout
    >>> from tiffzarr.model import Ifd, Page, SegmentTable, TagArray, array_from_pages
    >>> table = SegmentTable(TagArray.from_values([8]), TagArray.from_values([24]))
    >>> ifd = Ifd((0,), 8, "image", {}, {}, frozenset(), 0)
    >>> page = Page(ifd, page_layout({256: 6, 257: 4}, nsegments=1), table)
    >>> a = array_from_pages([page], urls=("a",), byteorder="<", shape=(1, 4, 6, 1), axes="IYXS")
    >>> b = squeeze_array(a)
    >>> b.shape, b.axes, b.manifest.page_dims, b.manifest.inner_dims
    ((4, 6), 'YX', (), (0, 1))
    >>> c = transpose_array(b, (1, 0))
    >>> c.shape, c.axes, c.order, c.manifest.inner_dims
    ((6, 4), 'XY', (1, 0), (1, 0))
    """
    kept = squeezed_dims(array.shape, array.axes, keep=keep)
    if all(kept):
        return array
    if array.order:
        raise ValueError("squeeze an array before transposing it")
    positions, n = [], 0
    for k in kept:
        positions.append(n if k else -1)
        n += k

    def pick(values: Sequence[object]) -> tuple[object, ...]:
        return tuple(v for v, k in zip(values, kept, strict=True) if k)

    return dataclasses.replace(
        array,
        shape=pick(array.shape),  # type: ignore[arg-type]
        chunks=pick(array.chunks),  # type: ignore[arg-type]
        axes="".join(pick(array.axes)),  # type: ignore[arg-type]
        dim_names=pick(array.dim_names) if array.dim_names else (),  # type: ignore[arg-type]
        manifest=array.manifest.moved(lambda d: positions[d]),
    )


def transpose_array(array: ArrayModel, order: Sequence[int], /) -> ArrayModel:
    """The array with its dimensions in ``order``: dimension ``i`` of the result is
    dimension ``order[i]`` of ``array``.

    Chunks keep their bytes; the codec's output is transposed (zarr v3's
    ``transpose`` codec, or tiffzarr's transpose filter for zarr v2).
    """
    order = tuple(int(i) for i in order)
    if sorted(order) != list(range(len(array.shape))):
        raise ValueError(f"{order} is not an order of {len(array.shape)} dimensions")
    if order == tuple(range(len(order))):
        return array
    where = {d: i for i, d in enumerate(order)}
    stored = array.order or tuple(range(len(order)))
    return dataclasses.replace(
        array,
        shape=tuple(array.shape[d] for d in order),
        chunks=tuple(array.chunks[d] for d in order),
        axes="".join(array.axes[d] for d in order),
        dim_names=tuple(array.dim_names[d] for d in order) if array.dim_names else (),
        manifest=array.manifest.moved(lambda d: where[d]),
        order=tuple(stored[d] for d in order),
    )
