"""Structure fuzzing: small valid TIFFs with mutated tags, counts, offsets, types and IFD links.

Every outcome of opening a mutated file and reading its chunks through zarr must be
a :class:`~tiffzarr.errors.TiffZarrError` or data, within 200 MB (the tracemalloc
peak; a run over 1 s is reported in the tallies, not asserted). Unmutated files,
and files whose only change is text no reader interprets (the Software tag), read
exactly as tifffile reads them. Cases run in a worker process, so that a hang or a
crash is reported too. Hypothesis draws the mutations with a fixed seed
(``derandomize``), so ``make test`` runs the same cases every time, after the cases
in :data:`FOUND`; ``TIFFZARR_FUZZ_EXAMPLES`` runs more and ``TIFFZARR_FUZZ_SEED``
others (``benchmarks/fuzz_atheris.py`` fuzzes bytes with atheris). Failures are
collected over the whole run and reported together, one case per kind of failure,
reduced to the mutations it needs: ``Case(...).build()`` gives the file's bytes.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import struct
import tempfile
import time
import traceback
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr
from hypothesis import HealthCheck, example, given, seed, settings
from hypothesis import strategies as st

import tiffzarr
from tests.conftest import TALLIES
from tiffzarr.errors import TiffZarrError

EXAMPLES = int(os.environ.get("TIFFZARR_FUZZ_EXAMPLES", "200"))
SEED = os.environ.get("TIFFZARR_FUZZ_SEED")
"""Another fixed sequence of cases (the default is hypothesis' ``derandomize`` one)."""
MEMORY = 200 * 2**20
"""Extra memory one case may take (tracemalloc peak of the open and the reads)."""
SLOW = 1.0
"""Seconds after which a case is reported as slow."""
HANG = 10.0
"""Seconds after which a case is taken for a hang (its worker process is replaced)."""
MAX_CHUNKS = 256
"""Chunks read per array (a mutated size may claim millions)."""
LIMITS = {"max_chunk_bytes": 32 * 2**20, "metadata_cache_files": 0}
"""A decoded chunk may not take more than a fraction of the memory bound; every
case parses its own file."""
SOFTWARE = "tiffzarr structure fuzzer"


# -- the valid files mutated -------------------------------------------------------


def _pyramid(out: io.BytesIO, data: np.ndarray) -> None:
    with tifffile.TiffWriter(out) as tw:
        options: dict[str, Any] = {"tile": (16, 16), "compression": "zlib", "software": SOFTWARE}
        tw.write(data, subifds=1, **options)
        tw.write(data[::2, ::2], subfiletype=1, **options)


def _base(write: Callable[[io.BytesIO], None]) -> bytes:
    out = io.BytesIO()
    write(out)
    return out.getvalue()


def base_files() -> dict[str, bytes]:
    """Small valid TIFFs (seeded) covering the layouts and dialects the reader knows."""
    rng = np.random.default_rng(13)
    gray = rng.integers(0, 255, (21, 18), dtype=np.uint8)
    u16 = rng.integers(0, 2**16, (32, 40), dtype=np.uint16)
    rgb = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    stack = rng.random((3, 12, 10), dtype=np.float32)  # pages, not RGB planes
    sw = {"software": SOFTWARE}

    def imwrite(data: np.ndarray, **options: Any) -> Callable[[io.BytesIO], None]:
        return lambda out: tifffile.imwrite(out, data, **sw, **options)

    writers = {
        "strips-u8": imwrite(gray, rowsperstrip=5),
        "tiles-u16-zlib-be": imwrite(
            u16, tile=(16, 16), compression="zlib", byteorder=">", predictor=True
        ),
        "bigtiff-packbits": imwrite(u16, rowsperstrip=7, compression="packbits", bigtiff=True),
        "rgb-jpeg-strips": imwrite(rgb, rowsperstrip=16, compression="jpeg", photometric="rgb"),
        "rgb-planar-zstd": imwrite(
            rgb, tile=(16, 16), compression="zstd", planarconfig="separate", photometric="rgb"
        ),
        "shaped-f4-lzw": imwrite(stack, compression="lzw", photometric="minisblack"),
        "imagej": imwrite(stack, imagej=True, metadata={"axes": "ZYX"}),
        "ome": imwrite(stack, ome=True, metadata={"axes": "ZYX"}),
        "bilevel": imwrite(gray > 127, rowsperstrip=8),
        "pyramid": lambda out: _pyramid(out, u16),
    }
    return {name: _base(write) for name, write in writers.items()}


BASES = base_files()


# -- where a file can be mutated ---------------------------------------------------

TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8,
              13: 4, 16: 8, 17: 8, 18: 8}  # fmt: skip
