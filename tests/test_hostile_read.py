"""Issue #3: hostile files fail cleanly when read, and unusual valid ones read exactly.

Time limits are hang guards (pytest-timeout), not speed measurements; memory is
the tracemalloc peak of the open and every chunk read.
"""

from __future__ import annotations

import hashlib
import tracemalloc
import warnings

import numpy as np
import pytest
import zarr

import tiffzarr
from tests.conftest import HOSTILE, TALLIES, manifest, require
from tiffzarr.errors import TiffZarrError

SKIP_CLASSES = {"reference_json", "path_traversal"}  # the references and OME issues test these
ROWS = [
    r for r in manifest(HOSTILE) if r["class"] not in SKIP_CLASSES and r["name"].endswith(".tif")
]
FAILING = [r for r in ROWS if r["expect"] in ("error", "partial")]
"""Valid files are read (and hashed) by test_valid_files_read_exactly."""
MEMORY = {"decomp_bomb": 50 * 2**20, "size_overflow": 50 * 2**20}
DEFAULT_MEMORY = 200 * 2**20


def read_every_chunk(path: str) -> int:
    """Open the file, decode every present chunk of every array, then read the whole
    first series (refused when too large); return the number of chunks."""
    store = tiffzarr.open_store(path)
    root = zarr.open(store, mode="r")
    arrays = [root] if isinstance(root, zarr.Array) else [a for _, a in root.arrays()]
    arrays += [a for _, g in getattr(root, "groups", list)() for _, a in g.arrays()]
    count = 0
    for array in arrays:
        prefix = array.path + "/" if array.path else ""
        keys = [k for k in zarr.core.sync.sync(_list(store)) if k.startswith(prefix + "c/")]
        for key in keys:
            coords = tuple(int(c) for c in key[len(prefix) + 2 :].split("/"))
            array.get_block_selection(coords)
            count += 1
    tiffzarr.imread(path)
    return count


async def _list(store: tiffzarr.TiffStore) -> list[str]:
    return [k async for k in store.list()]


@pytest.mark.timeout(20)
@pytest.mark.parametrize("row", FAILING, ids=[r["name"] for r in FAILING])
def test_hostile_read(row: dict[str, str]) -> None:
    path = str(require(HOSTILE, "hostile") / "files" / row["name"])
    tally = TALLIES["hostile read"]
    tracemalloc.start()
    error: BaseException | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", tiffzarr.TiffZarrWarning)
            read_every_chunk(path)
    except BaseException as exc:
        error = exc
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    limit = MEMORY.get(row["class"], DEFAULT_MEMORY)
    assert peak < limit, f"{peak / 2**20:.0f} MiB allocated"
    if error is not None and not isinstance(error, TiffZarrError):
        raise AssertionError(f"not a tiffzarr error: {error!r}") from error
    if row["expect"] == "error":
        assert error is not None, "read a file that must fail"
        tally["error as expected"] += 1
    else:
        tally["partial: " + ("refused" if error else "read")] += 1


VALID = [r for r in ROWS if r["expected_sha256"]]
"""Files that must read (expect ``valid``) or may (``partial``), with the right hashes."""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("row", VALID, ids=[r["name"] for r in VALID])
def test_valid_files_read_exactly(row: dict[str, str]) -> None:
    path = str(require(HOSTILE, "hostile") / "files" / row["name"])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", tiffzarr.TiffZarrWarning)
            data = tiffzarr.imread(path)
    except TiffZarrError:
        if row["expect"] == "valid":
            raise
        TALLIES["hostile partial with hashes"]["refused"] += 1
        return
    digest = hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest()
    assert digest in row["expected_sha256"].split(","), "the valid part reads differently"
    TALLIES["hostile partial with hashes" if row["expect"] == "partial" else "hostile valid"][
        "read exactly"
    ] += 1


def test_whole_image_of_a_huge_sparse_file_is_refused() -> None:
    path = str(require(HOSTILE, "hostile") / "files" / "bomb_65535sq_rgba16_sparse.tif")
    with pytest.raises(tiffzarr.errors.LimitError, match="max_read_bytes"):
        tiffzarr.imread(path)
