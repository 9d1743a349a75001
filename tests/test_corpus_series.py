"""Series conformance: for every corpus file tifffile reads, tiffzarr's series equal
tifffile's (count, kind, name, shape, axes, dtype, level shapes, every level's pixels),
squeezed as tifffile squeezes them and in full with ``squeeze=False``."""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import warnings
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

import tiffzarr
from tests.conftest import CORPUS, TALLIES, manifest, require

ROWS = [r for r in manifest(CORPUS) if r["reference_reader"] == "tifffile"]
FEATURES = {r["relpath"]: r["features"].split(";") for r in ROWS}

# Files whose series deliberately differ from tifffile's, with the reason.
KNOWN = {
    "files/libtiff/test_ifd_loop_subifd.tif": (
        "IFD ring: tiffzarr keeps the 5 distinct IFDs of the chain, tifffile keeps 4"
    ),
}


# The OME sample data ship one 5-plane set twice: with a master TIFF, and with a
# companion XML that tifffile cannot read.
COMPANION_SETS = {
    "files/exampletiffs/ometiff_testdata/multiples/companion/multifile.companion.ome": (
        "files/exampletiffs/ometiff_testdata/multiples/master/multifile-Z1.ome.tiff"
    ),
}


def set_master(relpath: str) -> str | None:
    """For a BinaryOnly file of a multi-file OME set: the corpus file whose series are the
    set's (tifffile reads a BinaryOnly file as generic series, tiffzarr reads its set)."""
    path = str(require(CORPUS, "corpus") / relpath)
    with tifffile.TiffFile(path) as tf:
        description = tf.pages.first.description or ""
    found = re.search(r"<(?:\w+:)?BinaryOnly\b[^>]*\bMetadataFile=\"([^\"]+)\"", description)
    if found is None:
        return None
    master = posixpath.join(posixpath.dirname(relpath), found.group(1))
    return COMPANION_SETS.get(master, master)


def expected(relpath: str) -> dict[str, Any]:
    corpus = require(CORPUS, "corpus")
    with open(corpus / "expected" / f"{relpath}.json") as f:
        return json.load(f)["expected"]  # type: ignore[no-any-return]


def full_shapes(path: str) -> list[tuple[int, ...]]:
    """tifffile's unsqueezed shape of each series (all pages counted first, as for the
    expected results: on files with IFD loops tifffile's series depend on that)."""
    with tifffile.TiffFile(path) as tf:
        len(tf.pages)
        return [tuple(s.get_shape(False)) for s in tf.series]


def gdal_masks(path: str) -> list[int]:
    """tifffile's series that are GDAL internal masks (tiffzarr serves them as the masks
    of the series they mask, not as series)."""
    with tifffile.TiffFile(path) as tf:
        return [
            i
            for i, s in enumerate(tf.series)
            if s.keyframe.photometric == tifffile.PHOTOMETRIC.MASK
            and s.keyframe.subfiletype & tifffile.FILETYPE.MASK
        ]


def mask_failures(index: tiffzarr.TiffIndex, want: list[dict[str, Any]]) -> list[str]:
    """Each of tifffile's mask series against the masks of tiffzarr's series, in order:
    shapes and pixels (tiffzarr's 0/1 bytes are tifffile's booleans)."""
    masked = [i for i, s in enumerate(index.series) if s.masks]
    if len(masked) != len(want):
        return [f"{len(masked)} series have masks, tifffile has {len(want)} mask series"]
    root = zarr.open_group(tiffzarr.open_store(index), mode="r")
    failures = []
    for i, s in zip(masked, want, strict=True):
        shapes = [m.shape for m in index.series[i].masks]
        if shapes != [tuple(level["shape"]) for level in s["levels"]]:
            failures.append(f"series {i} mask shapes {shapes} != tifffile's")
            continue
        for j, level in enumerate(s["levels"]):
            data = np.asarray(root[f"{i}/labels/mask/{j}"][...]).astype(bool)
            if hashlib.sha256(data.tobytes()).hexdigest() != level["sha256"]:
                failures.append(f"series {i} mask level {j} pixels differ")
    return failures


def level_sha256(index: tiffzarr.TiffIndex, series: int, level: int) -> str:
    store = tiffzarr.open_store(index, series=series, level=level)
    data = np.ascontiguousarray(zarr.open_array(store, mode="r")[...])
    return hashlib.sha256(data.tobytes()).hexdigest()


def describe(s: dict[str, Any]) -> tuple[Any, ...]:
    return (
        s["kind"],
        s["name"],
        tuple(s["shape"]),
        s["axes"],
        s["dtype"],
        [tuple(level["shape"]) for level in s["levels"]],
    )


@pytest.mark.parametrize(
    "relpath",
    [
        pytest.param(r["relpath"], marks=pytest.mark.xfail(strict=True, reason=KNOWN[r["relpath"]]))
        if r["relpath"] in KNOWN
        else r["relpath"]
        for r in ROWS
    ],
)
def test_series_match_tifffile(relpath: str) -> None:
    path = str(require(CORPUS, "corpus") / relpath)
    master = set_master(relpath)
    want = expected(master or relpath)["series"]
    masks = gdal_masks(path) if "mask" in FEATURES[relpath] else []
    want, want_masks = [s for i, s in enumerate(want) if i not in masks], [want[i] for i in masks]
    kinds = sorted({s["kind"] for s in want}) or ["none"]
    if master is not None:
        kinds = [f"{kind} (BinaryOnly file, read as its set)" for kind in kinds]
    tally = TALLIES["corpus series (files, by tifffile's kind)"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiffzarr.TiffZarrWarning)
        index = tiffzarr.open_tiff(path)
    got = [
        {
            "kind": s.kind,
            "name": s.name,
            "shape": s.shape,
            "axes": s.axes,
            "dtype": str(s.dtype),
            "levels": [{"shape": a.shape} for a in s.arrays()],
        }
        for s in index.series
    ]
    failures = []
    if [describe(s) for s in got] != [describe(s) for s in want]:
        failures.append(f"series {[describe(s) for s in got]} != {[describe(s) for s in want]}")
    else:
        full = [s.get_shape(False) for s in index.series]
        oracle = full_shapes(str(require(CORPUS, "corpus") / master) if master else path)
        oracle = [shape for i, shape in enumerate(oracle) if i not in masks]
        if full != oracle:
            failures.append(f"squeeze=False shapes {full} != tifffile's {oracle}")
        for i, s in enumerate(want):
            for j, level in enumerate(s["levels"]):
                if level_sha256(index, i, j) != level["sha256"]:
                    failures.append(f"series {i} level {j} pixels differ")
        failures += mask_failures(index, want_masks)
    for kind in kinds:
        tally[f"{kind} {'failed' if failures else 'passed'}"] += 1
    assert not failures, "\n".join(failures)


def test_known_differences_are_few() -> None:
    require(CORPUS, "corpus")
    assert len(KNOWN) <= 0.01 * len(ROWS)
