"""Series of ImageJ hyperstacks, as tifffile reads them.

The first page's description (``ImageJ=...``) gives the stack's frames, slices
and channels (see :func:`tiffzarr.format._imagej.hyperstack`): one series of
axes ``TZCYXS`` (``I`` first for images the description leaves unidentified),
named ``""``. When the first page's pixels are stored in final form and the
images they start fit in the file before the next IFD, the stack is *virtual*
(ImageJ writes every image after the first page's pixels, and files over 4 GB
hold no other IFD): it needs no other page of the file, and
:func:`first_ifd_suffices` lets the reader stop after the first IFD. Otherwise
the images are the file's pages, in order (extra pages are left out of the
series; the coverage check reports them).

Pixel sizes come from the resolution tags and the description (``unit``,
``spacing``, ``finterval``, ``tunit``); channel colours and display windows from
the LUTs and ranges of the IJMetadata tags. The description items and the
textual IJMetadata go to the ``imagej`` attributes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from tiffzarr.errors import TiffZarrError
from tiffzarr.format import Header, RawIfd, ResolutionUnit, TagValue, page_layout
from tiffzarr.format._axes import udunits
from tiffzarr.format._imagej import (
    IJMETADATA,
    IJMETADATA_BYTECOUNTS,
    Hyperstack,
    hyperstack,
    imagej_description_items,
    imagej_metadata_items,
    is_imagej_description,
)
from tiffzarr.format._layout import LAYOUT_TAGS
from tiffzarr.model import AxisScale, Channel, Page, Series, TiffIndex, array_from_pages
from tiffzarr.series._pages import (
    MAX_VIRTUAL_PAGES,
    RESOLUTION_UNIT,
    RESOLUTION_UNITS,
    X_RESOLUTION,
    Y_RESOLUTION,
    final_end,
    pixel_size,
    stacked_pages,
    strips_start,
)
from tiffzarr.series._protocol import Fallback, Interpretation, SeriesContext

__all__ = ["FALLBACK", "KIND", "detect", "first_ifd_suffices", "series"]

KIND = "imagej"
FALLBACK: Fallback = "generic"

DESCRIPTION = 270
STRIP_OFFSETS = 273
STRIP_BYTE_COUNTS = 279

TEXT_ITEMS = ("Info", "Labels", "Properties")
"""IJMetadata entries kept in the attributes (LUTs, ROIs, overlays and plots are not)."""
MAX_ATTR_ITEMS = 10_000
"""Most description items, labels or properties kept in the attributes."""
MAX_ATTR_TEXT = 2**20
"""Longest text (``Info``) kept in the attributes, in characters."""


def detect(index: TiffIndex, /) -> bool:
    """The first page's description is an ImageJ description."""
    return is_imagej_description(index.pages[0].ifd.get(DESCRIPTION))


async def series(context: SeriesContext, /) -> Interpretation:
    """The hyperstack of the file, or nothing (with a warning) when its metadata
    do not describe the file's images."""
    index = context.index
    page = index.pages[0]
    if page.layout is None:
        return Interpretation(())
    items = imagej_description_items(page.ifd.get(DESCRIPTION))
    try:
        stack = hyperstack(
            items, page_shape=page.layout.shape, page_axes=page.layout.axes, pages=len(index.pages)
        )
    except ValueError as exc:
        context.warn(f"ImageJ metadata invalid: {exc}; read as generic series")
        return Interpretation(())
    if not stack.order_known:
        context.warn(f"ImageJ series of unknown order {items.get('order')!r}")
    pages = await _images(context, page, stack.images)
    if pages is None:
        return Interpretation(())
    try:
        array = array_from_pages(
            pages, urls=(index.url,), byteorder=index.header.byteorder, shape=stack.shape,
            axes=stack.axes,
        )  # fmt: skip
    except ValueError as exc:
        context.warn(f"ImageJ hyperstack {stack.shape} does not fit its pages: {exc}")
        return Interpretation(())
    extra = await _ijmetadata(context, page)
    found = Series(
        name="",
        kind=KIND,
        levels=(array,),
        attrs={"imagej": _attrs(items, extra)},
        scales=await _scales(context, page, items),
        channels=_channels(stack, extra),
    )
    return Interpretation((found,))


async def _images(context: SeriesContext, page: Page, images: int) -> list[Page] | None:
    """The pages of the ``images`` of the stack that starts at ``page``."""
    index = context.index
    layout, _ = page.require_layout()
    end = await final_end(context, page)
    following = index.pages[1].ifd.offset if len(index.pages) > 1 else 0
    if end is not None:
        start = end - layout.page_nbytes
        stop = start + images * layout.page_nbytes
        if stop > index.size:
            context.warn(
                f"ImageJ metadata say {images} images of {layout.page_nbytes} bytes from "
                f"offset {start}, past the end of the file ({index.size} bytes)"
            )
            return None
        if images <= 1 or not following or stop <= following:
            if images > MAX_VIRTUAL_PAGES:
                context.warn(f"ImageJ stack of {images} images exceeds {MAX_VIRTUAL_PAGES}")
                return None
            return await stacked_pages(context, index.pages, 0, images)
    own = list(index.pages[:images])
    if len(own) < images:
        context.warn(f"ImageJ metadata say {images} images, the file has {len(index.pages)} pages")
        return None
    if any(p.layout != layout or p.segments is None for p in own):
        context.warn("ImageJ hyperstack pages differ in layout")
        return None
    return own


