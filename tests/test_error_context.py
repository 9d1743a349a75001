"""Every error message says where once: the URL (and offset, IFD, chunk) of an error
that wraps another error's text is not appended a second time.

The failures are real: a refused connection on 127.0.0.1, a missing file, corrupt
IFDs served over HTTP and read from disk, a reference target that is gone.
"""

from __future__ import annotations

import io
import pickle
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy
import pytest
import tifffile

import tiffzarr
from tiffzarr.errors import SourceError, SourceNotFoundError, TiffFormatError, TiffZarrError
from tiffzarr.testing import RangeServer, serve

QUICK = {"retries": 1, "retry_backoff": 0.01, "connect_timeout": 2.0}


def _tiff() -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, numpy.arange(64, dtype="uint8").reshape(8, 8))
    return buffer.getvalue()


def _corrupt_ifd() -> bytes:
    """The first IFD claims 65535 entries: it runs past the end of the file."""
    data = bytearray(_tiff())
    first = struct.unpack("<I", data[4:8])[0]
    data[first : first + 2] = struct.pack("<H", 0xFFFF)
    return bytes(data)


def _far_ifd() -> bytes:
    """The header points to an IFD past the end of the file (the message names the offset)."""
    data = bytearray(_tiff())
    data[4:8] = struct.pack("<I", 10**6)
    return bytes(data)


@pytest.fixture(scope="module")
def server() -> Iterator[RangeServer]:
    with serve({"ifd.tif": _corrupt_ifd(), "far.tif": _far_ifd()}) as server:
        yield server


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _message(url: str, **options: object) -> TiffZarrError:
    with pytest.raises(TiffZarrError) as caught:
        tiffzarr.open_store(url, **options)  # type: ignore[arg-type]
    return caught.value


def test_a_refused_connection_names_its_url_and_offset_once() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/x.tif"
    error = _message(url, storage_options=QUICK)
    assert isinstance(error, SourceError)
    text = str(error)
    assert text.count(url) == 1, text
    assert text.count("offset 0") == 1, text
    assert text.count("bytes=0-") == 1, text  # the range asked for, once too
    assert "after 2 attempt(s)" in text


def test_a_missing_local_file_names_its_path_once(tmp_path: Path) -> None:
    path = str(tmp_path / "missing.tif")
    error = _message(path)
    assert isinstance(error, SourceNotFoundError)
    assert str(error).count(path) == 1


@pytest.mark.parametrize("name", ["ifd.tif", "far.tif"])
def test_a_corrupt_file_over_http_names_its_url_once(server: RangeServer, name: str) -> None:
    url = server.url_for(name)
    text = str(_message(url))
    assert text.count(url) == 1, text
    assert text.count("offset") == 1, text


@pytest.mark.parametrize(("name", "data"), [("ifd.tif", _corrupt_ifd()), ("far.tif", _far_ifd())])
def test_a_corrupt_local_file_names_its_path_once(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    error = _message(str(path))
    assert isinstance(error, TiffFormatError)
    text = str(error)
    assert text.count(str(path)) == 1, text
    assert text.count("offset") == 1, text


def test_a_missing_reference_target_names_it_once(tmp_path: Path) -> None:
    path = tmp_path / "a.tif"
    path.write_bytes(_tiff())
    refs = tiffzarr.references(str(path), series=0, level=0, version=0)
    path.unlink()
    import zarr

    with pytest.raises(SourceError) as caught:
        zarr.open_array(tiffzarr.open_references(refs), mode="r")[...]
    assert str(caught.value).count(str(path)) == 1, str(caught.value)


def test_a_wrapped_message_keeps_its_places_once() -> None:
    inner = SourceError("read failed", url="s3://b/k.tif", offset=8)
    outer = SourceError(f"GET failed after 3 attempts: {inner}", url="s3://b/k.tif", offset=8)
    assert str(outer) == "GET failed after 3 attempts: read failed (s3://b/k.tif, offset 8)"
    relocated = outer.located(key="0.0")
    assert str(relocated).endswith("(s3://b/k.tif, offset 8) (chunk '0.0')")
    again = pickle.loads(pickle.dumps(relocated))
    assert str(again) == str(relocated) and again.offset == 8


def test_places_that_only_look_alike_are_still_appended() -> None:
    error = TiffFormatError("IFD at offset 80 overlaps /d/a.tif.json", url="/d/a.tif", offset=8)
    assert str(error).endswith("(/d/a.tif, offset 8)")
