"""Writing chunks back into an existing uncompressed TIFF (``open_store(..., mode="r+")``).

Only segments that exist can take new bytes, at their place and size: the file's
structure never changes. That suits files created empty and then filled through
zarr; compressed segments would change size, so they are refused.
"""

from __future__ import annotations

from collections.abc import Mapping

from tiffzarr.errors import UnsupportedError
from tiffzarr.format import Compression
from tiffzarr.model import ArrayModel

__all__ = ["check_writable"]


def check_writable(arrays: Mapping[str, ArrayModel], path: str, /) -> None:
    """Refuse ``mode="r+"`` for what cannot be written in place."""
    for name, array in arrays.items():
        codec = array.codec
        if codec.compression != Compression.NONE or codec.predictor != 1 or codec.fillorder != 1:
            raise UnsupportedError(
                f"array {name or '/'} is compressed or predicted: its segments cannot be "
                "rewritten in place (mode='r+' needs uncompressed data)",
                url=path,
            )
        if array.manifest.whole_pages:
            raise UnsupportedError("mode='r+' works with chunkmode='segment'", url=path)
        if len(array.manifest.urls) != 1 or array.manifest.urls[0] != path:
            raise UnsupportedError("mode='r+' needs one local file", url=path)