def first_ifd_suffices(
    header: Header, raw: RawIfd, value: Callable[[int], TagValue | None], size: int, /
) -> bool:
    """Whether the first IFD of a file is a virtual ImageJ hyperstack of several
    images: then no other IFD needs reading (see the module docstring)."""
    text = value(DESCRIPTION)
    if not is_imagej_description(text):
        return False
    assert isinstance(text, str)
    tags: dict[int, TagValue] = {}
    for code in LAYOUT_TAGS:
        found = value(code)
        if found is None and code in raw.entries:
            return False  # not read yet
        if found is not None:
            tags[code] = found
    offsets, counts = value(STRIP_OFFSETS), value(STRIP_BYTE_COUNTS)
    if offsets is None or counts is None:
        return False
    try:
        layout = page_layout(tags, nsegments=np.size(offsets))
        stack = hyperstack(
            imagej_description_items(text), page_shape=layout.shape, page_axes=layout.axes
        )
    except (ValueError, TiffZarrError, NotImplementedError):
        return False
    start = strips_start(layout, offsets, counts)
    if start is None or not 1 < stack.images <= MAX_VIRTUAL_PAGES:
        return False
    stop = start + stack.images * layout.page_nbytes
    return stop <= size and (raw.next_offset == 0 or raw.next_offset >= stop)


# -- metadata --------------------------------------------------------------
async def _ijmetadata(context: SeriesContext, page: Page) -> dict[str, Any]:
    """The IJMetadata entries of the first page (empty, with a warning, when invalid)."""
    if IJMETADATA not in page.ifd.entries:
        return {}
    try:
        data = await context.value(page.ifd, IJMETADATA)
        counts = await context.value(page.ifd, IJMETADATA_BYTECOUNTS)
        if not isinstance(data, bytes) or counts is None or isinstance(counts, str | bytes):
            raise ValueError("IJMetadata must be bytes with LONG byte counts")
        sizes = [int(n) for n in np.atleast_1d(np.asarray(counts)).reshape(-1)]
        return imagej_metadata_items(data, sizes, context.index.header.byteorder)
    except (ValueError, TiffZarrError) as exc:
        context.warn(f"IJMetadata of page 0 not read: {exc}")
        return {}


def _json(value: Any) -> Any:
    """A description value as JSON can hold it (non-finite floats as text)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _attrs(items: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: _json(v) for k, v in list(items.items())[:MAX_ATTR_ITEMS]}
    for key in TEXT_ITEMS:
        value = extra.get(key)
        if isinstance(value, str):
            out[key] = value[:MAX_ATTR_TEXT]
        elif isinstance(value, list):
            out[key] = [str(v)[:MAX_ATTR_TEXT] for v in value[:MAX_ATTR_ITEMS]]
        elif isinstance(value, dict):
            out[key] = {str(k): str(v) for k, v in list(value.items())[:MAX_ATTR_ITEMS]}
    ranges = _ranges(extra)
    if ranges:
        out["Ranges"] = [_json(v) for v in ranges[:MAX_ATTR_ITEMS]]
    return out


def _ranges(extra: Mapping[str, Any]) -> list[float]:
    value = extra.get("Ranges")
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, list):
        return [v for part in value for v in part]
    return []


def _luts(extra: Mapping[str, Any]) -> list[np.ndarray]:
    value = extra.get("LUTs")
    arrays = value if isinstance(value, list) else [] if value is None else [value]
    out = []
    for lut in arrays:
        rows = len(lut) // 3 * 3
        out += [lut[r : r + 3] for r in range(0, rows, 3)]
    return out


def _color(lut: np.ndarray) -> str:
    """The colour of a LUT: its brightest entry, ``"RRGGBB"``."""
    entries = lut.T.astype(np.int64)
    r, g, b = entries[int(np.argmax(entries.sum(axis=1)))]
    return f"{r:02X}{g:02X}{b:02X}"


def _channels(stack: Hyperstack, extra: Mapping[str, Any]) -> tuple[Channel, ...]:
    """Colours and windows of the stack's channels, where the LUTs or ranges give them."""
    count = stack.shape[stack.axes.index("C")] if "C" in stack.axes else 1
    luts, ranges = _luts(extra), _ranges(extra)
    colors = [_color(lut) for lut in luts] if len(luts) == count else None
    windows = ranges if len(ranges) >= 2 * count else None
    if colors is None and windows is None:
        return ()
    return tuple(
        Channel(
            color=colors[c] if colors else None,
            window=(float(windows[2 * c]), float(windows[2 * c + 1])) if windows else None,
        )
        for c in range(count)
    )


def _size(value: Any) -> float | None:
    """A positive, finite number from a description item, else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


async def _pixel_size(context: SeriesContext, page: Page, code: int) -> float | None:
    """The pixel size that a resolution tag gives (its inverse), else ``None``."""
    try:
        return pixel_size(await context.value(page.ifd, code))
    except TiffZarrError:
        return None


async def _scales(
    context: SeriesContext, page: Page, items: Mapping[str, Any]
) -> dict[str, AxisScale]:
    """Physical pixel sizes along X, Y, Z and the frame interval along T."""
    unit = items.get("unit")
    if unit is None:
        unit = RESOLUTION_UNITS.get(page.ifd.get(RESOLUTION_UNIT, ResolutionUnit.NONE))  # as ImageJ
    unit = None if unit is None else str(unit)

    def units(key: str) -> str | None:
        return udunits(str(items[key]) if key in items else unit)

    scales: dict[str, AxisScale] = {}
    width = await _pixel_size(context, page, X_RESOLUTION)
    height = await _pixel_size(context, page, Y_RESOLUTION)
    found = {
        "X": (width, udunits(unit)),
        "Y": (height or width, units("yunit")),
        "Z": (_size(items.get("spacing")), units("zunit")),
        "T": (_size(items.get("finterval")), udunits(str(items.get("tunit", "sec")))),
    }
    for axis, (size, name) in found.items():
        if size is not None:
            scales[axis] = AxisScale(size, name)
    return scales
