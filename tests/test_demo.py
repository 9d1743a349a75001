"""``make demo`` runs the main job end to end; here on a small sample."""

from __future__ import annotations

import pytest

from tiffzarr.demo import main


def test_demo_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--size", "1024", "--latency", "0"]) == 0
    out = capsys.readouterr().out
    assert out.count("equal to the source") == 2
    assert "references:" in out and "equal" in out.rsplit("references:", 1)[1]
