"""``tiffzarr info``: text and JSON, from a path and as ``python -m tiffzarr``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from tiffzarr.cli import main


@pytest.fixture
def sample(tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "sample.tif"
    data = np.arange(3 * 64 * 96, dtype="uint16").reshape(3, 64, 96)
    tifffile.imwrite(
        path, data, tile=(32, 32), compression="zlib", photometric="minisblack", metadata=None
    )
    return path


def test_info_text(sample, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["info", str(sample)]) == 0
    out = capsys.readouterr().out
    assert "classic TIFF, little-endian" in out
    assert "(3, 64, 96) uint16 IYX chunks (1, 32, 32)" in out  # tifffile's squeezed series
    assert "TileOffsets" in out and "ImageWidth" in out
    assert "opened with 1 requests" in out


def test_info_json(sample, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["info", str(sample), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert len(info["pages"]) == 3
    assert info["series"][0]["levels"][0]["shape"] == [3, 64, 96]
    assert main(["info", str(sample), "--json", "--no-squeeze"]) == 0
    full = json.loads(capsys.readouterr().out)
    assert full["series"][0]["levels"][0]["shape"] == [3, 64, 96, 1]
    tags = {t["name"]: t for t in info["pages"][0]["tags"]}
    assert tags["ImageWidth"]["value"] == "96"
    assert tags["TileWidth"]["type"] in ("SHORT", "LONG")
    assert tags["TileOffsets"]["count"] == 6
    assert info["requests"] == 1 and info["bytes"] > 0


def test_info_error_exit_status(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\0\xff\xff\xff\x7f")
    assert main(["info", str(bad)]) == 2
    assert "past the end" in capsys.readouterr().err


def test_python_dash_m(sample) -> None:  # type: ignore[no-untyped-def]
    result = subprocess.run(
        [sys.executable, "-m", "tiffzarr", "info", str(sample), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout)["header"]["format"] == "classic"
