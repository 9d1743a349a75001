"""``TiffWriter``: tiled, pyramidal, OME, ImageJ and COG files.

The options and their meanings are those of :class:`tifffile.TiffWriter`. Each
``write`` call adds one series: it is planned first (pages, levels, tags and
the place of every IFD), then its pixels are streamed: read or computed one
band of chunks at a time, encoded in parallel threads, and appended in order.
IFDs are packed when the file is closed, once every offset is known. OME-TIFF
files are written when the writer closes, so the OME-XML that describes every
series can go with the first IFD.

The file appears at its target only when complete: a local file is written to
a temporary name in the same folder and renamed; on any error (from the data,
a full disk, a bad option) nothing is left behind and an older file of the same
name is untouched.

>>> import os, tempfile, numpy as np, tifffile
>>> path = os.path.join(tempfile.mkdtemp(), "a.tif")
>>> data = np.arange(512 * 384, dtype="uint16").reshape(512, 384)
>>> with TiffWriter(path) as tw:
...     tw.write(data, tile=(128, 128), compression="zstd", predictor=True, pyramid=2)
>>> with tifffile.TiffFile(path) as tif:
...     [level.shape for level in tif.series[0].levels], np.array_equal(tif.asarray(), data)
([(512, 384), (256, 192), (128, 96)], True)
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Literal

import numpy as np

from tiffzarr.format._header import BIGTIFF, CLASSIC, IfdLayout
from tiffzarr.format._serialize import Tag, pack_header
from tiffzarr.writer._append import existing_file
from tiffzarr.writer._cog import ghost
from tiffzarr.writer._downsample import DownsampleMethod
from tiffzarr.writer._ifds import IfdRecord, SegmentTable, pack_records, place
from tiffzarr.writer._ome import OmeImage, ome_xml
from tiffzarr.writer._options import ByteOrderOption, byteorder_code
from tiffzarr.writer._outputs import CogOutput, StreamOutput
from tiffzarr.writer._plan import EMPTY, FileContext, SeriesPlan, WriteOptions, plan_series
from tiffzarr.writer._sink import open_sink
from tiffzarr.writer._stream import stream_series

__all__ = ["TiffWriter"]

_CLASSIC_LIMIT = 2**32 - 2**25
"""Files planned larger than this are written as BigTIFF when ``bigtiff=None``."""


@dataclass(eq=False)
class _Open:
    """A series that later ``contiguous`` writes may continue."""

    plan: SeriesPlan
    options: WriteOptions
    first: IfdRecord
    writes: int = 1
    extra: list[IfdRecord] = field(default_factory=list)

    def accepts(self, plan: SeriesPlan, options: WriteOptions) -> bool:
        """Same shape, dtype and colormap as the series' first write (tifffile's rule)."""
        return (
            plan.datashape == self.plan.datashape
            and plan.dtype == self.plan.dtype
            and _same(options.colormap, self.options.colormap)
        )


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(np.array_equal(np.asarray(a), np.asarray(b)))


class TiffWriter:
    """Write arrays to a TIFF, BigTIFF, OME-TIFF, ImageJ or COG file.

    Parameters
    ----------
    target
        A local path, an fsspec URL (written locally, uploaded on close), or a
        seekable binary file object.
    mode
        ``"w"`` (replace), ``"x"`` (fail if the target exists) or ``"r+"``
        (append to an existing file, like ``append=True``).
    bigtiff
        Write a BigTIFF; ``None`` chooses BigTIFF when the planned file could
        exceed 4 GiB.
    byteorder
        ``"<"``, ``">"``, or ``"="``/``"|"``/``None`` for the machine's order.
    append
        Append series to an existing TIFF file (its byte order and flavour are
        kept); ``"force"`` also appends to ImageJ and OME files.
    imagej, ome, shaped
        The metadata format: ImageJ hyperstack, OME-TIFF (the default when the
        name contains ``.ome.``), or tifffile's shaped JSON (the default).
    storage_options
        Options for the fsspec filesystem of a URL target.

    Raises
    ------
    WriteError
        The target cannot be created (missing folder, no permission, ...).
    """

    def __init__(
        self,
        target: Any,
        /,
        *,
        mode: Literal["w", "x", "r+"] = "w",
        bigtiff: bool | None = None,
        byteorder: ByteOrderOption | None = None,
        append: bool | Literal["force"] = False,
        imagej: bool = False,
        ome: bool | None = None,
        shaped: bool | None = None,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        if mode not in ("w", "x", "r+"):
            raise ValueError(f"mode must be 'w', 'x' or 'r+', not {mode!r}")
        self._name = _name(target)
        self._existing = None
        if (append or mode == "r+") and isinstance(target, str | os.PathLike):
            path = os.fspath(target)
            if os.path.isfile(path) and os.path.getsize(path) > 0:
                self._existing = existing_file(path)
                if self._existing.has_metadata and append != "force":
                    raise ValueError(f"cannot append to {path}: it holds ImageJ or OME metadata")
        self._mode: Literal["w", "x", "r+"] = (
            "r+" if self._existing else ("x" if mode == "x" else "w")
        )
        self._byteorder = (
            self._existing.header.byteorder if self._existing else byteorder_code(byteorder)
        )
        self._layout: IfdLayout | None = self._existing.header.layout if self._existing else None
        self._bigtiff = bigtiff
        self._ome = None if ome is None else bool(ome)
        self._imagej = bool(imagej) and not self._ome
        if self._imagej:
            self._ome = False
        self._shaped = (shaped is None or bool(shaped)) and not self._imagej and not self._ome
        self._sink = open_sink(target, mode=self._mode, storage_options=storage_options)
        self._blocks: list[list[IfdRecord]] = []
        self._chain: list[IfdRecord] = []
        self._pending: list[SeriesPlan] = []
        self._open: _Open | None = None
        self._parents: list[IfdRecord] = []
        self._owed = 0
        self._series = 0
        self._cog = False
        self._closed = False

    # -- public ----------------------------------------------------------------
    @property
    def byteorder(self) -> Literal["<", ">"]:
        return self._byteorder

    @property
    def bigtiff(self) -> bool | None:
        """Whether the file is a BigTIFF (``None`` until the first series decides)."""
        return None if self._layout is None else self._layout is BIGTIFF

    def write(
        self,
        data: Any = None,
        /,
        *,
        shape: Sequence[int] | None = None,
        dtype: Any = None,
        photometric: Any = None,
        planarconfig: Any = None,
        extrasamples: Any = None,
        volumetric: bool = False,
        tile: Sequence[int] | None = None,
        rowsperstrip: int | None = None,
        bitspersample: int | None = None,
        compression: Any = None,
        compressionargs: Mapping[str, Any] | None = None,
        predictor: Any = None,
        subsampling: tuple[int, int] | None = None,
        jpegtables: bytes | None = None,
        iccprofile: bytes | None = None,
        colormap: Any = None,
        description: str | bytes | None = None,
        datetime: Any = None,
        resolution: Any = None,
        resolutionunit: Any = None,
        subfiletype: int | None = None,
        software: str | bytes | bool | None = None,
        subifds: int | Sequence[Any] | None = None,
        metadata: Mapping[str, Any] | None = EMPTY,
        extratags: Sequence[Sequence[Any]] | None = None,
        contiguous: bool = False,
        truncate: bool = False,
        align: int | None = None,
        maxworkers: int | None = None,
        pyramid: int | bool | None = None,
        cog: bool = False,
        downsample: DownsampleMethod | None = None,
        geotiff: Mapping[str, Any] | None = None,
    ) -> None:
        """Add one series: ``data`` (numpy, zarr, dask, an iterator of tiles, pages or
        encoded segments) or, with ``data=None``, an empty image of ``shape`` and ``dtype``.

        The options mean what they mean to :meth:`tifffile.TiffWriter.write`, plus:

        ``pyramid``
            ``N`` reduced levels (each half the size of the last, built while
            the base streams), or ``True`` for levels down to one tile.
        ``downsample``
            ``"mean"`` (the default for continuous data) or ``"nearest"`` (the
            default for bilevel and palette images; use it for labels).
        ``cog``
            Cloud Optimized GeoTIFF layout: tiled (512 by default), overviews
            down to one tile unless ``pyramid`` says otherwise; one image per file.
        ``geotiff``
            GeoTIFF tags from a dict (see :mod:`tiffzarr.writer._geotiff`).

        An empty image is uncompressed zero-filled segments (allocated, so they
        can be filled in place later) or, when compressed, sparse segments
        (offset and byte count 0) that readers show as zeros.

        Raises
        ------
        ValueError
            Options that do not fit the data or each other.
        WriteError
            Writing failed; the writer is closed and the target left untouched.
        """
        opts = WriteOptions(
            shape=shape,
            dtype=dtype,
            photometric=photometric,
            planarconfig=planarconfig,
            extrasamples=extrasamples,
            volumetric=volumetric,
            tile=tile,
            rowsperstrip=rowsperstrip,
            bitspersample=bitspersample,
            compression=compression,
            compressionargs=compressionargs,
            predictor=predictor,
            subsampling=subsampling,
            jpegtables=jpegtables,
            iccprofile=iccprofile,
            colormap=colormap,
            description=description,
            datetime=datetime,
            resolution=resolution,
            resolutionunit=resolutionunit,
            subfiletype=subfiletype,
            software=software,
            subifds=subifds,
            metadata=metadata,
            extratags=extratags,
            contiguous=contiguous,
            truncate=truncate,
            align=align,
            maxworkers=maxworkers,
            pyramid=pyramid,
            cog=cog,
            downsample=downsample,
            geotiff=geotiff,
        )
        self._write(data, opts)

    def _write(self, data: Any, opts: WriteOptions) -> None:
        if self._closed:
            raise ValueError("the TiffWriter is closed")
        if self._ome and opts.contiguous:
            raise ValueError("OME-TIFF series cannot be written contiguously")
        plan = plan_series(data, opts, self._context(opts))
        if opts.contiguous and self._open is not None and self._open.accepts(plan, opts):
            self._guarded(self._continue, data, opts)
            return
        self._check_sequence(plan, opts)
        if self._ome:
            self._pending.append(plan)
            return
        self._guarded(self._end_open)
        main = not self._owed
        self._guarded(self._run, plan)
        if plan.growable and main:
            self._open = _Open(plan, opts, self._chain[-1 if plan.truncate else -plan.frames])

    def _guarded(self, action: Any, *args: Any) -> None:
        """Run ``action``; on any failure discard the file and re-raise."""
        try:
            action(*args)
        except BaseException:
            self._abort()
            raise

    def _continue(self, data: Any, opts: WriteOptions) -> None:
        """Append the pages of ``data`` to the open series, right after its data."""
        open_ = self._open
        assert open_ is not None
        if opts.compression not in (None, False, 1, "none") or opts.tile or opts.bitspersample:
            raise ValueError("contiguous mode cannot be used with compression, tiles or packing")
        options = replace(open_.options, metadata=open_.options.metadata, description=None)
        plan = plan_series(data, options, self._context(options))
        tables = [SegmentTable.empty(pages=plan.frames, nsegments=plan.levels[0].nsegments)]
        stream_series(plan, StreamOutput(self._sink), tables)
        if not open_.plan.truncate:
            tags = list(plan.level_tags[0])
            open_.extra += [IfdRecord(tags, False, tables[0], f) for f in range(plan.frames)]
        open_.writes += 1

    def _end_open(self) -> None:
        """Close the series that contiguous writes may have grown: IFDs, description."""
        open_, self._open = self._open, None
        if open_ is None:
            return
        if open_.extra:
            start = self._sink.tell()
            end = place(open_.extra, self._layout or CLASSIC, start)
            self._sink.reserve(end - start)
            self._blocks.append(open_.extra)
            self._chain += open_.extra
        describer = open_.plan.describer
        if describer is not None and (open_.writes > 1 or open_.plan.truncate):
            shape = open_.plan.datashape
            shape = (open_.writes, *shape) if open_.writes > 1 else shape
            first = open_.first
            first.tags = [t for t in first.tags if t.code != 270] + [describer.tag(shape)]

    def close(self) -> None:
        """Write what is pending and every IFD, and move the file into place."""
        if self._closed:
            return
        try:
            if self._pending:
                self._run_pending()
            self._end_open()
            if self._owed:
                raise ValueError(f"{self._owed} announced SubIFD levels were not written")
            self._finish()
        except BaseException:
            self._abort()
            raise
        self._closed = True

    def __enter__(self) -> TiffWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self._abort()

    # -- planning --------------------------------------------------------------
    def _context(self, options: WriteOptions) -> FileContext:
        if self._ome is None:
            self._ome = ".ome." in self._name.lower() and options.description is None
            self._shaped = self._shaped and not self._ome
        fmt: Literal["shaped", "imagej", "ome"] | None = None
        if self._imagej:
            fmt = "imagej"
        elif self._ome:
            fmt = "ome"
        elif self._shaped:
            fmt = "shaped"
        return FileContext(byteorder=self._byteorder, format=fmt)

    def _check_sequence(self, plan: SeriesPlan, options: WriteOptions) -> None:
        series = self._series + len(self._pending)
        if self._cog or (options.cog and (series or self._existing)):
            raise ValueError("a COG holds one image: write it first and alone")
        if self._imagej and series:
            raise ValueError("an ImageJ file holds one series")
        if self._imagej and (len(plan.levels) > 1 or plan.subifds):
            raise ValueError("ImageJ files cannot hold SubIFDs or pyramids")
        self._cog = options.cog

    # -- streaming -------------------------------------------------------------
    def _start(self, plans: Sequence[SeriesPlan]) -> IfdLayout:
        """Decide classic or BigTIFF and write the header (with the COG ghost area)."""
        if self._layout is None:
            if self._bigtiff is None:
                big = sum(p.max_nbytes() for p in plans) > _CLASSIC_LIMIT
            else:
                big = bool(self._bigtiff)
            self._layout = BIGTIFF if big else CLASSIC
            self._sink.write(pack_header(self._byteorder, self._layout, 0))
            if plans and plans[0].layout == "cog":
                area = ghost()
                self._sink.write(area + b" " * (len(area) & 1))
        return self._layout

    def _records(self, plan: SeriesPlan, tables: list[SegmentTable]) -> list[IfdRecord]:
        """The IFDs of a series in file order; adds top-level ones to the chain."""
        tiled = plan.levels[0].tiled
        if plan.layout == "cog":
            block = [
                IfdRecord([*(plan.first_tags if i == 0 else ()), *tags], tiled, tables[i], 0)
                for i, tags in enumerate(plan.level_tags)
            ]
            self._chain += block
            return block
        nsub = len(plan.levels) - 1 or plan.subifds
        block, bases = [], []
        for frame in range(1 if plan.truncate else plan.frames):
            first = plan.first_tags if frame == 0 else ()
            base = IfdRecord([*plan.level_tags[0], *first], tiled, tables[0], frame, nsub)
            extra = plan.level_first_tags if frame == 0 else ()
            base.children = [
                IfdRecord([*plan.level_tags[i], *_get(extra, i - 1)], tiled, tables[i], frame)
                for i in range(1, len(plan.levels))
            ]
            block += [base, *base.children]
            bases.append(base)
        self._attach(plan, bases)
        return block

    def _attach(self, plan: SeriesPlan, bases: list[IfdRecord]) -> None:
        """Main IFDs join the chain; a series announced as SubIFDs joins its parents."""
        if self._owed:
            if len(bases) != len(self._parents):
                raise ValueError(
                    f"a SubIFD level has {len(bases)} pages; its parent series has "
                    f"{len(self._parents)}"
                )
            for parent, child in zip(self._parents, bases, strict=True):
                parent.children.append(child)
            self._owed -= 1
            return
        self._chain += bases
        self._series += 1
        if plan.subifds:
            self._parents, self._owed = bases, plan.subifds

    def _run(self, plan: SeriesPlan) -> None:
        layout = self._start([plan])
        tables = [SegmentTable.empty(pages=plan.frames, nsegments=g.nsegments) for g in plan.levels]
        block = self._records(plan, tables)
        start = self._sink.tell()
        end = place(block, layout, start)
        self._sink.reserve(end - start)
        self._blocks.append(block)
        if plan.layout == "cog":
            output = CogOutput(self._sink, levels=len(plan.levels))
            try:
                stream_series(plan, output, tables)
                for table, shift in zip(tables, output.finish(), strict=True):
                    table.offsets[table.counts > 0] += shift
            finally:
                output.close()
            return
        if plan.align > 1 and plan.fill not in ("sparse", "encoded"):
            self._sink.reserve(-self._sink.tell() % plan.align)
        stream_series(plan, StreamOutput(self._sink), tables)

    def _run_pending(self) -> None:
        """OME-TIFF: describe every series in the first IFD, then write them all."""
        plans, self._pending = self._pending, []
        images, owed = [], 0
        for plan in plans:
            if owed:
                owed -= 1
                continue
            stored = plan.info.stored
            images.append(
                OmeImage(
                    plan.datashape, plan.dtype, stored.samples, stored.separate > 1, plan.metadata
                )
            )
            owed = plan.subifds
        xml = ome_xml(images)
        plans[0] = replace(plans[0], first_tags=(Tag(270, 2, xml), *plans[0].first_tags))
        self._start(plans)
        for plan in plans:
            self._run(plan)

    def _finish(self) -> None:
        if self._layout is None:  # nothing written: a header without IFDs, as tifffile does
            self._start([])
        layout = self._layout
        assert layout is not None
        if layout is not BIGTIFF and self._sink.tell() >= 2**32:
            raise ValueError("the file exceeds 4 GiB; write a BigTIFF (bigtiff=True)")
        for a, b in zip(self._chain, self._chain[1:], strict=False):
            a.next_offset = b.offset
        first = self._chain[0].offset if self._chain else 0
        for block in self._blocks:
            self._sink.pwrite(block[0].offset, pack_records(block, self._byteorder, layout))
        if self._existing is not None:
            if first:
                fmt = self._byteorder + layout.offset_format
                self._sink.pwrite(self._existing.last_next, _pack(fmt, first))
        else:
            self._sink.pwrite(0, pack_header(self._byteorder, layout, first))
        self._sink.commit()

    def _abort(self) -> None:
        if not self._closed:
            self._closed = True
            self._sink.abort()


def _pack(fmt: str, value: int) -> bytes:
    return struct.pack(fmt, value)


def _get(items: Sequence[tuple[Tag, ...]], index: int) -> tuple[Tag, ...]:
    return items[index] if index < len(items) else ()


def _name(target: Any) -> str:
    if isinstance(target, str | os.PathLike):
        return os.fspath(target)
    return str(getattr(target, "name", ""))
