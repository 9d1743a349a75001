"""The benchmark data sets: what they are, and generating them once.

Each :class:`Dataset` is written into a data directory (``benchmarks/data/`` by
default, git-ignored) by the writer that produces its layout (GDAL's COG driver
through rasterio, tifffile), next to a ``<name>.stamp.json`` holding its
parameters; it is regenerated only when those change. ``quick=True`` gives tiny
versions of the same layouts (for the smoke test).

The pixels are a seeded, smooth pattern with noise, so that the compressors do
real work and every run sees the same bytes.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy

__all__ = ["DATA_DIR", "Dataset", "datasets", "ensure", "ensure_all"]

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
GENERATOR_VERSION = 1
"""Bump when the generators change what they write."""

Kind = Literal["tiled", "strips", "stack", "sequence", "fileset"]
WINDOW_SEGMENTS = 64
"""Segments (tiles, strips, pages, planes or files) the window task reads."""


@dataclasses.dataclass(frozen=True, slots=True)
class Dataset:
    """One generated data set and the level-0 array every contender reads from it.

    ``shape`` is the array as numpy sees it (tifffile's series shape): ``(y, x)``,
    ``(y, x, samples)``, or planes ``(..., y, x)`` enumerated by the leading axes
    (pages of a ``stack``, files of a ``sequence``, pages of the files of a
    ``fileset``). ``window`` is ``[start, stop)`` on the leading axes (the rest are
    read whole): 8 x 8 tiles, 64 strips (1024 columns wide), 64 pages, planes or files.
    """

    name: str
    path: str
    kind: Kind
    title: str
    shape: tuple[int, ...]
    dtype: str
    segment: tuple[int, ...]
    window: tuple[tuple[int, int], ...]
    lossless: bool
    params: dict[str, Any]
    files: tuple[str, ...] = ()

    @property
    def window_slices(self) -> tuple[slice, ...]:
        """``window`` as slices on ``shape``."""
        return tuple(slice(a, b) for a, b in self.window)

    @property
    def window_shape(self) -> tuple[int, ...]:
        """Shape of the window read."""
        return tuple(b - a for a, b in self.window) + self.shape[len(self.window) :]

    @property
    def nbytes(self) -> int:
        """Decoded bytes of the whole level-0 array."""
        return int(numpy.prod(self.shape)) * numpy.dtype(self.dtype).itemsize

    @property
    def pages_per_file(self) -> int:
        """Planes (pages) in each file of a ``stack``, ``sequence`` or ``fileset``."""
        planes = math.prod(self.shape[:-2])
        return planes // len(self.files) if self.files else planes

    def planes(self, *, window: bool) -> list[tuple[str, int]]:
        """``(file, page index)`` of every plane of the window (or of the whole array),
        in C order of the leading axes: what a reader of single pages must open.

        >>> ds = Dataset("x", "x", "fileset", "", (3, 2, 4, 4), "uint8", (1, 1, 4, 4),
        ...              ((1, 3),), True, {}, files=("a", "b", "c"))
        >>> ds.planes(window=True)
        [('b', 0), ('b', 1), ('c', 0), ('c', 1)]
        """
        lead = self.shape[:-2]
        spans = list(self.window) if window else []
        spans += [(0, n) for n in lead[len(spans) :]]
        per_file = self.pages_per_file
        out = []
        for index in itertools.product(*(range(a, b) for a, b in spans)):
            flat = int(numpy.ravel_multi_index(index, lead))
            if self.files:
                out.append((self.files[flat // per_file], flat % per_file))
            else:
                out.append((self.path, flat))
        return out


def _tile_window(shape: tuple[int, ...], tile: int) -> tuple[tuple[int, int], ...]:
    ny, nx = -(-shape[0] // tile), -(-shape[1] // tile)
    y0, x0 = max(ny // 2 - 4, 0) * tile, max(nx // 2 - 4, 0) * tile
    return ((y0, min(y0 + 8 * tile, shape[0])), (x0, min(x0 + 8 * tile, shape[1])))


def _centred(size: int, length: int) -> tuple[int, int]:
    start = max((size - length) // 2, 0)
    return start, min(start + length, size)


def datasets(*, quick: bool = False) -> list[Dataset]:
    """The eleven data sets, full size or (``quick``) tiny (slides: :mod:`benchmarks._slides`)."""
    big, mid, tile = (2048, 2048, 128) if quick else (16384, 8192, 512)
    pages, page_shape = (80, (32, 24)) if quick else (500, (256, 200))
    nfiles, file_shape = (80, (32, 32)) if quick else (500, (256, 256))
    many, small = (200, (16, 16)) if quick else (10_000, (64, 64))
    levels = 2 if quick else 4
    rps = 16
    out = []
    shape: tuple[int, ...] = (big, big, 3)
    out.append(
        Dataset(
            "cog",
            "cog_jpeg.tif",
            "tiled",
            f"COG, JPEG (YCbCr) RGB {big}², tiles {tile}, GDAL COG driver, overviews",
            shape,
            "uint8",
            (tile, tile, 3),
            _tile_window(shape, tile),
            False,
            {"size": big, "tile": tile, "quality": 85, "noise": 8.0},
        )
    )
    shape = (big, big)
    out.append(
        Dataset(
            "zstd",
            "zstd_u16.tif",
            "tiled",
            f"uint16 {big}², zstd + horizontal predictor, tiles {tile} (tifffile)",
            shape,
            "uint16",
            (tile, tile),
            _tile_window(shape, tile),
            True,
            {"size": big, "tile": tile},
        )
    )
    shape = (pages, *page_shape)
    out.append(
        Dataset(
            "stack",
            "stack_u16.tif",
            "stack",
            f"{pages} pages uint16 {page_shape[0]}x{page_shape[1]}, uncompressed, written page by"
            " page (each IFD before its data, no metadata; tifffile)",
            shape,
            "uint16",
            (1, *page_shape),
            (_centred(pages, WINDOW_SEGMENTS),),
            True,
            {"pages": pages, "page_shape": page_shape, "layout": "page by page"},
        )
    )
    shape = (mid, mid, 3)
    out.append(
        Dataset(
            "ome",
            "ome_pyramid.ome.tif",
            "tiled",
            f"OME-TIFF RGB {mid}², deflate + predictor, tiles {tile}, {levels} SubIFD levels,"
            " XML at the end",
            shape,
            "uint8",
            (tile, tile, 3),
            _tile_window(shape, tile),
            True,
            {"size": mid, "tile": tile, "levels": levels},
        )
    )
    shape = (mid, mid)
    out.append(
        Dataset(
            "lzw",
            "lzw_strips.tif",
            "strips",
            f"uint8 {mid}², LZW strips, RowsPerStrip {rps} (tifffile)",
            shape,
            "uint8",
            (rps, mid),
            (_centred(mid, WINDOW_SEGMENTS * rps), _centred(mid, 1024)),
            True,
            {"size": mid, "rowsperstrip": rps},
        )
    )
    shape = (nfiles, *file_shape)
    out.append(
        Dataset(
            "seq",
            "seq",
            "sequence",
            f"{nfiles} files, uint16 {file_shape[0]}x{file_shape[1]}, uncompressed (tifffile)",
            shape,
            "uint16",
            (1, *file_shape),
            (_centred(nfiles, WINDOW_SEGMENTS),),
            True,
            {"files": nfiles, "file_shape": file_shape},
            files=tuple(f"seq/frame_{i:04d}.tif" for i in range(nfiles)),
        )
    )
    out.append(
        Dataset(
            "seq10k",
            "seq10k",
            "sequence",
            f"{many} files, uint16 {small[0]}x{small[1]}, uncompressed (tifffile)",
            (many, *small),
            "uint16",
            (1, *small),
            (_centred(many, WINDOW_SEGMENTS),),
            True,
            {"files": many, "file_shape": small},
            files=tuple(f"seq10k/frame_{i:05d}.tif" for i in range(many)),
        )
    )
    out += [_imagej(quick), _omeset(quick)]
    from benchmarks._slides import slide_datasets

    return out + slide_datasets(quick=quick)


def _imagej(quick: bool) -> Dataset:
    """An ImageJ hyperstack TZCYX; its window: 4 T x 8 Z x all C = 64 whole planes."""
    t, z, c = (5, 10, 2) if quick else (20, 10, 2)
    plane = (32, 24) if quick else (512, 512)
    shape = (t, z, c, *plane)
    window = (_centred(t, 4), _centred(z, 8), (0, c))
    return Dataset(
        "imagej",
        "imagej_hyperstack.tif",
        "stack",
        f"ImageJ hyperstack TZCYX {t}x{z}x{c} of uint16 {plane[0]}x{plane[1]}, uncompressed,"
        " contiguous (tifffile, imagej=True)",
        shape,
        "uint16",
        (1, 1, 1, *plane),
        window,
        True,
        {"shape": shape, "axes": "TZCYX"},
    )


def _omeset(quick: bool) -> Dataset:
    """A multi-file OME-TIFF set TCZYX, one time point per file; its window: the
    64 whole planes of 64 / (C x Z) consecutive files."""
    t, c, z = (5, 2, 8) if quick else (50, 2, 4)
    plane = (32, 24) if quick else (512, 512)
    shape = (t, c, z, *plane)
    return Dataset(
        "omeset",
        "omeset",
        "fileset",
        f"OME-TIFF set of {t} files, TCZYX {t}x{c}x{z} of uint16 {plane[0]}x{plane[1]}"
        " (one T per file), uncompressed; the XML in the first file, BinaryOnly in the others",
        shape,
        "uint16",
        (1, 1, 1, *plane),
        (_centred(t, WINDOW_SEGMENTS // (c * z)),),
        True,
        {"shape": shape, "axes": "TCZYX", "order": "XYZCT"},
        files=tuple(f"omeset/omeset_t{i:03d}.ome.tif" for i in range(t)),
    )


# -- pixels ------------------------------------------------------------------

NOISE = {"uint8": 1.5, "uint16": 24.0}
"""Standard deviation of the noise, in counts."""


def pattern(
    y0: int,
    rows: int,
    cols: int,
    *,
    samples: int = 0,
    dtype: str = "uint8",
    seed: int = 0,
    noise: float | None = None,
) -> numpy.ndarray:
    """Rows ``[y0, y0 + rows)`` of a smooth, noisy test image (deterministic).

    ``noise`` is the standard deviation of the added noise in counts (default
    per dtype: :data:`NOISE`).

    >>> a = pattern(0, 4, 5, samples=3)
    >>> a.shape, a.dtype.name, bool((a == pattern(0, 4, 5, samples=3)).all())
    ((4, 5, 3), 'uint8', True)
    """
    top = numpy.iinfo(dtype).max
    y = numpy.arange(y0, y0 + rows, dtype=numpy.float32)[:, None]
    x = numpy.arange(cols, dtype=numpy.float32)[None, :]
    planes = []
    for s in range(max(samples, 1)):
        rng = numpy.random.default_rng([seed, s, y0])
        base = (
            0.5
            + 0.2 * numpy.sin(x / (97 + 13 * s) + y / 131)
            + 0.2 * numpy.cos((x - y) / (211 + 7 * s))
        )
        base *= top
        sigma = NOISE[dtype] if noise is None else noise
        base += rng.normal(0, sigma, size=(rows, cols)).astype(numpy.float32)
        planes.append(numpy.clip(base, 0, top).astype(dtype))
    return numpy.stack(planes, axis=-1) if samples else planes[0]


def _image(
    rows: int, cols: int, *, samples: int = 0, dtype: str, seed: int, noise: float | None = None
) -> numpy.ndarray:
    out = numpy.empty((rows, cols, samples) if samples else (rows, cols), dtype=dtype)
    band = 1024
    for y in range(0, rows, band):
        n = min(band, rows - y)
        out[y : y + n] = pattern(y, n, cols, samples=samples, dtype=dtype, seed=seed, noise=noise)
    return out


# -- writers -------------------------------------------------------------------


def _write_cog(ds: Dataset, target: Path) -> None:
    import rasterio
    import rasterio.shutil
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    size, tile = ds.params["size"], ds.params["tile"]
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 3,
        "dtype": "uint8",
        "tiled": True,
        "blockxsize": tile,
        "blockysize": tile,
        "transform": from_origin(0, 0, 10.0, 10.0),
        "crs": "EPSG:3857",
    }
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        plain = Path(tmp) / "plain.tif"
        with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"), rasterio.open(plain, "w", **profile) as dst:
            band = 1024
            for y in range(0, size, band):
                n = min(band, size - y)
                block = pattern(y, n, size, samples=3, seed=1, noise=ds.params["noise"])
                dst.write(numpy.moveaxis(block, -1, 0), window=Window(0, y, size, n))
        with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):
            rasterio.shutil.copy(
                plain,
                target,
                driver="COG",
                COMPRESS="JPEG",
                QUALITY=str(ds.params["quality"]),
                BLOCKSIZE=str(tile),
                OVERVIEWS="AUTO",
                OVERVIEW_RESAMPLING="AVERAGE",
                NUM_THREADS="ALL_CPUS",
            )


def _write_zstd(ds: Dataset, target: Path) -> None:
    import tifffile

    size, tile = ds.params["size"], ds.params["tile"]
    data = _image(size, size, dtype="uint16", seed=2)
    tifffile.imwrite(
        target,
        data,
        tile=(tile, tile),
        compression="zstd",
        predictor=True,
        maxworkers=os.cpu_count(),
        metadata=None,
    )


def _write_stack(ds: Dataset, target: Path) -> None:
    import tifffile

    pages, (rows, cols) = ds.params["pages"], ds.params["page_shape"]
    with tifffile.TiffWriter(target) as tif:  # as acquisition software does: no page count
        for i in range(pages):
            page = pattern(0, rows, cols, dtype="uint16", seed=100 + i)
            tif.write(page, metadata=None, contiguous=False)


def _levels(base: numpy.ndarray, count: int) -> Iterator[numpy.ndarray]:
    level = base
    for _ in range(count):
        h, w = level.shape[0] // 2 * 2, level.shape[1] // 2 * 2
        quads = level[:h, :w].reshape(h // 2, 2, w // 2, 2, *level.shape[2:]).astype(numpy.uint16)
        level = (quads.sum(axis=(1, 3)) // 4).astype(base.dtype)
        yield level


def _write_ome(ds: Dataset, target: Path) -> None:
    import tifffile

    size, tile, levels = ds.params["size"], ds.params["tile"], ds.params["levels"]
    base = _image(size, size, samples=3, dtype="uint8", seed=3)
    options = {"tile": (tile, tile), "compression": "zlib", "predictor": True, "photometric": "rgb"}
    with tifffile.TiffWriter(target, ome=True) as tif:
        tif.write(base, subifds=levels, metadata={"axes": "YXS"}, **options)
        for level in _levels(base, levels):
            tif.write(level, subfiletype=1, **options)


def _write_lzw(ds: Dataset, target: Path) -> None:
    import tifffile

    size = ds.params["size"]
    data = _image(size, size, dtype="uint8", seed=4)
    tifffile.imwrite(
        target,
        data,
        compression="lzw",
        rowsperstrip=ds.params["rowsperstrip"],
        maxworkers=os.cpu_count(),
        metadata=None,
    )


def _write_seq(ds: Dataset, target: Path) -> None:
    import tifffile

    target.mkdir()
    rows, cols = ds.params["file_shape"]
    for i, name in enumerate(ds.files):
        data = pattern(0, rows, cols, dtype="uint16", seed=1000 + i)
        tifffile.imwrite(target / Path(name).name, data, metadata=None)


def _planes(shape: tuple[int, ...], seed: int) -> numpy.ndarray:
    """Planes of ``shape`` (leading axes enumerate them), each its own seeded pattern."""
    *lead, rows, cols = shape
    out = numpy.empty((math.prod(lead), rows, cols), dtype="uint16")
    for i in range(len(out)):
        out[i] = pattern(0, rows, cols, dtype="uint16", seed=seed + i)
    return out.reshape(shape)


def _write_imagej(ds: Dataset, target: Path) -> None:
    import tifffile

    data = _planes(tuple(ds.params["shape"]), seed=2000)
    metadata = {"axes": "TZCYX", "spacing": 2.0, "unit": "um", "finterval": 5.0}
    tifffile.imwrite(target, data, imagej=True, resolution=(2.0, 2.0), metadata=metadata)


OME_NS = "http://www.openmicroscopy.org/Schemas/OME/2016-06"


def _uuid(name: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'tiffzarr-benchmarks/' + name)}"


def omeset_xml(ds: Dataset, index: int) -> str:
    """The OME-XML of file ``index`` of the set, as Bio-Formats writes sets: the whole
    description in the first file (every file named by ``UUID``/``FileName``), and in
    the others ``BinaryOnly`` pointing at the first.

    >>> ds = next(d for d in datasets(quick=True) if d.name == "omeset")
    >>> omeset_xml(ds, 0).count("<TiffData "), "BinaryOnly" in omeset_xml(ds, 1)
    (5, True)
    """
    names = [Path(f).name for f in ds.files]
    head = f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{OME_NS}"'
    head += f' UUID="{_uuid(names[index])}" Creator="tiffzarr benchmarks">'
    if index:
        only = f'<BinaryOnly MetadataFile="{names[0]}" UUID="{_uuid(names[0])}"/>'
        return f"{head}{only}</OME>"
    t, c, z, y, x = ds.params["shape"]
    pixels = (
        f'<Pixels ID="Pixels:0" DimensionOrder="{ds.params["order"]}" Type="uint16"'
        f' SizeX="{x}" SizeY="{y}" SizeZ="{z}" SizeC="{c}" SizeT="{t}" BigEndian="false"'
        ' PhysicalSizeX="0.5" PhysicalSizeY="0.5" PhysicalSizeZ="2.0" TimeIncrement="5.0">'
    )
    channels = "".join(f'<Channel ID="Channel:0:{i}" SamplesPerPixel="1"/>' for i in range(c))
    tiffdata = "".join(
        f'<TiffData FirstT="{i}" FirstC="0" FirstZ="0" IFD="0" PlaneCount="{c * z}">'
        f'<UUID FileName="{name}">{_uuid(name)}</UUID></TiffData>'
        for i, name in enumerate(names)
    )
    image = f'<Image ID="Image:0" Name="omeset">{pixels}{channels}{tiffdata}</Pixels></Image>'
    return f"{head}{image}</OME>"


def _write_omeset(ds: Dataset, target: Path) -> None:
    import tifffile

    target.mkdir()
    data = _planes(tuple(ds.params["shape"]), seed=3000)
    for i, name in enumerate(ds.files):
        planes = data[i].reshape(-1, *data.shape[-2:])  # C x Z pages, Z fastest (XYZCT)
        tifffile.imwrite(
            target / Path(name).name,
            planes,
            description=omeset_xml(ds, i),
            resolution=(2.0, 2.0),
            metadata=None,
        )


def _write_svs(ds: Dataset, target: Path) -> None:
    from benchmarks._slides import write_svs

    write_svs(ds, target)


def _write_ndpi(ds: Dataset, target: Path) -> None:
    from benchmarks._slides import write_ndpi

    write_ndpi(ds, target)


_WRITERS = {
    "cog": _write_cog,
    "zstd": _write_zstd,
    "stack": _write_stack,
    "ome": _write_ome,
    "lzw": _write_lzw,
    "seq": _write_seq,
    "seq10k": _write_seq,
    "imagej": _write_imagej,
    "omeset": _write_omeset,
    "svs": _write_svs,
    "ndpi": _write_ndpi,
}


def _stamp(ds: Dataset) -> dict[str, Any]:
    return {"generator": GENERATOR_VERSION, "path": ds.path, "params": ds.params}


def _stamp_path(root: Path, ds: Dataset) -> Path:
    return root / f"{ds.name}.stamp.json"


def _recorded(root: Path, ds: Dataset) -> dict[str, Any] | None:
    try:
        recorded: dict[str, Any] = json.loads(_stamp_path(root, ds).read_text())
    except (OSError, ValueError):
        return None
    return recorded


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir())
    return path.stat().st_size if path.exists() else -1


def ensure(ds: Dataset, root: Path = DATA_DIR) -> Path:
    """Generate ``ds`` under ``root`` unless its stamp says it is there; return its path."""
    root.mkdir(parents=True, exist_ok=True)
    target = root / ds.path
    stamp = _stamp(ds)
    recorded = _recorded(root, ds)
    if (
        recorded is not None
        and recorded.get("stamp") == json.loads(json.dumps(stamp))
        and _size(target) == recorded.get("bytes")
    ):
        return target
    logger.info("generating %s", target)
    _stamp_path(root, ds).unlink(missing_ok=True)
    partial = root / f".partial-{ds.path}"
    for old in (partial, target):
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink(missing_ok=True)
    _WRITERS[ds.name](ds, partial)
    partial.rename(target)
    record = {"stamp": stamp, "bytes": _size(target)}
    _stamp_path(root, ds).write_text(json.dumps(record, indent=1) + "\n")
    return target


def ensure_all(chosen: list[Dataset], root: Path = DATA_DIR) -> dict[str, int]:
    """Generate what is missing; return each data set's size on disk in bytes."""
    return {ds.name: _size(ensure(ds, root)) for ds in chosen}
