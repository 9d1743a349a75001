"""Run tiffzarr coroutines from blocking code on zarr's own event loop.

zarr's blocking API runs every store call on one background loop. tiffzarr's
blocking functions use that same loop, so a store opened with
:func:`tiffzarr.open_store` and then read through ``zarr.open`` keeps its HTTP
session and connections (one TCP and TLS handshake, not two), and a process
starts one background thread rather than two. Sessions are closed at exit by
the byte sources' own exit hook.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

from zarr.core.sync import SyncError, sync

__all__ = ["run_sync"]

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T], /) -> T:
    """Run ``coro`` on zarr's I/O loop thread and return its result.

    Safe to call from any thread that is not that loop's own, including
    threads that run an event loop of their own (Jupyter).

    >>> async def add(a, b):
    ...     return a + b
    >>> run_sync(add(1, 2))
    3
    """
    try:
        return sync(coro)
    except SyncError as exc:
        coro.close()
        raise RuntimeError("run_sync called from zarr's I/O loop; await instead") from exc
