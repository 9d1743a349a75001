"""Issue #6: failures never leave a partial file, and never damage the file being replaced."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from tiffzarr.errors import ChunkEncodeError, WriteError
from tiffzarr.writer import TiffWriter, write

da = pytest.importorskip("dask.array")

OLD = np.arange(64, dtype="uint8").reshape(8, 8)


def old_file(folder: Path) -> Path:
    path = folder / "a.tif"
    write(path, OLD)
    return path


def assert_untouched(path: Path) -> None:
    """The old file is intact and no temporary file is left beside it."""
    np.testing.assert_array_equal(tifffile.imread(path), OLD)
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.tif"]


class Boom(RuntimeError):
    pass


def failing_chunk(block_info: dict | None = None) -> np.ndarray:
    assert block_info is not None
    if block_info[None]["chunk-location"] == (2, 1):
        raise Boom("the source failed")
    return np.ones(block_info[None]["chunk-shape"], "uint16")


@pytest.mark.parametrize("cog", [False, True])
def test_source_exception_leaves_old_file(tmp_path: Path, cog: bool) -> None:
    path = old_file(tmp_path)
    array = da.map_blocks(failing_chunk, dtype="uint16", chunks=((128,) * 4, (128,) * 4))
    with pytest.raises(Boom):
        write(path, array, tile=(64, 64), compression="zstd", pyramid=2, cog=cog)
    assert_untouched(path)
    with pytest.raises(Boom):
        write(tmp_path / "new.tif", array, tile=(64, 64))
    assert not (tmp_path / "new.tif").exists()


def test_iterator_exception_and_short_iterator(tmp_path: Path) -> None:
    path = old_file(tmp_path)

    def tiles():  # type: ignore[no-untyped-def]
        yield np.zeros((16, 16), "uint8")
        raise Boom("the iterator failed")

    with pytest.raises(Boom):
        write(path, tiles(), shape=(32, 32), dtype="uint8", tile=(16, 16))
    assert_untouched(path)
    with pytest.raises(ValueError, match="iterator ended"):
        write(
            path, iter([np.zeros((16, 16), "uint8")]), shape=(32, 32), dtype="uint8", tile=(16, 16)
        )
    assert_untouched(path)


def test_encode_error_names_the_segment(tmp_path: Path) -> None:
    path = old_file(tmp_path)
    with pytest.raises(ChunkEncodeError, match="segment 0 of page 0"):
        write(path, np.zeros((32, 32), "uint16"), compression="webp", tile=(16, 16))
    assert_untouched(path)


def test_exception_inside_a_writer_block_discards_everything(tmp_path: Path) -> None:
    path = old_file(tmp_path)
    with pytest.raises(Boom), TiffWriter(path) as tw:
        tw.write(np.zeros((16, 16), "uint8"))
        raise Boom("the caller failed")
    assert_untouched(path)


def test_failed_append_truncates_back(tmp_path: Path) -> None:
    path = old_file(tmp_path)
    before = path.read_bytes()
    array = da.map_blocks(failing_chunk, dtype="uint16", chunks=((128,) * 4, (128,) * 4))
    with pytest.raises(Boom):
        write(path, array, append=True, tile=(64, 64))
    assert path.read_bytes() == before


def run_python(code: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_full_disk_raises_write_error_and_leaves_old_file(tmp_path: Path) -> None:
    path = old_file(tmp_path)
    process = run_python(
        """
        import resource, signal, numpy as np
        from tiffzarr.errors import WriteError
        from tiffzarr.writer import write
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail with EFBIG instead of dying
        resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, 2**20))
        data = np.random.default_rng(0).integers(0, 2**16, (2048, 2048), dtype="uint16")
        try:
            write("a.tif", data, tile=(256, 256))
        except WriteError as exc:
            print("WriteError", exc.errno, exc)
        """,
        tmp_path,
    )
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert out.startswith("WriteError 27 cannot write: File too large"), out
    assert str(path) in out
    assert_untouched(path)


def test_sigkill_mid_write_leaves_old_file(tmp_path: Path) -> None:
    path = old_file(tmp_path)
    process = run_python(
        """
        import os, time, numpy as np, dask.array as da
        from tiffzarr.writer import write
        def chunk(block_info=None):
            y = block_info[None]["chunk-location"][0]
            if y == 3:
                open("started", "w").close()
                time.sleep(60)
            return np.full(block_info[None]["chunk-shape"], y, "uint16")
        array = da.map_blocks(chunk, dtype="uint16", chunks=((256,) * 8, (512,)))
        write("a.tif", array, tile=(128, 128), compression="zstd")
        """,
        tmp_path,
    )
    try:
        marker = tmp_path / "started"
        for _ in range(1200):
            if marker.exists() or process.poll() is not None:
                break
            time.sleep(0.05)
        assert marker.exists(), process.communicate()[1]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    np.testing.assert_array_equal(tifffile.imread(path), OLD)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name not in ("a.tif", "started")]
    assert all(name.startswith(".a.tif.") and name.endswith(".tmp") for name in leftovers)


def test_unwritable_targets_raise_clear_errors(tmp_path: Path) -> None:
    data = np.zeros((4, 4), "uint8")
    with pytest.raises(WriteError, match=r"No such file or directory \(.*missing"):
        write(tmp_path / "missing" / "a.tif", data)
    with pytest.raises(WriteError, match="the target is a folder"):
        write(tmp_path, data)
    with pytest.raises(WriteError):
        write("/proc/tiffzarr.tif", data)
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o500)
    try:
        if os.geteuid() != 0:  # root writes anywhere
            with pytest.raises(WriteError, match="Permission denied"):
                write(readonly / "a.tif", data)
    finally:
        readonly.chmod(0o700)
    with pytest.raises(FileExistsError):
        write(old_file(tmp_path), data, mode="x")
    assert isinstance(WriteError("x"), OSError)


STALLED_WRITER = """
    import os, time, numpy as np, dask.array as da
    from tiffzarr.writer import write
    def chunk(block_info=None):
        y = block_info[None]["chunk-location"][0]
        if y == 3:
            open("started", "w").close()
            while not os.path.exists("go"):
                time.sleep(0.02)
        rng = np.random.default_rng(y)
        return rng.integers(0, 2**16, block_info[None]["chunk-shape"], dtype="uint16")
    array = da.map_blocks(chunk, dtype="uint16", chunks=((512,) * 8, (1024,)))
    write(TARGET, array, tile=(128, 128), compression="zstd", cog=True, pyramid=2)
