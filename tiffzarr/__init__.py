"""tiffzarr: every TIFF, TIFF pyramid and TIFF sequence as a lazy Zarr store.

The blocking functions here are twins of the coroutines in
:mod:`tiffzarr.api.asynchronous`.
"""

from __future__ import annotations

from tiffzarr import api, errors
from tiffzarr._config import config, set_config, tune_zarr
from tiffzarr.api.synchronous import (
    imread,
    open_references,
    open_sequence,
    open_store,
    open_tiff,
    read_array,
    references,
    write_many_references,
    write_references,
)
from tiffzarr.codecs import register_codecs
from tiffzarr.errors import TiffZarrError, TiffZarrWarning
from tiffzarr.model import ArrayModel, Page, Series, TiffIndex
from tiffzarr.reader import clear_cache
from tiffzarr.refs import ReferenceSet, ReferenceStore
from tiffzarr.store import TiffStore
from tiffzarr.writer import TiffWriter, imwrite, write

__version__ = "0.1.0"

register_codecs()  # entry points do this too; explicit registration keeps it working without them
tune_zarr()

__all__ = [
    "ArrayModel",
    "Page",
    "ReferenceSet",
    "ReferenceStore",
    "Series",
    "TiffIndex",
    "TiffZarrError",
    "TiffZarrWarning",
    "__version__",
    "api",
    "clear_cache",
    "config",
    "errors",
    "TiffStore",
    "TiffWriter",
    "imread",
    "imwrite",
    "open_references",
    "open_sequence",
    "open_store",
    "open_tiff",
    "read_array",
    "references",
    "set_config",
    "write",
    "write_many_references",
    "write_references",
]
