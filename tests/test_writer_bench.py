"""Issue #6: the writer benchmark runs end to end (tiny sizes; its figures are not asserted)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_write_smoke(tmp_path: Path) -> None:
    cases = [
        "tiffzarr dask",
        "tiffzarr numpy",
        "tiffzarr COG dask",
        "tifffile dask",
        "tifffile numpy",
    ]
    if importlib.util.find_spec("rasterio") is not None:
        cases.append("GDAL COG")
    results = tmp_path / "results.md"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.bench_write",
            "--smoke",
            "--cases",
            ",".join(cases),
            "--results",
            str(results),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    table = results.read_text()
    assert "Base levels decode identically: yes" in table
    rows = {
        line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ")
    }
    assert set(cases) <= set(rows)
    assert "16 of 16" in rows["tiffzarr dask"] and "16 of 16" in rows["tiffzarr COG dask"]
