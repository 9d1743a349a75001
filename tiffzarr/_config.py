"""Process-wide limits, from environment variables or :func:`set_config`.

>>> with set_config(max_chunk_bytes=2**20):
...     config.max_chunk_bytes
1048576
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["Config", "config", "set_config", "tune_zarr", "usable_cpus"]


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(slots=True)
class Config:
    """Limits that protect memory from hostile or mistaken inputs.

    ``max_chunk_bytes``: largest decoded chunk (one strip or tile) any codec
    will produce; larger ones raise :class:`~tiffzarr.errors.LimitError` before
    allocating (``TIFFZARR_MAX_CHUNK_BYTES``). ``max_read_bytes``: largest array
    :func:`tiffzarr.imread` loads at once (``TIFFZARR_MAX_READ_BYTES``; default
    half the physical memory). ``zarr_concurrency``: the chunk reads zarr keeps in
    flight (its ``async.concurrency``), set when tiffzarr is imported unless the
    user chose a value (``TIFFZARR_ZARR_CONCURRENCY``; 0 leaves zarr's alone).
    ``metadata_cache_files``: parsed files kept for later opens of the same URL
    (``TIFFZARR_METADATA_CACHE_FILES``; 0 turns the cache off);
    ``metadata_cache_seconds``: how long a remote file's cached structure is
    trusted (``TIFFZARR_METADATA_CACHE_SECONDS``; local files are checked with
    ``os.stat`` instead). See :mod:`tiffzarr.reader._recent`.
    ``codec_threads``: threads that decode and encode chunks of zarr v3 arrays
    (``TIFFZARR_CODEC_THREADS``; 0: one per usable CPU). See
    :mod:`tiffzarr.codecs._threads`.
    ``max_references``: most entries a JSON reference set may hold, checked before
    it is parsed (``TIFFZARR_MAX_REFERENCES``; each entry costs about 300 bytes
    while parsing; parquet reference sets load lazily and have no such cap).
    ``max_ifds``: most IFDs read from one file (``TIFFZARR_MAX_IFDS``; a run of
    pages laid out alike costs some tens of bytes per page, other pages a few
    kilobytes each; see :mod:`tiffzarr.model._pages`).
    """

    max_chunk_bytes: int = 128 * 2**20
    max_read_bytes: int = dataclasses.field(default_factory=lambda: _physical_memory() // 2)
    zarr_concurrency: int = 64
    metadata_cache_files: int = 32
    metadata_cache_seconds: int = 300
    codec_threads: int = 0
    max_references: int = 2**22
    max_ifds: int = 2**20

    @classmethod
    def from_env(cls) -> Config:
        out = cls()
        for field in dataclasses.fields(cls):
            value = os.environ.get(f"TIFFZARR_{field.name.upper()}")
            if value is not None:
                setattr(out, field.name, int(value))
        return out


config = Config.from_env()


@contextmanager
def set_config(**changes: int) -> Iterator[Config]:
    """Change limits for the duration of a ``with`` block."""
    saved = {name: getattr(config, name) for name in changes}
    for name, value in changes.items():
        if name not in saved or not hasattr(config, name):
            raise AttributeError(name)
        setattr(config, name, value)
    try:
        yield config
    finally:
        for name, value in saved.items():
            setattr(config, name, value)


ZARR_DEFAULT_CONCURRENCY = 10


def tune_zarr() -> None:
    """Raise zarr's chunk-read concurrency for remote stores, unless the user set it.

    zarr keeps 10 chunk reads in flight by default: over a network each round
    costs a full round trip. tiffzarr merges neighbouring reads, so more reads in
    flight mean fewer round trips *and* fewer requests. An explicit
    ``ZARR_ASYNC__CONCURRENCY`` or a value other than zarr's default is kept.
    """
    import zarr

    if not config.zarr_concurrency or "ZARR_ASYNC__CONCURRENCY" in os.environ:
        return
    if zarr.config.get("async.concurrency") == ZARR_DEFAULT_CONCURRENCY:
        zarr.config.set({"async.concurrency": config.zarr_concurrency})
