"""Write reference sets: kerchunk JSON, or parquet as fsspec's ``LazyReferenceMapper`` reads it.

The parquet layout (kerchunk's): a folder with ``.zmetadata`` (JSON:
``{"metadata": {key: document}, "record_size": n}``) and, per array, files
``<array path>/refs.<i>.parq`` holding ``record_size`` chunks each in C order of
the chunk grid, with columns ``path`` (string, null for an absent chunk),
``offset``, ``size`` (int64) and ``raw`` (binary inline data or null). The layout
cannot hold the chunks of an array at the root, so a single-array reference set
is written with its array at ``0`` below a root group.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from tiffzarr._check import check_arguments
from tiffzarr.model import PagePath, TiffIndex
from tiffzarr.reader import Missing
from tiffzarr.refs._build import CodecChoice, ReferenceSet, Version, nest_references, references
from tiffzarr.refs._check import expand_templates, is_metadata_key
from tiffzarr.store import OME_XML_KEY, TiffStore, ZarrFormat

__all__ = [
    "RECORD_SIZE",
    "flatten_references",
    "prepare_folder",
    "save_references",
    "write_arrays",
    "write_parquet",
    "write_references",
    "write_zmetadata",
]

RECORD_SIZE = 10_000
"""Chunk references per parquet file (kerchunk's default)."""

Format = Literal["json", "parquet"]


async def write_references(
    url_or_index: str | TiffIndex | TiffStore,
    target: str,
    /,
    *,
    format: Format = "json",
    series: int | None = None,
    level: int | None = None,
    page: int | PagePath | None = None,
    storage_options: dict[str, Any] | None = None,
    squeeze: bool | None = None,
    missing: Missing = "error",
    version: Version = 1,
    zarr_format: ZarrFormat = 2,
    codecs: CodecChoice = "portable",
    inline_threshold: int = 0,
    target_url: str | None = None,
    target_options: dict[str, Any] | None = None,
) -> ReferenceSet:
    """Write the references of a TIFF to ``target`` (a path or fsspec URL).

    ``format="json"`` writes one JSON file (``version`` 1 or 0);
    ``format="parquet"`` writes a parquet reference folder (zarr v2 only, as
    fsspec's ``LazyReferenceMapper`` reads v2 chunk keys; ``version`` does not
    apply; the layout holds zarr documents and chunks only, so the OME-XML served at
    ``OME/METADATA.ome.xml`` is left out). ``target_options`` are fsspec options for
    writing ``target``; the other arguments are those of :func:`references` (an open
    store, from ``open_sequence`` for example, is written as one reference set). Returns
    the reference set.

    >>> import asyncio, numpy, tifffile, tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "a.tif")
    >>> tifffile.imwrite(path, numpy.zeros((64, 64), "uint8"), tile=(32, 32))
    >>> refs = asyncio.run(write_references(path, os.path.join(folder, "a.json"),
    ...                                     target_url=os.path.join(folder, "a.json")))
    >>> json.load(open(os.path.join(folder, "a.json")))["templates"]
    {'u': 'a.tif'}
    """
    check_arguments(target=target, format=format, target_options=target_options)
    if format == "parquet" and zarr_format != 2:
        raise ValueError("parquet reference sets are zarr v2 only (fsspec's LazyReferenceMapper)")
    refs = await references(
        url_or_index,
        series=series,
        level=level,
        page=page,
        storage_options=storage_options,
        squeeze=squeeze,
        missing=missing,
        version=1 if format == "parquet" else version,
        zarr_format=zarr_format,
        codecs=codecs,
        inline_threshold=inline_threshold,
        target_url=target_url,
    )
    await asyncio.to_thread(
        save_references, refs, target, format=format, target_options=target_options
    )
    return refs


def save_references(
    refs: Mapping[str, Any],
    target: str,
    /,
    *,
    format: Format = "json",
    target_options: dict[str, Any] | None = None,
) -> None:
    """Write a reference set already built (:func:`references`, or
    :func:`~tiffzarr.refs.store_references` of a sequence) to ``target``: one JSON
    file, or a parquet reference folder (see :func:`write_references`)."""
    if format == "parquet":
        write_parquet(refs, target, target_options=target_options)
        return
    import fsspec

    with fsspec.open(target, "wb", **(target_options or {})) as f:
        f.write(json.dumps(refs, separators=(",", ":")).encode())


def flatten_references(refs: Mapping[str, Any], /) -> dict[str, Any]:
    """Version 0 entries of a reference set (version 1 templates expanded).

    >>> flatten_references({"version": 1, "templates": {"u": "a.tif"},
    ...                     "refs": {"0.0": ["{{u}}", 8, 16]}})
    {'0.0': ['a.tif', 8, 16]}
    """
    if refs.get("version") != 1:
        return {k: v for k, v in refs.items() if k != "version"}
    templates = refs.get("templates", {})
    out: dict[str, Any] = {}
    for key, value in refs.get("refs", {}).items():
        if isinstance(value, list) and value and isinstance(value[0], str):
            out[key] = [expand_templates(value[0], templates, key=key), *value[1:]]
        else:
            out[key] = value
    return out


def write_parquet(
    refs: Mapping[str, Any],
    target: str,
    /,
    *,
    record_size: int = RECORD_SIZE,
    target_options: dict[str, Any] | None = None,
) -> None:
    """Write a zarr v2 reference set as a parquet reference folder at ``target``.

    A folder that already holds a parquet reference set (a ``.zmetadata`` file) is
    replaced; any other non-empty folder is refused.
    """
    import fsspec

    entries = flatten_references(refs)
    if ".zarray" in entries:
        entries = nest_references(entries, "0")
    if any(key == "zarr.json" or key.endswith("/zarr.json") for key in entries):
        raise ValueError("parquet reference sets are zarr v2 only")
    fs, root = fsspec.core.url_to_fs(target, **(target_options or {}))
    root = root.rstrip("/")
    prepare_folder(fs, root)
    metadata = write_arrays(fs, root, entries, record_size=record_size)
    write_zmetadata(fs, root, [json.dumps(metadata)], record_size=record_size)


def write_arrays(
    fs: Any, root: str, entries: Mapping[str, Any], /, *, record_size: int = RECORD_SIZE
) -> dict[str, Any]:
    """Write the chunk tables of every array of a flattened (version 0) zarr v2 reference
    set below ``root`` on ``fs``, and return its metadata documents (parsed), for the
    ``.zmetadata`` the caller writes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    metadata = {k: json.loads(v) for k, v in entries.items() if is_metadata_key(k)}
    for field, rows in _records(entries, metadata, record_size).items():
        fs.makedirs(f"{root}/{field}", exist_ok=True)
        for record, columns in rows.items():
            table = pa.table(
                {
                    "path": pa.array(columns["path"], pa.string()),
                    "offset": pa.array(columns["offset"], pa.int64()),
                    "size": pa.array(columns["size"], pa.int64()),
                    "raw": pa.array(columns["raw"], pa.binary()),
                }
            )
            with fs.open(f"{root}/{field}/refs.{record}.parq", "wb") as f:
                pq.write_table(table, f, compression="zstd", write_statistics=False)
    return metadata


def write_zmetadata(
    fs: Any, root: str, parts: Iterable[str], /, *, record_size: int = RECORD_SIZE
) -> None:
    """Write the ``.zmetadata`` of a parquet reference set, last (a folder without it is
    no reference set). ``parts`` are JSON objects (text) of its documents by key, with
    no key in two of them: the text of many files' documents joins without parsing.

    >>> import fsspec
    >>> fs = fsspec.filesystem("memory")
    >>> write_zmetadata(fs, "/z", ['{".zgroup": {"zarr_format": 2}}', '{}', '{"a/.zattrs": {}}'])
    >>> json.loads(fs.cat_file("/z/.zmetadata"))["metadata"]
    {'.zgroup': {'zarr_format': 2}, 'a/.zattrs': {}}
    """
    with fs.open(f"{root}/.zmetadata", "wb") as f:  # piece by piece: no copy of it all
        f.write(b'{"metadata": {')
        separator = b""
        for part in parts:
            inner = part.strip()[1:-1].strip()
            if inner:
                f.write(separator + inner.encode())
                separator = b","
        f.write(f'}}, "record_size": {json.dumps(record_size)}}}'.encode())


def prepare_folder(fs: Any, root: str, /) -> None:
    """Make ``root`` an empty folder: a parquet reference set there is replaced, any
    other non-empty folder (or a file) refused with :class:`FileExistsError`."""
    if not fs.exists(root):
        fs.makedirs(root, exist_ok=True)
        return
    if not fs.isdir(root):
        raise FileExistsError(f"{root} exists and is not a folder")
    if fs.ls(root, detail=False):
        if not fs.exists(f"{root}/.zmetadata"):
            raise FileExistsError(f"{root} is not empty and holds no parquet reference set")
        fs.rm(root, recursive=True)
        fs.makedirs(root, exist_ok=True)


def _records(
    entries: Mapping[str, Any], metadata: Mapping[str, Any], record_size: int
) -> dict[str, dict[int, dict[str, list[Any]]]]:
    """Per array path and record number, the four columns."""
    grids = {
        key[: -len("/.zarray")]: [
            math.ceil(s / c) for s, c in zip(doc["shape"], doc["chunks"], strict=True)
        ]
        or [1]
        for key, doc in metadata.items()
        if key.endswith("/.zarray")
    }
    out: dict[str, dict[int, dict[str, list[Any]]]] = {}
    for field, grid in grids.items():
        total = math.prod(grid)
        out[field] = {
            r: {
                "path": [None] * n,
                "offset": [0] * n,
                "size": [0] * n,
                "raw": [None] * n,
            }
            for r in range(math.ceil(total / record_size))
            for n in [min(record_size, total - r * record_size)]
        }
    for key, value in entries.items():
        if is_metadata_key(key) or key == OME_XML_KEY:
            continue  # parquet sets hold zarr documents and chunks only: no OME-XML
        field, _, chunk = key.rpartition("/")
        if field not in grids:
            raise ValueError(f"chunk {key!r} belongs to no array")
        number = _ravel([int(c) for c in chunk.split(".")], grids[field])
        columns = out[field][number // record_size]
        row = number % record_size
        if isinstance(value, list):
            columns["path"][row] = value[0]
            if len(value) == 3:
                columns["offset"][row], columns["size"][row] = value[1], value[2]
        else:
            raw = value.encode() if isinstance(value, str) else bytes(value)
            if raw.startswith(b"base64:"):
                raw = base64.b64decode(raw[7:])
            columns["raw"][row] = raw
    return out


def _ravel(index: list[int], grid: list[int]) -> int:
    number = 0
    for i, n in zip(index, grid, strict=True):
        number = number * n + i
    return number
