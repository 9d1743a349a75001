"""Helpers for tests/test_codecs.py: SegmentSpec from tifffile pages, page assembly, and
the hostile-file probe that runs in a fresh interpreter (so its peak RSS is its own).

Run as a script: ``python tests/_codec_helpers.py HOSTILE_DIR`` prints one JSON line per
segment of every ``decomp_bomb`` / ``codec_corrupt`` file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import resource
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from tiffzarr.codecs import SegmentSpec, decode_segment

logging.getLogger("tifffile").setLevel(logging.CRITICAL)

BUDGET = 32 << 20
"""Decoded-size budget the hostile probe passes as ``max_nbytes``."""
SMALL_TILE = (1, 256, 256, 1)
"""A 64 KiB tile: what a bomb stream must not overflow when the spec says so."""


def _rationals(value: Any) -> tuple[float, ...]:
    items = [float(v) for v in np.ravel(value)]
    return tuple(items[i] / items[i + 1] for i in range(0, len(items), 2))


def page_spec(page: tifffile.TiffPage, **changes: Any) -> SegmentSpec:
    """The SegmentSpec of one of ``page``'s segments, from tifffile's attributes."""
    lastrows = None
    if page.is_tiled:
        segment = (page.tiledepth, page.tilelength, page.tilewidth)
    else:
        segment = (1, min(page.rowsperstrip, page.imagelength), page.imagewidth)
        lastrows = page.imagelength % max(1, segment[1]) or None
    samples = page.samplesperpixel if page.planarconfig == 1 else 1
    extra: dict[str, Any] = {}
    if 529 in page.tags:
        extra["ycbcrcoefficients"] = _rationals(page.tags[529].value)
    if 532 in page.tags:
        extra["referenceblackwhite"] = _rationals(page.tags[532].value)
    fields: dict[str, Any] = {
        "compression": int(page.compression),
        "shape": (*segment, samples),
        "dtype": page.dtype.newbyteorder("=").str,
        "bitspersample": int(page.bitspersample),
        "sampleformat": int(page.sampleformat),
        "byteorder": page.parent.byteorder,
        "predictor": int(page.predictor),
        "fillorder": int(page.fillorder),
        "photometric": int(page.photometric),
        "jpegtables": page.jpegtables,
        "subsampling": tuple(int(i) for i in (page.subsampling or (1, 1))),
        "t4options": int(page.tags.valueof(292, 0)),
        "jpegheader": page.jpegheader,
        "lastrows": lastrows,
        **extra,
    }
    fields.update(changes)
    return SegmentSpec(**fields)


def sample_indices(count: int, limit: int = 16) -> list[int]:
    """Up to ``limit`` segment indices spread over ``range(count)``, first and last included."""
    if count <= 0:
        return []
    return sorted({int(i) for i in np.linspace(0, count - 1, min(count, limit))})


def pages(tf: tifffile.TiffFile, limit: int = 20) -> Iterator[tifffile.TiffPage]:
    """The first ``limit`` pages, SubIFD pages included."""
    tf.pages.useframes = False
    seen = 0
    for page in tf.pages:
        for item in (page, *(getattr(page, "pages", None) or ())):
            if seen >= limit:
                return
            if isinstance(item, tifffile.TiffPage):
                seen += 1
                yield item


def read(fh: Any, offset: int, count: int, cap: int = 1 << 28) -> bytes:
    fh.seek(offset)
    data: bytes = fh.read(min(count, cap))
    return data


def assemble(page: tifffile.TiffPage, fh: Any, decode: Callable[[bytes], np.ndarray]) -> Any:
    """The page as tifffile shapes it, built from decoded segments (the zero-padded parts cut)."""
    _, depth, length, width, contig = page.shaped
    planes = page.shaped[0]
    segment = page_spec(page).shape
    grid = (
        math.ceil(depth / segment[0]),
        math.ceil(length / segment[1]),
        math.ceil(width / segment[2]),
    )
    out = np.zeros(
        (planes, grid[0] * segment[0], grid[1] * segment[1], grid[2] * segment[2], contig),
        page.dtype.newbyteorder("="),
    )
    for index, (offset, count) in enumerate(
        zip(page.dataoffsets, page.databytecounts, strict=True)
    ):
        if offset == 0 and count == 0:
            continue
        plane, rest = divmod(index, math.prod(grid))
        z, rest = divmod(rest, grid[1] * grid[2])
        y, x = divmod(rest, grid[2])
        d, h, w, _ = segment
        out[plane, z * d : (z + 1) * d, y * h : (y + 1) * h, x * w : (x + 1) * w] = decode(
            read(fh, offset, count)
        )
    return out[:, :depth, :length, :width].reshape(page.shape)


def random_samples(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype, bps: int
) -> Any:
    """Random samples that the (bits per sample, dtype) stores exactly."""
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        low, high = (0, 2**bps) if dtype.kind == "u" else (-(2 ** (bps - 1)), 2 ** (bps - 1))
        return rng.integers(max(low, info.min), min(high, int(info.max) + 1), shape).astype(dtype)
    if dtype.kind == "c":
        parts = rng.integers(-1000, 1000, (*shape, 2)).astype(f"f{dtype.itemsize // 2}")
        return parts.view(dtype).reshape(shape)
    values = rng.normal(0, 1000, shape)
    if bps == 24:  # float24 keeps 16 mantissa bits: use values it holds exactly
        values = np.round(values * 16) / 16
    return values.astype(dtype)


def tiled_file(byteorder: str = ">") -> tuple[np.ndarray, dict[str, bytes], SegmentSpec]:
    """A 50x70 uint16 image in 32x32 zstd tiles: array, zarr v2 chunk key → bytes, spec."""
    data = np.random.default_rng(7).integers(0, 4000, (50, 70), dtype=np.uint16)
    buffer = io.BytesIO()
    tifffile.imwrite(
        buffer, data, tile=(32, 32), compression="zstd", predictor=2, byteorder=byteorder
    )
    buffer.seek(0)
    with tifffile.TiffFile(buffer) as tf:
        page = tf.pages[0]
        spec = page_spec(page)
        chunks = {
            f"{i // 3}.{i % 3}": read(buffer, offset, count)
            for i, (offset, count) in enumerate(
                zip(page.dataoffsets, page.databytecounts, strict=True)
            )
        }
    return data, chunks, spec


def _probe(spec: SegmentSpec, data: bytes, budget: int | None) -> dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result: dict[str, Any] = {}
    try:
        array = decode_segment(data, spec, max_nbytes=budget)
        result["outcome"] = "array"
        result["sha256"] = hashlib.sha256(array.tobytes()).hexdigest()
        result["shape"] = list(array.shape)
    except Exception as exc:
        result["outcome"] = "raised"
        result["error"] = f"{type(exc).__module__}.{type(exc).__qualname__}"
        result["message"] = str(exc)[:200]
    result["seconds"] = time.perf_counter() - start
    result["rss_growth_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    return result


def hostile_probe(folder: Path) -> Iterator[dict[str, Any]]:
    """Decode every segment of the codec-level hostile files; yield one record each."""
    with open(folder / "MANIFEST.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for row in rows:
        if row["class"] not in ("decomp_bomb", "codec_corrupt"):
            continue
        path = folder / "files" / row["name"]
        with tifffile.TiffFile(path) as tf, open(path, "rb") as fh:
            page = tf.pages[0]
            spec = page_spec(page)
            for index, (offset, count) in enumerate(
                zip(page.dataoffsets, page.databytecounts, strict=True)
            ):
                if offset == 0 and count == 0:
                    continue
                data = read(fh, offset, count)
                record = {"name": row["name"], "index": index, "variant": "file"}
                yield record | _probe(spec, data, BUDGET)
                if row["class"] == "decomp_bomb" and spec.compression not in (6, 7):
                    small = page_spec(page, shape=SMALL_TILE)
                    record = {"name": row["name"], "index": index, "variant": "64KiB tile"}
                    yield record | _probe(small, data, None)


if __name__ == "__main__":
    for record in hostile_probe(Path(sys.argv[1])):
        print(json.dumps(record), flush=True)
