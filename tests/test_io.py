"""Byte sources: local, fsspec (memory, file, S3 on moto) and HTTP (loopback Range server).

Every backend passes the same contract: exact bytes, counted requests, size learned
by ``read_head``, refused ranges, not-found errors, pickling, several event loops,
concurrency. HTTP also must turn every server fault into ``SourceError`` (never
wrong bytes) and close its sessions without warnings.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import pickle
import random
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import pytest

from tiffzarr.errors import SourceError, SourceNotFoundError
from tiffzarr.io import ByteSource, FsspecSource, HttpSource, LocalSource, open_source
from tiffzarr.testing import MotoS3, RangeServer, moto_server, serve

DATA = random.Random(7).randbytes(200_003)
SIZE = len(DATA)
KINDS = ["local", "memory", "file", "http", "s3"]
# Requests a size lookup costs: remote and fsspec sources ask (info, HEAD-like GET);
# a local file's fstat is not counted.
SIZE_REQUESTS = {"local": 0}


@dataclass(frozen=True)
class Backend:
    kind: str
    make: Callable[[], ByteSource]
    make_missing: Callable[[], ByteSource]


@pytest.fixture(scope="module")
def http_server() -> Iterator[RangeServer]:
    with serve({"a.bin": DATA, "empty.bin": b""}) as server:
        yield server


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoS3]:
    with moto_server() as s3:
        s3.put("tiffzarr-test", "a.bin", DATA)
        yield s3


@pytest.fixture(scope="module")
def local_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("io") / "a.bin"
    path.write_bytes(DATA)
    return path


@pytest.fixture(scope="module")
def memory_url() -> Iterator[str]:
    url = f"memory://tiffzarr-test-{uuid.uuid4().hex}/a.bin"
    with fsspec.open(url, "wb") as f:
        f.write(DATA)
    yield url
    fsspec.filesystem("memory").rm(url)


@pytest.fixture(params=KINDS)
def backend(request: pytest.FixtureRequest, local_path: Path) -> Backend:
    kind = request.param
    if kind == "local":
        missing = str(local_path.with_name("missing.bin"))
        return Backend(kind, lambda: LocalSource(str(local_path)), lambda: LocalSource(missing))
    if kind == "file":
        url = local_path.as_uri()
        return Backend(
            kind, lambda: FsspecSource(url), lambda: FsspecSource(url.replace("a.bin", "no.bin"))
        )
    if kind == "memory":
        url = request.getfixturevalue("memory_url")
        return Backend(
            kind, lambda: FsspecSource(url), lambda: FsspecSource(url.replace("a.bin", "no.bin"))
        )
    if kind == "http":
        server: RangeServer = request.getfixturevalue("http_server")
        return Backend(
            kind,
            lambda: HttpSource(server.url_for("a.bin")),
            lambda: HttpSource(server.url_for("missing.bin")),
        )
    s3: MotoS3 = request.getfixturevalue("s3")
    options = s3.storage_options
    return Backend(
        kind,
        lambda: FsspecSource("s3://tiffzarr-test/a.bin", storage_options=options),
        lambda: FsspecSource("s3://tiffzarr-test/missing.bin", storage_options=options),
    )


RANGES = [(0, 1), (0, 4096), (123, 4567), (SIZE - 1, 1), (SIZE - 5000, 5000), (0, SIZE)]


async def test_reads_equal_file_bytes(backend: Backend) -> None:
    src = backend.make()
    for offset, length in RANGES:
        assert await src.read(offset, length) == DATA[offset : offset + length]
    assert await src.read(17, 0) == b""
    assert await src.size() == SIZE
    assert await src.read_many(RANGES) == [DATA[o : o + n] for o, n in RANGES]


async def test_counters(backend: Backend) -> None:
    src = backend.make()
    await src.read(10, 100)
    await src.read(1000, 50)
    assert (src.stats.requests, src.stats.bytes) == (2, 150)
    assert src.stats.ranges == [(10, 110), (1000, 1050)]
    await src.read(5, 0)  # empty reads cost nothing
    assert src.stats.snapshot() == (2, 150)
    src.stats.reset()
    assert await src.size() == SIZE
    assert src.stats.requests == (
        0 if backend.kind == "http" else SIZE_REQUESTS.get(backend.kind, 1)
    )
    fresh = backend.make()  # HTTP learned the size from the reads' Content-Range above
    assert await fresh.size() == SIZE
    expected = SIZE_REQUESTS.get(backend.kind, 1)
    assert fresh.stats.requests == expected  # the size lookup is a request
    await fresh.size()
    assert fresh.stats.requests == expected  # learned once


async def test_read_head_learns_size(backend: Backend) -> None:
    src = backend.make()
    assert await src.read_head(4096) == DATA[:4096]
    opened = src.stats.requests
    assert await src.size() == SIZE
    assert src.stats.requests == opened
    # HTTP learns the size from the answer's Content-Range; the others look it up first
    assert opened == (1 if backend.kind == "http" else 1 + SIZE_REQUESTS.get(backend.kind, 1))
    assert await src.read_head(SIZE + 100) == DATA  # clipped at the end of the file


async def test_out_of_range_and_negative_reads(backend: Backend) -> None:
    fresh = backend.make()  # size unknown: the backend must notice the short answer
    with pytest.raises(SourceError):
        await fresh.read(SIZE - 10, 20)
    src = backend.make()
    await src.size()
    for offset, length in [(SIZE - 10, 20), (SIZE, 1), (SIZE + 100, 1), (-1, 2), (0, -1)]:
        with pytest.raises(SourceError):
            await src.read(offset, length)
    with pytest.raises(SourceError):
        await src.read_head(-1)


async def test_missing_file(backend: Backend) -> None:
    for call in ("size", "read", "read_head"):
        src = backend.make_missing()
        with pytest.raises(SourceNotFoundError) as info:
            if call == "size":
                await src.size()
            elif call == "read":
                await src.read(0, 10)
            else:
                await src.read_head(10)
        assert isinstance(info.value, FileNotFoundError)
        assert src.url in str(info.value)


def test_pickle_round_trip(backend: Backend) -> None:
    src = backend.make()
    fresh = pickle.loads(pickle.dumps(src))
    assert type(fresh) is type(src) and fresh.url == src.url
    assert asyncio.run(fresh.read(5, 10)) == DATA[5:15]
    assert asyncio.run(src.read_head(100)) == DATA[:100]  # now with sessions/handles
    used = pickle.loads(pickle.dumps(src))
    assert asyncio.run(used.read(SIZE - 3, 3)) == DATA[-3:]
    assert used.stats.requests == 1  # the size came along, the counters did not


def test_several_event_loops(backend: Backend) -> None:
    src = backend.make()
    assert asyncio.run(src.read(0, 10)) == DATA[:10]
    assert asyncio.run(src.read(10, 10)) == DATA[10:20]
    result: list[bytes | BaseException] = []

    def in_thread() -> None:
        try:
            result.append(asyncio.run(src.read(20, 10)))
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(30)
    assert result == [DATA[20:30]]
    loop = asyncio.new_event_loop()  # closed without shutdown_asyncgens
    try:
        assert loop.run_until_complete(src.read(30, 10)) == DATA[30:40]
    finally:
        loop.close()
    assert asyncio.run(src.read(40, 10)) == DATA[40:50]


async def test_concurrent_reads(backend: Backend) -> None:
    src = backend.make()
    rng = random.Random(1)
    ranges = [(o, rng.randrange(1, 3000)) for o in rng.sample(range(SIZE - 3000), 100)]
    serial = [await src.read(o, n) for o, n in ranges]
    assert serial == [DATA[o : o + n] for o, n in ranges]
    assert await src.read_many(ranges) == serial  # 100 reads in flight at once
    # HTTP asks for up to 64 ranges per request (multipart/byteranges)
    assert src.stats.requests == 100 + (2 if backend.kind == "http" else 100)


async def test_http_several_ranges_per_request_and_fallback(http_server: RangeServer) -> None:
    ranges = [(i * 1000, 10) for i in range(10)]
    src = HttpSource(http_server.url_for("a.bin"))
    http_server.stats.reset()
    assert await src.read_many(ranges) == [DATA[o : o + n] for o, n in ranges]
    assert http_server.stats.requests == 1
    http_server.multirange = False  # like S3: the whole file comes back
    try:
        from tiffzarr.io import _http

        _http._MULTIRANGE.clear()
        http_server.stats.reset()
        assert await src.read_many(ranges) == [DATA[o : o + n] for o, n in ranges]
        # the ranges lie near the start: cut from the 200's body, the rest dropped unread
        assert http_server.stats.requests == 1
        http_server.stats.reset()
        assert await src.read_many(ranges) == [DATA[o : o + n] for o, n in ranges]
        assert http_server.stats.requests == 10  # remembered
    finally:
        http_server.multirange = True
        _http._MULTIRANGE.clear()


async def test_http_several_ranges_faults(http_server: RangeServer) -> None:
    ranges = [(i * 1000, 10) for i in range(5)]
    src = HttpSource(http_server.url_for("a.bin"), storage_options=QUICK_RETRY)
    for kind in ("truncate", "wrong_range", "reset"):
        http_server.faults.add(kind, times=1)  # type: ignore[arg-type]
        assert await src.read_many(ranges) == [DATA[o : o + n] for o, n in ranges]
    src = HttpSource(http_server.url_for("a.bin"), storage_options=NO_RETRY)
    http_server.faults.add("wrong_range")
    with pytest.raises(SourceError, match="were not asked for"):
        await src.read_many(ranges)
    http_server.stats.reset()
    assert await src.read_many(ranges) == [DATA[o : o + n] for o, n in ranges]
    assert http_server.stats.requests == 1  # still asks for several ranges at once


def test_open_source_dispatch(http_server: RangeServer, local_path: Path) -> None:
    assert type(open_source(str(local_path))) is LocalSource
    assert type(open_source(local_path.as_uri())) is LocalSource
    assert type(open_source(http_server.url_for("a.bin"))) is HttpSource
    assert type(open_source("memory://x/y.bin")) is FsspecSource


# --- HTTP specifics -------------------------------------------------------------------------


@pytest.fixture
def server(http_server: RangeServer) -> Iterator[RangeServer]:
    http_server.faults.clear()
    http_server.stats.reset()
    yield http_server
    http_server.faults.clear()


async def test_http_open_costs_one_request(server: RangeServer) -> None:
    src = HttpSource(server.url_for("a.bin"))
    assert await src.read_head(16384) == DATA[:16384]
    assert await src.size() == SIZE
    assert (src.stats.requests, server.stats.requests) == (1, 1)
    assert server.stats.records[0].range == "bytes=0-16383"
    small = HttpSource(server.url_for("a.bin"))
    assert await small.size() == SIZE  # a size lookup alone is one 1-byte request
    assert server.stats.records[-1].bytes == 1


async def test_http_empty_file(server: RangeServer) -> None:
    src = HttpSource(server.url_for("empty.bin"))
    assert await src.read_head(100) == b""
    assert await src.size() == 0
    assert await HttpSource(server.url_for("empty.bin")).size() == 0
    with pytest.raises(SourceError, match="416"):
        await HttpSource(server.url_for("empty.bin")).read(0, 1)


async def test_http_416_names_url_and_range(server: RangeServer) -> None:
    src = HttpSource(server.url_for("a.bin"))
    with pytest.raises(SourceError) as info:
        await src.read(SIZE + 10, 5)
    message = str(info.value)
    assert "416" in message and src.url in message and f"bytes={SIZE + 10}-" in message


FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("status", {"status": 500}),
    ("status", {"status": 503, "retry_after": 1}),
    ("status", {"status": 429}),
    ("reset", {}),
    ("truncate", {}),
    ("wrong_range", {}),
    ("ignore_range", {}),
    ("slow", {"delay": 2.0}),
]


NO_RETRY = {"read_timeout": 0.25, "retries": 0}
QUICK_RETRY = {"read_timeout": 0.25, "retries": 4, "retry_backoff": 0.01}


@pytest.mark.parametrize(("kind", "options"), FAULTS, ids=[f"{k}-{o}" for k, o in FAULTS])
@pytest.mark.parametrize("call", ["read", "read_head", "size", "read_split"])
async def test_http_faults_raise_without_retries(
    server: RangeServer, kind: str, options: dict[str, Any], call: str
) -> None:
    src = HttpSource(server.url_for("a.bin"), storage_options=NO_RETRY)
    await src.read(0, 10)  # warm: the fault hits a reused keep-alive connection
    server.faults.add(kind, **options)  # type: ignore[arg-type]
    with pytest.raises(SourceError) as info:
        if call == "read":
            await src.read(100, 5000)
        elif call == "read_head":
            await HttpSource(server.url_for("a.bin"), storage_options=NO_RETRY).read_head(5000)
        elif call == "read_split":
            await src.read_split(100, [1100, 5100], lambda at, piece: None)
        else:
            await HttpSource(server.url_for("a.bin"), storage_options=NO_RETRY).size()
    assert server.url in str(info.value)
    assert len(server.faults) == 0  # fired once, no hidden retry
    assert await src.read(100, 5000) == DATA[100:5100]  # and the source still works


TRANSIENT = [f for f in FAULTS if f[0] != "ignore_range"]


@pytest.mark.parametrize(("kind", "options"), TRANSIENT, ids=[f"{k}-{o}" for k, o in TRANSIENT])
async def test_http_transient_faults_recover_with_exactly_two_extra_requests(
    server: RangeServer, kind: str, options: dict[str, Any]
) -> None:
    if kind == "status" and "retry_after" in options:
        options = {**options, "retry_after": 0}  # Retry-After is honoured; keep the test quick
    src = HttpSource(server.url_for("a.bin"), storage_options=QUICK_RETRY)
    await src.read(0, 10)
    server.stats.reset()
    server.faults.add(kind, times=2, **options)  # type: ignore[arg-type]
    assert await src.read(100, 5000) == DATA[100:5100]
    assert len(server.faults.fired) == 2 and len(server.faults) == 0
    if kind != "slow":  # a timed-out request gets no answer, so the server does not count it
        assert server.stats.requests == 3


@pytest.fixture
def own_server() -> Iterator[RangeServer]:
    """A server on a port of its own: no connection pooled by earlier tests (which the
    server may have closed meanwhile) can add a request of its own to the counts."""
    with serve({"a.bin": DATA}) as server:
        yield server


@pytest.mark.parametrize(("kind", "options"), TRANSIENT, ids=[f"{k}-{o}" for k, o in TRANSIENT])
async def test_http_read_split_recovers_and_never_delivers_wrong_bytes(
    own_server: RangeServer, kind: str, options: dict[str, Any]
) -> None:
    server = own_server
    if kind == "status" and "retry_after" in options:
        options = {**options, "retry_after": 0}
    # the slow fault (2 s) must time out (1 s); for the others a long timeout, so that a
    # loaded machine adds no retry of its own to the requests counted below
    timeout = 1.0 if kind == "slow" else 30.0
    src = HttpSource(
        server.url_for("a.bin"), storage_options={**QUICK_RETRY, "read_timeout": timeout}
    )
    await src.read(0, 10)
    server.stats.reset()
    server.faults.add(kind, times=2, **options)  # type: ignore[arg-type]
    ends = list(range(600, 5101, 500))  # small: a wrong answer is sent whole before it is refused
    pieces: list[tuple[int, bytes]] = []
    await src.read_split(100, ends, lambda at, piece: pieces.append((at, piece)))
    assert [at for at, _ in pieces] == [100, *ends[:-1]]  # each piece once, in order
    assert all(piece == DATA[at : at + len(piece)] for at, piece in pieces)
    assert b"".join(piece for _, piece in pieces) == DATA[100:5100]
    if kind != "slow":
        records = [(r.range, r.status, r.bytes, r.port) for r in server.stats.records]
        assert server.stats.requests == 3, records
    if kind == "truncate":  # the retries ask only for what had not arrived
        starts = [int(r.range.split("=")[1].split("-")[0]) for r in server.stats.records]
        assert starts[0] == 100 and starts[1] > 100 and starts[2] > starts[1]


async def test_http_read_split_delivers_pieces_before_the_answer_ends(server: RangeServer) -> None:
    src = HttpSource(server.url_for("a.bin"), storage_options=NO_RETRY)
    await src.read(0, 10)
    server.faults.add("truncate", keep=50_000)  # the answer stops half way
    pieces: list[tuple[int, bytes]] = []
    with pytest.raises(SourceError, match="bytes=0-99999 failed after 1 attempt"):
        await src.read_split(0, list(range(10_000, 100_001, 10_000)), lambda *p: pieces.append(p))
    assert [at for at, _ in pieces] == [0, 10_000, 20_000, 30_000, 40_000]
    assert all(piece == DATA[at : at + 10_000] for at, piece in pieces)


async def test_http_retry_after_is_honoured(server: RangeServer) -> None:
    src = HttpSource(server.url_for("a.bin"), storage_options=QUICK_RETRY)
    server.faults.add("status", status=503, retry_after=1)
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await src.read_head(100) == DATA[:100]
    assert loop.time() - start >= 0.9  # waited as asked, not the 10 ms backoff


async def test_http_permanent_fault_raises_one_error_naming_everything(server: RangeServer) -> None:
    options = {"retries": 3, "retry_backoff": 0.01, "deadline": 5.0}
    # its own file: late answers to other tests' slow requests must not be counted here
    src = HttpSource(server.add("permanent.bin", DATA), storage_options=options)
    await src.read(0, 10)
    server.faults.add("status", path="permanent.bin", status=503, times=100)
    before = server.stats.path("permanent.bin").requests
    with pytest.raises(SourceError) as info:
        await src.read(100, 50)
    message = str(info.value)
    assert src.url in message and "bytes=100-149" in message and "4 attempt" in message
    assert server.stats.path("permanent.bin").requests - before == 4
    server.faults.clear()


async def test_http_deadline_bounds_the_retries(server: RangeServer) -> None:
    options = {"retries": 100, "retry_backoff": 0.05, "deadline": 0.5, "read_timeout": 0.2}
    src = HttpSource(server.url_for("a.bin"), storage_options=options)
    server.faults.add("slow", delay=1.0, times=100)
    with pytest.raises(SourceError, match="attempt"):
        await src.read(100, 50)
    assert server.stats.requests < 10
    server.faults.clear()


async def test_http_whole_file_200_is_accepted(server: RangeServer) -> None:
    server.faults.add("ignore_range", times=2)
    src = HttpSource(server.url_for("a.bin"))
    assert await src.read_head(SIZE + 1) == DATA  # the whole file fits the head read
    assert await src.read(0, SIZE) == DATA  # the range was the whole file
    server.faults.add("ignore_range")
    with pytest.raises(SourceError, match="200"):
        await src.read(0, SIZE - 1)


async def test_http_wrong_range_on_read_head(server: RangeServer) -> None:
    server.faults.add("wrong_range")
    with pytest.raises(SourceError, match="Content-Range"):
        await HttpSource(server.url_for("a.bin"), storage_options=NO_RETRY).read_head(100)


async def test_http_storage_options(server: RangeServer) -> None:
    src = HttpSource(
        server.url_for("a.bin"),
        storage_options={
            "headers": {"X-Test": "1"},
            "client_kwargs": {"trust_env": False},
            "connect_timeout": 2,
            "block_size": 0,  # fsspec HTTPFileSystem option: ignored
        },
    )
    assert await src.read(3, 3) == DATA[3:6]
    assert pickle.loads(pickle.dumps(src))._options() == src._options()
    with pytest.raises(ValueError, match="unsupported"):
        HttpSource(server.url, storage_options={"bogus": 1})


def test_http_sessions_close_with_their_loop(server: RangeServer) -> None:
    # options of its own: other tests leave sessions on long-lived loops (zarr's, tiffzarr's)
    src = HttpSource(server.url_for("a.bin"), storage_options={"read_timeout": 29})
    asyncio.run(src.read(0, 10))
    assert len(src._sessions) == 0  # closed by asyncio.run's async-generator shutdown

    async def use_and_close() -> int:
        await src.read(0, 10)
        open_now = len(src._sessions)
        await src.close()
        return open_now

    assert asyncio.run(use_and_close()) == 1
    assert len(src._sessions) == 0


def test_sessions_are_shared_by_equal_options(server: RangeServer, s3: MotoS3) -> None:
    a = HttpSource(server.url_for("a.bin"))
    b = HttpSource(server.url_for("empty.bin"), storage_options={"headers": {"X-A": "1"}})
    c = HttpSource(server.url_for("a.bin"), storage_options={"read_timeout": 5})
    assert a._sessions is b._sessions  # per-request options do not split the pool
    assert a._sessions is not c._sessions

    async def both() -> bool:
        await a.read(0, 1)
        await b.read_head(1)
        return await a._sessions.get() is await b._sessions.get()

    assert asyncio.run(both())
    options = s3.storage_options
    x = FsspecSource("s3://tiffzarr-test/a.bin", storage_options=options)
    y = FsspecSource("s3://tiffzarr-test/b.bin", storage_options=options)
    assert x._async_fs is y._async_fs


def test_no_unclosed_session_warnings(
    server: RangeServer, s3: MotoS3, caplog: pytest.LogCaptureFixture
) -> None:
    def use(make: Callable[[], ByteSource]) -> None:
        src = make()
        asyncio.run(src.read(0, 10))  # closed by the loop's shutdown
        loop = asyncio.new_event_loop()  # closed without shutting down async generators
        loop.run_until_complete(src.read(0, 10))
        loop.close()
        idle = asyncio.new_event_loop()  # still open (idle) when the source is dropped
        idle.run_until_complete(src.read(0, 10))
        running = asyncio.new_event_loop()  # running in another thread
        thread = threading.Thread(target=running.run_forever)
        thread.start()
        asyncio.run_coroutine_threadsafe(src.read(0, 10), running).result(30)
        del src
        gc.collect()
        running.call_soon_threadsafe(running.stop)
        thread.join(30)
        running.close()  # also without shutting down async generators
        idle.run_until_complete(asyncio.sleep(0.05))
        idle.close()

        async def drop_inside_the_loop() -> None:
            src = make()
            await src.read(0, 10)  # also releases the sessions of the closed loops above
            del src
            gc.collect()
            await asyncio.sleep(0.05)

        asyncio.run(drop_inside_the_loop())

    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        use(lambda: HttpSource(server.url_for("a.bin")))
        use(lambda: FsspecSource("s3://tiffzarr-test/a.bin", storage_options=s3.storage_options))
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []
    assert "Unclosed" not in caplog.text
    assert "destroyed but it is pending" not in caplog.text
