"""The one immutable model of a TIFF: IFDs, pages, series, arrays and manifests."""

from tiffzarr.model._array import (
    ArrayModel,
    ChunkManifest,
    array_from_pages,
    segment_spec,
    whole_page_chunks,
)
from tiffzarr.model._geo import GeoReference, GroundControlPoint, Transform
from tiffzarr.model._index import FileVersion, Ifd, Page, PagePath, TiffIndex, format_path
from tiffzarr.model._pages import HeldPages, PageRun, Pages, PageTables, RunSlice, page_layouts
from tiffzarr.model._segments import (
    WINDOW,
    FileCheck,
    FileReference,
    OffsetFix,
    PageCheck,
    SegmentTable,
    TagArray,
    load_segments,
)
from tiffzarr.model._sequence import (
    FileCell,
    MosaicManifest,
    grid_files,
    predicted_file,
    tile_files,
)
from tiffzarr.model._series import AxisScale, Channel, Series
from tiffzarr.model._views import SQUEEZE_KEEP, squeeze_array, squeezed_dims, transpose_array

__all__ = [
    "SQUEEZE_KEEP",
    "WINDOW",
    "ArrayModel",
    "AxisScale",
    "Channel",
    "ChunkManifest",
    "FileCheck",
    "FileReference",
    "FileVersion",
    "GeoReference",
    "GroundControlPoint",
    "HeldPages",
    "Ifd",
    "MosaicManifest",
    "OffsetFix",
    "Page",
    "PageCheck",
    "PagePath",
    "PageRun",
    "PageTables",
    "Pages",
    "RunSlice",
    "SegmentTable",
    "Series",
    "TagArray",
    "TiffIndex",
    "Transform",
    "array_from_pages",
    "format_path",
    "FileCell",
    "grid_files",
    "load_segments",
    "page_layouts",
    "predicted_file",
    "tile_files",
    "segment_spec",
    "squeeze_array",
    "squeezed_dims",
    "transpose_array",
    "whole_page_chunks",
]
