"""The asynchronous API: every function here is a coroutine.

The blocking twins of the same names live in :mod:`tiffzarr`.

>>> import tiffzarr.api.asynchronous as tza
>>> callable(tza.open_tiff) and callable(tza.open_store)
True
"""

from tiffzarr.reader import open_tiff
from tiffzarr.refs import open_references, references, write_many_references, write_references
from tiffzarr.store import open_sequence, open_store, read_array

__all__ = [
    "open_references",
    "open_sequence",
    "open_store",
    "open_tiff",
    "read_array",
    "references",
    "write_many_references",
    "write_references",
]
