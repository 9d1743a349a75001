"""HTTP answers to requests for several ranges, servers that ignore Range, deadlines.

A tifffile-written OME pyramid opens and reads exactly on servers of every
behaviour RFC 9110 allows for a request of several ranges (multipart parts in
order, reordered or coalesced, one part spanning them all, 200 with the whole
file) and the refusals common servers send (400, 416, 501), on the loopback
server and on real ones: aiohttp's ``web.static`` and werkzeug's ``send_file``
(both 416) and Python's ``http.server`` (which ignores Range). Request counts come
from the servers' logs and are compared with those of a server answering as asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import io
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pytest
import tifffile
import zarr
from aiohttp import web

import tiffzarr
from tiffzarr.errors import SourceError
from tiffzarr.io import HttpSource, _http
from tiffzarr.io._multipart import budget
from tiffzarr.testing import MultiRange, RangeServer, serve

TILE = 64
WINDOWS = [
    (0, np.s_[0:768:320, 640:700]),  # tile rows 0, 5, 10 of one column: 3 ranges > 1 MiB apart
    (0, np.s_[0:64, 0:512]),  # 8 neighbouring tiles: one range
    (1, np.s_[:, 300:360]),
]
MODES: list[MultiRange] = list(get_args(MultiRange))
RANDOM = np.random.default_rng(13).bytes(200_003)


def _pyramid(shape: tuple[int, int], seed: int) -> tuple[bytes, list[np.ndarray]]:
    """An OME-TIFF of random tiles with one reduced level in a SubIFD."""
    data = np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)
    levels = [data, data[::2, ::2]]
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer, ome=True) as tw:
        tw.write(levels[0], tile=(TILE, TILE), subifds=1, compression="zlib")
        tw.write(levels[1], tile=(TILE, TILE), compression="zlib", subfiletype=1)
    raw = buffer.getvalue()
    with tifffile.TiffFile(io.BytesIO(raw)) as tf:  # tifffile reads what we compare with
        assert np.array_equal(tf.series[0].levels[1].asarray(), levels[1])
    return raw, levels


@pytest.fixture(scope="module")
def pyramid() -> tuple[bytes, list[np.ndarray]]:
    """4096 x 768: a row of tiles is 256 KiB, so tiles 5 rows apart are separate reads."""
    return _pyramid((768, 4096), seed=3)


@pytest.fixture(scope="module")
def small_pyramid() -> tuple[bytes, list[np.ndarray]]:
    raw, levels = _pyramid((128, 192), seed=4)
    assert len(raw) <= _http.WHOLE_FILE_MAX
    return raw, levels


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, pyramid: Any, small_pyramid: Any) -> Path:
    folder = tmp_path_factory.mktemp("served")
    (folder / "p.ome.tif").write_bytes(pyramid[0])
    (folder / "small.ome.tif").write_bytes(small_pyramid[0])
    return folder


def read_windows(url: str, levels: list[np.ndarray]) -> None:
    """Open the pyramid afresh (its host not yet judged) and read every window exactly."""
    tiffzarr.clear_cache()
    _http._MULTIRANGE.pop(_http._host(url), None)  # ports are reused: forget earlier servers
    group = zarr.open_group(tiffzarr.open_store(url), mode="r")
    for level, window in WINDOWS:
        array = group[f"0/{level}"]
        assert isinstance(array, zarr.Array)
        assert np.array_equal(array[window], levels[level][window])


def _ranges(header: str) -> list[tuple[int, int]]:
    """``[start, stop)`` of each range of a ``Range`` header."""
    pairs = [r.split("-") for r in header.removeprefix("bytes=").split(",")]
    return [(int(a), int(b) + 1) for a, b in pairs]


def _header(ranges: list[tuple[int, int]]) -> str:
    return "bytes=" + ",".join(f"{a}-{b - 1}" for a, b in ranges)


def _kept(ranges: list[tuple[int, int]], mode: MultiRange) -> list[tuple[int, int]]:
    """The ranges a client takes from the answer: those in the parts that fit the
    byte budget (a 200: those at its start, within the budget)."""
    limit = budget(sum(b - a for a, b in ranges))
    if isinstance(mode, int):
        return []
    if mode == "whole":
        return ranges if max(b for _, b in ranges) <= limit else []
    ordered = sorted(ranges)
    pairs = [ordered[i : i + 2] for i in range(0, len(ordered), 2)]
    parts = {
        "span": [(ordered[0][0], ordered[-1][1])],
        "coalesced": [(pair[0][0], pair[-1][1]) for pair in pairs],
    }.get(mode, ranges)
    ends = np.cumsum([b - a for a, b in parts])
    fits = [part for part, end in zip(parts, ends, strict=True) if end <= limit]
    return [r for r in ranges if any(a <= r[0] and r[1] <= b for a, b in fits)]


def expected(baseline: list[str], mode: MultiRange) -> list[str]:
    """The ``Range`` headers a client must send to a server answering several ranges
    as ``mode`` says, given those it sends to one answering as asked: the ranges an
    answer lacks are asked for one by one, and once an answer was anything but all
    the ranges in a multipart or single-part 206, every range is."""
    out: list[str] = []
    several = True
    for header in baseline:
        ranges = _ranges(header)
        if len(ranges) == 1 or not several:
            out += [_header([r]) for r in ranges]
            continue
        kept = _kept(ranges, mode)
        out += [header] + [_header([r]) for r in ranges if r not in kept]
        several = len(kept) == len(ranges) and mode != "whole"
    return sorted(out)


@pytest.fixture(scope="module")
def baseline(pyramid: Any) -> list[str]:
    """The requests of the windows on a server answering several ranges as asked."""
    with serve({"p.ome.tif": pyramid[0]}) as server:
        read_windows(server.url_for("p.ome.tif"), pyramid[1])
        headers = [r.range or "" for r in server.stats.records]
    assert sum(len(_ranges(h)) > 2 for h in headers) == 1  # the column of tiles
    assert sum(len(_ranges(h)) > 1 for h in headers) == 2  # and one at open
    return headers


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_pyramid_reads_exactly_whatever_the_answer_to_several_ranges(
    pyramid: Any, baseline: list[str], mode: MultiRange
) -> None:
    with serve({"p.ome.tif": pyramid[0]}, multirange=mode) as server:
        read_windows(server.url_for("p.ome.tif"), pyramid[1])
        sent = sorted(r.range or "" for r in server.stats.records)
    assert sent == expected(baseline, mode)
    if mode in ("span", "coalesced"):  # taken at open; for the column, beyond the budget
        opened, column = (h for h in baseline if "," in h)
        assert _kept(_ranges(opened), mode) == _ranges(opened)
        assert _kept(_ranges(column), mode) == []


@pytest.fixture
def logged() -> list[tuple[str | None, int]]:
    return []


@pytest.fixture
def aiohttp_static(root: Path, logged: list[tuple[str | None, int]]) -> Iterator[str]:
    """aiohttp's ``web.static`` on a thread of its own, its requests logged."""

    async def log(request: web.Request, response: web.StreamResponse) -> None:
        logged.append((request.headers.get("Range"), response.status))

    loop = asyncio.new_event_loop()
    app = web.Application()
    app.on_response_prepare.append(log)
    app.router.add_static("/", root)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture
