"""``tiffzarr convert`` to Zarr: the store's hierarchy copied group by group, block by block.

Each array is copied in blocks of whole chunks (whole shards when sharding), a few
blocks at a time, so memory stays bounded by :data:`BLOCK_BYTES` per worker
whatever the image size.

>>> [tuple((s.start, s.stop) for s in b) for b in blocks((5, 8), (2, 8), itemsize=1, limit=32)]
[((0, 4), (0, 8)), ((4, 5), (0, 8))]
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from tiffzarr._sync import run_sync
from tiffzarr.cli._progress import progress
from tiffzarr.store import TiffStore

__all__ = ["BLOCK_BYTES", "WORKERS", "ZarrCompression", "blocks", "copy_to_zarr"]

BLOCK_BYTES = 4 * 2**20
"""Largest block of one array copied at once (grown from one chunk or shard)."""

WORKERS = 4
"""Blocks copied at once."""

ZarrCompression = Literal["zstd", "deflate", "none"]


def blocks(
    shape: Sequence[int], unit: Sequence[int], /, *, itemsize: int, limit: int = BLOCK_BYTES
) -> Iterator[tuple[slice, ...]]:
    """Regions of ``shape`` made of whole ``unit`` blocks (chunks or shards), grown
    along the last dimensions first while a region stays within ``limit`` bytes."""
    if any(n == 0 for n in shape):
        return
    block = [min(u, n) for u, n in zip(unit, shape, strict=True)]
    for d in reversed(range(len(shape))):
        while block[d] < shape[d] and math.prod(block) * 2 * itemsize <= limit:
            block[d] = min(shape[d], block[d] * 2)
    starts = [range(0, n, b) for n, b in zip(shape, block, strict=True)]
    for corner in itertools.product(*starts):
        yield tuple(slice(c, min(c + b, n)) for c, b, n in zip(corner, block, shape, strict=True))


def _compressors(name: ZarrCompression, zarr_format: int) -> Any:
    if name == "none":
        return None
    if zarr_format == 3:
        from zarr.codecs import GzipCodec, ZstdCodec

        return ZstdCodec() if name == "zstd" else GzipCodec()
    import numcodecs

    return numcodecs.Zstd() if name == "zstd" else numcodecs.Zlib()


def _target_store(target: str, options: dict[str, Any], *, overwrite: bool) -> Any:
    """A zarr store at ``target`` (local path or fsspec URL), emptied when ``overwrite``;
    an existing target raises :class:`FileExistsError` otherwise."""
    import fsspec
    from zarr.storage import FsspecStore, LocalStore

    fs, path = fsspec.core.url_to_fs(target, **options)
    if fs.exists(path):
        if not overwrite:
            raise FileExistsError(f"{target} exists (give --overwrite to replace it)")
        fs.rm(path, recursive=True)
    if "://" in target and not target.startswith("file://"):
        return FsspecStore.from_url(target, storage_options=options or None)
    return LocalStore(target.removeprefix("file://"))


def _create_array(
    source: Any,
    target: Any,
    path: str,
    *,
    shard: int | None,
    compressors: Any,
    zarr_format: Literal[2, 3],
) -> Any:
    import zarr

    chunks = tuple(source.chunks)
    shards = None
    if shard is not None:
        shards = tuple(c * shard if d >= len(chunks) - 2 else c for d, c in enumerate(chunks))
    names = getattr(source.metadata, "dimension_names", None) if zarr_format == 3 else None
    return zarr.create_array(
        target,
        name=path or None,
        shape=source.shape,
        dtype=source.dtype,
        chunks=chunks,
        shards=shards,
        compressors=compressors,
        fill_value=source.fill_value,
        dimension_names=names,
        attributes=dict(source.attrs),
        zarr_format=zarr_format,
    )


def _copy_files(source: TiffStore, target: Any) -> None:
    """Keys served as they are (the OME-XML), copied byte for byte."""
    from zarr.core.buffer import default_buffer_prototype

    prototype = default_buffer_prototype()
    for key, data in source.hierarchy.files.items():
        run_sync(target.set(key, prototype.buffer.from_bytes(data)))


def copy_to_zarr(
    source: TiffStore,
    target: str,
    /,
    *,
    zarr_format: Literal[2, 3],
    shard: int | None,
    compression: ZarrCompression,
    target_options: dict[str, Any],
    overwrite: bool,
    quiet: bool,
) -> None:
    """Copy every group (with its attributes), array and file of ``source`` to ``target``."""
    import zarr

    store = _target_store(target, target_options, overwrite=overwrite)
    for path in sorted(source.hierarchy.groups, key=lambda p: (p.count("/"), p)):
        attrs = zarr.open_group(source, path=path, mode="r").attrs
        zarr.create_group(store, path=path, attributes=dict(attrs), zarr_format=zarr_format)
    compressors = _compressors(compression, zarr_format)
    pairs = []
    for path in sorted(source.hierarchy.arrays):
        src = zarr.open_array(source, path=path, mode="r")
        dst = _create_array(
            src, store, path, shard=shard, compressors=compressors, zarr_format=zarr_format
        )
        pairs.append((src, dst))
    _copy_files(source, store)
    total = sum(math.prod(src.shape) * src.dtype.itemsize for src, _ in pairs)
    with progress(total, desc="convert", quiet=quiet) as bar, ThreadPoolExecutor(WORKERS) as pool:
        for src, dst in pairs:
            unit = dst.shards or dst.chunks

            def copy(region: tuple[slice, ...], src: Any = src, dst: Any = dst) -> None:
                data = src[region]
                dst[region] = data
                bar.update(data.nbytes)

            for _ in pool.map(copy, blocks(src.shape, unit, itemsize=src.dtype.itemsize)):
                pass
