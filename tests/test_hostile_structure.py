"""Issue #2: malformed structures fail fast with tiffzarr errors, never hang.

The time limit is a hang guard (pytest-timeout), not a speed measurement;
memory is measured with tracemalloc around the open.
"""

from __future__ import annotations

import time
import tracemalloc
import warnings

import pytest

import tiffzarr
from tests.conftest import HOSTILE, TALLIES, manifest, require
from tiffzarr.errors import TiffZarrError

STRUCTURAL = {
    "truncated",
    "ifd_cycle",
    "offset_eof",
    "size_overflow",
    "count_mismatch",
    "tag_type",
    "huge_count",
    "bigtiff_offset",
}
ROWS = [r for r in manifest(HOSTILE) if r["class"] in STRUCTURAL]
MEMORY_LIMIT = 200 * 2**20


def open_measured(name: str) -> tuple[tiffzarr.TiffIndex | None, BaseException | None, int, float]:
    path = str(require(HOSTILE, "hostile") / "files" / name)
    tracemalloc.start()
    start = time.perf_counter()
    index, error = None, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", tiffzarr.TiffZarrWarning)
            index = tiffzarr.open_tiff(path)
    except BaseException as exc:
        error = exc
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return index, error, peak, elapsed


@pytest.mark.timeout(10)
@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_structural_hostile(row: dict[str, str]) -> None:
    index, error, peak, elapsed = open_measured(row["name"])
    tally = TALLIES["hostile structure"]
    assert peak < MEMORY_LIMIT, f"open allocated {peak / 2**20:.0f} MiB"
    assert elapsed < 5, f"open took {elapsed:.1f} s"
    if error is not None and not isinstance(error, TiffZarrError):
        raise AssertionError(f"not a tiffzarr error: {error!r}") from error
    if row["expect"] == "error":
        assert error is not None, "opened a file that must be refused"
        tally["refused (error expected)"] += 1
    elif error is not None:
        tally["refused (partial)"] += 1
    else:
        assert index is not None and index.pages
        tally["opened (partial)"] += 1
    if row["class"] == "ifd_cycle" and index is not None:
        offsets = [p.ifd.offset for p in index.iter_pages()]
        assert len(offsets) == len(set(offsets)), "an IFD was read twice"
        assert any("cycle" in w for w in index.warnings), index.warnings
