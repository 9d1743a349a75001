"""Series of ScanImage files, as tifffile reads them.

ScanImage writes one page per frame (see :mod:`tiffzarr.format._scanimage`).
In a ScanImage 2016+ BigTIFF the non-varying frame data at the start of the file
give the saved channels and the frames per slice: the series is then
``(slices, frames, channels, *frame)`` with axes ``ZTC…``; otherwise (older
files, or no such data) it is the frames along ``I``. The frame data (bounded),
a summary of the ROI groups and the first frame's description go into the
``scanimage`` attributes.

As in tifffile, every page is taken as a frame laid out like the first; a file
whose pages differ gets its generic series (with a warning).
"""

from __future__ import annotations

import math
from typing import Any

from tiffzarr.format._records import bounded_json, decode_text
from tiffzarr.format._scanimage import (
    HEADER_SPAN,
    parse_assignments,
    parse_header,
    parse_matlab,
    parse_roi_groups,
    roi_summary,
    scanimage_dims,
)
from tiffzarr.model import Page, Series, TiffIndex, array_from_pages
from tiffzarr.series import _generic
from tiffzarr.series._pages import one_layout
from tiffzarr.series._protocol import Fallback, Interpretation, SeriesContext

__all__ = ["FALLBACK", "KIND", "detect", "series"]

KIND = "scanimage"
FALLBACK: Fallback = "generic"

DESCRIPTION = 270
SOFTWARE = 305
MAX_METADATA_BYTES = 64 * 2**20
"""Largest frame data or ROI groups block read."""


def _text(page: Page, code: int) -> str:
    value = page.ifd.get(code)
    return value if isinstance(value, str) else ""


def detect(index: TiffIndex, /) -> bool:
    """The first page's Software starts ``SI.``, or its description holds ScanImage
    settings (``state.`` first, or ``scanimage.SI`` near its end)."""
    first = index.pages[0]
    description = _text(first, DESCRIPTION)
    return (
        _text(first, SOFTWARE)[:3] == "SI."
        or description[:6] == "state."
        or "scanimage.SI" in description[-256:]
    )


async def series(context: SeriesContext, /) -> Interpretation:
    """The frames of the file, shaped by the frame data where they say how."""
    index = context.index
    pages = list(index.pages)
    layout = one_layout(pages)
    if layout is None:
        context.warn("the pages of the ScanImage file differ; its generic series are served")
        return Interpretation(_generic.generic_series(index))
    version, frame_data, rois = await _metadata(context)
    dims = None
    try:
        dims = scanimage_dims(frame_data, len(pages))
    except ValueError as exc:
        context.warn(f"the ScanImage frame data give no shape: {exc}")
    chosen: list[Page | None]
    if dims is None:
        shape, axes, chosen = (len(pages), *layout.shape), "I" + layout.axes, list(pages)
    else:
        count = math.prod(dims)
        if count != len(pages):
            context.warn(
                f"the ScanImage frame data describe {count} frames {dims} (ZTC), the file has "
                f"{len(pages)}" + ("; the missing ones are fill" if count > len(pages) else "")
            )
        chosen = [*pages[:count], *[None] * (count - len(pages))]
        shape, axes = (*dims, *layout.shape), "ZTC" + layout.axes
    level = array_from_pages(
        chosen, urls=(index.url,), byteorder=index.header.byteorder, shape=shape, axes=axes
    )
    attrs: dict[str, Any] = {
        "FrameData": {k: bounded_json(v) for k, v in frame_data.items()},
        "RoiGroups": roi_summary(rois),
        "description": {
            k: bounded_json(v) for k, v in parse_assignments(_text(pages[0], DESCRIPTION)).items()
        },
    }
    if version is not None:
        attrs["version"] = version
    return Interpretation((Series(name="", kind=KIND, levels=(level,), attrs={KIND: attrs}),))


async def _metadata(context: SeriesContext) -> tuple[int | None, dict[str, Any], dict[str, Any]]:
    """The version, non-varying frame data and ROI groups of a ScanImage 2016+
    BigTIFF (nothing for other files)."""
    index = context.index
    if not index.header.bigtiff or index.header.byteorder != "<":
        return None, {}, {}
    offset, length = HEADER_SPAN
    try:
        header = parse_header(await context.read(offset, min(length, index.size - offset)))
    except ValueError:
        return None, {}, {}
    frame_data: dict[str, Any] = {}
    rois: dict[str, Any] = {}
    (fd_offset, fd_length), (roi_offset, roi_length) = header.frame_data, header.roi_groups
    if max(fd_length, roi_length) > MAX_METADATA_BYTES:
        context.warn(f"ScanImage metadata of {fd_length + roi_length} bytes are not read")
        return header.version, frame_data, rois
    if fd_offset + fd_length + roi_length > index.size:
        context.warn("the ScanImage metadata are cut by the end of the file")
        return header.version, frame_data, rois
    text = decode_text((await context.read(fd_offset, fd_length))[:-1])
    parsed = parse_assignments(text) if "\n" in text or "\r" in text else parse_matlab(text)
    frame_data = parsed if isinstance(parsed, dict) else {}
    if roi_length > 1:
        try:
            rois = parse_roi_groups(await context.read(roi_offset, roi_length))
        except (ValueError, UnicodeDecodeError) as exc:
            context.warn(f"the ScanImage ROI groups are not valid JSON: {exc}")
    return header.version, frame_data, rois
