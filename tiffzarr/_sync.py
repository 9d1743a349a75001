"""Run tiffzarr coroutines from blocking code on one background event loop."""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def _get_loop() -> asyncio.AbstractEventLoop:
    global _loop, _thread
    with _lock:
        if _loop is None or _loop.is_closed() or _thread is None or not _thread.is_alive():
            _loop = asyncio.new_event_loop()
            _thread = threading.Thread(target=_loop.run_forever, name="tiffzarr-io", daemon=True)
            _thread.start()
        return _loop


def run_sync(coro: Coroutine[Any, Any, T], /) -> T:
    """Run ``coro`` on tiffzarr's I/O loop thread and return its result.

    Safe to call from any thread that is not the I/O loop itself, including
    threads that run an event loop of their own (Jupyter).

    >>> async def add(a, b):
    ...     return a + b
    >>> run_sync(add(1, 2))
    3
    """
    loop = _get_loop()
    if threading.current_thread() is _thread:
        coro.close()
        raise RuntimeError("run_sync called from tiffzarr's own I/O loop; await instead")
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


@atexit.register
def _shutdown() -> None:
    loop = _loop
    if loop is not None and not loop.is_closed():
        loop.call_soon_threadsafe(loop.stop)
