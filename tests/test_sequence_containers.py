"""Sequences inside a ZIP archive: ``open_sequence(files, container="run.zip")``.

Members are named as tifffile's ``TiffSequence(files, container=...)`` names them
and read as byte ranges of the archive (local, HTTP, S3): the central directory
once, then one request per read of a member, never the whole archive.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

import tiffzarr
import tiffzarr.io._zip as zipmod
from tiffzarr.errors import SourceNotFoundError
from tiffzarr.io import ZipMemberSource, open_source
from tiffzarr.testing import serve

IMAGE = (256, 192)


def names(t: int = 2, c: int = 3) -> list[str]:
    return [f"run/img_t{i + 1:02d}_c{j + 1}.tif" for i in range(t) for j in range(c)]


def write_zip(
    path: Path,
    members: list[str],
    *,
    method: int = zipfile.ZIP_STORED,
    force_zip64: bool = False,
    **options: object,
) -> dict[str, np.ndarray]:
    """A ZIP of seeded TIFFs (written through tifffile); returns each member's pixels."""
    rng = np.random.default_rng(len(members))
    written = {}
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        for name in members:
            data = rng.integers(0, 2**16, IMAGE, dtype=np.uint16)
            buffer = io.BytesIO()
            tifffile.imwrite(buffer, data, **options)  # type: ignore[arg-type]
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = method
            with zf.open(info, "w", force_zip64=force_zip64) as f:
                f.write(buffer.getvalue())
            written[name] = data
    return written


def array(store: tiffzarr.TiffStore) -> zarr.Array:
    return zarr.open_array(store, mode="r")


def expected(files: str | list[str], archive: Path, **options: object) -> np.ndarray:
    with tifffile.TiffSequence(files, container=str(archive), **options) as seq:  # type: ignore[arg-type]
        return seq.asarray()


@pytest.fixture(autouse=True)
def fresh_directories() -> None:
    zipmod._OPEN.clear()  # each test reads its archives' directories itself


@pytest.mark.parametrize(
    "options", [{}, {"tile": (32, 32), "compression": "zlib"}], ids=["predicted", "parsed"]
)
def test_pattern_in_a_local_zip_equals_tifffile(tmp_path, options):
    archive = tmp_path / "run.zip"
    write_zip(archive, names()[::-1], **options)  # stored in another order than sorted
    z = array(tiffzarr.open_sequence("run/*.tif", container=archive, pattern="axes"))
    pixels = expected("run/*.tif", archive, pattern="axes")
    assert z.shape == pixels.shape == (2, 3, *IMAGE)
    assert z.metadata.dimension_names[:2] == ("T", "C")
    assert np.array_equal(z[...], pixels)


def test_member_names_a_folder_and_a_list(tmp_path):
    archive = tmp_path / "run.zip"
    written = write_zip(archive, [*names(1, 2), "other/x.tif", "run/sub/deeper.tif"])
    folder = array(tiffzarr.open_sequence("run", container=str(archive)))
    assert folder.shape == (2, *IMAGE)  # its own .tif members, not its subfolder's
    assert np.array_equal(folder[1], written["run/img_t01_c2.tif"])
    listed = ["other/x.tif", "run/img_t01_c1.tif"]
    z = array(tiffzarr.open_sequence(listed, container=archive))
    assert np.array_equal(z[...], expected(listed, archive))  # a list keeps its order
    one = array(tiffzarr.open_sequence("other/x.tif", container=archive))
    assert np.array_equal(one[0], written["other/x.tif"])
    with pytest.raises(SourceNotFoundError, match=r"no member 'run/absent\.tif'") as info:
        tiffzarr.open_sequence(["run/absent.tif"], container=archive)
    assert str(archive) in str(info.value)
    with pytest.raises(SourceNotFoundError, match="no member matches"):
        tiffzarr.open_sequence("*.png", container=archive)
    with pytest.raises(TypeError, match="container"):
        tiffzarr.open_sequence("*.tif", container=3)  # type: ignore[arg-type]


