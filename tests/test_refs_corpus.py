"""Issue #5 conformance: for every corpus file the store reads, its references read back
equal to the store, as JSON v1 with zarr v2 metadata through plain fsspec, as zarr v3,
and as parquet; and how many files needed no tiffzarr codec at all.

Each file's arrays are compared on a sample: the first and the last chunk along every
dimension, and the first, middle and last page of page stacks (the first and last
array of files with several).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from fsspec.implementations.reference import ReferenceFileSystem
from zarr.storage import FsspecStore

import tiffzarr
from tests.conftest import CORPUS, TALLIES, corpus_params, manifest, require
from tiffzarr._sync import run_sync
from tiffzarr.codecs._portable import register_portable_codecs
from tiffzarr.errors import TiffZarrError
from tiffzarr.refs import open_references, references, write_references

register_portable_codecs()

ROWS = manifest(CORPUS)
MAX_SAMPLE_BYTES = 2**27

# Files whose references do not read back like the store: relpath → reason.
KNOWN: dict[str, str] = {}


def sample_selection(shape: tuple[int, ...], chunks: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """Indices of the first and last chunk along each dimension (pages: first, middle, last)."""
    selection = []
    for n, c in zip(shape, chunks, strict=True):
        if c == 1 and n > 1:
            indices = {0, n // 2, n - 1}
        else:
            indices = set(range(min(c, n))) | set(range((n - 1) // c * c, n))
        selection.append(np.array(sorted(indices)))
    return tuple(selection)


def read_sample(store: Any, path: str, selection: tuple[np.ndarray, ...] | None) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        array = zarr.open_array(store, path=path, mode="r")
        if selection is None:
            return np.zeros(array.shape, array.dtype)
        return np.asarray(array.oindex[selection])


def plain_store(refs: dict[str, Any]) -> FsspecStore:
    fs = ReferenceFileSystem(refs, remote_protocol="file", asynchronous=True)
    return FsspecStore(fs, read_only=True, path="")


def expected_samples(
    store: tiffzarr.TiffStore,
) -> dict[str, tuple[tuple[np.ndarray, ...] | None, np.ndarray]]:
    """Sampled pixels of the first and last array, as the store reads them
    (for an empty array: no selection, and the empty array)."""
    paths = sorted(store.hierarchy.arrays)
    out: dict[str, tuple[tuple[np.ndarray, ...] | None, np.ndarray]] = {}
    for path in dict.fromkeys([paths[0], paths[-1]]):
        array = store.hierarchy.arrays[path]
        if not all(array.shape):
            out[path] = (None, np.zeros(array.shape, array.dtype))
            continue
        selection = sample_selection(array.shape, array.chunks)
        if np.prod([len(s) for s in selection]) * array.dtype.itemsize > MAX_SAMPLE_BYTES:
            continue
        out[path] = (selection, read_sample(store, path, selection))
    return out


def same(got: np.ndarray, want: np.ndarray) -> bool:
    return got.shape == want.shape and np.array_equal(got, want, equal_nan=want.dtype.kind in "fc")


@pytest.mark.parametrize(
    "relpath",
    corpus_params(ROWS, KNOWN),
)
def test_references_read_back_like_the_store(relpath: str, tmp_path: Path) -> None:
    path = str(require(CORPUS, "corpus") / relpath)
    tally = TALLIES["refs: corpus files read back (json v2, v3, parquet)"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiffzarr.TiffZarrWarning)
        try:
            index = tiffzarr.open_tiff(path)
            store = tiffzarr.open_store(index, zarr_format=2)
            expected = expected_samples(store)
        except TiffZarrError as exc:
            tally["store cannot read"] += 1
            pytest.skip(f"the store does not read this file: {exc!r:.120}")
        try:
            refs = run_sync(references(index, zarr_format=2))
        except TiffZarrError as exc:
            # references name the chunk the store cannot locate; the store must fail there too
            assert exc.key is not None, exc
            with pytest.raises(TiffZarrError):
                run_sync(store.get(exc.key))
            tally["store cannot read"] += 1
            pytest.skip(f"the store cannot read chunk {exc.key!r}: {exc!r:.120}")
    if not expected:
        tally["no array to sample"] += 1
        pytest.skip("no array small enough to sample")
    refs3 = run_sync(references(index, zarr_format=3))
    parquet = tmp_path / "refs.parq"
    run_sync(write_references(index, str(parquet), format="parquet"))
    readers = {
        "json v2 (plain fsspec)": (plain_store(refs), ""),
        "v3": (run_sync(open_references(refs3)), ""),
        "parquet": (run_sync(open_references(str(parquet), allow_external=True)), "0"),
    }
    failures = []
    for name, (reader, root) in readers.items():
        for array_path, (selection, want) in expected.items():
            where = array_path or root if name == "parquet" else array_path
            try:
                got = read_sample(reader, where, selection)
            except Exception as exc:
                failures.append(f"{name} {array_path!r}: {exc!r:.200}")
                continue
            if not same(got, want):
                failures.append(f"{name} {array_path!r}: {got.shape} {got.dtype} differ")
    TALLIES["refs: files fully portable, zarr v2"][
        "portable" if not refs.fallbacks else "some array keeps tiffzarr's codec"
    ] += 1
    TALLIES["refs: files fully portable, zarr v3"][
        "portable" if not refs3.fallbacks else "some array keeps tiffzarr's codec"
    ] += 1
    tally["failed" if failures else "passed"] += 1
    assert not failures, "\n".join(failures)


def test_known_failures_are_few() -> None:
    require(CORPUS, "corpus")
    assert len(KNOWN) <= 0.01 * len(ROWS)
