"""tiffzarr: every TIFF, TIFF pyramid and TIFF sequence as a lazy Zarr store.

The blocking functions here are twins of the coroutines in
:mod:`tiffzarr.api.asynchronous`.
"""

from __future__ import annotations

from typing import Any

from tiffzarr import errors
from tiffzarr._sync import run_sync
from tiffzarr.errors import TiffZarrError, TiffZarrWarning
from tiffzarr.model import ArrayModel, Page, Series, TiffIndex
from tiffzarr.reader import open_tiff as _open_tiff

__version__ = "0.1.0"

__all__ = [
    "ArrayModel",
    "Page",
    "Series",
    "TiffIndex",
    "TiffZarrError",
    "TiffZarrWarning",
    "__version__",
    "errors",
    "open_tiff",
]


def open_tiff(url: str, /, *, storage_options: dict[str, Any] | None = None) -> TiffIndex:
    """Parse the TIFF at ``url`` into its model (blocking twin of the coroutine)."""
    return run_sync(_open_tiff(url, storage_options=storage_options))
