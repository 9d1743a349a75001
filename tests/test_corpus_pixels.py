"""Pixel conformance: every page and SubIFD reads like tifffile (series: test_corpus_series)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile
import zarr

import tiffzarr
from tests.conftest import CORPUS, TALLIES, corpus_params, manifest, require

ROWS = manifest(CORPUS)
MAX_PAGES = 40
"""Pages compared per file (files with more are sampled evenly)."""

# Pages where tiffzarr deliberately differs from tifffile: relpath → reason.
KNOWN: dict[str, str] = {}


def sampled(n: int) -> list[int]:
    if n <= MAX_PAGES:
        return list(range(n))
    return sorted({round(i * (n - 1) / (MAX_PAGES - 1)) for i in range(MAX_PAGES)})


def tifffile_pages(path: str) -> list[tuple[tuple[int, ...], np.ndarray]]:
    """(path, array) for each readable page and SubIFD, as tifffile decodes them."""
    out = []
    with tifffile.TiffFile(path) as tf:
        tf.pages.useframes = False
        tf.pages.cache = False
        for k in sampled(len(tf.pages)):
            page = tf.pages[k]
            candidates = [((k,), page)]
            for j, offset in enumerate(page.subifds or ()):
                try:
                    tf.filehandle.seek(offset)
                    candidates.append(((k, j), tifffile.TiffPage(tf, (k, j))))
                except Exception:
                    continue
            for where, p in candidates:
                try:
                    out.append((where, p.asarray()))
                except Exception:
                    continue
    return out


def ours(index: tiffzarr.TiffIndex, where: tuple[int, ...]) -> np.ndarray:
    store = tiffzarr.open_store(index, page=where)
    return np.asarray(zarr.open_array(store, mode="r")[...])


@pytest.mark.parametrize(
    "relpath",
    corpus_params(ROWS, KNOWN),
)
def test_pages_match_tifffile(relpath: str) -> None:
    path = str(require(CORPUS, "corpus") / relpath)
    tally = TALLIES["corpus pixels (pages)"]
    try:
        expected = tifffile_pages(path)
    except Exception as exc:
        pytest.skip(f"tifffile cannot open: {exc!r:.80}")
    if not expected:
        pytest.skip("tifffile decodes no page of this file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiffzarr.TiffZarrWarning)
        index = tiffzarr.open_tiff(path)
    failures = []
    for where, want in expected:
        try:
            got = ours(index, where)
        except Exception as exc:
            failures.append(f"page {where}: {exc!r:.200}")
            tally["failed"] += 1
            continue
        if got.size == want.size == 0:
            tally["passed"] += 1  # tifffile flattens empty pages to (0,)
        elif got.shape != want.shape or not np.array_equal(
            got, want.astype(got.dtype, copy=False), equal_nan=got.dtype.kind in "fc"
        ):
            failures.append(f"page {where}: {got.shape} {got.dtype} != {want.shape} {want.dtype}")
            tally["failed"] += 1
        else:
            tally["passed"] += 1
    assert not failures, "\n".join(failures)


def test_known_differences_are_few() -> None:
    require(CORPUS, "corpus")
    assert len(KNOWN) <= 0.01 * len(ROWS)
