"""The xarray backend: ``xarray.open_dataset(url, engine="tiffzarr")`` and
``xarray.open_datatree(url, engine="tiffzarr")`` (needs the ``xarray`` extra).

What a dataset holds, for level ``level`` of series ``series`` of the file:

- one lazy data variable, ``image``, read through tiffzarr's store (dask
  chunks are the file's own tiles or strips with ``chunks={}``; nothing is
  read when the dataset is opened);
- dimensions named by the axes in lower case, in the order the store serves
  the series' levels: NGFF's (``t, c, z, y, x``; an RGB image ``s, y, x``), or
  tifffile's for series NGFF cannot describe; a georeferenced series has
  ``band, y, x`` as rioxarray's ``open_rasterio`` (``band`` of length 1 for a
  single band);
- coordinates: ``x``/``y`` at pixel centres (``xc``/``yc`` for rotated grids)
  and ``spatial_ref`` (CRS, transform, ground control points) for
  georeferenced series; GDAL's internal mask as the lazy ``mask`` (``y, x``;
  0 masked, 1 valid); physical positions (``units``) where the file gives
  pixel sizes, scaled for each level; channel names;
- attributes: ``tiffzarr`` (the series' kind, name, axes, number, level and
  the format's own metadata, as plain JSON); nodata as the variable's
  ``_FillValue``, masked only with ``mask_and_scale=True``.

``open_datatree`` holds every level at ``/{series}/{level}``.

>>> import numpy, tifffile, tempfile, os, xarray
>>> path = os.path.join(tempfile.mkdtemp(), "a.tif")
>>> tifffile.imwrite(path, numpy.zeros((3, 64, 48), "uint16"), tile=(32, 16),
...                  photometric="minisblack", metadata={"axes": "CYX"})
>>> ds = xarray.open_dataset(path, engine="tiffzarr", chunks={})
>>> ds.image.dims, ds.image.data.chunksize, ds.attrs["tiffzarr"]["axes"]
(('c', 'y', 'x'), (1, 32, 16), 'CYX')
"""

from __future__ import annotations

from tiffzarr.xarray._array import TiffBackendArray
from tiffzarr.xarray._dataset import VARIABLE
from tiffzarr.xarray._entrypoint import SUFFIXES, TiffBackendEntrypoint

__all__ = ["SUFFIXES", "VARIABLE", "TiffBackendArray", "TiffBackendEntrypoint"]
