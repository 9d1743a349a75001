"""Writing TIFF files: tiled, pyramidal, OME, ImageJ and COG, from numpy, zarr and dask.

>>> import os, tempfile, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "a.ome.tif")
>>> write(path, np.zeros((2, 64, 64), "uint8"), tile=(32, 32), metadata={"axes": "CYX"})
>>> os.path.getsize(path) > 0
True
"""

from tiffzarr.writer._api import WriteKwargs, imwrite, write
from tiffzarr.writer._writer import TiffWriter

__all__ = ["TiffWriter", "WriteKwargs", "imwrite", "write"]
