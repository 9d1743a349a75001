"""Axes from file names: where each file of a sequence sits in an N-D grid.

A sequence's files name their place: ``img_t001_c2.tif`` is time point 1 of
channel 2. A regular expression finds the indices in each name (relative to the
files' common folder, ``/`` between folders), as tifffile's ``parse_filenames``
does:

- a group with a name (``(?P<t>\\d+)``) is an index along the axis of that name;
- a group without one whose match starts with a letter (``(c)``) is the label of
  the index after it; an index with no label is along ``Q``;
- ``categories`` turn matches into indices (``{"c": {"DAPI": 0, "GFP": 1}}``);
- ``"axes"`` (:data:`FILE_PATTERNS`) is the convention of label and number pairs
  (``_t001_c2_z03``, Olympus OIF and Leica series) for the labels in
  :data:`FILENAME_LABELS`.

Each axis starts at the smallest index found along it; the grid's shape is the
largest minus the smallest plus one. Axis letters follow tifffile's codes
(``time`` ``T``, ``ch`` ``C``, otherwise the label's first letter). Nothing here
reads files.

>>> grid = parse_filenames(["run/img_t1_c2.tif", "run/img_t2_c1.tif"], pattern="axes")
>>> grid.axes, grid.shape, grid.indices, grid.missing
('TC', (2, 2), ((0, 1), (1, 0)), 2)
>>> sorted(["f10.tif", "f2.tif", "f1.tif"], key=natural_key)
['f1.tif', 'f2.tif', 'f10.tif']
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tiffzarr.errors import SequenceError
from tiffzarr.format._axes import axis_letter

__all__ = [
    "FILENAME_LABELS",
    "FILE_PATTERNS",
    "MAX_GRID_CELLS",
    "FileGrid",
    "natural_key",
    "parse_filenames",
    "stacked_files",
]

FILENAME_LABELS = ("q", "l", "p", "a", "c", "t", "x", "y", "z", "ch", "tp")
"""Labels of the ``"axes"`` convention (any case), each followed by 1 to 4 digits."""
_PAIRS = 7
"""Label and number pairs the ``"axes"`` convention finds in one name."""


def _axes_pattern() -> str:
    pair = rf"_?({'|'.join(FILENAME_LABELS)})(\d{{1,4}})"
    return "(?i)" + pair + f"(?:{pair})?" * (_PAIRS - 1)


FILE_PATTERNS: dict[str, str] = {"axes": _axes_pattern()}
"""Patterns known by name (``pattern="axes"``)."""

MAX_GRID_CELLS = 1 << 24
"""Most cells a grid of files may have (most may be empty, but each costs memory)."""

Categories = Mapping[str, Mapping[str, int]]
"""``{label: {match: index}}``: indices of matches that are not numbers."""

_NUMBERS = re.compile(r"(\d+)")


def natural_key(text: str, /) -> list[str | int]:
    """Sort key that orders the numbers in names by value (``img2`` before ``img10``).

    >>> natural_key("img_t10_c2.tif")
    ['img_t', 10, '_c', 2, '.tif']
    """
    parts: list[str | int] = []
    for i, part in enumerate(_NUMBERS.split(text)):
        parts.append(int(part) if i % 2 else part)
    return parts


@dataclass(frozen=True, slots=True)
class FileGrid:
    """Where the files of a sequence sit: ``indices[i]`` is file ``i``'s cell.

    ``labels`` are the axes as the names spell them, ``axes`` their letters,
    ``start`` the index in the names of each axis' first cell.
    """

    labels: tuple[str, ...]
    axes: str
    shape: tuple[int, ...]
    indices: tuple[tuple[int, ...], ...]
    start: tuple[int, ...]

    @property
    def missing(self) -> int:
        """Cells without a file."""
        return math.prod(self.shape) - len(self.indices)

    def cells(self) -> list[int | None]:
        """The file of each cell, in C order (``None``: no file)."""
        cells: list[int | None] = [None] * math.prod(self.shape)
        strides = [math.prod(self.shape[d + 1 :]) for d in range(len(self.shape))]
        for i, index in enumerate(self.indices):
            cells[sum(n * s for n, s in zip(index, strides, strict=True))] = i
        return cells

    def first_missing(self) -> tuple[int, ...] | None:
        """The first cell without a file, in C order.

        >>> stacked_files(3).first_missing() is None
        True
        """
        for flat, i in enumerate(self.cells()):
            if i is None:
                return tuple(
                    flat // math.prod(self.shape[d + 1 :]) % n for d, n in enumerate(self.shape)
                )
        return None

    def describe(self, cell: tuple[int, ...], /) -> str:
        """A cell as the names number it.

        >>> parse_filenames(["t3_c1.tif"], pattern="axes").describe((0, 0))
        't=3, c=1'
        """
        return ", ".join(
            f"{a}={n + s}" for a, n, s in zip(self.labels, cell, self.start, strict=True)
        )


def stacked_files(count: int, /, *, axis: str = "I") -> FileGrid:
    """``count`` files one after another along ``axis`` (a sequence without a pattern)."""
    return FileGrid((axis,), axis, (count,), tuple((i,) for i in range(count)), (0,))


def parse_filenames(
    files: Sequence[str],
    /,
    *,
    pattern: str | re.Pattern[str],
    axesorder: Sequence[int] | None = None,
    categories: Categories | None = None,
) -> FileGrid:
    """The grid the names of ``files`` (paths or URLs) give them.

    ``pattern`` is a regular expression, or the name of one in
    :data:`FILE_PATTERNS`; ``axesorder`` lists the axes (as the pattern finds them)
    in the order the grid has them. Raises :class:`~tiffzarr.errors.SequenceError`
    naming the file whose name does not match or gives other axes, and both files
    of an index found twice.

    >>> parse_filenames(["c1001.ext", "c2002.ext"], pattern=r"([^\\d])(\\d)(?P<t>\\d+)\\.ext")
    FileGrid(labels=('c', 't'), axes='CT', shape=(2, 2), indices=((0, 0), (1, 1)), start=(1, 1))
    """
    if not files:
        raise ValueError("a sequence needs at least one file")
    try:
        regex = re.compile(
            FILE_PATTERNS.get(pattern, pattern) if isinstance(pattern, str) else pattern
        )
    except re.error as exc:
        raise ValueError(f"pattern {pattern!r} is not a regular expression: {exc}") from exc
    named = {number: name for name, number in regex.groupindex.items()}
    found = [
        _parse_name(name, url, regex, named, categories or {})
        for name, url in zip(_relative_names(files), files, strict=True)
    ]
    labels = found[0][0]
    if not labels:
        raise SequenceError(
            f"the pattern {regex.pattern!r} finds no index in the name", url=files[0]
        )
    for url, (other, _) in zip(files, found, strict=True):
        if other != labels:
            raise SequenceError(
                f"the name gives axes {other}, the first file's ({files[0]}) {labels}", url=url
            )
    order = _axesorder(axesorder, labels)
    labels = tuple(labels[d] for d in order)
    raw = [tuple(values[d] for d in order) for _, values in found]
    start = tuple(min(column) for column in zip(*raw, strict=True))
    indices = tuple(tuple(v - s for v, s in zip(r, start, strict=True)) for r in raw)
    _refuse_repeats(files, indices)
    shape = tuple(max(column) + 1 for column in zip(*indices, strict=True))
    if math.prod(shape) > MAX_GRID_CELLS:
        raise SequenceError(
            f"the names of {len(files)} files give a grid of {shape} along {labels}, more than "
            f"{MAX_GRID_CELLS} cells: do the indices count files?",
            url=files[0],
        )
    axes = "".join(axis_letter(label, default=label[0].upper()) for label in labels)
    return FileGrid(labels, axes, shape, indices, start)


def _relative_names(files: Sequence[str]) -> list[str]:
    """The names below the files' common folder; a chained URL
    (``zip://a.tif::b.zip``) is named by its first part."""
    parts = [f.partition("::")[0].replace(os.sep, "/").split("/") for f in files]
    folders = min(len(p) for p in parts) - 1
    common = 0  # the leading folders all names share
    while common < folders and all(p[common] == parts[0][common] for p in parts):
        common += 1
    return ["/".join(p[common:]) for p in parts]


def _parse_name(
    name: str,
    url: str,
    regex: re.Pattern[str],
    named: Mapping[int, str],
    categories: Categories,
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The labels and indices the pattern finds in one name."""
    match = regex.search(name)
    if match is None:
        raise SequenceError(
            f"the pattern {regex.pattern!r} does not match the name {name!r}", url=url
        )
    labels: list[str] = []
    values: list[int] = []
    label: str | None = None
    for number, text in enumerate(match.groups(), 1):
        if text is None:
            continue
        if number in named:
            label = named[number]
        elif text[:1].isalpha():
            label = text  # the label of the next index
            continue
        axis = label if label is not None else "Q"
        values.append(_index(axis, text, categories, url))
        labels.append(axis)
        label = None
    return tuple(labels), tuple(values)


def _index(axis: str, text: str, categories: Categories, url: str) -> int:
    known = categories.get(axis)
    if known is not None:
        if text not in known:
            raise SequenceError(
                f"{text!r} is none of the categories of axis {axis!r} ({sorted(known)})", url=url
            )
        return int(known[text])
    try:
        return int(text)
    except ValueError:
        raise SequenceError(
            f"{text!r} along axis {axis!r} is not a number (name it in categories)", url=url
        ) from None


def _axesorder(axesorder: Sequence[int] | None, labels: tuple[str, ...]) -> tuple[int, ...]:
    if axesorder is None:
        return tuple(range(len(labels)))
    order = tuple(axesorder)
    if sorted(order) != list(range(len(labels))):
        raise SequenceError(
            f"axesorder {order} does not order the axes {labels} the file names give"
        )
    return order


def _refuse_repeats(files: Sequence[str], indices: Sequence[tuple[int, ...]]) -> None:
    seen: dict[tuple[int, ...], int] = {}
    for i, index in enumerate(indices):
        other = seen.setdefault(index, i)
        if other != i:
            raise SequenceError(
                f"{files[other]} and {files[i]} have the same index {index} in the sequence"
            )
