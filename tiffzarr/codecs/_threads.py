"""The threads that decode (and encode) chunks for zarr: as many as the CPUs this process may use.

zarr runs a v3 codec's work with ``asyncio.to_thread``, in its loop's default
executor: ``min(32, CPUs + 4)`` threads unless ``threading.max_workers`` is set.
Decoding is CPU-bound, so more threads than CPUs only contend: each decode takes
longer, every thread keeps its own malloc arena of fresh decode buffers (page
faults), and zarr's loop thread, which copies each decoded chunk into the output,
waits for the GIL behind them. Measured here on 2 CPUs, an 8 x 8-tile window
took 135 ms with 2 decoding threads and 135-300 ms with zarr's 6. tiffzarr's
codec therefore decodes in a pool of its own, sized by
``tiffzarr.config.codec_threads`` (0: one thread per usable CPU). Chunks that
decode to at most :data:`INLINE_BYTES` are decoded where they are asked for,
on the event loop: the hop to a pool thread and back costs more than their
decode (1,024 NDPI restart intervals of 12 KB: 0.48 s through the pool, 0.25 s
inline; over HTTP the gets then also arrive together and merge, 446 requests
became 16).

>>> import asyncio
>>> asyncio.run(in_codec_threads(sum, [1, 2, 3]))
6
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from tiffzarr._config import config, usable_cpus

__all__ = ["INLINE_BYTES", "codec_threads", "in_codec_threads"]

T = TypeVar("T")

INLINE_BYTES = 64 * 1024
"""Largest decoded chunk that is decoded on the event loop rather than in the pool."""


class _Current:
    """The pool in use, with the process and size it was made for."""

    lock = threading.Lock()
    made: tuple[int, int, ThreadPoolExecutor] | None = None


def codec_threads() -> ThreadPoolExecutor:
    """The process's codec pool: made on first use, and again after a fork (the
    parent's threads do not exist in the child) or when the configured size changes."""
    size = config.codec_threads or usable_cpus()
    pid = os.getpid()
    with _Current.lock:
        made = _Current.made
        if made is None or made[:2] != (pid, size):
            if made is not None and made[0] == pid:
                made[2].shutdown(wait=False)  # what it was given still runs
            made = _Current.made = (pid, size, ThreadPoolExecutor(size, "tiffzarr-codec"))
        return made[2]


async def in_codec_threads(func: Callable[..., T], /, *args: Any) -> T:
    """Run ``func(*args)`` in the codec pool and await its result."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(codec_threads(), functools.partial(func, *args))
