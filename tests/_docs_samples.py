"""The sample files the documentation's examples read (docs tests, notebooks, CLI tests).

:func:`make_samples` writes them, seeded and small, into a folder:

- ``image.tif``: uint16 512x384, tiles 128x128, zstd, one reduced level (2-level
  pyramid in SubIFDs), written by tiffzarr;
- ``cog.tif``: a Cloud Optimized GeoTIFF, uint16 512x512, tiles 256x256, deflate,
  overviews down to one tile, UTM zone 33N (EPSG:32633) at 10 m, nodata 0;
- ``cells.ome.tif``: OME-TIFF TCZYX 2x2x3x128x128 uint16, tiles 64x64, zlib, one
  SubIFD level, physical sizes and channel names;
- ``run/frame_000.tif`` ... ``run/frame_009.tif``: ten uncompressed uint8 64x96 frames,
  frame ``i`` with ``i`` in its first pixel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import tiffzarr

SEED = 20240611
FRAMES = 10
COG_GEOTIFF = {"crs": 32633, "transform": (10.0, 0.0, 500000.0, 0.0, -10.0, 4100000.0), "nodata": 0}
OME_METADATA = {
    "axes": "TCZYX",
    "PhysicalSizeX": 0.5,
    "PhysicalSizeY": 0.5,
    "PhysicalSizeZ": 2.0,
    "TimeIncrement": 30.0,
    "TimeIncrementUnit": "s",
    "Channel": {"Name": ["DAPI", "GFP"]},
}


def sample_arrays() -> dict[str, np.ndarray]:
    """The pixels of every sample file, by name (the frames as ``run/frame_000.tif``...)."""
    rng = np.random.default_rng(SEED)
    arrays: dict[str, np.ndarray] = {
        "image.tif": rng.integers(0, 4096, (512, 384), dtype="uint16"),
        "cog.tif": rng.integers(1, 10000, (512, 512), dtype="uint16"),
        "cells.ome.tif": rng.integers(0, 1000, (2, 2, 3, 128, 128), dtype="uint16"),
    }
    for i in range(FRAMES):
        frame = rng.integers(0, 256, (64, 96), dtype="uint8")
        frame[0, 0] = i
        arrays[f"run/frame_{i:03d}.tif"] = frame
    return arrays


def make_samples(folder: str | Path, /) -> Path:
    """Write the sample files into ``folder`` (created if needed); return it."""
    folder = Path(folder)
    (folder / "run").mkdir(parents=True, exist_ok=True)
    arrays = sample_arrays()
    tiffzarr.write(
        folder / "image.tif", arrays["image.tif"], tile=(128, 128), compression="zstd", pyramid=1
    )
    tiffzarr.write(
        folder / "cog.tif",
        arrays["cog.tif"],
        tile=(256, 256),
        compression="deflate",
        predictor=2,
        cog=True,
        geotiff=COG_GEOTIFF,
    )
    tiffzarr.write(
        folder / "cells.ome.tif",
        arrays["cells.ome.tif"],
        tile=(64, 64),
        compression="zlib",
        pyramid=1,
        ome=True,
        metadata=OME_METADATA,
    )
    for name, frame in arrays.items():
        if name.startswith("run/"):
            tiffzarr.write(folder / name, frame)
    return folder
