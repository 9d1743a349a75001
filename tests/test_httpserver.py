"""The loopback Range server: range semantics, stats, faults, path safety, shutdown."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tiffzarr.testing import RangeServer, serve

DATA = bytes(range(256)) * 40  # 10240 bytes


@pytest.fixture(scope="module")
def server() -> Iterator[RangeServer]:
    with serve({"a.bin": DATA, "dir/b.bin": b"hello", "empty": b""}) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _clean(server: RangeServer) -> None:
    server.faults.clear()
    server.stats.reset()
    server.latency = 0.0


def get(
    server: RangeServer, path: str, range_: str | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request(method, path, headers={"Range": range_} if range_ else {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("range_", "status", "content_range", "body"),
    [
        (None, 200, None, DATA),
        ("bytes=0-9", 206, "bytes 0-9/10240", DATA[:10]),
        ("bytes=10230-", 206, "bytes 10230-10239/10240", DATA[10230:]),
        ("bytes=10230-99999", 206, "bytes 10230-10239/10240", DATA[10230:]),  # clipped at EOF
        ("bytes=-4", 206, "bytes 10236-10239/10240", DATA[-4:]),
        ("bytes=10240-10300", 416, "bytes */10240", b"range not satisfiable"),
        ("bytes=5-2", 200, None, DATA),  # invalid: Range ignored
        ("items=0-1", 200, None, DATA),
    ],
)
def test_range_semantics(
    server: RangeServer, range_: str | None, status: int, content_range: str | None, body: bytes
) -> None:
    got_status, headers, got = get(server, "/a.bin", range_)
    assert (got_status, headers.get("content-range"), got) == (status, content_range, body)
    assert int(headers["content-length"]) == len(body)


def test_several_ranges_in_one_answer(server: RangeServer) -> None:
    status, headers, body = get(server, "/a.bin", "bytes=0-1,5-6,99999-")
    assert status == 206
    assert headers["content-type"].startswith("multipart/byteranges; boundary=")
    boundary = headers["content-type"].split("boundary=")[1]
    parts = [p for p in body.split(f"--{boundary}".encode()) if p.strip(b"\r\n-")]
    assert [p.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n") for p in parts] == [
        DATA[0:2],
        DATA[5:7],
    ]
    assert b"Content-Range: bytes 5-6/10240" in parts[1]


def test_several_ranges_ignored_like_s3(server: RangeServer) -> None:
    server.multirange = False
    try:
        status, headers, body = get(server, "/a.bin", "bytes=0-1,5-6")
    finally:
        server.multirange = True
    assert (status, headers.get("content-range"), body) == (200, None, DATA)


def test_head_and_nested_names(server: RangeServer) -> None:
    status, headers, body = get(server, "/a.bin", "bytes=0-9", method="HEAD")
    assert (status, headers["content-length"], body) == (206, "10", b"")
    assert get(server, "/dir/b.bin", "bytes=1-2")[2] == b"el"
    assert get(server, "/dir%2Fb.bin")[2] == b"hello"
    assert get(server, "/empty", "bytes=0-0")[:2][0] == 416
    assert get(server, "/nope")[0] == 404


def test_keep_alive_and_stats(server: RangeServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    for i in range(3):
        conn.request("GET", "/a.bin", headers={"Range": f"bytes={i}-{i + 9}"})
        r = conn.getresponse()
        assert r.read() == DATA[i : i + 10]
    local_port = conn.sock.getsockname()[1]
    conn.request("GET", "/dir/b.bin")
    conn.getresponse().read()
    assert conn.sock.getsockname()[1] == local_port  # one connection for all four
    conn.close()
    assert (server.stats.requests, server.stats.bytes) == (4, 35)
    assert server.stats.path("a.bin") == server.stats.path("/a.bin")
    assert server.stats.path("a.bin").requests == 3
    assert server.stats.by_path()["dir/b.bin"].bytes == 5
    assert [r.range for r in server.stats.records][:1] == ["bytes=0-9"]
    server.stats.reset()
    assert server.stats.requests == 0


def test_concurrent_requests(server: RangeServer) -> None:
    results: list[bytes] = [b""] * 120

    def worker(i: int) -> None:
        results[i] = get(server, "/a.bin", f"bytes={i * 50}-{i * 50 + 99}")[2]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(120)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == DATA[i * 50 : i * 50 + 100] for i, r in enumerate(results))
    assert server.stats.requests == 120


def test_latency(server: RangeServer) -> None:
    server.latency = 0.1
    t0 = time.perf_counter()
    get(server, "/a.bin", "bytes=0-0")
    assert time.perf_counter() - t0 >= 0.1


@pytest.mark.parametrize("times", [1, 2])
def test_status_fault_fires_times(server: RangeServer, times: int) -> None:
    server.faults.add("status", path="a.bin", times=times, status=429, retry_after=3)
    assert get(server, "/dir/b.bin")[0] == 200  # other paths unaffected
    for _ in range(times):
        status, headers, _body = get(server, "/a.bin", "bytes=0-9")
        assert (status, headers["retry-after"]) == (429, "3")
    assert get(server, "/a.bin", "bytes=0-9")[0] == 206
    assert len(server.faults) == 0
    assert len(server.faults.fired) == times


def test_reset_fault(server: RangeServer) -> None:
    server.faults.add("reset")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        get(server, "/a.bin", "bytes=0-9")
    assert get(server, "/a.bin", "bytes=0-9")[2] == DATA[:10]


def test_truncate_fault(server: RangeServer) -> None:
    server.faults.add("truncate", keep=3)
    with pytest.raises(http.client.IncompleteRead) as info:
        get(server, "/a.bin", "bytes=0-9")
    assert info.value.partial == DATA[:3]
    assert server.stats.bytes == 3
    assert get(server, "/a.bin", "bytes=0-9")[2] == DATA[:10]


def test_wrong_range_fault(server: RangeServer) -> None:
    server.faults.add("wrong_range", times=2)
    status, headers, body = get(server, "/a.bin", "bytes=0-9")
    assert (status, headers["content-range"], body) == (206, "bytes 1-10/10240", DATA[1:11])
    _, headers, body = get(server, "/a.bin", "bytes=0-")  # whole file: named shorter
    assert (headers["content-range"], body) == ("bytes 0-10238/10240", DATA[:-1])
    assert get(server, "/a.bin", "bytes=0-9")[1]["content-range"] == "bytes 0-9/10240"


def test_ignore_range_fault(server: RangeServer) -> None:
    server.faults.add("ignore_range")
    assert get(server, "/a.bin", "bytes=0-9")[:1] == (200,)
    assert get(server, "/a.bin", "bytes=0-9")[0] == 206


def test_slow_fault(server: RangeServer) -> None:
    server.faults.add("slow", delay=0.2)
    t0 = time.perf_counter()
    assert get(server, "/a.bin", "bytes=0-9")[2] == DATA[:10]
    assert time.perf_counter() - t0 >= 0.2
    t0 = time.perf_counter()
    get(server, "/a.bin", "bytes=0-9")
    assert time.perf_counter() - t0 < 0.2


@pytest.mark.parametrize(
    "kind", ["status", "reset", "truncate", "wrong_range", "ignore_range", "slow"]
)
def test_each_fault_fires_times_then_clears(server: RangeServer, kind: str) -> None:
    server.faults.add(kind, path="/a.bin", times=2, delay=0.01)  # type: ignore[arg-type]
    assert get(server, "/dir/b.bin", "bytes=0-1")[2] == b"he"  # path does not match
    answers = []
    for _ in range(3):
        try:
            status, headers, body = get(server, "/a.bin", "bytes=10-19")
            answers.append((status, headers.get("content-range"), body))
        except (OSError, http.client.HTTPException) as exc:
            answers.append((0, type(exc).__name__, b""))
    good = (206, "bytes 10-19/10240", DATA[10:20])
    assert answers[2] == good
    assert (answers[0] == good) == (answers[1] == good) == (kind == "slow")
    assert [path for path, _ in server.faults.fired] == ["a.bin", "a.bin"]
    assert len(server.faults) == 0
    assert server.stats.path("a.bin").requests == 3


def test_fault_arguments(server: RangeServer) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        server.faults.add("explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="times"):
        server.faults.add("reset", times=0)


def test_directory_root_refuses_escape(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.bin").write_bytes(DATA)
    (tmp_path / "secret").write_bytes(b"secret")
    (root / "link").symlink_to(tmp_path / "secret")
    with serve(root) as srv:
        assert get(srv, "/a.bin", "bytes=5-6")[2] == DATA[5:7]
        for path in ("/../secret", "/%2e%2e/secret", "/..%2Fsecret", "/link"):
            status, _, body = get(srv, path)
            assert status in (403, 404)
            assert body != b"secret"
        assert get(srv, "/missing")[0] == 404
        status, _, body = get(srv, "/")  # a directory answers with its index page
        assert status == 200 and b'href="/a.bin"' in body and b"secret" not in body


def test_add_and_stop(tmp_path: Path) -> None:
    srv = serve({})
    url = srv.add("x.bin", b"abc")
    assert url == f"{srv.url}/x.bin"
    assert get(srv, "/x.bin")[2] == b"abc"
    idle = socket.create_connection(("127.0.0.1", srv.port))  # an idle keep-alive client
    srv.faults.add("slow", delay=30)
    outcome: list[object] = []

    def slow_request() -> None:
        try:
            outcome.append(get(srv, "/x.bin")[0])
        except (OSError, http.client.HTTPException) as exc:
            outcome.append(exc)

    sleeper = threading.Thread(target=slow_request)
    sleeper.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    srv.close()  # must not wait for the idle connection or the slow request
    assert time.perf_counter() - t0 < 2
    sleeper.join(5)
    assert not sleeper.is_alive() and len(outcome) == 1
    idle.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
    with serve(tmp_path) as srv2, pytest.raises(TypeError):
        srv2.add("y", b"")