"""
"""A COG writer (a temporary file and one spool per level) that stalls at its fourth chunk
until a file ``go`` appears."""


def stalled_writer(folder: Path, target: str) -> subprocess.Popen[str]:
    process = run_python(STALLED_WRITER.replace("TARGET", repr(target)), folder)
    for _ in range(1200):
        if (folder / "started").exists() or process.poll() is not None:
            break
        time.sleep(0.05)
    if not (folder / "started").exists():
        process.kill()
        pytest.fail(process.communicate()[1])
    return process


def temporaries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("target", ["a.tif", "memory://a.tif"])
def test_next_write_removes_a_killed_writers_temporary_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    scratch = tmp_path / "scratch"  # the system's temporary folder: uploads' spools
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    folder = tmp_path if target == "a.tif" else scratch
    process = stalled_writer(tmp_path, target)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    left = temporaries(folder)
    kinds = {p.name.split("tiffzarr-")[0] for p in left}  # the file (or its upload) and spools
    assert kinds == {".a.tif." if folder == tmp_path else "upload-", ".spool-"}, left
    assert sum(p.stat().st_size for p in left) > 2 << 20  # three of eight 1 MiB chunks
    write(target if target != "a.tif" else tmp_path / "a.tif", OLD, tile=(16, 16), cog=True)
    assert temporaries(folder) == []
    assert temporaries(tmp_path) == []


def test_a_live_writers_temporary_files_are_kept(tmp_path: Path) -> None:
    process = stalled_writer(tmp_path, "a.tif")
    try:
        live = temporaries(tmp_path)
        assert len(live) > 1, live
        for path in live:
            os.utime(path, (0, 0))  # old, but locked by a live writer
        write(tmp_path / "a.tif", OLD, tile=(16, 16), cog=True)  # the same target meanwhile
        assert temporaries(tmp_path) == live
    finally:
        (tmp_path / "go").touch()
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    rows = [np.random.default_rng(y).integers(0, 2**16, (512, 1024), "uint16") for y in range(8)]
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "a.tif"), np.concatenate(rows))
    assert temporaries(tmp_path) == []


def test_an_unlocked_temporary_file_of_a_live_pid_goes_only_when_old(tmp_path: Path) -> None:
    left = tmp_path / ".a.tif.tiffzarr-1-abcd1234.tmp"  # pid 1 lives: reused, or in a container
    left.write_bytes(b"left by a writer that died")
    write(tmp_path / "a.tif", OLD)
    assert left.exists()
    os.utime(left, (0, 0))
    write(tmp_path / "a.tif", OLD)
    assert not left.exists()
