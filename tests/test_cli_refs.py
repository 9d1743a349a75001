"""``tiffzarr refs``: one file as before; a glob pattern or several files become one
stacked array in one reference set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from tiffzarr import open_references
from tiffzarr.cli import main


def _frames(folder: Path, count: int, *, compression: str | None = None) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    frames = []
    for i in range(count):
        frame = rng.integers(0, 60000, (24, 40), dtype="uint16")
        tifffile.imwrite(folder / f"frame_{i}.tif", frame, compression=compression)
        frames.append(frame)
    return frames


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_glob_pattern_is_one_sequence(tmp_path: Path, compression: str | None) -> None:
    frames = _frames(tmp_path, 12, compression=compression)  # frame_10 sorts after frame_9
    out = tmp_path / "run.json"
    assert main(["refs", str(tmp_path / "frame_*.tif"), "-o", str(out)]) == 0
    refs = json.loads(out.read_text())
    assert len(refs["templates"]) == 12
    array = zarr.open_array(open_references(refs), mode="r")
    np.testing.assert_array_equal(array[...], np.stack(frames))


def test_several_files_in_the_order_given(tmp_path: Path) -> None:
    frames = _frames(tmp_path, 3)
    out = tmp_path / "two.json"
    files = [str(tmp_path / "frame_2.tif"), str(tmp_path / "frame_0.tif")]
    assert main(["refs", *files, "-o", str(out), "--zarr-format", "3"]) == 0
    array = zarr.open_array(open_references(json.loads(out.read_text())), mode="r")
    np.testing.assert_array_equal(array[...], np.stack([frames[2], frames[0]]))


def test_sequence_as_parquet(tmp_path: Path) -> None:
    frames = _frames(tmp_path, 4)
    out = tmp_path / "run.parq"
    assert main(["refs", str(tmp_path / "frame_*.tif"), "-o", str(out), "--parquet"]) == 0
    group = zarr.open_group(open_references(str(out)), mode="r")
    np.testing.assert_array_equal(group["0"][...], np.stack(frames))


def test_one_file_as_before(tmp_path: Path) -> None:
    (frame,) = _frames(tmp_path, 1)
    out = tmp_path / "one.json"
    assert main(["refs", str(tmp_path / "frame_0.tif"), "-o", str(out)]) == 0
    group = zarr.open_group(open_references(json.loads(out.read_text())), mode="r")
    np.testing.assert_array_equal(group["0/0"][...], frame)


def test_pattern_matching_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["refs", str(tmp_path / "none_*.tif"), "-o", str(tmp_path / "x.json")]) == 4
    assert "no file matches" in capsys.readouterr().err


def test_parquet_needs_zarr_v2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _frames(tmp_path, 1)
    args = ["refs", str(tmp_path / "frame_0.tif"), "-o", str(tmp_path / "p"), "--parquet"]
    assert main([*args, "--zarr-format", "3"]) == 2
    assert "zarr v2 only" in capsys.readouterr().err
