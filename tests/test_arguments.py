"""Every public function checks its options before it reads anything, and the error
names the argument, what it must be and what it was.

Each call names a file that does not exist: an option checked only after opening
would raise ``SourceNotFoundError`` instead of the argument error.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy
import pytest
import tifffile

import tiffzarr
import tiffzarr.api.asynchronous as tza

MISSING = "/nonexistent/folder/x.tif"

# (option, bad value, error, start of the message)
COMMON_OPTIONS = [
    (
        "storage_options",
        ["anon"],
        TypeError,
        "storage_options must be a dict or None, not ['anon']",
    ),
    ("squeeze", 0, TypeError, "squeeze must be True, False or None, not 0 (int)"),
    ("missing", "skip", ValueError, "missing must be 'error' or 'fill', not 'skip' (str)"),
]
PREDICT = ("predict", "yes", TypeError, "predict must be True or False, not 'yes' (str)")
STORE_OPTIONS = [
    *COMMON_OPTIONS,
    ("series", "0", TypeError, "series must be an int or None, not '0' (str)"),
    ("series", True, TypeError, "series must be an int or None, not True (bool)"),
    ("level", 1.0, TypeError, "level must be an int or None, not 1.0 (float)"),
    ("page", [0, 1], TypeError, "page must be an int, a tuple of ints or None, not [0, 1]"),
    ("page", (), TypeError, "page must be an int, a tuple of ints or None, not ()"),
]
ARRAY_OPTIONS = [
    ("zarr_format", "3", ValueError, "zarr_format must be 2 or 3, not '3' (str)"),
    ("zarr_format", 3.0, ValueError, "zarr_format must be 2 or 3, not 3.0 (float)"),
    ("fill_value", "0", TypeError, "fill_value must be a number or None, not '0' (str)"),
]
REFERENCE_OPTIONS = [
    ("version", True, ValueError, "version must be 0 or 1, not True (bool)"),
    ("codecs", "kerchunk", ValueError, "codecs must be 'portable' or 'tiffzarr', not 'kerchunk'"),
    ("inline_threshold", -1, ValueError, "inline_threshold must be at least 0, not -1 (int)"),
    ("inline_threshold", 1.5, TypeError, "inline_threshold must be an int, not 1.5 (float)"),
    ("target_url", 3, TypeError, "target_url must be a str or None, not 3 (int)"),
]


def _cases(
    name: str, function: Callable[..., Any], options: list[tuple[str, Any, type, str]]
) -> list[Any]:
    return [
        pytest.param(function, {option: value}, error, text, id=f"{name}-{option}-{value!r}")
        for option, value, error, text in options
    ]


def _sync_and_async(name: str, options: list[tuple[str, Any, type, str]]) -> list[Any]:
    blocking = getattr(tiffzarr, name)
    coroutine = getattr(tza, name)
    return [
        *_cases(name, blocking, options),
        *_cases(f"async-{name}", lambda *a, **k: asyncio.run(coroutine(*a, **k)), options),
    ]


SELECTION = "selection must be a tuple of slices (one per dimension)"

CASES = [
    *_sync_and_async("open_tiff", [*COMMON_OPTIONS, PREDICT]),
    *_sync_and_async(
        "open_store",
        [
            *STORE_OPTIONS,
            PREDICT,
            *ARRAY_OPTIONS,
            ("chunkmode", "tile", ValueError, "chunkmode must be 'segment' or 'page', not 'tile'"),
            ("mode", "w", ValueError, "mode must be 'r' or 'r+', not 'w' (str)"),
        ],
    ),
    *_cases(
        "imread",
        tiffzarr.imread,
        [
            *STORE_OPTIONS,
            (
                "selection",
                slice(0, 2),
                TypeError,
                "selection must be a tuple of slices (one "
                "per dimension) or None, not slice(0, 2, None) (slice)",
            ),
            ("selection", (0, slice(None)), TypeError, SELECTION),
        ],
    ),
    *_sync_and_async("references", [*STORE_OPTIONS, *REFERENCE_OPTIONS]),
    *_cases(
        "write_references",
        lambda url, **k: tiffzarr.write_references(url, "/nonexistent/x.json", **k),
        [
            *REFERENCE_OPTIONS,
            ("format", "yaml", ValueError, "format must be 'json' or 'parquet', not 'yaml'"),
            ("target_options", "x", TypeError, "target_options must be a dict or None, not 'x'"),
        ],
    ),
    *_cases(
        "open_sequence",
        lambda url, **k: tiffzarr.open_sequence([url, url], **k),
        [
            ("series", None, TypeError, "series must be an int, not None (NoneType)"),
            ("level", "0", TypeError, "level must be an int, not '0' (str)"),
            ("axis", "IT", ValueError, "axis must be one letter, not 'IT' (str)"),
            ("predict", 1, TypeError, "predict must be True or False, not 1 (int)"),
            *ARRAY_OPTIONS,
        ],
    ),
    *_sync_and_async(
        "open_references",
        [
            ("storage_options", 1, TypeError, "storage_options must be a dict or None, not 1"),
            ("remote_protocol", b"s3", TypeError, "remote_protocol must be a str or None, not b'"),
            ("remote_options", [], TypeError, "remote_options must be a dict or None, not []"),
            ("allow_external", "no", TypeError, "allow_external must be True or False, not 'no'"),
        ],
    ),
]


@pytest.mark.parametrize(("function", "options", "error", "text"), CASES)
def test_a_bad_option_is_named_before_anything_is_read(
    function: Callable[..., Any], options: dict[str, Any], error: type, text: str
) -> None:
    with pytest.raises(error, match="^" + re.escape(text)) as caught:
        function(MISSING, **options)
    assert not isinstance(caught.value, tiffzarr.TiffZarrError)  # argument errors are builtins


@pytest.mark.parametrize(
    ("function", "value", "text"),
    [
        (tiffzarr.open_store, 3, "url must be a path, URL, binary file object or TiffIndex, not 3"),
        (tiffzarr.open_tiff, None, "url must be a path, URL or binary file object, not None"),
        (tiffzarr.imread, 2.5, "url must be a path, URL, binary file object or TiffIndex, not"),
        (tiffzarr.open_references, 7, "path_or_dict must be a path, URL or dict, not 7"),
        (tiffzarr.open_sequence, 3, "files must be a path, URL, glob pattern or a list of"),
        (tiffzarr.open_sequence, [MISSING, 1], "files[1] must be a path or URL, not 1 (int)"),
        (tiffzarr.read_array, "a.tif", "store must be a TiffStore (tiffzarr.open_store), not 'a"),
    ],
)
def test_what_to_open_is_checked_too(function: Callable[..., Any], value: Any, text: str) -> None:
    with pytest.raises(TypeError, match="^" + re.escape(text)):
        function(value)


def test_good_options_pass_the_checks(tmp_path: Path) -> None:
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, numpy.arange(64, dtype="uint8").reshape(8, 8))
    store = tiffzarr.open_store(
        path, series=0, level=0, zarr_format=2, fill_value=numpy.uint8(3), squeeze=None
    )
    assert store.zarr_format == 2
    assert tiffzarr.imread(str(path), page=(0,)).shape == (8, 8)
    refs = tiffzarr.references(path.as_posix(), series=0, level=0, version=0, inline_threshold=0)
    assert ".zarray" in refs
