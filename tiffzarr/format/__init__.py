"""Pure TIFF format knowledge: header, field types, tags, IFDs, page geometry.

Nothing here does I/O: functions take bytes and return frozen values.
"""

from tiffzarr.format._enums import (
    Compression,
    ExtraSample,
    FillOrder,
    Photometric,
    PlanarConfig,
    Predictor,
    ResolutionUnit,
    SampleFormat,
    SubfileType,
)
from tiffzarr.format._filenames import (
    FILE_PATTERNS,
    FileGrid,
    natural_key,
    parse_filenames,
    stacked_files,
)
from tiffzarr.format._header import (
    BIGTIFF,
    CLASSIC,
    Header,
    IfdLayout,
    parse_ghost,
    parse_header,
)
from tiffzarr.format._ifd import (
    RawIfd,
    TagEntry,
    TagValue,
    decode_value,
    parse_ifd,
    parse_ifd_count,
)
from tiffzarr.format._layout import MAX_SEGMENT_BYTES, PageLayout, page_dtype, page_layout
from tiffzarr.format._tags import (
    EXIF_TAGS,
    GPS_TAGS,
    INTEROP_TAGS,
    TAGS,
    Namespace,
    tag_code,
    tag_name,
)
from tiffzarr.format._types import DATA_TYPES, ByteOrder, DataType

__all__ = [
    "BIGTIFF",
    "CLASSIC",
    "DATA_TYPES",
    "EXIF_TAGS",
    "FILE_PATTERNS",
    "GPS_TAGS",
    "INTEROP_TAGS",
    "MAX_SEGMENT_BYTES",
    "TAGS",
    "ByteOrder",
    "Compression",
    "DataType",
    "ExtraSample",
    "FileGrid",
    "FillOrder",
    "Header",
    "IfdLayout",
    "Namespace",
    "PageLayout",
    "Photometric",
    "PlanarConfig",
    "Predictor",
    "RawIfd",
    "ResolutionUnit",
    "SampleFormat",
    "SubfileType",
    "TagEntry",
    "TagValue",
    "decode_value",
    "natural_key",
    "page_dtype",
    "page_layout",
    "parse_ghost",
    "parse_filenames",
    "parse_header",
    "parse_ifd",
    "parse_ifd_count",
    "stacked_files",
    "tag_code",
    "tag_name",
]
