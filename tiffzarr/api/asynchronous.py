"""The asynchronous API: every function here is a coroutine.

>>> import tiffzarr.api.asynchronous as tza
>>> callable(tza.open_tiff)
True
"""

from tiffzarr.reader import open_tiff

__all__ = ["open_tiff"]
