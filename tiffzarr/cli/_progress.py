"""Progress bars on stderr (tqdm, the ``cli`` extra): shown only on a terminal, never with
``--quiet``, and silently absent when tqdm is not installed.

>>> with progress(10, desc="copy", quiet=True) as bar:
...     bar.update(4)
>>> bar.shown
False
"""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import Any

__all__ = ["Progress", "progress"]


class Progress:
    """A bar counting ``total`` units, or nothing when ``bar`` is ``None``; ``update``
    may be called from any thread."""

    def __init__(self, bar: Any | None, /) -> None:
        self._bar = bar
        self._lock = threading.Lock()

    @property
    def shown(self) -> bool:
        return self._bar is not None

    def update(self, n: int, /) -> None:
        if self._bar is not None:
            with self._lock:
                self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def progress(total: int, /, *, desc: str, quiet: bool, unit: str = "B") -> Progress:
    """A bar of ``total`` units (``"B"``: bytes, scaled) when stderr is a terminal, tqdm is
    installed and ``quiet`` is false; else a :class:`Progress` that shows nothing."""
    if quiet or not sys.stderr.isatty():
        return Progress(None)
    try:
        from tqdm import tqdm
    except ImportError:
        return Progress(None)
    scaled = unit == "B"
    bar = tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=scaled,
        unit_divisor=1024 if scaled else 1000,
        file=sys.stderr,
        leave=True,
        dynamic_ncols=True,
    )
    return Progress(bar)
