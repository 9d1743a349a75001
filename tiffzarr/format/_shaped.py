"""tifffile's *shaped* series: a JSON image description that gives the array's shape.

tifffile writes ``{"shape": [...], "axes": ..., "name": ..., "truncated": ...}``
(plus any user metadata) into the first page of each series it writes; older
versions wrote ``shape=(...)``. The pages of the series hold the array in C
order; a *truncated* series stores only the first page's IFD and all the
images contiguously after its pixels.

>>> shaped_description_items('{"shape": [2, 64, 64], "axes": "ZYX", "name": "a"}')
{'shape': (2, 64, 64), 'axes': 'ZYX', 'name': 'a'}
>>> shaped_description_items("shape=(2,3,10,10)")
{'shape': (2, 3, 10, 10)}
>>> fits_pages((64, 64), (2, 1, 64, 64)), reshape_axes("QYX", (2, 64, 64), (2, 1, 64, 64))
(True, 'QQYX')
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

__all__ = [
    "MAX_DIMENSIONS",
    "fits_pages",
    "is_shaped_description",
    "reshape_axes",
    "shaped_description_items",
]

MAX_DIMENSIONS = 32
"""Most dimensions a shaped description may give (numpy's limit is 64)."""
_OLD_MARK = "shape="


def is_shaped_description(text: object, /) -> bool:
    """Whether ``text`` (an ImageDescription value) is a shaped description
    (MIBI descriptions, JSON with ``"shape"`` too, are not)."""
    if not isinstance(text, str) or not text or '"mibi.' in text:
        return False
    return (text[:1] == "{" and '"shape":' in text) or text.startswith(_OLD_MARK)


def _dimension(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"shaped description dimension {value!r} is not a length")
    return value


def shaped_description_items(text: str, /) -> dict[str, Any]:
    """The items of a shaped description, with ``shape`` as a tuple of ints.

    Raises :class:`ValueError` when ``text`` is not a shaped description or its
    shape is not a list of at most :data:`MAX_DIMENSIONS` non-negative ints.
    """
    items: Any
    if text.startswith(_OLD_MARK):
        inner = text[len(_OLD_MARK) :].strip().removeprefix("(").removesuffix(")")
        try:
            items = {"shape": [int(n) for n in inner.split(",") if n.strip()]}
        except ValueError as exc:
            raise ValueError(f"invalid shaped description {text[:64]!r}") from exc
    else:
        try:
            items = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"invalid shaped description {text[:64]!r}") from exc
    if not isinstance(items, dict) or not isinstance(items.get("shape"), list | tuple):
        raise ValueError(f"shaped description without a shape: {text[:64]!r}")
    shape = tuple(_dimension(n) for n in items["shape"])
    if len(shape) > MAX_DIMENSIONS:
        raise ValueError(f"shaped description of {len(shape)} dimensions")
    return {**items, "shape": shape}


def fits_pages(page: Sequence[int], shape: Sequence[int], /) -> bool:
    """Whether pages of shape ``page`` tile an array of ``shape`` exactly: its size
    is a multiple of a page's, and its trailing dimensions hold one page
    (dimensions of length 1 aside, or whole groups of dimensions).

    >>> fits_pages((3, 64, 64), (2, 3, 64, 64)), fits_pages((64, 64), (64, 32, 2))
    (True, False)
    """
    size, total = math.prod(page), math.prod(shape)
    if size == 0 or total == 0:
        return size == total
    if total % size:
        return False
    rest = list(reversed(shape))
    k = 0
    held = stored = 1
    for n in reversed(page):
        held *= n
        while k < len(rest):
            m = rest[k]
            k += 1
            stored *= m
            if m == n or held == stored:
                break
            if m != 1 and stored != held:
                return False
    return True


def reshape_axes(axes: str, shape: Sequence[int], newshape: Sequence[int], /) -> str:
    """The axes of ``newshape`` when an array of ``shape`` (with ``axes``) is reshaped
    to it: dimensions kept from the right keep their letters, others are ``Q``.

    Raises :class:`ValueError` when the sizes differ.

    >>> reshape_axes("YXS", (219, 301, 1), (219, 301))
    'YX'
    >>> reshape_axes("IYX", (12, 8, 9), (3, 4, 8, 1, 9, 1))
    'QQYQXQ'
    """
    old, new = tuple(shape), list(newshape)
    if len(axes) != len(old):
        raise ValueError(f"axes {axes!r} do not name the dimensions of {old}")
    if math.prod(old) != math.prod(new):
        raise ValueError(f"cannot reshape {old} to {tuple(new)}")
    pad = max(0, len(old) - len(new))
    new += [1] * pad
    i = len(old) - 1
    held = done = 1
    letters = []
    for n in reversed(new):
        held *= n
        while i > 0 and old[i] == 1 and n != 1:
            i -= 1
        if i >= 0 and n == old[i] and held == done * old[i]:
            done *= old[i]
            letters.append(axes[i])
            i -= 1
        else:
            letters.append("Q")
    return "".join(reversed(letters[pad:]))
