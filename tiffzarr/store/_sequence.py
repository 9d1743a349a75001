"""A read-only zarr store over a sequence of TIFF files: ``open_sequence``.

The files are a list, a glob pattern or a folder (any fsspec filesystem); their
names may place them in an N-D grid (``img_t001_c2.tif``: see
:mod:`tiffzarr.format._filenames`), as tifffile's ``TiffSequence(files,
pattern=...)`` does. The store's one array is the grid followed by each file's
image; each chunk is one segment of one file, and a cell without a file is fill.
The files may be members of a ZIP archive (``container=``, read as byte ranges of
it: see :mod:`tiffzarr.io._zip`), and tiles of one larger image (``axestiled=``).
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tiffzarr._check import check_arguments, check_int, describe
from tiffzarr.errors import SequenceGapWarning, UnsupportedError
from tiffzarr.format import FileGrid, natural_key, parse_filenames, stacked_files
from tiffzarr.io import expand_files
from tiffzarr.io._zip import find_members
from tiffzarr.model import (
    ArrayModel,
    FileCell,
    TiffIndex,
    grid_files,
    predicted_file,
    tile_files,
)
from tiffzarr.reader import file_reference, open_tiff
from tiffzarr.store._hierarchy import Hierarchy, build_hierarchy
from tiffzarr.store._metadata import ZarrFormat
from tiffzarr.store._store import TiffStore

__all__ = ["PARSE_CONCURRENCY", "Files", "open_sequence", "sequence_files"]

PARSE_CONCURRENCY = 64
"""Files of a sequence parsed at once when they are not predicted."""

Files = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
"""A glob pattern, a folder, one file, or a list of paths and URLs."""
AxesTiled = Mapping[int | str, int | str]
"""Axes of the grid (numbers or letters) mapped to axes of the files' image."""