def test_http_zip_costs_one_request_per_member_and_never_the_whole_archive(tmp_path):
    archive = tmp_path / "run.zip"
    members = names()
    write_zip(archive, members)
    size = archive.stat().st_size
    pixels = expected("run/*.tif", archive, pattern="axes")
    with serve(tmp_path) as server:
        url = server.url_for("run.zip")
        store = tiffzarr.open_sequence("run/*.tif", container=url, pattern="axes")
        # the archive's size and its last 64 KiB (the directory), the first member's head
        assert server.stats.requests == 3
        assert server.stats.bytes < size / 2
        server.stats.reset()
        z = array(store)
        assert np.array_equal(z[0], pixels[0])  # three of the six members
        assert server.stats.requests == 3  # each member's layout check rides along
        assert server.stats.bytes < size * 0.6
        server.stats.reset()
        assert np.array_equal(z[...], pixels)
        assert server.stats.requests == len(members)
        server.stats.reset()
        assert np.array_equal(z[1, 2, 10:20], pixels[1, 2, 10:20])
        assert server.stats.requests == 1
        assert {r.path for r in server.stats.records} == {"run.zip"}
        clone = pickle.loads(pickle.dumps(store))
        assert np.array_equal(array(clone)[0, 1], pixels[0, 1])


def test_s3_zip_equals_tifffile(tmp_path):
    from tiffzarr.testing import moto_server

    archive = tmp_path / "run.zip"
    write_zip(archive, names(), tile=(32, 32), compression="zlib")
    with moto_server() as server:
        server.create_bucket("zips")
        url = server.put("zips", "data/run.zip", archive.read_bytes())
        store = tiffzarr.open_sequence(
            "run/*.tif", container=url, pattern="axes", storage_options=server.storage_options
        )
        assert np.array_equal(array(store)[...], expected("run/*.tif", archive, pattern="axes"))


def test_deflated_members_are_read_through_fsspec(tmp_path):
    archive = tmp_path / "run.zip"
    write_zip(archive, names(1, 3), method=zipfile.ZIP_DEFLATED)
    z = array(tiffzarr.open_sequence("run/*.tif", container=archive, pattern="axes"))
    assert np.array_equal(z[...], expected("run/*.tif", archive, pattern="axes"))


def test_local_headers_larger_than_the_directory_says(tmp_path, monkeypatch):
    # force_zip64 puts a ZIP64 field in each local header only: the member's data starts
    # 20 bytes later than the central directory suggests
    archive = tmp_path / "run.zip"
    written = write_zip(archive, names(1, 2), force_zip64=True)
    monkeypatch.setattr(zipmod, "_SLACK", 0)  # the first read falls short: read again
    z = array(tiffzarr.open_sequence("run/*.tif", container=archive))
    assert np.array_equal(z[...], np.stack(list(written.values())))
    monkeypatch.setattr(zipmod, "SPECULATE", 16)  # a first read far in: the header first
    zipmod._OPEN.clear()
    source = open_source(zipmod.member_url(str(archive), "run/img_t01_c2.tif"))
    assert isinstance(source, ZipMemberSource)
    raw = zipfile.ZipFile(archive).read("run/img_t01_c2.tif")
    assert run(source.read(1000, 64)) == raw[1000:1064]
    assert run(source.read(0, 8)) == raw[:8]


def test_a_damaged_archive_is_named(tmp_path):
    archive = tmp_path / "run.zip"
    write_zip(archive, names(1, 1))
    data = bytearray(archive.read_bytes())
    start = data.index(b"PK\x03\x04")
    data[start : start + 4] = b"XXXX"  # the local header's signature
    archive.write_bytes(bytes(data))
    with pytest.raises(tiffzarr.errors.SourceError, match="local header") as info:
        tiffzarr.open_sequence("run/*.tif", container=archive)
    assert str(archive) in str(info.value)
    (tmp_path / "not.zip").write_bytes(b"just some bytes")
    with pytest.raises(tiffzarr.errors.SourceError, match="not a ZIP"):
        tiffzarr.open_sequence("*.tif", container=tmp_path / "not.zip")


def test_an_archive_written_anew_is_read_anew(tmp_path):
    archive = tmp_path / "run.zip"
    write_zip(archive, names(1, 2))
    assert array(tiffzarr.open_sequence("run/*.tif", container=archive)).shape[0] == 2
    written = write_zip(archive, names(1, 3))
    z = array(tiffzarr.open_sequence("run/*.tif", container=archive))
    assert np.array_equal(z[...], np.stack(list(written.values())))


def test_chained_zip_urls_read_as_ranges(tmp_path):
    archive = tmp_path / "run.zip"
    written = write_zip(archive, names(1, 2))
    pixels = tiffzarr.imread(f"zip://run/img_t01_c2.tif::{archive}")
    assert np.array_equal(pixels, written["run/img_t01_c2.tif"])


def run(coro):  # type: ignore[no-untyped-def]
    import asyncio

    return asyncio.run(coro)