def werkzeug_send_file(root: Path, logged: list[tuple[str | None, int]]) -> Iterator[str]:
    """werkzeug's ``send_file(..., conditional=True)`` (as Flask serves files), logged."""
    from werkzeug.serving import make_server
    from werkzeug.utils import send_file
    from werkzeug.wrappers import Request, Response

    @Request.application
    def app(request: Request) -> Response:
        return send_file(root / request.path.lstrip("/"), request.environ, conditional=True)

    def log(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        def start(status: str, *args: Any) -> Any:
            logged.append((environ.get("HTTP_RANGE"), int(status[:3])))
            return start_response(status, *args)

        return app(environ, start)

    server = make_server("127.0.0.1", 0, log, threaded=True)
    with serving_in_thread(server):
        yield f"http://127.0.0.1:{server.server_port}"


@contextlib.contextmanager
def serving_in_thread(server: Any) -> Iterator[None]:
    """Run a ``socketserver``-style server (``serve_forever``) in a thread while open."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


@pytest.fixture
def python_http_server(root: Path, logged: list[tuple[str | None, int]]) -> Iterator[str]:
    """Python's ``http.server``: no Range support, every GET gets 200 and the file."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def send_response(self, code: int, message: str | None = None) -> None:
            logged.append((self.headers.get("Range"), code))
            super().send_response(code, message)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(Handler, directory=str(root))
    )
    with serving_in_thread(server):
        yield f"http://127.0.0.1:{server.server_address[1]}"


