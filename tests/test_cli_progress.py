"""Progress bars: on stderr when it is a terminal, never with ``--quiet`` or when stderr
is not a terminal, and the command still works without tqdm."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
import pytest
import tifffile

BLOCK_TQDM = "import sys; sys.modules['tqdm'] = None; "


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "image.tif"
    data = np.random.default_rng(1).integers(0, 4000, (4, 256, 256), dtype="uint16")
    tifffile.imwrite(path, data, tile=(64, 64), compression="zlib", photometric="minisblack")
    return path


def _on_a_terminal(args: list[str], *, prelude: str = "") -> tuple[int, str]:
    """Run the command with stderr on a pseudo-terminal; its status and what it drew there."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 24 x 100
    code = prelude + "from tiffzarr.cli import main; sys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; " + code, *args],
        stdout=subprocess.DEVNULL,
        stderr=slave,
        stdin=subprocess.DEVNULL,
    )
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(master, 4096)
        except OSError:  # the other end closed (Linux raises EIO)
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return process.wait(timeout=60), b"".join(chunks).decode(errors="replace")


def test_convert_to_zarr_shows_a_bar(image: Path, tmp_path: Path) -> None:
    status, drawn = _on_a_terminal(["convert", str(image), str(tmp_path / "a.zarr")])
    assert status == 0
    assert "convert" in drawn and "100%" in drawn and "512k/512k" in drawn  # bytes, scaled


def test_convert_to_tiff_shows_a_bar(image: Path, tmp_path: Path) -> None:
    status, drawn = _on_a_terminal(["convert", str(image), str(tmp_path / "b.tif")])
    assert status == 0 and "convert" in drawn and "100%" in drawn


def test_refs_of_many_files_counts_them(tmp_path: Path) -> None:
    for i in range(5):
        tifffile.imwrite(tmp_path / f"f{i}.tif", np.full((8, 8), i, "uint8"))
    out = tmp_path / "r.json"
    status, drawn = _on_a_terminal(["refs", str(tmp_path / "f*.tif"), "-o", str(out)])
    assert status == 0 and "parse" in drawn and "5/5" in drawn and "file" in drawn


def test_quiet_draws_nothing(image: Path, tmp_path: Path) -> None:
    status, drawn = _on_a_terminal(["--quiet", "convert", str(image), str(tmp_path / "c.zarr")])
    assert status == 0 and drawn == ""
    status, drawn = _on_a_terminal(["convert", str(image), str(tmp_path / "d.tif"), "-q"])
    assert status == 0 and drawn == ""


def test_no_bar_when_stderr_is_not_a_terminal(image: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tiffzarr", "convert", str(image), str(tmp_path / "e.zarr")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and result.stderr == ""


def test_works_without_tqdm(image: Path, tmp_path: Path) -> None:
    target = tmp_path / "f.tif"
    status, drawn = _on_a_terminal(["convert", str(image), str(target)], prelude=BLOCK_TQDM)
    assert status == 0 and drawn == ""
    np.testing.assert_array_equal(tifffile.imread(target), tifffile.imread(image))
