"""Parse a TIFF through a byte source into the model."""

from tiffzarr.reader._open import FIRST_READ, open_tiff, read_index

__all__ = ["FIRST_READ", "open_tiff", "read_index"]