@pytest.mark.parametrize("kind", ["aiohttp_static", "werkzeug_send_file"])
def test_pyramid_on_servers_refusing_several_ranges(
    request: pytest.FixtureRequest,
    kind: str,
    pyramid: Any,
    baseline: list[str],
    logged: list[tuple[str | None, int]],
) -> None:
    base = request.getfixturevalue(kind)
    read_windows(f"{base}/p.ome.tif", pyramid[1])
    first = next(h for h in baseline if "," in h)
    assert (first, 416) in logged  # they refuse it, and are never asked again
    assert sorted(h or "" for h, _ in logged) == expected(baseline, 416)
    assert {status for h, status in logged if h != first} == {206}


def test_small_pyramid_on_python_http_server_costs_one_request(
    python_http_server: str, small_pyramid: Any, logged: list[tuple[str | None, int]]
) -> None:
    read_windows(f"{python_http_server}/small.ome.tif", small_pyramid[1])
    # the whole file came with the first read at open, and once more for the store's
    # own source (sources are not shared): every chunk is served from it
    assert [status for _, status in logged] == [200, 200]


def test_large_file_on_python_http_server_is_refused_unread(
    python_http_server: str, pyramid: Any, logged: list[tuple[str | None, int]]
) -> None:
    tiffzarr.clear_cache()
    tracemalloc.start()
    try:
        with pytest.raises(SourceError) as info:
            tiffzarr.open_store(f"{python_http_server}/p.ome.tif")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert "ignores Range" in message and f"({len(pyramid[0])} bytes)" in message
    assert "p.ome.tif" in message and str(_http.WHOLE_FILE_MAX) in message
    assert [status for _, status in logged] == [200]
    assert peak < len(pyramid[0]) // 2  # the 3.4 MB body was not read


def test_small_pyramid_on_server_ignoring_range(small_pyramid: Any) -> None:
    with serve({"small.ome.tif": small_pyramid[0]}, ranges=False) as server:
        read_windows(server.url_for("small.ome.tif"), small_pyramid[1])
        records = [(r.status, r.bytes) for r in server.stats.records]
    assert records == [(200, len(small_pyramid[0]))] * 2  # at open, for the store: no more


# --- one source, several ranges: exact counts per answer ---------------------------

TEN = [(i * 1000, 10) for i in range(10)]


@pytest.fixture
def random_server() -> Iterator[RangeServer]:
    with serve({"r.bin": RANDOM, "small.bin": RANDOM[:5000]}) as server:
        yield server


def _source(server: RangeServer, name: str = "r.bin", **options: Any) -> HttpSource:
    src = HttpSource(server.url_for(name), storage_options=options or None)
    _http._MULTIRANGE.pop(_http._host(src.url), None)
    return src


@pytest.mark.parametrize(
    ("mode", "first", "then"),
    [
        ("parts", 1, 1),
        ("reordered", 1, 1),
        ("coalesced", 1, 1),
        ("span", 1, 1),
        ("whole", 1, 10),  # cut from the start of the 200, then one by one
        (400, 11, 10),  # refused, one by one, and remembered
        (416, 11, 10),
        (501, 11, 10),
    ],
    ids=str,
)
async def test_several_ranges_cost_a_fixed_number_of_requests(
    random_server: RangeServer, mode: MultiRange, first: int, then: int
) -> None:
    random_server.multirange = mode
    src = _source(random_server)
    await src.read_head(100)
    for requests in (first, then):
        random_server.stats.reset()
        assert await src.read_many(TEN) == [RANDOM[o : o + n] for o, n in TEN]
        assert random_server.stats.requests == requests
    assert src.stats.requests == 1 + first + then


def _far(size: int) -> list[tuple[int, int]]:
    """Three small ranges, the last two 8 MiB after the first."""
    return [(0, 100), (size - 300, 100), (size - 150, 100)]


