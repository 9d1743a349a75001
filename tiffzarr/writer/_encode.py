"""Encode segments in worker threads, in a bounded window, delivering results in order.

imagecodecs releases the GIL while it compresses, so threads encode tiles in
parallel. At most ``window`` segments (and about ``window_bytes`` of raw
samples) are in flight; when the window is full, the oldest result is handed to
its callback before more work is taken. Callbacks run in the submitting thread,
in submission order, so the file is written sequentially.

>>> out = []
>>> with Encoder(maxworkers=2) as encoder:
...     for i in range(5):
...         encoder.submit(lambda i=i: bytes([i]), out.append, nbytes=1)
>>> out
[b'\\x00', b'\\x01', b'\\x02', b'\\x03', b'\\x04']
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

from tiffzarr._config import usable_cpus

__all__ = ["Encoder", "default_workers"]

Job = Callable[[], bytes | None]
Done = Callable[[bytes | None], None]


def default_workers() -> int:
    """Threads used when ``maxworkers`` is ``None`` or 0: the usable CPUs, at most 8."""
    return min(usable_cpus(), 8)


class Encoder:
    """A bounded, ordered pool of encoding jobs.

    With ``maxworkers=1`` jobs run at once in the calling thread.
    """

    def __init__(
        self,
        *,
        maxworkers: int | None = None,
        window: int | None = None,
        window_bytes: int = 256 * 2**20,
    ) -> None:
        workers = default_workers() if not maxworkers else int(maxworkers)
        self._pool = ThreadPoolExecutor(workers, "tiffzarr-encode") if workers > 1 else None
        self._window = window if window is not None else 4 * workers
        self._window_bytes = window_bytes
        self._pending: deque[tuple[Future[bytes | None], Done, int]] = deque()
        self._bytes = 0

    def submit(self, job: Job, done: Done, /, *, nbytes: int) -> None:
        """Run ``job`` and pass its result to ``done``; ``nbytes`` is its raw input size."""
        if self._pool is None:
            done(job())
            return
        self._pending.append((self._pool.submit(job), done, nbytes))
        self._bytes += nbytes
        while len(self._pending) > self._window or (
            self._bytes > self._window_bytes and len(self._pending) > 1
        ):
            self._deliver()

    def _deliver(self) -> None:
        future, done, nbytes = self._pending.popleft()
        self._bytes -= nbytes
        done(future.result())

    def flush(self) -> None:
        """Deliver every pending result."""
        while self._pending:
            self._deliver()

    def close(self) -> None:
        """Cancel what has not started and stop the threads."""
        for future, _, _ in self._pending:
            future.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Encoder:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if kind is None:
                self.flush()
        finally:
            self.close()
