"""Options shared by the commands: ``KEY=VALUE`` fsspec options, input lists, usage errors."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from tiffzarr._sync import run_sync
from tiffzarr.format import natural_key
from tiffzarr.io import expand_files, is_pattern

__all__ = [
    "UsageError",
    "add_common",
    "add_no_squeeze",
    "add_storage_option",
    "expand_inputs",
    "key_value",
    "storage_options",
]


class UsageError(Exception):
    """Options that do not fit each other (exit status 2, like argparse's own errors)."""


def key_value(text: str, /) -> tuple[str, Any]:
    """A ``KEY=VALUE`` option, VALUE parsed as JSON when it is JSON.

    >>> key_value("anon=true"), key_value("region=eu-west-1")
    (('anon', True), ('region', 'eu-west-1'))
    """
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, not {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def storage_options(pairs: Sequence[tuple[str, Any]] | None, /) -> dict[str, Any] | None:
    """The fsspec options of repeated ``KEY=VALUE`` flags (``None`` when there are none)."""
    return dict(pairs) if pairs else None


def add_storage_option(
    parser: argparse.ArgumentParser,
    *flags: str,
    dest: str = "storage_option",
    what: str = "the source",
) -> None:
    """The repeatable ``KEY=VALUE`` fsspec option ``dest``."""
    parser.add_argument(
        *flags,
        dest=dest,
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help=f"fsspec storage option for {what} (VALUE parsed as JSON when possible; repeatable)",
    )


def add_no_squeeze(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-squeeze",
        action="store_true",
        help="keep the dimensions of length 1 tifffile leaves out of the series' shapes",
    )


def add_common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """``--quiet`` and ``--debug``: on the main parser, and again on each command (where
    ``suppress`` keeps them from overriding what was given before the command)."""
    default: Any = argparse.SUPPRESS if suppress else False
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=default, help="no progress bars"
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default,
        help="show the traceback of an error instead of one line",
    )


def expand_inputs(inputs: Sequence[str], /, *, storage_options: dict[str, Any] | None) -> list[str]:
    """The files of ``inputs``: each a path or URL, or a glob pattern expanded through
    fsspec (:func:`tiffzarr.io.expand_files`; its matches naturally sorted). A pattern
    that matches nothing raises :class:`~tiffzarr.errors.SourceNotFoundError`."""
    files: list[str] = []
    for item in inputs:
        if not is_pattern(item):
            files.append(item)
            continue
        found = run_sync(expand_files(item, storage_options=storage_options))
        files += sorted((f.url for f in found), key=natural_key)
    return files
