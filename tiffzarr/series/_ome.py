"""Series of OME-TIFF files (and file sets), following tifffile's OME series.

The first page's ImageDescription holds OME-XML (see :mod:`tiffzarr.format._ome`).
Each ``Image`` whose ``Pixels`` locate planes through ``TiffData`` is a series:

- Its shape is the ``Pixels`` sizes, slowest first (the reversed
  ``DimensionOrder``), with ``C`` divided by the samples per pixel of the first
  ``Channel``; the samples are an ``S`` axis last (interleaved) or before ``YX``
  (separate planes); without samples a trailing ``S`` of length 1.
- ``TiffData`` elements map planes to IFDs: ``PlaneCount`` (or ``NumPlanes``)
  pages from ``IFD`` on, the first at ``FirstT``/``FirstC``/``FirstZ``, of the file
  its ``UUID`` names (another file of the set, opened by its ``FileName`` in the
  same folder; all of them concurrently). Planes the XML does not place, or whose
  file is missing (with ``missing="fill"``), are fill; more planes than the sizes
  hold are dropped.
- An image whose pages do not hold its trailing dimensions (tifffile's
  "discontiguous storage") is left out, with a warning.
- Modulo annotations split an axis (``T`` into ``T`` and ``H``, ...) or rename it.
- The SubIFDs of the planes are the pyramid levels (level k: SubIFD k of every
  plane); a pyramid without an image name is called ``Baseline``.

Files whose XML is ``BinaryOnly`` (tifffile gives them generic series) are
resolved here: the XML of their ``MetadataFile`` (a companion ``.ome`` text file,
or the first ImageDescription of the set's master TIFF) describes the set, this
file included. When the OME-XML
yields no series and the file is also an ImageJ file, the ImageJ series are tried,
as tifffile does.
"""

from __future__ import annotations

import asyncio
import math
import os
import urllib.parse
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tiffzarr.errors import TiffFormatError, TiffZarrError
from tiffzarr.format import decode_value
from tiffzarr.format._axes import udunits
from tiffzarr.format._ome import OmeDocument, OmeImageInfo, OmePixels, TiffData, is_ome, parse_ome
from tiffzarr.model import (
    ArrayModel,
    AxisScale,
    Channel,
    Page,
    Series,
    TiffIndex,
    array_from_pages,
)
from tiffzarr.series import _imagej
from tiffzarr.series._generic import layout_key
from tiffzarr.series._protocol import Fallback, Interpretation, SeriesContext

__all__ = ["FALLBACK", "KIND", "detect", "series"]

KIND = "ome"
FALLBACK: Fallback = "generic"
"""tifffile tries ImageJ after OME only for ImageJ files: handled in :func:`series`."""

IMAGE_DESCRIPTION = 270
MAX_PLANES = 2**22
"""Largest number of planes an OME image may have (bounds the plane lists)."""

Plane = tuple[Page, TiffIndex]
"""A page and the file it is in."""


def detect(index: TiffIndex, /) -> bool:
    """Whether the first page's ImageDescription holds OME-XML (tifffile ignores
    OME-XML in later pages)."""
    return bool(index.pages) and is_ome(_description(index.pages[0]))


def _description(page: Page) -> str | None:
    value = page.ifd.get(IMAGE_DESCRIPTION)
    return value if isinstance(value, str) else None


async def series(context: SeriesContext, /) -> Interpretation:
    """The OME series of the file (or of its set), else its ImageJ series when it
    is an ImageJ file too."""
    found = await _ome_series(context)
    if found.series:
        return found
    if _imagej.detect(context.index):
        return await _imagej.series(context)
    return Interpretation(())


@dataclass(frozen=True, slots=True)
class _Holder:
    """Which file the XML came from: ``name`` (``None``: the opened file; a
    ``MetadataFile`` name for BinaryOnly files) and its file name."""

    name: str | None
    filename: str


@dataclass(slots=True)
class _Found:
    """An image's series before modulo and pyramid levels (``shape``/``axes`` full)."""

    name: str
    image: OmeImageInfo
    pixels: OmePixels
    shape: list[int]
    axes: str
    planes: list[Plane | None]
    keyframe: Plane


