"""The one immutable model of a TIFF: IFDs, pages, series, arrays and manifests."""

from tiffzarr.model._array import (
    ArrayModel,
    ChunkManifest,
    Series,
    array_from_pages,
    segment_spec,
    whole_page_chunks,
)
from tiffzarr.model._index import Ifd, Page, PagePath, TiffIndex, format_path
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
from tiffzarr.model._sequence import predicted_file, stack_files

__all__ = [
    "WINDOW",
    "ArrayModel",
    "ChunkManifest",
    "FileCheck",
    "FileReference",
    "Ifd",
    "OffsetFix",
    "Page",
    "PageCheck",
    "PagePath",
    "SegmentTable",
    "Series",
    "TagArray",
    "TiffIndex",
    "array_from_pages",
    "format_path",
    "load_segments",
    "predicted_file",
    "segment_spec",
    "stack_files",
    "whole_page_chunks",
]
