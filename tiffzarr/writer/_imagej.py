"""ImageJ hyperstacks for the writer: the description grammar and IJMetadata tags.

The knowledge lives in :mod:`tiffzarr.format._imagej`, shared with the reader
(:mod:`tiffzarr.series._imagej`); the writer uses it from here.

>>> imagej_shape((4, 64, 64), axes="ZYX")
(1, 4, 1, 64, 64, 1)
"""

from __future__ import annotations

from tiffzarr.format._imagej import (
    IJMETADATA_KEYS,
    imagej_description,
    imagej_metadata_tags,
    imagej_shape,
)

__all__ = ["IJMETADATA_KEYS", "imagej_description", "imagej_metadata_tags", "imagej_shape"]
