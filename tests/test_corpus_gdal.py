"""Corpus files whose reference reader is GDAL (tifffile cannot read them) read as GDAL does.

For every file with ``reference_reader`` ``rasterio`` in MANIFEST.tsv, tiffzarr's page 0
(bands first, as rasterio reads it) has GDAL's shape and dtype and the sha256 of GDAL's
array in ``expected/<relpath>.json``; JPEG-coded files (whose decoders differ by a few
levels) are within 2 of rasterio's own read, sample by sample.
"""

from __future__ import annotations

import hashlib
import json
import warnings

import numpy as np
import pytest
import zarr

import tiffzarr
from tests.conftest import CORPUS, TALLIES, corpus_params, manifest, require

ROWS = [r for r in manifest(CORPUS) if r["reference_reader"] == "rasterio"]
TALLY = "corpus files read as GDAL reads them (by reference reader)"
JPEG_FEATURES = frozenset({"jpeg", "ojpeg"})
JPEG_TOLERANCE = 2

KNOWN: dict[str, str] = {}
"""Files that still fail (relpath → reason), as strict xfails: a decoder not in yet."""


def bands(path: str) -> np.ndarray:
    """Page 0 through tiffzarr's store, as rasterio reads it: ``(bands, y, x)``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiffzarr.TiffZarrWarning)  # lenient reads warn
        store = tiffzarr.open_store(path, page=0)
    axes = next(iter(store.hierarchy.arrays.values())).axes
    array = np.asarray(zarr.open_array(store, mode="r")[...])
    if "S" not in axes:
        return array[np.newaxis]
    return np.moveaxis(array, axes.index("S"), 0)


@pytest.mark.parametrize("relpath", corpus_params(ROWS, KNOWN))
def test_page_reads_as_gdal_reads_it(relpath: str) -> None:
    corpus = require(CORPUS, "corpus")
    row = next(r for r in ROWS if r["relpath"] == relpath)
    expected = json.loads((corpus / "expected" / f"{relpath}.json").read_text())["expected"]
    tally = TALLIES[TALLY]
    try:
        got = bands(str(corpus / relpath))
    except Exception:
        tally["failed"] += 1
        raise
    shape_ok = list(got.shape) == expected["shape"] and str(got.dtype) == expected["dtype"]
    exact = shape_ok and hashlib.sha256(got.tobytes()).hexdigest() == expected["sha256"]
    close = exact
    if not exact and shape_ok and JPEG_FEATURES & set(row["features"].split(";")):
        import rasterio

        with rasterio.open(corpus / relpath) as dataset:
            gdal = dataset.read()
        close = int(np.abs(got.astype(int) - gdal.astype(int)).max()) <= JPEG_TOLERANCE
    tally["exact" if exact else "within ±2" if close else "failed"] += 1
    assert shape_ok, f"{got.shape} {got.dtype} != GDAL's {expected['shape']} {expected['dtype']}"
    assert close, "the pixels differ from GDAL's (sha256; JPEG: by more than 2)"
