"""Checks of the public functions' arguments, made before anything is read.

An argument error names the argument, what it must be and what it was. Like
numpy's and zarr's, these are the builtins: :class:`TypeError` for a value of the
wrong type, :class:`ValueError` for a value of the right type that is not allowed
(:class:`~tiffzarr.errors.TiffZarrError` is for what a file or server does). Each
option name has one rule, in :data:`RULES`.

>>> check_arguments(series=0, level=None, zarr_format=3)
>>> check_arguments(series="0")
Traceback (most recent call last):
TypeError: series must be an int or None, not '0' (str)
>>> check_arguments(zarr_format=4)
Traceback (most recent call last):
ValueError: zarr_format must be 2 or 3, not 4 (int)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from numbers import Real
from typing import TypeGuard

from tiffzarr.io import is_file_object
from tiffzarr.model import TiffIndex

__all__ = ["RULES", "check_arguments", "check_int", "check_location", "describe"]

Rule = Callable[[str, object], None]


def describe(value: object, /) -> str:
    """A value and its type, for messages (long values shortened).

    >>> describe("0"), describe(2.0)
    ("'0' (str)", '2.0 (float)')
    """
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def check_int(
    name: str, value: object, /, *, optional: bool = False, minimum: int | None = None
) -> None:
    """Refuse anything but an int (or ``None`` when ``optional``) of at least ``minimum``.

    >>> check_int("inline_threshold", -1, minimum=0)
    Traceback (most recent call last):
    ValueError: inline_threshold must be at least 0, not -1 (int)
    """
    if optional and value is None:
        return
    if not _is_int(value):
        kind = "an int or None" if optional else "an int"
        raise TypeError(f"{name} must be {kind}, not {describe(value)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {describe(value)}")


def _optional_int(name: str, value: object) -> None:
    check_int(name, value, optional=True)


def _count(name: str, value: object) -> None:
    check_int(name, value, minimum=0)


def _positive(name: str, value: object) -> None:
    check_int(name, value, minimum=1)


def _bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {describe(value)}")


def _optional_bool(name: str, value: object) -> None:
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"{name} must be True, False or None, not {describe(value)}")


def _page(name: str, value: object) -> None:
    """A page: an int (of the main chain), a non-empty tuple of ints (a SubIFD path)."""
    if value is None or _is_int(value):
        return
    if isinstance(value, tuple) and value and all(_is_int(v) for v in value):
        return
    raise TypeError(f"{name} must be an int, a tuple of ints or None, not {describe(value)}")


def _options(name: str, value: object) -> None:
    if value is not None and not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict or None, not {describe(value)}")


def _path(name: str, value: object) -> None:
    if not isinstance(value, str | os.PathLike):
        raise TypeError(f"{name} must be a path or URL, not {describe(value)}")


def _optional_str(name: str, value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None, not {describe(value)}")


def _selection(name: str, value: object) -> None:
    """None, or a tuple or list of slices (one per dimension)."""
    if value is None:
        return
    if not isinstance(value, tuple | list) or not all(isinstance(s, slice) for s in value):
        raise TypeError(
            f"{name} must be a tuple of slices (one per dimension) or None, not {describe(value)}"
        )


def _fill_value(name: str, value: object) -> None:
    if value is not None and not isinstance(value, Real):
        raise TypeError(f"{name} must be a number or None, not {describe(value)}")


def _axis(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {describe(value)}")
    if len(value) != 1:
        raise ValueError(f"{name} must be one letter, not {describe(value)}")


def _choice(*choices: object) -> Rule:
    """A rule accepting exactly ``choices`` (``True`` is not ``1``, nor ``3.0`` ``3``)."""
    listed = " or ".join(repr(c) for c in choices)

    def rule(name: str, value: object) -> None:
        if not any(type(value) is type(c) and value == c for c in choices):
            raise ValueError(f"{name} must be {listed}, not {describe(value)}")

    return rule


RULES: dict[str, Rule] = {
    "series": _optional_int,
    "level": _optional_int,
    "page": _page,
    "zarr_format": _choice(2, 3),
    "chunkmode": _choice("segment", "page"),
    "mode": _choice("r", "r+"),
    "squeeze": _optional_bool,
    "missing": _choice("error", "fill"),
    "predict": _bool,
    "fill_value": _fill_value,
    "storage_options": _options,
    "target_options": _options,
    "remote_options": _options,
    "remote_protocol": _optional_str,
    "target": _path,
    "target_folder": _path,
    "target_url": _optional_str,
    "allow_external": _bool,
    "version": _choice(0, 1),
    "codecs": _choice("portable", "tiffzarr"),
    "format": _choice("json", "parquet"),
    "inline_threshold": _count,
    "concurrency": _positive,
    "on_error": _choice("collect", "raise"),
    "axis": _axis,
    "selection": _selection,
}
"""The rule of each option, by the name every public function gives it."""


def check_arguments(**arguments: object) -> None:
    """Check each argument by the rule of its name (see :data:`RULES`)."""
    for name, value in arguments.items():
        RULES[name](name, value)


def check_location(
    name: str,
    value: object,
    /,
    *,
    storage_options: Mapping[str, object] | None = None,
    index: bool = False,
) -> None:
    """Refuse what is not a path, URL or binary file object (or, with ``index``, a
    :class:`~tiffzarr.model.TiffIndex`), and ``storage_options`` for a file object.

    >>> check_location("url", 3)
    Traceback (most recent call last):
    TypeError: url must be a path, URL or binary file object, not 3 (int)
    """
    if is_file_object(value):
        if storage_options:
            raise ValueError(f"storage_options do not apply to a file object ({name})")
        return
    if isinstance(value, str | os.PathLike):
        if not isinstance(os.fspath(value), str):
            raise TypeError(f"{name} must be a str path, not {describe(value)}")
        return
    if index and isinstance(value, TiffIndex):
        return
    kinds = (
        "a path, URL, binary file object or TiffIndex"
        if index
        else "a path, URL or binary file object"
    )
    raise TypeError(f"{name} must be {kinds}, not {describe(value)}")
