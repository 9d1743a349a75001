"""Zarr v2 and v3 metadata documents for the nodes of a store, and chunk keys."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import numpy as np

from tiffzarr.model import ArrayModel

__all__ = [
    "CODEC_ID",
    "TRANSPOSE_ID",
    "ZarrFormat",
    "chunk_keys",
    "metadata_documents",
    "parse_chunk_key",
]

CODEC_ID = "tiffzarr.tiff"
TRANSPOSE_ID = "tiffzarr.transpose"
ZarrFormat = Literal[2, 3]


def _json_number(value: float | int | complex | bool) -> Any:
    """A fill value in the JSON form zarr uses (NaN and infinities as strings)."""
    if isinstance(value, complex | np.complexfloating):
        return [_json_number(value.real), _json_number(value.imag)]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return float(value)
    return int(value)


def _fill(arr: ArrayModel, fill_value: float | int | None, zarr_format: ZarrFormat) -> Any:
    value = fill_value if fill_value is not None else arr.fill_value
    if value is None:
        if zarr_format == 2:
            return None  # xarray would mask 0 and turn integers into floats
        return _json_number(np.zeros((), arr.dtype).item())
    return _json_number(np.asarray(value).astype(arr.dtype).item())


def _dumps(doc: Mapping[str, Any]) -> bytes:
    # compact: with an indent, json falls back to its slow pure-Python encoder
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()


def metadata_documents(
    path: str,
    *,
    array: ArrayModel | None = None,
    attrs: Mapping[str, Any] | None = None,
    zarr_format: ZarrFormat = 3,
    fill_value: float | int | None = None,
) -> dict[str, bytes]:
    """The metadata keys (relative to the store root) of the node at ``path``."""
    prefix = f"{path}/" if path else ""
    attrs = dict(attrs or {})
    if array is None:
        if zarr_format == 3:
            return {
                f"{prefix}zarr.json": _dumps(
                    {"zarr_format": 3, "node_type": "group", "attributes": attrs}
                )
            }
        return {f"{prefix}.zgroup": _dumps({"zarr_format": 2}), f"{prefix}.zattrs": _dumps(attrs)}
    config = array.codec.to_config()
    codec = {"name": CODEC_ID, "configuration": config}
    attrs = {**attrs, **array.attrs}
    inverse = sorted(range(len(array.order)), key=lambda i: array.order[i])
    if zarr_format == 3:
        transpose = {"name": "transpose", "configuration": {"order": inverse}}
        doc = {
            "zarr_format": 3,
            "node_type": "array",
            "shape": list(array.shape),
            "data_type": array.dtype.name,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(array.chunks)}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": _fill(array, fill_value, 3),
            "codecs": [transpose, codec] if array.order else [codec],
            "attributes": attrs,
            "dimension_names": list(array.dims),
        }
        return {f"{prefix}zarr.json": _dumps(doc)}
    zarray = {
        "zarr_format": 2,
        "shape": list(array.shape),
        "chunks": list(array.chunks),
        "dtype": array.dtype.str,
        "compressor": {"id": CODEC_ID, **config},
        "fill_value": _fill(array, fill_value, 2),
        "order": "C",
        "filters": [
            {"id": TRANSPOSE_ID, "shape": list(array.stored_chunks), "order": list(array.order)}
        ]
        if array.order
        else None,
        "dimension_separator": ".",
    }
    return {
        f"{prefix}.zarray": _dumps(zarray),
        f"{prefix}.zattrs": _dumps({**attrs, "_ARRAY_DIMENSIONS": list(array.dims)}),
    }


def chunk_key(path: str, coords: tuple[int, ...], zarr_format: ZarrFormat) -> str:
    prefix = f"{path}/" if path else ""
    if zarr_format == 3:
        return prefix + "/".join(["c", *map(str, coords)])
    return prefix + (".".join(map(str, coords)) if coords else "0")


def chunk_keys(
    path: str, array: ArrayModel, zarr_format: ZarrFormat
) -> Iterator[tuple[str, tuple[int, ...]]]:
    """Every chunk key of an array with its coordinates, in C order."""
    for coords in itertools.product(*(range(n) for n in array.grid)):
        yield chunk_key(path, coords, zarr_format), coords


def parse_chunk_key(
    rest: str, array: ArrayModel, zarr_format: ZarrFormat
) -> tuple[int, ...] | None:
    """Coordinates from the part of a key after the array's path, or ``None``."""
    if zarr_format == 3:
        if rest != "c" and not rest.startswith("c/"):
            return None
        parts = rest.split("/")[1:]
    else:
        parts = rest.split(".") if array.shape else ([] if rest == "0" else ["x"])
    if len(parts) != len(array.shape) or not all(p.isdigit() for p in parts):
        return None
    coords = tuple(int(p) for p in parts)
    if any(c >= n for c, n in zip(coords, array.grid, strict=True)):
        return None
    return coords
