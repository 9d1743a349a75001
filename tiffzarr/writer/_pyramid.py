"""A first writer: tiled SubIFD pyramids from numpy arrays.

The layout is planned before anything is written: header, then every IFD with
its values (the base image first, its reduced levels as SubIFDs), then the tiles
of each level in order. Tiles are encoded with the codecs of
:mod:`tiffzarr.codecs`. The file is written under a temporary name and renamed
when complete, so a partial file is never visible.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tiffzarr.codecs import SegmentSpec, encode_segment
from tiffzarr.format import BIGTIFF, CLASSIC, Compression, IfdLayout, Predictor
from tiffzarr.format._serialize import Tag, ifd_nbytes, pack_header, pack_ifd

__all__ = ["downsample", "write_pyramid"]

_SAMPLEFORMAT = {"u": 1, "b": 1, "i": 2, "f": 3}


def downsample(image: np.ndarray, /) -> np.ndarray:
    """Halve the first two axes by averaging 2x2 blocks (odd edges repeated).

    >>> downsample(np.arange(16, dtype="uint8").reshape(4, 4)).tolist()
    [[2, 4], [10, 12]]
    """
    length, width = image.shape[:2]
    padded = np.pad(
        image, [(0, length % 2), (0, width % 2)] + [(0, 0)] * (image.ndim - 2), mode="edge"
    )
    blocks = padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2, *image.shape[2:])
    mean = blocks.mean(axis=(1, 3))
    if image.dtype.kind in "iu":
        mean = np.floor(mean)
    return mean.astype(image.dtype)


@dataclass(frozen=True, slots=True)
class _Level:
    image: np.ndarray
    tiles: list[bytes]


def _tiles(image: np.ndarray, tile: tuple[int, int], spec: SegmentSpec) -> list[bytes]:
    length, width = image.shape[:2]
    th, tw = tile
    out = []
    for y in range(0, length, th):
        for x in range(0, width, tw):
            block = np.zeros((th, tw, *image.shape[2:]), image.dtype)
            part = image[y : y + th, x : x + tw]
            block[: part.shape[0], : part.shape[1]] = part
            out.append(encode_segment(block.reshape(spec.shape), spec))
    return out


def _tags(
    level: _Level,
    *,
    tile: tuple[int, int],
    spec: SegmentSpec,
    layout: IfdLayout,
    reduced: bool,
    offsets: Sequence[int] | None = None,
) -> list[Tag]:
    """The tags of one level; ``offsets`` of its tiles (zeros while planning)."""
    image = level.image
    samples = image.shape[2] if image.ndim == 3 else 1
    long_type = 16 if layout is BIGTIFF else 4
    tags = [
        Tag(254, 4, 1 if reduced else 0),
        Tag(256, 4, image.shape[1]),
        Tag(257, 4, image.shape[0]),
        Tag(258, 3, [image.dtype.itemsize * 8] * samples),
        Tag(259, 3, spec.compression),
        Tag(262, 3, 2 if samples in (3, 4) else 1),
        Tag(277, 3, samples),
        Tag(284, 3, 1),
        Tag(305, 2, "tiffzarr"),
        Tag(317, 3, spec.predictor),
        Tag(322, 3, tile[1]),
        Tag(323, 3, tile[0]),
        Tag(324, long_type, list(offsets) if offsets is not None else [0] * len(level.tiles)),
        Tag(325, long_type, [len(t) for t in level.tiles]),
        Tag(339, 3, [_SAMPLEFORMAT[image.dtype.kind]] * samples),
    ]
    if samples == 4:
        tags.append(Tag(338, 3, 2))
    return tags


def write_pyramid(
    path: str | os.PathLike[str],
    data: np.ndarray,
    /,
    *,
    tile: tuple[int, int] = (256, 256),
    levels: int = 3,
    compression: int = Compression.ADOBE_DEFLATE,
    predictor: int = Predictor.HORIZONTAL,
    bigtiff: bool | None = None,
) -> None:
    """Write ``data`` (Y, X[, S]) as a tiled TIFF with ``levels`` SubIFD reductions.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "p.tif")
    >>> write_pyramid(path, np.zeros((300, 200), "uint16"), tile=(64, 64), levels=2)
    >>> os.path.getsize(path) > 0
    True
    """
    data = np.ascontiguousarray(data)
    if data.ndim not in (2, 3):
        raise ValueError(f"data must be (Y, X) or (Y, X, S), not {data.shape}")
    samples = data.shape[2] if data.ndim == 3 else 1
    spec = SegmentSpec(
        compression=int(compression),
        shape=(1, tile[0], tile[1], samples),
        dtype=data.dtype.newbyteorder("<").str,
        bitspersample=data.dtype.itemsize * 8,
        sampleformat=_SAMPLEFORMAT[data.dtype.kind],
        byteorder="<",
        predictor=int(predictor) if data.dtype.kind in "iu" else 1,
    )
    images = [data]
    for _ in range(levels):
        images.append(downsample(images[-1]))
    planned = [_Level(image, _tiles(image, tile, spec)) for image in images]
    tile_bytes = sum(len(t) for level in planned for t in level.tiles)
    layout = BIGTIFF if bigtiff or (bigtiff is None and tile_bytes > 2**32 - 2**25) else CLASSIC
    subifd_type = 18 if layout is BIGTIFF else 13

    def level_tags(i: int, offsets: Sequence[int] | None, subifds: Sequence[int]) -> list[Tag]:
        tags = _tags(
            planned[i], tile=tile, spec=spec, layout=layout, reduced=i > 0, offsets=offsets
        )
        return [*tags, Tag(330, subifd_type, list(subifds))] if subifds else tags

    # plan: header, the IFDs (their sizes depend on types and counts only), then the tiles
    placeholder = [0] * (len(planned) - 1)
    ifd_offsets, pos = [], layout.header_size
    for i in range(len(planned)):
        ifd_offsets.append(pos)
        pos += ifd_nbytes(level_tags(i, None, placeholder if i == 0 else ()), layout)
    tile_offsets = []
    for level in planned:
        starts = np.cumsum([0] + [len(t) for t in level.tiles[:-1]]) + pos
        tile_offsets.append(starts.tolist())
        pos += sum(len(t) for t in level.tiles)
    blobs = [pack_header("<", layout, ifd_offsets[0])]
    for i in range(len(planned)):
        tags = level_tags(i, tile_offsets[i], ifd_offsets[1:] if i == 0 else ())
        blobs.append(pack_ifd(tags, byteorder="<", layout=layout, offset=ifd_offsets[i]))
    _atomic_write(os.fspath(path), [*blobs, *(t for level in planned for t in level.tiles)])


def _atomic_write(path: str, parts: Sequence[bytes]) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tiffzarr-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            for part in parts:
                f.write(part)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
