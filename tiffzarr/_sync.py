"""Run tiffzarr coroutines from blocking code on one background event loop.

The loop runs in a daemon thread for the life of the process; sessions opened on
it are closed at exit by the byte sources' own exit hook.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")


class _IoLoop:
    """The one background loop and its thread, started on first use."""

    lock = threading.Lock()
    loop: asyncio.AbstractEventLoop | None = None
    thread: threading.Thread | None = None

    @classmethod
    def get(cls) -> asyncio.AbstractEventLoop:
        with cls.lock:
            if cls.loop is None or cls.thread is None or not cls.thread.is_alive():
                cls.loop = asyncio.new_event_loop()
                cls.thread = threading.Thread(
                    target=cls.loop.run_forever, name="tiffzarr-io", daemon=True
                )
                cls.thread.start()
            return cls.loop


def run_sync(coro: Coroutine[Any, Any, T], /) -> T:
    """Run ``coro`` on tiffzarr's I/O loop thread and return its result.

    Safe to call from any thread that is not the I/O loop itself, including
    threads that run an event loop of their own (Jupyter).

    >>> async def add(a, b):
    ...     return a + b
    >>> run_sync(add(1, 2))
    3
    """
    loop = _IoLoop.get()
    if threading.current_thread() is _IoLoop.thread:
        coro.close()
        raise RuntimeError("run_sync called from tiffzarr's own I/O loop; await instead")
    return asyncio.run_coroutine_threadsafe(coro, loop).result()
