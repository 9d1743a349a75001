"""Hostile files through the other reader paths: reference sets and sequences.

Every file that must fail fails with a tiffzarr error within the memory bound
(tracemalloc peak) whichever path reads it; every valid one reads exactly.
Time limits are hang guards, not speed measurements.
"""

from __future__ import annotations

import hashlib
import re
import tracemalloc
import warnings
from collections.abc import Callable

import numpy as np
import pytest
import zarr

import tiffzarr
from tests.conftest import HOSTILE, TALLIES, manifest, require
from tiffzarr.errors import TiffZarrError

ROWS = [
    r
    for r in manifest(HOSTILE)
    if r["class"] not in {"reference_json", "path_traversal"} and r["name"].endswith(".tif")
]
FAILING = [r for r in ROWS if r["expect"] == "error"]
VALID = [r for r in ROWS if r["expect"] == "valid" and r["expected_sha256"]]
MEMORY = 200 * 2**20
CHUNK_KEY = re.compile(r"(?:c/)?(\d+(?:[./]\d+)*)")
WHOLE_READ_ONLY = {"bomb_65535sq_rgba16_sparse.tif"}
"""Files that must fail only when read whole (imread refuses them, see
test_hostile_read): each of their chunks is a valid read on these paths."""


def through_references(path: str) -> zarr.Array:
    """The first series' level 0 through its references (portable codecs)."""
    refs = tiffzarr.references(path, series=0, level=0, codecs="portable")
    return zarr.open_array(tiffzarr.open_references(refs), mode="r")


def through_sequence(path: str) -> zarr.Array:
    """The file stacked twice as a sequence."""
    return zarr.open_array(tiffzarr.open_sequence([path, path]), mode="r")


PATHS: dict[str, Callable[[str], zarr.Array]] = {
    "references": through_references,
    "sequence": through_sequence,
}


def read_blocks(open_array: Callable[[str], zarr.Array], path: str) -> BaseException | None:
    """Open, then read one element of every chunk the store lists (each chunk is
    fetched and decoded whole); the error, if any."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", tiffzarr.TiffZarrWarning)
            array = open_array(path)
            for block in zarr.core.sync.sync(_chunk_coords(array.store)):
                origin = zip(block, array.chunks, strict=True)
                array[tuple(slice(i * n, i * n + 1) for i, n in origin)]
    except BaseException as exc:
        return exc
    return None


async def _chunk_coords(store: zarr.abc.store.Store) -> list[tuple[int, ...]]:
    """The grid coordinates of the chunks an array at the root of ``store`` lists
    (v3 keys ``c/0/1``, v2 keys ``0.1``)."""
    keys = [k async for k in store.list()]
    found = (CHUNK_KEY.fullmatch(k) for k in keys)
    return [tuple(int(c) for c in re.split("[./]", m[1])) for m in found if m is not None]


@pytest.mark.timeout(20)
@pytest.mark.parametrize("way", sorted(PATHS))
@pytest.mark.parametrize("row", FAILING, ids=[r["name"] for r in FAILING])
def test_hostile_files_fail_cleanly_on_every_path(row: dict[str, str], way: str) -> None:
    path = str(require(HOSTILE, "hostile") / "files" / row["name"])
    tracemalloc.start()
    try:
        error = read_blocks(PATHS[way], path)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < MEMORY, f"{peak / 2**20:.0f} MiB allocated"
    if error is not None and not isinstance(error, TiffZarrError):
        raise AssertionError(f"not a tiffzarr error: {error!r}") from error
    if row["name"] in WHOLE_READ_ONLY:
        assert error is None
        TALLIES[f"hostile through {way}"]["chunks read, whole read refused by imread"] += 1
        return
    assert error is not None, "read a file that must fail"
    TALLIES[f"hostile through {way}"]["error as expected"] += 1


@pytest.mark.timeout(120)
@pytest.mark.parametrize("way", sorted(PATHS))
@pytest.mark.parametrize("row", VALID, ids=[r["name"] for r in VALID])
def test_valid_files_read_exactly_on_every_path(row: dict[str, str], way: str) -> None:
    path = str(require(HOSTILE, "hostile") / "files" / row["name"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiffzarr.TiffZarrWarning)
        data = PATHS[way](path)[...]
    if way == "sequence":
        assert np.array_equal(data[0], data[1])
        data = data[0]
    digest = hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest()
    assert digest in row["expected_sha256"].split(","), "the valid file reads differently"
    TALLIES[f"hostile through {way}"]["valid read exactly"] += 1
