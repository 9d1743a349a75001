"""``tiffzarr info`` (text, JSON, metadata summary), ``--version``, errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import rasterio
import tifffile

import tiffzarr
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


def test_corrupt_file_is_bad_input(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\0\xff\xff\xff\x7f")
    assert main(["info", str(bad)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("tiffzarr: error: ") and "past the end" in err
    assert err.count("\n") == 1


def test_missing_file_is_io_error(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["info", str(tmp_path / "nope.tif")]) == 4
    err = capsys.readouterr().err
    assert err.startswith("tiffzarr: error: ") and "nope.tif" in err and err.count("\n") == 1


def test_debug_shows_the_traceback(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["--debug", "info", str(tmp_path / "nope.tif")]) == 4
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "SourceNotFoundError" in err
    assert main(["info", str(tmp_path / "nope.tif"), "--debug"]) == 4  # after the command too
    assert "Traceback" in capsys.readouterr().err


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tiffzarr", *args], capture_output=True, text=True, check=False
    )


def test_bad_flag_is_usage_error(sample) -> None:  # type: ignore[no-untyped-def]
    result = _run("info", str(sample), "--no-such-flag")
    assert result.returncode == 2
    assert "error: unrecognized arguments: --no-such-flag" in result.stderr
    result = _run("info", str(sample), "--storage-option", "novalue")
    assert result.returncode == 2 and "KEY=VALUE" in result.stderr


def test_version() -> None:
    result = _run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"tiffzarr {tiffzarr.__version__}"


def test_help_lists_exit_codes() -> None:
    result = _run("--help")
    assert result.returncode == 0
    for code in ("0", "1", "2", "3", "4", "130"):
        assert any(line.split()[:1] == [code] for line in result.stdout.splitlines())


def test_info_series_metadata(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "cells.ome.tif"
    data = np.arange(2 * 3 * 32 * 48, dtype="uint16").reshape(2, 3, 32, 48)
    meta = {"axes": "ZCYX", "PhysicalSizeX": 0.25, "PhysicalSizeY": 0.5, "PhysicalSizeZ": 2.0}
    meta["Channel"] = {"Name": ["DAPI", "GFP", "RFP"]}
    with tifffile.TiffWriter(path, ome=True) as tw:
        tw.write(data, metadata=meta)
        tw.write(data[:1, :1], metadata={"axes": "ZCYX"})  # a second series
    with tifffile.TiffFile(path) as tif:
        expected = [(s.shape, s.axes, str(s.dtype)) for s in tif.series]
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    got = [(tuple(s["shape"]), s["axes"], s["dtype"]) for s in info["series"]]
    assert got == expected
    first = info["series"][0]
    assert first["kind"] == "ome" and first["channels"] == ["DAPI", "GFP", "RFP"]
    assert first["scales"]["X"] == {"size": 0.25, "unit": "micrometer"}
    assert first["scales"]["Z"]["size"] == 2.0
    assert main(["info", str(path), "--json", "--series", "1"]) == 0
    only = json.loads(capsys.readouterr().out)["series"]
    assert [s["index"] for s in only] == [1]
    assert tuple(only[0]["shape"]) == expected[1][0]
    assert main(["info", str(path)]) == 0
    text = capsys.readouterr().out
    assert "channels: DAPI, GFP, RFP" in text and "X 0.25 micrometer" in text
    assert main(["info", str(path), "--series", "2"]) == 3
    assert "no series 2" in capsys.readouterr().err


def test_info_geotiff(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "geo.tif"
    transform = (10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0)
    tiffzarr.write(
        path,
        np.ones((64, 64), "uint8"),
        tile=(32, 32),
        geotiff={"crs": 32633, "transform": transform, "nodata": 0},
    )
    with rasterio.open(path) as ds:
        crs, affine = ds.crs.to_string(), tuple(ds.transform)[:6]
    assert main(["info", str(path), "--json"]) == 0
    geo = json.loads(capsys.readouterr().out)["series"][0]["geo"]
    assert geo["crs"] == crs and tuple(geo["transform"]) == pytest.approx(affine)
    assert geo["nodata"] == 0


def test_python_dash_m(sample) -> None:  # type: ignore[no-untyped-def]
    result = _run("info", str(sample), "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["header"]["format"] == "classic"


def test_interrupted(sample, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import tiffzarr.cli._inspect as inspect

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(inspect, "_info", interrupted)
    assert main(["info", str(sample)]) == 130
    assert capsys.readouterr().err == "tiffzarr: error: interrupted\n"
