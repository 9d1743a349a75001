"""Per array of a store: standard codecs in its metadata where they are exact.

tiffzarr's codec pads a short last strip; a standard codec needs every chunk
whole. An uncompressed last strip is made whole by referencing the bytes that
follow it in the file (they land in rows beyond the image, which zarr never
shows); a compressed one keeps tiffzarr's codec.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from tiffzarr.codecs._portable import portable_codecs
from tiffzarr.format import Compression
from tiffzarr.model import ArrayModel
from tiffzarr.store import TiffStore

__all__ = ["ChunkLocation", "Swapped", "swap_codecs"]

ChunkLocation = tuple[str, str, int, int]
"""``(key, url, offset, nbytes)`` as ``TiffStore.chunk_locations`` yields them."""


@dataclass(slots=True)
class Swapped:
    """Metadata documents with standard codecs, the arrays that kept tiffzarr's
    codec (path → reason), and chunks whose reference grows to a whole segment."""

    documents: dict[str, bytes]
    fallbacks: dict[str, str] = field(default_factory=dict)
    lengths: dict[str, int] = field(default_factory=dict)


def swap_codecs(store: TiffStore, locations: Sequence[ChunkLocation], /) -> Swapped:
    """The store's metadata documents, each array's codec swapped where that is exact."""
    out = Swapped(dict(store.metadata))
    by_array: dict[str, list[ChunkLocation]] = {path: [] for path in store.hierarchy.arrays}
    for location in locations:
        by_array[_array_path(location[0], store)].append(location)
    for path, array in store.hierarchy.arrays.items():
        if array.order and store.zarr_format == 2:
            out.fallbacks[path] = (
                "the array is served in another axis order than its segments are stored in; "
                "zarr v2 has no standard codec that transposes"
            )
            continue
        lengths = _whole_segments(store, path, array, by_array[path])
        result = portable_codecs(
            array.codec, zarr_format=store.zarr_format, partial_segments=lengths is None
        )
        if result.fields is None:
            out.fallbacks[path] = result.reason or "no standard codec"
            continue
        out.lengths.update(lengths or {})
        prefix = f"{path}/" if path else ""
        key = prefix + ("zarr.json" if store.zarr_format == 3 else ".zarray")
        doc = json.loads(out.documents[key])
        fields = dict(result.fields)
        if array.order:  # keep the transpose codec in front of the segment codecs
            fields["codecs"] = [doc["codecs"][0], *fields["codecs"]]
        doc.update(fields)
        # compact, as the store's documents (with an indent, json's encoder is pure Python)
        out.documents[key] = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
    return out


def _array_path(key: str, store: TiffStore) -> str:
    """The path of the array a chunk key belongs to."""
    if store.zarr_format == 3:
        return "" if key.startswith("c/") else key.partition("/c/")[0]
    return key.rpartition("/")[0]


def _coords(key: str, path: str, store: TiffStore) -> tuple[int, ...]:
    rest = key[len(path) + 1 :] if path else key
    if store.zarr_format == 3:
        return tuple(int(c) for c in rest.split("/")[1:])
    return tuple(int(c) for c in rest.split("."))


def _whole_segments(
    store: TiffStore, path: str, array: ArrayModel, locations: Sequence[ChunkLocation]
) -> dict[str, int] | None:
    """Reference lengths that make every chunk whole (key → length; empty when all are),
    or ``None`` when some chunk cannot be whole.

    Compressed strips are whole unless the page length is not a multiple of
    RowsPerStrip. An uncompressed chunk shorter than a segment can grow when it is
    the last strip of its page, holds at least that strip's rows, and the file
    has the bytes that follow it.
    """
    layout = array.manifest.layout
    rows = layout.tile[1]
    uneven = not layout.tiled and layout.length % rows != 0
    if layout.compression != Compression.NONE:
        return None if uneven else {}
    full = layout.stored_nbytes
    short = [loc for loc in locations if loc[3] < full]
    if not short:
        return {}
    if not uneven or layout.tiled or layout.depth != 1:
        return None
    last_rows = layout.length - (layout.length // rows) * rows
    y = array.manifest.inner_dims[layout.axes.index("Y")]
    if y < 0:
        return None
    last = array.grid[y] - 1
    lengths = {}
    for key, url, offset, nbytes in short:
        if _coords(key, path, store)[y] != last or nbytes < last_rows * layout.row_nbytes:
            return None
        if url != store.index.url or offset + full > store.index.size:
            return None
        lengths[key] = full
    return lengths
