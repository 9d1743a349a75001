"""Benchmarks of tiffzarr against tifffile + fsspec, GDAL ``/vsicurl/`` and async-tiff.

``python -m benchmarks`` generates the data sets (:mod:`benchmarks._data`), serves
them from tiffzarr's loopback Range server with injected latency, runs every
contender in its own subprocess (:mod:`benchmarks._worker`, scheduled by
:mod:`benchmarks._runner`) and writes the table (:mod:`benchmarks._report`) to
``benchmarks/RESULTS.md``. See ``benchmarks/README.md``.

Only ``127.0.0.1`` is ever contacted.
"""
