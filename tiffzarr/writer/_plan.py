"""Plan one series before any pixel is encoded: pages, segments, levels and tags.

:func:`plan_series` checks the data and the options of one ``write`` call and
returns a :class:`SeriesPlan`: the stored shape, the geometry of every level,
how segments are encoded, and every tag except those that depend on where the
encoded bytes end up (offsets, byte counts, SubIFD and next-IFD pointers).

>>> plan = plan_series(np.zeros((3, 600, 500), "uint16"), WriteOptions(tile=(256, 256),
...                    compression="zstd", predictor=True, pyramid=2, metadata=None,
...                    photometric="minisblack"),
...                    FileContext(byteorder="<"))
>>> plan.frames, [(g.length, g.width, g.nsegments) for g in plan.levels]
(3, [(600, 500, 6), (300, 250, 2), (150, 125, 1)])
>>> plan.spec(1).shape, plan.codec.predictor
((1, 256, 256, 1), 2)
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from tiffzarr.codecs._spec import SegmentSpec
from tiffzarr.format._enums import Photometric
from tiffzarr.format._serialize import Tag
from tiffzarr.format._types import ByteOrder
from tiffzarr.writer._downsample import DownsampleMethod
from tiffzarr.writer._geometry import Geometry
from tiffzarr.writer._geotiff import geotiff_nodata, geotiff_tags
from tiffzarr.writer._imagej import IJMETADATA_KEYS, imagej_description, imagej_metadata_tags
from tiffzarr.writer._options import (
    IMAGE_COMPRESSIONS,
    compression_code,
    datetime_text,
    extrasamples_codes,
    predictor_code,
    rational,
    resolutionunit_code,
)
from tiffzarr.writer._shape import ShapeInfo, Trim, normalize_shape
from tiffzarr.writer._tags import Codec, extra_tags, image_tags, sampleformat_code

__all__ = ["EMPTY", "Describer", "FileContext", "SeriesPlan", "WriteOptions", "plan_series"]

EMPTY: Mapping[str, Any] = MappingProxyType({})
"""The default ``metadata``: shaped metadata with no extra keys."""

Fill = Literal["data", "iterator", "encoded", "zeros", "sparse"]
_JPEG = (7, 34892)
_BITDEPTH_CODECS = (33003, 33004, 33005, 34712, 50002, 52546)
_STRIP_BYTES = 2**18


@dataclass(frozen=True, slots=True)
class WriteOptions:
    """The options of :meth:`TiffWriter.write`, as given (meanings as in tifffile)."""

    shape: Sequence[int] | None = None
    dtype: Any = None
    photometric: Any = None
    planarconfig: Any = None
    extrasamples: Any = None
    volumetric: bool = False
    tile: Sequence[int] | None = None
    rowsperstrip: int | None = None
    bitspersample: int | None = None
    compression: Any = None
    compressionargs: Mapping[str, Any] | None = None
    predictor: Any = None
    subsampling: tuple[int, int] | None = None
    jpegtables: bytes | None = None
    iccprofile: bytes | None = None
    colormap: Any = None
    description: str | bytes | None = None
    datetime: Any = None
    resolution: Any = None
    resolutionunit: Any = None
    subfiletype: int | None = None
    software: str | bytes | bool | None = None
    subifds: int | Sequence[Any] | None = None
    metadata: Mapping[str, Any] | None = field(default_factory=dict)
    extratags: Sequence[Sequence[Any]] | None = None
    contiguous: bool = False
    truncate: bool = False
    align: int | None = None
    maxworkers: int | None = None
    pyramid: int | bool | None = None
    cog: bool = False
    downsample: DownsampleMethod | None = None
    geotiff: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class FileContext:
    """What the file being written decides for every series."""

    byteorder: ByteOrder
    format: Literal["shaped", "imagej", "ome"] | None = "shaped"


@dataclass(frozen=True)
class Describer:
    """The description of a series that may grow (``contiguous`` writes) or be truncated.

    Its tag value is padded with NULs to ``reserve`` bytes, so the description of
    the final shape can replace it in place.

    >>> d = Describer("shaped", {"axes": "YX"}, reserve=40)
    >>> d.text((2, 4, 4)), d.tag((2, 4, 4)).count
    ('{"shape": [2, 4, 4], "axes": "YX"}', 40)
    """

    kind: Literal["shaped", "imagej"]
    metadata: Mapping[str, Any]
    rgb: bool = False
    colormapped: bool = False
    reserve: int = 0

    def text(self, shape: tuple[int, ...], /) -> str:
        if self.kind == "shaped":
            return json.dumps({"shape": list(shape), **self.metadata})
        meta = dict(self.metadata)
        axes = meta.pop("axes", None)
        if axes is not None and len(axes) != len(shape):
            grown = len(axes) + 1 == len(shape) and "T" not in str(axes).upper()
            axes = "T" + str(axes) if grown else None
        return imagej_description(
            shape, axes=axes, rgb=self.rgb, colormapped=self.colormapped, **meta
        )

    def tag(self, shape: tuple[int, ...], /) -> Tag:
        data = self.text(shape).encode()
        if len(data) >= self.reserve:
            raise ValueError(f"the description of shape {shape} does not fit its reserved space")
        return Tag(270, 2, data.ljust(self.reserve, b"\0"))


@dataclass(frozen=True)
class SeriesPlan:
    """One series: its pages, levels, encoding and tags; plus its pixel payload."""

    datashape: tuple[int, ...]
    dtype: np.dtype
    info: ShapeInfo
    levels: tuple[Geometry, ...]
    codec: Codec
    byteorder: ByteOrder
    level_tags: tuple[tuple[Tag, ...], ...]
    first_tags: tuple[Tag, ...]
    fill: Fill
    payload: Any = field(repr=False)
    layout: Literal["subifds", "cog"] = "subifds"
    downsample: DownsampleMethod = "mean"
    nodata: float | None = None
    subifds: int = 0
    align: int = 16
    maxworkers: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    level_first_tags: tuple[tuple[Tag, ...], ...] = ()
    """Tags of the first page of each reduced level (tifffile's shaped description)."""
    describer: Describer | None = None
    """Set when the series can grow by ``contiguous`` writes (uncompressed strips)."""
    truncate: bool = False
    """Only the first page gets an IFD; the others follow its data contiguously."""

    @property
    def growable(self) -> bool:
        """Uncompressed, unpacked strips of one level: later writes can continue it."""
        codec = self.codec
        return (
            codec.compression == 1
            and not self.levels[0].tiled
            and len(self.levels) == 1
            and not self.subifds
            and self.layout != "cog"
            and codec.bitspersample == self.dtype.itemsize * 8
            and self.fill in ("data", "iterator", "zeros")
        )

    @property
    def frames(self) -> int:
        return self.info.stored.frames

    def spec(self, level: int, /) -> SegmentSpec:
        """How a full segment of ``level`` is encoded."""
        codec = self.codec
        return SegmentSpec(
            compression=codec.compression,
            shape=self.levels[level].segment_shape,
            dtype=self.dtype.str,
            bitspersample=codec.bitspersample,
            sampleformat=codec.sampleformat,
            byteorder=self.byteorder,
            predictor=codec.predictor,
            photometric=Photometric.YCBCR if codec.subsampling else self.info.photometric,
            subsampling=codec.subsampling or (1, 1),
        )

    def max_nbytes(self) -> int:
        """An upper bound of the file bytes this series needs (to choose BigTIFF)."""
        samples = (
            sum(g.nsegments * int(np.prod(g.segment_shape)) for g in self.levels) * self.frames
        )
        raw = samples * max(1, self.codec.bitspersample // 8 + (self.codec.bitspersample % 8 > 0))
        tags = sum(len(t.pack(self.byteorder)) for t in (*self.first_tags, *self.level_tags[0]))
        return int(raw * 1.01) + tags + self.frames * len(self.levels) * 4096


def _inspect(data: Any, options: WriteOptions) -> tuple[Fill, Any, tuple[int, ...], np.dtype]:
    """What kind of payload ``data`` is, with its shape and dtype."""
    if data is None or hasattr(data, "__next__"):
        if options.shape is None or options.dtype is None:
            raise ValueError("writing an iterator or an empty image needs shape and dtype")
        shape, dtype = tuple(int(n) for n in options.shape), np.dtype(options.dtype)
        if data is None:
            return "zeros", None, shape, dtype
        first = next(data, None)
        items: Iterator[Any] = _chain(first, data)
        return ("encoded" if isinstance(first, bytes) else "iterator"), items, shape, dtype
    if not (hasattr(data, "shape") and hasattr(data, "dtype")):
        data = np.asarray(data, dtype=options.dtype)
    if any(math.isnan(n) for n in data.shape):  # a dask array of unknown chunk sizes
        raise ValueError("the array has unknown chunk sizes; call compute_chunk_sizes() first")
    shape, dtype = tuple(int(n) for n in data.shape), np.dtype(data.dtype)
    if options.dtype is not None and np.dtype(options.dtype) != dtype:
        raise ValueError(f"dtype {options.dtype!r} does not match the data's {dtype}")
    if options.shape is not None and tuple(options.shape) != shape:
        raise ValueError(f"shape {tuple(options.shape)} does not match the data's {shape}")
    return "data", data, shape, dtype


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _codec(options: WriteOptions, dtype: np.dtype, info: ShapeInfo, compression: int) -> Codec:
    bits = dtype.itemsize * 8
    bps = options.bitspersample
    if dtype.kind == "b":
        if bps not in (None, 1):
            raise ValueError(f"bitspersample {bps} must be 1 for a bilevel image")
        bps = 1
    elif compression in _JPEG:
        bps = bps or (12 if dtype == np.uint16 else 8)
        if not 2 <= bps <= 16 or dtype.kind != "u" or dtype.itemsize > 2:
            raise ValueError(f"JPEG cannot hold {dtype} with {bps} bits per sample")
    elif bps is None:
        bps = bits
    elif bps != bits and (
        dtype.kind != "u"
        or not bits // 2 < bps <= bits
        or dtype.itemsize > 4
        or (compression != 1 and compression not in _BITDEPTH_CODECS)
    ):
        raise ValueError(f"bitspersample {bps} does not fit {dtype} with compression {compression}")
    args = dict(options.compressionargs or {})
    level = args.pop("level", None)
    if args:
        raise ValueError(f"compressionargs {sorted(args)} are not supported; only 'level'")
    subsampling = None
    contig_rgb = info.stored.contig in (3, 4) and info.photometric in (2, 6)
    if compression == 7 and contig_rgb:
        subsampling = tuple(options.subsampling or (2, 2))
        if subsampling not in ((1, 1), (2, 1), (2, 2), (4, 1)):
            raise ValueError(f"invalid subsampling {subsampling}")
    return Codec(
        compression=compression,
        predictor=predictor_code(options.predictor, dtype, compression),
        bitspersample=int(bps),
        sampleformat=sampleformat_code(dtype),
        level=level,
        subsampling=subsampling,  # type: ignore[arg-type]
        jpegtables=options.jpegtables,
    )


def _tile(options: WriteOptions) -> tuple[int, int, int] | None:
    tile = options.tile
    if tile is None and options.cog:
        tile = (512, 512)
    if not tile:
        return None
    tile = tuple(int(n) for n in tile)
    if len(tile) not in (2, 3) or tile[-1] % 16 or tile[-2] % 16 or min(tile) < 1:
        raise ValueError(f"invalid tile shape {tile}: length and width are multiples of 16")
    return tile if len(tile) == 3 else (1, *tile)  # type: ignore[return-value]


def _geometry(options: WriteOptions, info: ShapeInfo, codec: Codec, dtype: np.dtype) -> Geometry:
    stored = info.stored
    tile = _tile(options)
    if tile is not None and tile[0] > 1 and not info.volumetric:
        raise ValueError(f"cannot write {stored} with volumetric tiles {tile}")
    rows = 0
    if tile is None:
        rowbytes = stored.width * stored.contig * dtype.itemsize
        rows = options.rowsperstrip or 0
        if not rows:
            rows = max(1, _STRIP_BYTES // rowbytes) if codec.compression != 1 else stored.length
        if codec.subsampling and rows % (8 * max(codec.subsampling)):
            step = 8 * max(codec.subsampling)
            rows = -(-rows // step) * step
    return Geometry(
        stored.separate,
        stored.depth,
        stored.length,
        stored.width,
        stored.contig,
        tile=tile,
        rowsperstrip=rows,
    )


def _levels(base: Geometry, options: WriteOptions) -> tuple[Geometry, ...]:
    pyramid = options.pyramid
    if pyramid is None or pyramid is False:
        count = -1 if options.cog else 0
    elif pyramid is True:
        count = -1
    else:
        count = int(pyramid)
        if count < 0:
            raise ValueError(f"pyramid must be at least 0, not {count}")
    levels = [base]
    fits = max(base.segment_rows if base.tiled else 512, base.tile[2] if base.tile else 512)
    while count > 0 or (count < 0 and max(levels[-1].length, levels[-1].width) > fits):
        if levels[-1].length == levels[-1].width == 1:
            break
        levels.append(levels[-1].half())
        count -= 1
    return tuple(levels)


def _resolution(
    options: WriteOptions, level: int
) -> tuple[tuple[int, int], tuple[int, int]] | None:
    if options.resolution is None:
        return None
    x, y = options.resolution[:2]
    if level:
        x, y = (rational(r) for r in (x, y))
        return ((x[0], x[1] * 2**level), (y[0], y[1] * 2**level))
    return (rational(x), rational(y))


def _colormap(options: WriteOptions, info: ShapeInfo, dtype: np.dtype, imagej: bool) -> Any:
    if options.colormap is None:
        return None
    colormap = np.asarray(options.colormap, dtype=np.uint16)
    if imagej:
        if colormap.shape != (3, 256):
            raise ValueError(f"an ImageJ colormap has shape (3, 256), not {colormap.shape}")
        return colormap
    if info.photometric != Photometric.PALETTE or dtype.char not in "BH":
        raise ValueError("a colormap needs photometric 'palette' and uint8 or uint16 data")
    if colormap.shape != (3, 2 ** (dtype.itemsize * 8)):
        raise ValueError(f"invalid colormap shape {colormap.shape} for {dtype}")
    return colormap


def _describer(
    options: WriteOptions, context: FileContext, info: ShapeInfo, colormap: Any
) -> Describer | None:
    """How the series describes itself: ImageJ or shaped, or ``None``."""
    metadata = dict(options.metadata or {})
    if context.format == "imagej":
        ijmeta = {k: v for k, v in metadata.items() if k not in IJMETADATA_KEYS}
        rgb = info.stored.contig in (3, 4)
        return Describer("imagej", ijmeta, rgb=rgb, colormapped=colormap is not None)
    if context.format == "shaped" and options.metadata is not None and options.description is None:
        if options.truncate:
            metadata["truncated"] = True
        return Describer("shaped", metadata)
    return None


def _description(
    options: WriteOptions, context: FileContext, shape: tuple[int, ...], describer: Describer | None
) -> list[Tag]:
    if describer is not None:
        tags = [describer.tag(shape) if describer.reserve else Tag(270, 2, describer.text(shape))]
        if describer.kind == "imagej":
            tags += imagej_metadata_tags(options.metadata or {}, context.byteorder)
        return tags
    description = options.description
    if description is not None:
        text = description.decode("ascii") if isinstance(description, bytes) else description
        return [Tag(270, 2, text)]
    return []


def _first_tags(
    options: WriteOptions,
    context: FileContext,
    shape: tuple[int, ...],
    describer: Describer | None,
) -> tuple[list[Tag], list[Tag], list[Tag]]:
    """Tags of the first page only, of every page, and of every page of the base level."""
    if context.format in ("imagej", "ome") and options.description is not None:
        raise ValueError(f"a description cannot be written to {context.format} files")
    first = _description(options, context, shape, describer)
    software = "tiffzarr" if options.software is None else options.software
    if software:
        text = software.decode("ascii") if isinstance(software, bytes) else str(software)
        first.append(Tag(305, 2, text))
    when = datetime_text(options.datetime)
    if when:
        first.append(Tag(306, 2, when))
    every, first_extra = extra_tags(options.extratags, context.byteorder)
    geo_first, geo_every = geotiff_tags(options.geotiff) if options.geotiff else ([], [])
    return first + first_extra + geo_first, geo_every, every


def plan_series(data: Any, options: WriteOptions, context: FileContext, /) -> SeriesPlan:
    """Check ``data`` and ``options`` and plan the series (no pixel is read)."""
    fill, payload, shape, dtype = _inspect(data, options)
    if options.cog and context.format == "shaped":
        context = replace(context, format=None)
    dtype = dtype.newbyteorder("=")
    compression = compression_code(options.compression)
    if fill == "zeros" and compression != 1:
        fill = "sparse"
    info = _normalize(shape, dtype, options, context)
    codec = _codec(options, dtype, info, compression)
    levels = _levels(_geometry(options, info, codec, dtype), options)
    colormap = _colormap(options, info, dtype, context.format == "imagej")
    describer = _describer(options, context, info, colormap)
    growable = compression == 1 and not levels[0].tiled and len(levels) == 1
    if describer is not None and growable and fill != "encoded":
        describer = replace(describer, reserve=_reserve(describer, shape))
    first, geo_every, every = _first_tags(options, context, shape, describer)
    level_tags = tuple(
        tuple(tags + geo_every + (every if i == 0 else []))
        for i, tags in enumerate(
            _image_tags(levels, options, context, info, codec=codec, colormap=colormap)
        )
    )
    level_first = tuple(
        _level_description(shape, info, g)
        if context.format == "shaped" and options.metadata is not None
        else ()
        for g in levels[1:]
    )
    return _checked(
        SeriesPlan(
            datashape=shape,
            dtype=dtype,
            info=info,
            levels=levels,
            codec=codec,
            byteorder=context.byteorder,
            level_tags=level_tags,
            first_tags=tuple(first),
            fill=fill,
            payload=payload,
            layout="cog" if options.cog else "subifds",
            downsample=options.downsample or _default_method(info, dtype),
            nodata=geotiff_nodata(options.geotiff),
            subifds=_subifds(options.subifds),
            align=16 if options.align is None else int(options.align),
            maxworkers=options.maxworkers,
            metadata=options.metadata or EMPTY,
            level_first_tags=level_first,
            describer=describer if describer is not None and describer.reserve else None,
            truncate=options.truncate,
        ),
        options,
    )


def _normalize(
    shape: tuple[int, ...], dtype: np.dtype, options: WriteOptions, context: FileContext
) -> ShapeInfo:
    imagej = context.format == "imagej"
    if imagej and dtype.char not in "BHhf":
        raise ValueError(f"ImageJ hyperstacks cannot hold {dtype}")
    trim: Trim = "one" if imagej else "none"
    if context.format == "shaped" and options.metadata is not None:
        trim = "all"
    return normalize_shape(
        shape,
        dtype,
        photometric=options.photometric,
        planarconfig=options.planarconfig,
        extrasamples=extrasamples_codes(options.extrasamples),
        volumetric=bool(options.volumetric or (options.tile and len(options.tile) == 3)),
        colormap=options.colormap is not None,
        trim=trim,
        metadata_format=_metadata_format(context),
    )


def _image_tags(
    levels: Sequence[Geometry],
    options: WriteOptions,
    context: FileContext,
    info: ShapeInfo,
    *,
    codec: Codec,
    colormap: Any,
) -> list[list[Tag]]:
    """The tags of every page of each level."""
    extrasamples = extrasamples_codes(options.extrasamples) or (
        (2,) if info.photometric == 2 and info.extrasamples == 1 else (0,) * info.extrasamples
    )
    unit = resolutionunit_code(
        options.resolutionunit,
        resolution=options.resolution is not None,
        imagej=context.format == "imagej",
    )
    return [
        image_tags(
            geometry,
            codec=codec,
            photometric=info.photometric,
            extrasamples=extrasamples,
            subfiletype=1 if i else options.subfiletype,
            resolution=_resolution(options, i),
            resolutionunit=unit,
            colormap=colormap,
            iccprofile=options.iccprofile,
        )
        for i, geometry in enumerate(levels)
    ]


def _level_description(shape: tuple[int, ...], info: ShapeInfo, level: Geometry) -> tuple[Tag]:
    """The shaped description of a reduced level: the series' shape with Y and X halved."""
    sizes = {"Y": level.length, "X": level.width}
    reduced = [sizes.get(role, n) for n, role in zip(shape, info.roles, strict=True)]
    return (Tag(270, 2, json.dumps({"shape": reduced})),)


def _reserve(describer: Describer, shape: tuple[int, ...]) -> int:
    """Bytes for a description that may grow by a leading axis (NUL-padded, as tifffile)."""
    grown = (10**12, *shape) if describer.kind == "shaped" else shape
    text = describer.text(grown) if describer.kind == "shaped" else describer.text(shape)
    return len(text.encode()) + (16 if describer.kind == "shaped" else 64)


def _metadata_format(context: FileContext) -> Literal["imagej", "ome"] | None:
    if context.format == "imagej":
        return "imagej"
    return "ome" if context.format == "ome" else None


def _default_method(info: ShapeInfo, dtype: np.dtype) -> DownsampleMethod:
    if dtype.kind == "b" or info.photometric == Photometric.PALETTE:
        return "nearest"
    return "mean"


def _subifds(value: int | Sequence[Any] | None) -> int:
    if value is None:
        return 0
    return len(value) if isinstance(value, Sequence) else int(value)


def _checked(plan: SeriesPlan, options: WriteOptions) -> SeriesPlan:
    if len(plan.levels) > 1 and plan.fill == "encoded":
        raise ValueError("a pyramid cannot be built from pre-encoded segments")
    if len(plan.levels) > 1 and plan.subifds:
        raise ValueError("give either pyramid or subifds, not both")
    if options.cog and (plan.frames > 1 or plan.info.stored.depth > 1):
        raise ValueError(
            f"a COG holds one image, not {plan.frames} pages of depth {plan.info.stored.depth}"
        )
    if options.truncate and (plan.describer is None or not plan.growable):
        raise ValueError(
            "truncate needs shaped or ImageJ metadata and uncompressed, unpacked strips"
        )
    if options.contiguous and plan.layout == "cog":
        raise ValueError("a COG cannot be written contiguously")
    if plan.downsample not in ("mean", "nearest"):
        raise ValueError(f"downsample {plan.downsample!r} is not 'mean' or 'nearest'")
    if plan.codec.compression in IMAGE_COMPRESSIONS and plan.fill == "zeros":
        return replace(plan, fill="sparse")
    return plan
