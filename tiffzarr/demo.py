"""``python -m tiffzarr.demo``: the main job end to end, on a built-in sample.

Writes a tiled pyramidal TIFF from a dask array, serves it from a loopback HTTP
server with injected latency, opens it with ``zarr.open(tiffzarr.open_store(url))``,
reads a window and the whole base level, publishes kerchunk references and reads
them back, and prints what each step cost.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Sequence

import dask.array
import numpy as np
import zarr

import tiffzarr
from tiffzarr._info import describe, render
from tiffzarr.testing import serve

__all__ = ["main", "sample_image"]


def sample_image(size: int = 4096, /, *, seed: int = 0) -> np.ndarray:
    """A smooth uint16 test image with some noise (deterministic)."""
    y, x = np.mgrid[0:size, 0:size].astype("float32") / size
    image = 20000 + 15000 * np.sin(9 * x) * np.cos(7 * y) + 10000 * x * y
    noise = np.random.default_rng(seed).normal(0, 200, (size, size))
    clipped: np.ndarray = np.clip(image + noise, 0, 65535)
    return clipped.astype("uint16")


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def run(folder: str, *, size: int, latency: float) -> None:
    path = os.path.join(folder, "sample.tif")
    image = sample_image(size)
    start = time.perf_counter()
    source = dask.array.from_array(image, chunks=1024)
    tiffzarr.write(
        path, source, tile=(512, 512), compression="zlib", predictor=2, pyramid=3, metadata=None
    )
    print(
        f"wrote {path} from a dask array: {size}x{size} uint16, 512x512 zlib tiles + 3 "
        f"SubIFD levels, {_mb(os.path.getsize(path))} in {time.perf_counter() - start:.2f} s"
    )
    print(render(describe(tiffzarr.open_tiff(path))).split("\nPages:")[0])
    with serve(folder, latency=latency) as server:
        url = server.url_for("sample.tif")
        print(f"\nserving it at {url} with {latency * 1000:.0f} ms latency per request")
        start = time.perf_counter()
        store = tiffzarr.open_store(url)
        group = zarr.open_group(store, mode="r")
        levels = [group[f"0/{i}"] for i in range(4)]
        shapes = [level.shape for level in levels if isinstance(level, zarr.Array)]
        base = levels[0]
        assert isinstance(base, zarr.Array)
        print(
            f"open:   {server.stats.requests} requests, {_mb(server.stats.bytes)}, "
            f"{time.perf_counter() - start:.2f} s -> levels {shapes}"
        )
        for label, selection in [
            ("window 1024x1024", (slice(1024, 2048), slice(1024, 2048))),
            ("whole base level", (slice(None), slice(None))),
        ]:
            server.stats.reset()
            start = time.perf_counter()
            data = np.asarray(base[selection])
            elapsed = time.perf_counter() - start
            expected = image[selection]
            status = "equal to the source" if np.array_equal(data, expected) else "DIFFERENT"
            print(
                f"{label}: {data.shape} {data.dtype}, {server.stats.requests} requests, "
                f"{_mb(server.stats.bytes)}, {elapsed:.2f} s, {status}"
            )
            if status != "equal to the source":
                raise SystemExit(1)
        server.stats.reset()
        refs = server.url_for("sample.json")  # published next to the TIFF
        tiffzarr.write_references(
            url, os.path.join(folder, "sample.json"), series=0, level=0, target_url=refs
        )
        server.stats.reset()
        published = zarr.open_array(tiffzarr.open_references(refs), mode="r")
        window = np.asarray(published[1024:2048, 1024:2048])
        same = np.array_equal(window, image[1024:2048, 1024:2048])
        print(
            f"references: {refs} (standard codecs), window read back through them: "
            f"{server.stats.requests} requests, {'equal' if same else 'DIFFERENT'}"
        )
        if not same:
            raise SystemExit(1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tiffzarr.demo", description=__doc__)
    parser.add_argument("--size", type=int, default=4096, help="base level size (pixels)")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per request")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tiffzarr-demo-") as folder:
        run(folder, size=args.size, latency=args.latency)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
