"""tiffzarr's API: :mod:`tiffzarr.api.asynchronous` and its blocking twins in ``tiffzarr``."""
