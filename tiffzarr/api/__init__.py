"""tiffzarr's API: :mod:`tiffzarr.api.asynchronous` and its blocking twins in
:mod:`tiffzarr.api.synchronous` (re-exported by ``tiffzarr``)."""

from tiffzarr.api import asynchronous, synchronous

__all__ = ["asynchronous", "synchronous"]