@pytest.mark.parametrize("mode", ["span", "coalesced", "whole"])
async def test_answers_beyond_the_budget_are_dropped_unread(mode: MultiRange) -> None:
    big = np.random.default_rng(1).bytes(8 * 2**20 + 1000)
    with serve({"big.bin": big}, multirange=mode) as server:
        src = _source(server, "big.bin")
        await src.read_head(100)
        server.stats.reset()
        tracemalloc.start()
        try:
            got = await src.read_many(_far(len(big)))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert got == [big[o : o + n] for o, n in _far(len(big))]
        records = server.stats.records
    assert [r.status for r in records] == [206 if mode != "whole" else 200] + [206] * 3
    assert sorted(r.range or "" for r in records[1:]) == sorted(
        f"bytes={o}-{o + n - 1}" for o, n in _far(len(big))
    )
    assert peak < 2**20  # not the 8 MiB the answer carried
    assert _http._MULTIRANGE[_http._host(src.url)] is False


async def test_whole_file_answer_gives_the_ranges_at_its_start_without_reading_on() -> None:
    big = np.random.default_rng(2).bytes(8 * 2**20)
    with serve({"big.bin": big}, multirange="whole") as server:
        src = _source(server, "big.bin")
        await src.read_head(100)
        server.stats.reset()
        ranges = [(1000, 100), (300_000, 100)]
        tracemalloc.start()
        try:
            assert await src.read_many(ranges) == [big[o : o + n] for o, n in ranges]
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert server.stats.requests == 1
    assert peak < 2 * 300_100 + 2**20  # the start of the body, not all 8 MiB


@pytest.mark.parametrize(
    "read",
    [
        lambda src: src.read(1000, 500),
        lambda src: src.read_many([(0, 10), (3000, 10), (4990, 10)]),
        lambda src: src.read_split(100, [200, 4000], lambda at, piece: None),
        lambda src: src.read_head(6000),
    ],
    ids=["read", "read_many", "read_split", "read_head"],
)
async def test_small_file_from_a_server_ignoring_range_is_read_once(
    random_server: RangeServer, read: Callable[[HttpSource], Any]
) -> None:
    random_server.ranges = False
    src = _source(random_server, "small.bin")
    assert await src.read_head(65536) == RANDOM[:5000]
    assert await src.size() == 5000
    await read(src)
    assert await src.read(4000, 1000) == RANDOM[4000:5000]
    assert random_server.stats.requests == 1  # every later read served from what arrived
    with pytest.raises(SourceError, match="past the end"):
        await src.read(4999, 2)


async def test_small_file_first_read_anywhere_keeps_the_whole_file(
    random_server: RangeServer,
) -> None:
    random_server.ranges = False
    src = _source(random_server, "small.bin")
    assert await src.read(3000, 10) == RANDOM[3000:3010]
    assert await src.read_many([(0, 10), (4000, 10)]) == [RANDOM[:10], RANDOM[4000:4010]]
    assert random_server.stats.requests == 1


async def test_large_file_from_a_server_ignoring_range_raises_a_clear_error(
    random_server: RangeServer,
) -> None:
    random_server.ranges = False
    src = _source(random_server)
    with pytest.raises(SourceError) as info:
        await src.read(1000, 10)
    message = str(info.value)
    assert "ignores Range" in message and f"({len(RANDOM)} bytes)" in message
    assert src.url in message and "bytes=1000-1009" in message


async def test_deadline_error_says_how_far_a_slow_answer_got(random_server: RangeServer) -> None:
    src = _source(random_server, retries=0, deadline=0.5, read_timeout=30)
    random_server.faults.add("drip", keep=100, delay=0.2)
    with pytest.raises(SourceError) as info:
        await src.read(1000, 5000)
    message = str(info.value)
    assert "deadline of 0.5 s exceeded after " in message
    assert " bytes of 5000 (HTTP 206)" in message
    assert src.url in message and "offset 1000" in message and "bytes=1000-5999" in message


async def test_deadline_error_before_any_answer(random_server: RangeServer) -> None:
    src = _source(random_server, retries=0, deadline=0.3, read_timeout=30)
    random_server.faults.add("slow", delay=2.0)
    with pytest.raises(SourceError, match=r"deadline of 0\.3 s exceeded before an answer arrived"):
        await src.read(1000, 10)
