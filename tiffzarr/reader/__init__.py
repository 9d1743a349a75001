"""Parse a TIFF through a byte source into the model."""

from tiffzarr.reader._context import Missing, member_url
from tiffzarr.reader._open import FIRST_READ, open_tiff, read_index
from tiffzarr.reader._recent import clear_cache, forget_file
from tiffzarr.reader._sequence import file_reference

__all__ = [
    "FIRST_READ",
    "Missing",
    "clear_cache",
    "file_reference",
    "forget_file",
    "member_url",
    "open_tiff",
    "read_index",
]