INTEGER_TYPES = {3: "H", 4: "I", 13: "I", 16: "Q", 18: "Q"}
TAGS = [254, 256, 257, 258, 259, 262, 266, 273, 274, 277, 278, 279, 284, 305, 317, 320, 322,
        323, 324, 325, 330, 338, 339, 347, 530, 532, 32997, 32998, 34665, 50838, 65000]  # fmt: skip


@dataclass(frozen=True)
class Site:
    """An integer field of a file: ``size`` bytes at ``offset``."""

    kind: str
    offset: int
    size: int
    tag: int = 0


@dataclass
class Structure:
    """The mutable fields of a valid file, found by walking its IFDs."""

    byteorder: str
    sites: list[Site] = field(default_factory=list)
    entries: list[tuple[int, int]] = field(default_factory=list)  # (offset, size) of each entry
    ifds: list[int] = field(default_factory=list)
    text: list[tuple[int, int]] = field(default_factory=list)  # Software values: [start, stop)


def structure(data: bytes) -> Structure:
    """Walk a valid file's IFDs (SubIFDs too)."""
    bo = "<" if data[:2] == b"II" else ">"
    big = struct.unpack_from(bo + "H", data, 2)[0] == 43
    osize, ofmt = (8, "Q") if big else (4, "I")
    nsize, nfmt = (8, "Q") if big else (2, "H")
    esize = 20 if big else 12
    out = Structure(bo, [Site("header", 4 + 4 * big, osize)])
    todo = [struct.unpack_from(bo + ofmt, data, 4 + 4 * big)[0]]
    while todo:
        ifd = todo.pop(0)
        if ifd == 0 or ifd in out.ifds:
            continue
        out.ifds.append(ifd)
        (count,) = struct.unpack_from(bo + nfmt, data, ifd)
        out.sites.append(Site("ifd count", ifd, nsize))
        for k in range(count):
            todo += _entry(data, out, ifd + nsize + k * esize, big)
        out.sites.append(Site("next ifd", ifd + nsize + count * esize, osize))
        todo += struct.unpack_from(bo + ofmt, data, ifd + nsize + count * esize)
    return out


def _entry(data: bytes, out: Structure, at: int, big: bool) -> list[int]:
    """Record one IFD entry's fields; return the IFDs it points to (SubIFDs)."""
    bo = out.byteorder
    osize, ofmt = (8, "Q") if big else (4, "I")
    code, kind = struct.unpack_from(bo + "HH", data, at)
    (count,) = struct.unpack_from(bo + ofmt, data, at + 4)
    out.entries.append((at, 4 + 2 * osize))
    for name, offset, size in (("code", 0, 2), ("type", 2, 2), ("count", 4, osize),
                               ("value", 4 + osize, osize)):  # fmt: skip
        out.sites.append(Site(f"entry {name}", at + offset, size, code))
    itemsize = TYPE_SIZES.get(kind, 1)
    value = at + 4 + osize
    if count * itemsize > osize:
        (value,) = struct.unpack_from(bo + ofmt, data, value)
    if code == 305:
        out.text.append((value, value + count - 1))
    if kind not in INTEGER_TYPES:
        return []
    out.sites += [Site("item", value + i * itemsize, itemsize, code) for i in range(min(count, 64))]
    if code != 330:
        return []
    return list(struct.unpack_from(f"{bo}{count}{INTEGER_TYPES[kind]}", data, value))


STRUCTURES = {name: structure(data) for name, data in BASES.items()}


# -- mutations ---------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A base file, the mutations applied to it in order, and how the store serves it."""

    base: str
    mutations: tuple[tuple[Any, ...], ...]
    zarr_format: int

    def build(self) -> bytes:
        data = bytearray(BASES[self.base])
        for mutation in self.mutations:
            data = _apply(data, STRUCTURES[self.base], mutation)
        return bytes(data)


