"""Parse a TIFF through a byte source into the model."""

from tiffzarr.reader._open import FIRST_READ, open_tiff, read_index
from tiffzarr.reader._recent import clear_cache
from tiffzarr.reader._sequence import file_reference

__all__ = ["FIRST_READ", "clear_cache", "file_reference", "open_tiff", "read_index"]