async def open_sequence(
    files: Files,
    /,
    *,
    pattern: str | re.Pattern[str] | None = None,
    axesorder: Sequence[int] | None = None,
    categories: Mapping[str, Mapping[str, int]] | None = None,
    sort: bool | None = None,
    container: str | os.PathLike[str] | None = None,
    axestiled: AxesTiled | None = None,
    series: int = 0,
    level: int = 0,
    storage_options: dict[str, Any] | None = None,
    zarr_format: ZarrFormat = 3,
    fill_value: float | int | None = None,
    predict: bool = True,
    axis: str | None = None,
) -> TiffStore:
    """A read-only zarr store over a sequence of TIFF files holding one kind of image.

    Parameters
    ----------
    files
        A glob pattern (``run/*.tif``, ``s3://bucket/run/*.tif``,
        ``zip://run/*.tif::run.zip``, ``https://host/run/*.tif`` when the server
        lists the folder), a folder (its ``.tif`` and ``.tiff`` files), one file,
        or a list of paths and URLs (used as given: no pattern is expanded).
        With ``container``: member names of the archive (see there).
    pattern
        A regular expression finding each file's indices in its name, or
        ``"axes"`` for label and number pairs such as ``_t001_c2``; see
        :mod:`tiffzarr.format._filenames`. Without it the files are stacked in
        their order along one axis ``axis`` (default ``"I"``).
    axesorder, categories
        The order of the axes the pattern finds; indices of matches that are
        not numbers (``{"c": {"DAPI": 0, "GFP": 1}}``). As tifffile's.
    sort
        Natural order (``img2`` before ``img10``). ``None``: the files a pattern
        or folder finds are sorted, a list keeps its order (as tifffile does).
    container
        The path or URL of a ZIP archive holding the files (tifffile's
        ``container``; local, HTTP, S3 or any fsspec URL). ``files`` is then a
        pattern matched against whole member names (``*`` matches ``/`` too), one
        member's name, a folder of the archive, or a list of member names. Stored
        members are read as byte ranges of the archive, one request per read;
        deflated ones through fsspec's ``zip`` filesystem (see
        :mod:`tiffzarr.io._zip`).
    axestiled
        Lay the files side by side as tiles of one image (tifffile's
        ``axestiled``): ``{0: 0, 1: 1}`` maps axis 0 of the grid to axis 0 of the
        image and axis 1 to axis 1, so that a 2 x 3 grid of 100 x 80 images is one
        200 x 240 image. Axes are numbers, or letters of the grid's axes and of the
        image's (``{"Y": "Y", "X": "X"}``). The files' chunks stay the chunks where
        they divide a file along the tiled axes; otherwise each file is one chunk.
    series, level
        The image of each file (a series and a pyramid level of it).
    storage_options, zarr_format, fill_value
        As for :func:`~tiffzarr.store.open_store`. ``fill_value`` is also what
        the cells of the grid without a file read as.
    predict
        With the first file's pixels uncompressed, take the others to be laid out
        byte for byte like it (see below).

    Notes
    -----
    Every file must hold an image of the first one's shape, dtype, chunks and
    compression. With ``predict`` only the first file is parsed when its pixels
    are uncompressed: before any of another file's pixels are served, its header,
    IFDs and layout values are read together with them and compared with the
    first file's (one request per file); a file laid out otherwise raises
    :class:`~tiffzarr.errors.TiffFormatError` (open with ``predict=False``
    then). Otherwise every file is parsed here, :data:`PARSE_CONCURRENCY` at a
    time. Names that leave cells of the grid without a file warn with
    :class:`~tiffzarr.errors.SequenceGapWarning`; two files at one index raise
    :class:`~tiffzarr.errors.SequenceError` naming both.

    Examples
    --------
    >>> import numpy, tifffile, tempfile, os, asyncio, zarr
    >>> folder = tempfile.mkdtemp()
    >>> for t in range(3):
    ...     for c in range(2):
    ...         path = os.path.join(folder, f"img_t{t + 1:03d}_c{c + 1}.tif")
    ...         tifffile.imwrite(path, numpy.full((4, 6), 10 * t + c, "uint8"))
    >>> store = asyncio.run(open_sequence(os.path.join(folder, "*.tif"), pattern="axes"))
    >>> z = zarr.open_array(store, mode="r")
    >>> z.shape, z.chunks, z.metadata.dimension_names, int(z[2, 1, 0, 0])
    ((3, 2, 4, 6), (1, 1, 4, 6), ('T', 'C', 'Y', 'X'), 21)
    """
    _check_options(pattern, axesorder, categories, sort, axis)
    _check_container(container, axestiled)
    check_int("series", series)
    check_int("level", level)
    check_arguments(
        storage_options=storage_options,
        zarr_format=zarr_format,
        fill_value=fill_value,
        predict=predict,
    )
    urls = await sequence_files(
        files, sort=sort, container=container, storage_options=storage_options
    )
    if pattern is None:
        grid = stacked_files(len(urls), axis=axis or "I")
    else:
        grid = parse_filenames(urls, pattern=pattern, axesorder=axesorder, categories=categories)
    if grid.missing:
        _warn_gaps(grid)
    first, arrays = await _file_arrays(
        urls, series=series, level=level, storage_options=storage_options, predict=predict
    )
    cells = [None if i is None else arrays[i] for i in grid.cells()]
    array = grid_files(cells, shape=grid.shape, axes=grid.axes)
    if axestiled:
        image_axes = array.axes[len(grid.shape) :]
        tiled = {
            _axis_number(g, grid.axes, "grid"): _axis_number(i, image_axes, "image")
            for g, i in axestiled.items()
        }
        array = tile_files(array, tiled, grid_dims=len(grid.shape))
    return TiffStore(
        first,
        hierarchy=Hierarchy({}, {"": array}),
        storage_options=storage_options,
        zarr_format=zarr_format,
        fill_value=fill_value,
    )


async def sequence_files(
    files: Files,
    /,
    *,
    sort: bool | None = None,
    container: str | os.PathLike[str] | None = None,
    storage_options: dict[str, Any] | None = None,
) -> list[str]:
    """The paths and URLs of a sequence: a pattern or folder expanded (see
    :func:`~tiffzarr.io.expand_files`), a list as given; naturally sorted as
    ``sort`` says (see :func:`open_sequence`). With ``container``, the URLs of the
    members ``files`` names (see :func:`~tiffzarr.io._zip.find_members`).

    >>> import asyncio
    >>> asyncio.run(sequence_files(["b10.tif", "b9.tif"], sort=True))
    ['b9.tif', 'b10.tif']
    """
    if container is not None:
        names = _paths(files)
        urls = await find_members(os.fspath(container), names, storage_options=storage_options)
        sort = sort is not False if isinstance(names, str) else sort is True
    elif isinstance(files, str | os.PathLike):
        location = _paths(files)
        assert isinstance(location, str)
        found = await expand_files(location, storage_options=storage_options)
        urls = [f.url for f in found]
        sort = sort is not False
    else:
        listed = _paths(files)
        assert not isinstance(listed, str)
        urls = listed
        sort = sort is True
    if not urls:
        raise ValueError("a sequence needs at least one file")
    return sorted(urls, key=natural_key) if sort else urls