def _apply(data: bytearray, where: Structure, mutation: tuple[Any, ...]) -> bytearray:
    """``data`` mutated (a mutation past the end of a truncated file does nothing)."""
    kind = mutation[0]
    if kind == "set":
        _, site, value = mutation
        if site.offset + site.size > len(data):
            return data
        fmt = where.byteorder + {1: "B", 2: "H", 4: "I", 8: "Q"}[site.size]
        struct.pack_into(fmt, data, site.offset, value % 2 ** (8 * site.size))
    elif kind == "byte":
        _, offset, value = mutation
        if offset < len(data):
            data[offset] = value
    elif kind == "truncate":
        del data[mutation[1] :]
    elif kind == "copy entry":
        (_, (src, size), (dst, _)) = mutation
        if max(src, dst) + size <= len(data):
            data[dst : dst + size] = data[src : src + size]
    elif kind == "text":
        _, (start, stop), text = mutation
        if stop <= len(data):
            data[start:stop] = text[: stop - start].ljust(stop - start, b"x")
    return data


def _values(site: Site, data: bytes, where: Structure) -> st.SearchStrategy[int]:
    if site.kind == "entry type":
        return st.sampled_from([*range(20), 0xFFFF])
    if site.kind == "entry code":
        return st.sampled_from(TAGS) | st.integers(0, 0xFFFF)
    fmt = where.byteorder + {1: "B", 2: "H", 4: "I", 8: "Q"}[site.size]
    (old,) = struct.unpack_from(fmt, data, site.offset)
    n = len(data)
    special = [0, 1, 2, 3, 7, 8, 16, 255, 256, 0x7FFF, 0xFFFF, 2**16, 2**31 - 1, 2**32 - 1,
               2**63, n - 1, n, n + 1, old - 1, old + 1, old * 2, old // 2, old + 2**16,
               *where.ifds]  # fmt: skip
    return st.sampled_from(special) | st.integers(0, 2 ** (8 * site.size) - 1)


@st.composite
def mutation(draw: st.DrawFn, base: str) -> tuple[Any, ...]:
    data, where = BASES[base], STRUCTURES[base]
    kind = draw(st.sampled_from(["set"] * 6 + ["byte", "truncate", "copy entry", "text"]))
    if kind == "set":
        site = draw(st.sampled_from(where.sites))
        return ("set", site, draw(_values(site, data, where)))
    if kind == "byte":
        return ("byte", draw(st.integers(0, len(data) - 1)), draw(st.integers(0, 255)))
    if kind == "truncate":
        return ("truncate", draw(st.integers(0, len(data) - 1)))
    if kind == "copy entry":
        return ("copy entry", draw(st.sampled_from(where.entries)),
                draw(st.sampled_from(where.entries)))  # fmt: skip
    return ("text", draw(st.sampled_from(where.text)), draw(st.binary(min_size=1, max_size=40)))


@st.composite
def cases(draw: st.DrawFn) -> Case:
    base = draw(st.sampled_from(sorted(BASES)))
    mutations = draw(st.lists(mutation(base), min_size=1, max_size=3))
    return Case(base, tuple(mutations), draw(st.sampled_from([3, 3, 2])))


def benign(case: Case, data: bytes) -> bool:
    """Whether the mutated file differs from its base only in Software text (or not at all)."""
    base = BASES[case.base]
    if len(data) != len(base):
        return False
    changed = np.flatnonzero(np.frombuffer(data, np.uint8) != np.frombuffer(base, np.uint8))
    spans = STRUCTURES[case.base].text
    return all(any(a <= i < b for a, b in spans) for i in changed)


# -- reading a file as a user would ------------------------------------------------


def read_all(path: str, *, zarr_format: int = 3) -> dict[str, np.ndarray]:
    """Open ``path``, read up to :data:`MAX_CHUNKS` present chunks of every array of its
    hierarchy; return each series level small enough to read whole, as tifffile shapes it."""
    index = tiffzarr.open_tiff(path)
    store = tiffzarr.open_store(index, zarr_format=zarr_format)
    root = zarr.open_group(store, mode="r", zarr_format=zarr_format)
    for _, node in root.members(max_depth=None):
        if isinstance(node, zarr.Array):
            for key in zarr.core.sync.sync(_chunk_keys(store, node)):
                node.get_block_selection(key)
    out = {}
    for i, series in enumerate(index.series):
        for j in range(len(series.levels)):
            level = tiffzarr.open_store(index, series=i, level=j, zarr_format=zarr_format)
            array = zarr.open_array(level, mode="r", zarr_format=zarr_format)
            if array.nbytes <= LIMITS["max_chunk_bytes"]:
                out[f"{i}/{j}"] = array[...]
    return out


