"""tiffzarr's API: :mod:`tiffzarr.api.asynchronous` and its blocking twins in ``tiffzarr``."""

from tiffzarr.api import asynchronous

__all__ = ["asynchronous"]
