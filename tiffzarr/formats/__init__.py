"""Series interpreters: each module turns the parsed pages of a file into series.

An interpreter is a module with ``detect(index) -> bool`` and
``series(index) -> tuple[Series, ...]``. :func:`interpret` asks them in order
and falls back to the generic interpreter when a specific one finds nothing.
"""

from __future__ import annotations

from types import ModuleType

from tiffzarr.formats import _generic
from tiffzarr.model import Series, TiffIndex

__all__ = ["INTERPRETERS", "interpret"]

INTERPRETERS: tuple[tuple[str, ModuleType], ...] = (("generic", _generic),)
"""``(name, module)`` in the order they are tried; generic comes last."""


def interpret(index: TiffIndex, /) -> tuple[Series, ...]:
    """The series of a parsed file, from the first interpreter that finds any."""
    for _, module in INTERPRETERS:
        if module.detect(index):
            found: tuple[Series, ...] = module.series(index)
            if found:
                return found
    return ()