async def _chunk_keys(store: tiffzarr.TiffStore, array: Any) -> list[tuple[int, ...]]:
    prefix = f"{array.path}/" if array.path else ""
    separator = "/" if array.metadata.zarr_format == 3 else "."
    start = prefix + ("c/" if array.metadata.zarr_format == 3 else "")
    keys: list[tuple[int, ...]] = []
    async for key in store.list_prefix(start):
        rest = key[len(start) :]
        if rest and rest[0].isdigit() and "/" not in rest.replace(separator, ""):
            keys.append(tuple(int(c) for c in rest.split(separator)))
            if len(keys) >= MAX_CHUNKS:
                break
    return keys


def tifffile_arrays(data: bytes) -> dict[str, np.ndarray]:
    """Every series level as tifffile reads it, under the store's names (``series/level``)."""
    with tifffile.TiffFile(io.BytesIO(data)) as tf:
        return {
            f"{i}/{j}": level.asarray()
            for i, series in enumerate(tf.series)
            for j, level in enumerate(series.levels)
        }


@dataclass
class Outcome:
    result: str  # "data", "error" or "failure"
    seconds: float
    peak: int
    arrays: dict[str, np.ndarray]
    error: BaseException | None = None


def run(data: bytes, folder: Path, *, zarr_format: int = 3) -> Outcome:
    """Write ``data`` to a file of its own, read it; classify what happened."""
    path = folder / f"case-{time.monotonic_ns()}.tif"
    path.write_bytes(data)
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    start = time.perf_counter()
    arrays: dict[str, np.ndarray] = {}
    error: BaseException | None = None
    try:
        with warnings.catch_warnings(), tiffzarr.set_config(**LIMITS):
            warnings.simplefilter("ignore")
            arrays = read_all(str(path), zarr_format=zarr_format)
    except Exception as exc:  # classified below: anything but a TiffZarrError is a finding
        error = exc
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] - before
    path.unlink()
    result = "data" if error is None else "error" if isinstance(error, TiffZarrError) else "failure"
    if peak > MEMORY:
        result = "failure"
    return Outcome(result, seconds, peak, arrays, error)


def same(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray]) -> str | None:
    """Why two sets of arrays differ (``None``: they do not)."""
    for name, want in theirs.items():
        got = ours.get(name)
        if got is None:
            return f"array {name} missing: have {sorted(ours)}"
        if got.shape != want.shape or not np.array_equal(got, want, equal_nan=True):
            return f"array {name} differs: {got.shape} {got.dtype} vs {want.shape} {want.dtype}"
    return None


# -- the tests -----------------------------------------------------------------------


@pytest.fixture
def traced() -> Any:
    tracemalloc.start()
    yield
    tracemalloc.stop()


@pytest.mark.parametrize("name", sorted(BASES))
def test_unmutated_files_read_like_tifffile(name: str, tmp_path: Path, traced: None) -> None:
    outcome = run(BASES[name], tmp_path)
    assert outcome.error is None, outcome.error
    assert same(outcome.arrays, tifffile_arrays(BASES[name])) is None


def check(case: Case, folder: Path) -> Outcome:
    """Run ``case``; data from a benign mutation must be the base file's."""
    data = case.build()
    outcome = run(data, folder, zarr_format=case.zarr_format)
    if outcome.result == "data" and benign(case, data):
        why = same(outcome.arrays, tifffile_arrays(BASES[case.base]))
        if why is not None:
            outcome.result, outcome.error = "failure", AssertionError(why)
    return outcome


def signature(outcome: Outcome) -> str:
    """A failure's kind: the exception and the innermost tiffzarr line it passed."""
    error = outcome.error
    if outcome.peak > MEMORY:
        return f"over {MEMORY >> 20} MiB allocated"
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "/tiffzarr/" in f.filename]
    if not frames:
        return type(error).__name__
    last = frames[-1]
    return f"{type(error).__name__} at {last.filename.split('/tiffzarr/')[-1]}:{last.lineno}"