class _Images:
    """Builds the images' plane lists, carrying what tifffile carries from one
    ``TiffData`` (and image) to the next: the last plane count, used for missing
    files that do not say theirs."""

    def __init__(self, context: SeriesContext, files: dict[str, TiffIndex | None]) -> None:
        self.context = context
        self.files = files
        self.size = -1

    def image(
        self, image: OmeImageInfo, pixels: OmePixels, keys: list[str | None]
    ) -> _Found | None:
        """The planes and full shape of one ``Pixels`` element, or ``None`` to leave it out."""
        context = self.context
        where = f"OME image {image.id or image.name or ''!r}"
        axes = pixels.axes
        shape = list(pixels.shape)
        spp = 1
        if pixels.channels:
            first = pixels.channels[0].samples
            spp = 1 if first is None else first
            if any((1 if c.samples is None else c.samples) != spp for c in pixels.channels[1:]):
                context.warn(f"{where}: its channels differ in SamplesPerPixel; left out")
                return None
            if spp > 1:
                shape = [n // spp if a == "C" else n for a, n in zip(axes, shape, strict=True)]
        planes = self.planes(where, pixels, keys, axes, shape)
        if planes is None or all(p is None for p in planes):
            return None
        keyframe = next((p for p in planes if p is not None and p[0].layout is not None), None)
        if keyframe is None:
            context.warn(f"{where}: none of its pages is a readable image; left out")
            return None
        _drop_mismatched(context, where, planes, keyframe)
        layout = keyframe[0].layout
        assert layout is not None
        if spp > 1:
            if layout.planar == 1:
                shape, axes = [*shape, spp], axes + "S"
            else:
                shape, axes = [*shape[:-2], spp, *shape[-2:]], axes[:-2] + "S" + axes[-2:]
        if "S" not in axes:
            shape, axes = [*shape, 1], axes + "S"
        if not self.fit_frames(where, planes, shape, layout.shape):
            return None
        squeezed = [n for n, a in zip(shape, axes, strict=True) if n > 1 or a in "XY"]
        tail = tuple(squeezed[-len(layout.shape) :])
        if layout.shape != tail:
            context.warn(
                f"{where}: its pages {layout.shape} do not hold its last dimensions {tail} "
                "(discontiguous storage); left out"
            )
            return None
        return _Found(image.name or "", image, pixels, shape, axes, planes, keyframe)

    def planes(
        self, where: str, pixels: OmePixels, keys: list[str | None], axes: str, shape: list[int]
    ) -> list[Plane | None] | None:
        """The pages of each plane, as the ``TiffData`` elements place them."""
        planes: list[Plane | None] = []
        context = self.context
        own = context.index
        for td, key in zip(pixels.tiffdata, keys, strict=True):
            try:
                idx = _ravel(td.first, axes[:-2], shape[:-2])
            except ValueError as exc:
                context.warn(f"{where}: a TiffData is outside the image ({exc}); it is ignored")
                continue
            tif = own if key is None else self.files.get(key)
            if key == "":
                context.warn(
                    f"{where}: a TiffData UUID {td.uuid!r} names no file; its planes are fill"
                )
            if tif is None:
                size = td.planes or self.size
                if size < 0:
                    context.warn(f"{where}: a TiffData of a missing file says no PlaneCount")
                    continue
            else:
                size = td.planes or len(tif.pages)
            if idx + size > MAX_PLANES:
                context.warn(f"{where}: more than {MAX_PLANES} planes; left out")
                return None
            planes.extend([None] * (size + idx - len(planes)))
            self.size = size
            if tif is None:
                continue
            available = max(0, min(size, len(tif.pages) - td.ifd))
            if available < size:
                context.warn(
                    f"{where}: a TiffData names IFDs {td.ifd}..{td.ifd + size - 1} but "
                    f"{_file_name(tif.url)!r} has {len(tif.pages)} pages"
                )
            for i in range(available):
                planes[idx + i] = (tif.pages[td.ifd + i], tif)
        return planes

    def fit_frames(
        self, where: str, planes: list[Plane | None], shape: list[int], page_shape: tuple[int, ...]
    ) -> bool:
        """Trim or pad the planes to the number the sizes hold (tifffile's frame count)."""
        context = self.context
        page_size = math.prod(page_shape)
        if page_size == 0:
            context.warn(f"{where}: its pages are empty; left out")
            return False
        size = max(math.prod(shape) // page_size, 1)
        if size > MAX_PLANES:
            context.warn(f"{where}: {size} planes exceed {MAX_PLANES}; left out")
            return False
        if size < len(planes):
            context.warn(f"{where}: the OME-XML holds {size} planes, TiffData give {len(planes)}")
            del planes[size:]
        elif size > len(planes):
            context.warn(
                f"{where}: {size - len(planes)} of its {size} planes are missing; they are fill"
            )
            planes.extend([None] * (size - len(planes)))
        self.size = size
        return True


async def _ome_series(context: SeriesContext) -> Interpretation:
    """The series the OME-XML describes (resolving BinaryOnly files), with the
    XML used and the other files of the set whose pages they hold."""
    index = context.index
    text = _description(index.pages[0])
    assert text is not None
    doc = _parse(context, text, "the ImageDescription of page 0")
    if doc is None:
        return Interpretation(())
    holder = _Holder(None, _file_name(index.url))
    if not doc.images and doc.binary_only is not None:
        resolved = await _resolve_binary_only(context, doc)
        if resolved is None:
            return Interpretation(())
        doc, text, holder = resolved
    for problem in doc.problems:
        context.warn(f"OME-XML: {problem}")
    tiffdata = [td for image in doc.images for p in image.pixels for td in p.tiffdata]
    keys = _file_keys(doc, tiffdata, holder)
    files = await _open_files(context, [k for k in keys if k is not None])
    images = _Images(context, files)
    found = []
    remaining = iter(keys)
    for image in doc.images:
        for pixels in image.pixels:
            planned = [next(remaining) for _ in pixels.tiffdata]
            item = images.image(image, pixels, planned)
            if item is not None:
                found.append(item)
    out, used = [], []
    for item in found:
        built = _series(context, item, doc)
        if built is not None:
            out.append(built)
            used.append(item)
    members = {
        id(plane[1]): plane[1]
        for item in used
        for plane in item.planes
        if plane is not None and plane[1] is not index
    }
    return Interpretation(tuple(out), ome_xml=text, members=tuple(members.values()))


def _parse(context: SeriesContext, text: str, where: str) -> OmeDocument | None:
    try:
        return parse_ome(text)
    except TiffFormatError as exc:
        context.warn(f"{where} is OME-XML that cannot be used: {exc}")
        return None


def _file_name(url: str) -> str:
    """The file name at the end of a path or URL."""
    if "://" in url:
        return urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
    return os.path.basename(url)


async def _resolve_binary_only(
    context: SeriesContext, doc: OmeDocument
) -> tuple[OmeDocument, str, _Holder] | None:
    """The OME-XML a BinaryOnly file points to, and the file it came from."""
    assert doc.binary_only is not None
    name = doc.binary_only.metadata_file
    if not name:
        context.warn("the OME-XML is BinaryOnly but names no MetadataFile")
        return None
    try:
        text = await _metadata_text(context, name)
    except (TiffZarrError, OSError) as exc:
        if context.missing == "error":
            raise
        context.warn(f"the OME MetadataFile {name!r} cannot be read ({exc}); no OME series")
        return None
    resolved = _parse(context, text, f"the OME MetadataFile {name!r}")
    if resolved is None:
        return None
    if not resolved.images:
        context.warn(f"the OME MetadataFile {name!r} describes no images")
        return None
    return resolved, text, _Holder(name, name)


async def _metadata_text(context: SeriesContext, name: str) -> str:
    """The OME-XML in ``name``: a companion text file, or the first ImageDescription
    of a TIFF (the set's master file)."""
    try:
        tif = await context.companion(name)
    except TiffFormatError as not_tiff:
        try:
            return await context.companion_text(name)
        except TiffFormatError:
            raise not_tiff from None
    entry = tif.pages[0].ifd.entries.get(IMAGE_DESCRIPTION)
    if entry is None or entry.datatype is None:
        raise TiffFormatError("the MetadataFile has no ImageDescription", url=tif.url)
    data = None
    if entry.value_offset is not None:
        data = await context.companion_bytes(name, entry.value_offset, entry.nbytes)
        if len(data) != entry.nbytes:
            raise TiffFormatError("the ImageDescription ends after the file", url=tif.url)
    value = decode_value(tif.header, entry, data)
    if not isinstance(value, str):
        raise TiffFormatError("the ImageDescription is not text", url=tif.url)
    return value


def _file_keys(doc: OmeDocument, tiffdata: Sequence[TiffData], holder: _Holder) -> list[str | None]:
    """The file of each ``TiffData``, as tifffile finds it: by UUID, the XML's own
    UUID being the file that holds it; a UUID seen first with a file name keeps
    that file. ``None`` is the opened file; ``""`` a UUID without a file name."""
    root = doc.uuid
    files: dict[str | None, str | None] = {root: holder.name}
    keys: list[str | None] = []
    for td in tiffdata:
        if not td.has_uuid:
            keys.append(holder.name)
            continue
        text = td.uuid
        if (
            root is None
            and text is not None
            and (td.filename or "").lower() == holder.filename.lower()
        ):
            root = text  # no UUID in the root: this one names the file with the XML
            files[text] = files.pop(None, holder.name)
        elif text not in files:
            files[text] = td.filename or ""
        keys.append(files[text])
    return keys


async def _open_files(context: SeriesContext, names: list[str]) -> dict[str, TiffIndex | None]:
    """Open the files of the set concurrently; ``None`` for those that are missing
    (with ``missing="fill"``; else the first failure is raised)."""
    distinct = list(dict.fromkeys(n for n in names if n))

    async def one(name: str) -> TiffIndex | TiffZarrError | OSError:
        try:
            return await context.companion(name)
        except (TiffZarrError, OSError) as exc:
            return exc

    results = await asyncio.gather(*(one(n) for n in distinct))
    files: dict[str, TiffIndex | None] = {"": None}
    for name, result in zip(distinct, results, strict=True):
        if isinstance(result, TiffIndex):
            files[name] = result
            continue
        if context.missing == "error":
            raise result
        context.warn(
            f"file {name!r} of the OME-TIFF set cannot be read ({result}); its planes are fill"
        )
        files[name] = None
    return files


def _ravel(first: Mapping[str, int], axes: str, shape: Sequence[int]) -> int:
    """The plane number of the first plane of a ``TiffData`` (numpy's
    ``ravel_multi_index`` over the non-YX dimensions); ``ValueError`` if outside."""
    index = 0
    for axis, n in zip(axes, shape, strict=True):
        i = first.get(axis, 0)
        if not 0 <= i < n:
            raise ValueError(f"First{axis}={i} is outside 0..{n - 1}")
        index = index * n + i
    return index


def _key(plane: Plane) -> Hashable:
    page, tif = plane
    assert page.layout is not None
    return (layout_key(page.layout), tif.header.byteorder)


def _drop_mismatched(
    context: SeriesContext, where: str, planes: list[Plane | None], keyframe: Plane
) -> None:
    """Planes whose pages cannot be stacked with the keyframe's become fill."""
    key = _key(keyframe)
    bad = 0
    for i, plane in enumerate(planes):
        if plane is None:
            continue
        if plane[0].layout is None or _key(plane) != key:
            planes[i] = None
            bad += 1
    if bad:
        context.warn(f"{where}: {bad} of its pages differ from its first page; they are fill")


def _array(
    planes: Sequence[Plane | None], shape: Sequence[int], axes: str, keyframe: Plane
) -> ArrayModel:
    """The array over ``planes`` (pages of several files: one URL each)."""
    urls: dict[str, int] = {}
    sources = []
    for plane in planes:
        url = keyframe[1].url if plane is None else plane[1].url
        sources.append(urls.setdefault(url, len(urls)))
    return array_from_pages(
        [None if p is None else p[0] for p in planes],
        urls=tuple(urls),
        byteorder=keyframe[1].header.byteorder,
        shape=shape,
        axes=axes,
        sources=tuple(sources),
    )


def _modulo(context: SeriesContext, item: _Found, doc: OmeDocument) -> tuple[list[int], str]:
    """The full shape and axes after the image's modulo annotation (if any)."""
    shape, axes = list(item.shape), item.axes
    ref = item.image.annotation_ref
    for along in doc.modulo.get(ref, ()) if ref is not None else ():
        i = axes.index(along.axis) if along.axis in axes else -1
        if i < 0:
            continue
        if shape[i] == along.size:
            axes = axes.replace(along.axis, along.letter, 1)
        elif along.size > 0 and shape[i] % along.size == 0:
            shape[i] //= along.size
            shape.insert(i + 1, along.size)
            axes = axes.replace(along.axis, along.axis + along.letter, 1)
        else:
            context.warn(
                f"OME modulo {ref!r}: {along.size} steps do not divide {along.axis} "
                f"({shape[i]}); ignored"
            )
    return shape, axes


def _series(context: SeriesContext, item: _Found, doc: OmeDocument) -> Series | None:
    """The series of one image: level 0 after modulo, then its SubIFD levels."""
    shape, axes = _modulo(context, item, doc)
    where = f"OME image {item.image.id or item.name!r}"
    try:
        base = _array(item.planes, shape, axes, item.keyframe)
    except ValueError as exc:
        context.warn(f"{where}: its pages do not make an array of {tuple(shape)} ({exc}); left out")
        return None
    levels = [base]
    name = item.name
    if item.keyframe[0].subifd_offsets:
        levels += _levels(context, where, item, shape, axes)
        name = name or "Baseline"
    pixels = item.pixels
    scales = {
        axis: AxisScale(size, udunits(unit))
        for axis, (size, unit) in pixels.physical.items()
        if axis in axes
    }
    channels = tuple(Channel(name=c.name, color=c.color) for c in pixels.channels)
    if not any(c.name or c.color for c in channels):
        channels = ()
    return Series(
        name=name,
        kind=KIND,
        levels=tuple(levels),
        attrs={"ome": _summary(item)},
        scales=scales,
        channels=channels,
    )


def _levels(
    context: SeriesContext, where: str, item: _Found, shape: list[int], axes: str
) -> list[ArrayModel]:
    """Pyramid levels: level k holds SubIFD k of every plane (as tifffile builds them)."""
    out: list[ArrayModel] = []
    for level in range(len(item.keyframe[0].subifd_offsets)):
        planes: list[Plane | None] = []
        for plane in item.planes:
            if plane is None or level >= len(plane[0].subifds):
                planes.append(None)
                continue
            sub = plane[0].subifds[level]
            planes.append(None if sub is None else (sub, plane[1]))
        keyframe = next((p for p in planes if p is not None and p[0].layout is not None), None)
        if keyframe is None:
            context.warn(f"{where}: pyramid level {level + 1} is empty")
            break
        _drop_mismatched(context, f"{where} level {level + 1}", planes, keyframe)
        layout = keyframe[0].layout
        assert layout is not None
        sizes = {"X": layout.width, "Y": layout.length}
        level_shape = [sizes.get(a, n) for a, n in zip(axes, shape, strict=True)]
        try:
            out.append(_array(planes, level_shape, axes, keyframe))
        except ValueError as exc:
            context.warn(f"{where}: pyramid level {level + 1} cannot be read ({exc})")
            break
    return out


def _summary(item: _Found) -> dict[str, Any]:
    """The OME facts kept in the series attributes (the full XML is served apart)."""
    pixels = item.pixels
    out: dict[str, Any] = {
        "image": {"id": item.image.id, "name": item.image.name},
        "dimension_order": pixels.dimension_order,
        "pixel_type": pixels.type,
    }
    if pixels.physical:
        out["physical_sizes"] = {
            axis: {"size": size, "unit": unit} for axis, (size, unit) in pixels.physical.items()
        }
    return out
