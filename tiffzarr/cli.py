"""The ``tiffzarr`` command line."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence

from tiffzarr._info import describe, render
from tiffzarr._sync import run_sync
from tiffzarr.errors import TiffZarrError
from tiffzarr.io import open_source
from tiffzarr.reader import read_index

__all__ = ["main"]


def _storage_options(pairs: Sequence[str]) -> dict[str, object]:
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--storage-option takes KEY=VALUE, not {pair!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def _info(args: argparse.Namespace) -> int:
    source = open_source(args.url, storage_options=_storage_options(args.storage_option))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = run_sync(read_index(source))
    info = describe(index, requests=source.stats.requests, nbytes=source.stats.bytes)
    if args.json:
        json.dump(info, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(render(info))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tiffzarr", description="TIFF files as Zarr stores.")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="show the structure of a TIFF file")
    info.add_argument("url", help="path or fsspec URL")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.add_argument(
        "--storage-option",
        "-o",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="fsspec storage option (VALUE parsed as JSON when possible)",
    )
    info.set_defaults(run=_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except TiffZarrError as exc:
        print(f"tiffzarr: {exc}", file=sys.stderr)
        return 2
    return status