def _paths(files: object) -> str | list[str]:
    """``files`` as one path or a list of them (``os.fspath`` of each); refuses others."""
    if isinstance(files, str | os.PathLike):
        location = os.fspath(files)
        if not isinstance(location, str):
            raise TypeError(f"files must be a str path, not {describe(files)}")
        return location
    if isinstance(files, bytes) or not isinstance(files, Iterable):
        raise TypeError(
            f"files must be a path, URL, glob pattern or a list of paths, not {describe(files)}"
        )
    urls = []
    for i, file in enumerate(files):
        if not isinstance(file, str | os.PathLike):
            raise TypeError(f"files[{i}] must be a path or URL, not {describe(file)}")
        urls.append(os.fspath(file))
    return urls


def _check_container(container: object, axestiled: object) -> None:
    if container is not None and not isinstance(container, str | os.PathLike):
        raise TypeError(f"container must be a path or URL of a ZIP, not {describe(container)}")
    if axestiled is not None and not (
        isinstance(axestiled, Mapping)
        and all(_is_axis(a) for pair in axestiled.items() for a in pair)
    ):
        raise TypeError(
            "axestiled must map grid axes to image axes (ints or letters), "
            f"not {describe(axestiled)}"
        )


def _is_axis(axis: object) -> bool:
    return isinstance(axis, str) or (isinstance(axis, int) and not isinstance(axis, bool))


def _axis_number(axis: int | str, axes: str, what: str) -> int:
    """The position of ``axis`` (a number, or a letter of ``axes``) among ``axes``.

    >>> _axis_number("X", "YX", "image"), _axis_number(0, "TC", "grid")
    (1, 0)
    """
    if isinstance(axis, int):
        if not 0 <= axis < len(axes):
            raise ValueError(f"axestiled: the {what} has no axis {axis} (its axes are {axes!r})")
        return axis
    if axes.count(axis) != 1:
        many = "more than one axis" if axis in axes else "no axis"
        raise ValueError(f"axestiled: {axis!r} names {many} of the {what} (axes {axes!r})")
    return axes.index(axis)


def _check_options(
    pattern: object, axesorder: object, categories: object, sort: object, axis: object
) -> None:
    """Refuse options of the wrong type, and ``axis`` with ``pattern``."""
    if pattern is not None and not isinstance(pattern, str | re.Pattern):
        raise TypeError(f"pattern must be a str, a compiled regex or None, not {describe(pattern)}")
    if axesorder is not None and (
        not isinstance(axesorder, Sequence)
        or isinstance(axesorder, str)
        or not all(isinstance(d, int) and not isinstance(d, bool) for d in axesorder)
    ):
        raise TypeError(f"axesorder must be a sequence of ints or None, not {describe(axesorder)}")
    if categories is not None and not (
        isinstance(categories, Mapping) and all(isinstance(m, Mapping) for m in categories.values())
    ):
        raise TypeError(
            f"categories must map labels to {{match: index}} dicts, not {describe(categories)}"
        )
    if sort is not None and not isinstance(sort, bool):
        raise TypeError(f"sort must be True, False or None, not {describe(sort)}")
    if (axesorder is not None or categories is not None) and pattern is None:
        raise ValueError("axesorder and categories apply to the axes a pattern finds")
    if axis is not None:
        check_arguments(axis=axis)
        if pattern is not None:
            raise ValueError(
                f"axis {axis!r} names the one axis of a sequence without pattern; "
                "with a pattern the file names give the axes"
            )


def _warn_gaps(grid: FileGrid) -> None:
    cell = grid.first_missing()
    assert cell is not None
    warnings.warn(
        f"{grid.missing} of the {math.prod(grid.shape)} cells of the {grid.axes} grid {grid.shape} "
        f"have no file, the first at index {cell} ({grid.describe(cell)}); they read as fill",
        SequenceGapWarning,
        stacklevel=2,
    )


async def _file_arrays(
    urls: Sequence[str],
    *,
    series: int,
    level: int,
    storage_options: dict[str, Any] | None,
    predict: bool,
) -> tuple[TiffIndex, list[ArrayModel | FileCell]]:
    """The first file's index and each file's image: predicted from the first when
    they can be, else parsed."""
    first = await open_tiff(urls[0], storage_options=storage_options, predict=predict)
    array = _image(first, series, level)
    reference = None
    if predict:
        try:
            reference = file_reference(first, array)
        except UnsupportedError:
            reference = None  # compressed, or too much layout: parse every file
    if reference is not None:
        return first, [array, *(predicted_file(array, url, reference) for url in urls[1:])]
    limit = asyncio.Semaphore(PARSE_CONCURRENCY)

    async def parse(url: str) -> ArrayModel:
        async with limit:
            index = await open_tiff(url, storage_options=storage_options, predict=predict)
        return _image(index, series, level)

    parsed = await asyncio.gather(*(parse(url) for url in urls[1:]))
    return first, [array, *parsed]


def _image(index: TiffIndex, series: int, level: int) -> ArrayModel:
    return build_hierarchy(index, series=series, level=level, squeeze=False).arrays[""]