# -- a worker process, so that a hang or a crash is a finding, not the end of the run --


@dataclass(frozen=True)
class Verdict:
    """What a case did, as the worker reports it."""

    result: str  # "data", "error" or "failure"
    seconds: float
    kind: str = ""  # the failure's signature
    error: str = ""


def _serve(conn: Connection) -> None:
    """The worker's loop: check each case received, answer with its verdict."""
    tracemalloc.start()
    with tempfile.TemporaryDirectory(prefix="tiffzarr-fuzz-") as folder:
        for data in BASES.values():  # import and warm up every codec before timing cases
            run(data, Path(folder))
        while (case := conn.recv()) is not None:
            outcome = check(case, Path(folder))
            failed = outcome.result == "failure"
            conn.send(
                Verdict(
                    outcome.result,
                    outcome.seconds,
                    signature(outcome) if failed else "",
                    f"{outcome.error!r:.300}, {outcome.peak / 2**20:.0f} MiB" if failed else "",
                )
            )


class Worker:
    """A process checking cases one at a time; replaced when one hangs or kills it."""

    def __init__(self) -> None:
        self._start()

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        child.close()

    def check(self, case: Case) -> Verdict:
        try:
            self._conn.send(case)
            if self._conn.poll(HANG):
                verdict: Verdict = self._conn.recv()
                return verdict
            kind, error = "hang", f"no answer within {HANG:.0f} s"
        except (EOFError, OSError):  # the pipe broke: the worker is gone
            self._process.join()
            kind, error = "crash", f"the worker died (exit code {self._process.exitcode})"
        self._process.kill()
        self._process.join()
        self._start()
        return Verdict("failure", HANG, kind, error)

    def close(self) -> None:
        self._conn.send(None)
        self._process.join(HANG)
        self._process.kill()


def shrink(worker: Worker, case: Case, verdict: Verdict) -> tuple[Case, Verdict]:
    """Drop the mutations a failure does not need."""
    for i in reversed(range(len(case.mutations))):
        if len(case.mutations) > 1:
            fewer = replace(case, mutations=case.mutations[:i] + case.mutations[i + 1 :])
            again = worker.check(fewer)
            if again.kind == verdict.kind:
                case, verdict = fewer, again
    return case, verdict


def _found(*found: Case) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def decorate(test: Callable[..., None]) -> Callable[..., None]:
        for case in found:
            test = example(case=case)(test)
        return test

    return decorate


def _set(base: str, site: Site, value: int) -> Case:
    return Case(base, (("set", site, value),), 3)


FOUND = _found(
    _set("bigtiff-packbits", Site("next ifd", 304, 8), 3023),  # the file's last byte: a hang
    _set("bilevel", Site("entry count", 146, 4, 296), 2),
    _set("bigtiff-packbits", Site("entry code", 84, 2, 259), 532),
    _set("strips-u8", Site("entry code", 166, 2, 305), 338),
    _set("pyramid", Site("entry type", 192, 2, 330), 1),
    _set("imagej", Site("entry type", 84, 2, 273), 2),
)
"""Cases the fuzzer found that failed when they were found; they run first, every time."""


def test_mutated_files_raise_tiffzarr_errors_or_read() -> None:
    tally = TALLIES["fuzz: mutated files (runs)"]
    failures: dict[str, tuple[Case, Verdict]] = {}  # the first case of each kind of failure
    worker = Worker()

    @seed(int(SEED or 0))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=SEED is None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=cases())
    @FOUND
    def fuzz(case: Case) -> None:
        verdict = worker.check(case)
        tally[verdict.result] += 1
        if verdict.seconds > SLOW:
            TALLIES["fuzz: slow cases (> 1 s)"][f"{case!r}: {verdict.seconds:.1f} s"] += 1
        if verdict.result == "failure":
            failures.setdefault(verdict.kind, (case, verdict))

    try:
        fuzz()
        report = []
        for first in failures.values():
            case, verdict = shrink(worker, *first)
            report.append(f"{verdict.kind}: {verdict.error}\n    {case!r}")
    finally:
        worker.close()
    assert not failures, f"{len(failures)} kinds of failure:\n" + "\n".join(report)
