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


def _add_storage_option(parser: argparse.ArgumentParser, *flags: str) -> None:
    """The repeatable ``KEY=VALUE`` option that :func:`_storage_options` reads."""
    parser.add_argument(
        *flags,
        dest="storage_option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="fsspec storage option for the TIFF (VALUE parsed as JSON when possible)",
    )


def _add_no_squeeze(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-squeeze",
        action="store_true",
        help="keep the dimensions of length 1 tifffile leaves out of the series' shapes",
    )


def _info(args: argparse.Namespace) -> int:
    options = _storage_options(args.storage_option)
    source = open_source(args.url, storage_options=options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = run_sync(read_index(source, storage_options=options))
    info = describe(
        index,
        requests=source.stats.requests,
        nbytes=source.stats.bytes,
        squeeze=False if args.no_squeeze else None,
    )
    if args.json:
        json.dump(info, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(render(info))
    return 0


def _refs(args: argparse.Namespace) -> int:
    from tiffzarr.refs import write_references

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refs = run_sync(
            write_references(
                args.url,
                args.output,
                format="parquet" if args.parquet else "json",
                series=args.series,
                level=args.level,
                storage_options=_storage_options(args.storage_option),
                squeeze=False if args.no_squeeze else None,
                version=args.version,
                zarr_format=args.zarr_format,
                codecs=args.codecs,
                inline_threshold=args.inline_threshold,
                target_url=args.target_url,
            )
        )
    for path, reason in sorted(refs.fallbacks.items()):
        print(f"tiffzarr: array {path or '/'!r} keeps tiffzarr's codec: {reason}", file=sys.stderr)
    return 0


def _add_refs(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    refs = commands.add_parser("refs", help="write kerchunk references (JSON or parquet)")
    refs.add_argument("url", help="path or fsspec URL of the TIFF")
    refs.add_argument("-o", "--output", required=True, help="reference file or parquet folder")
    refs.add_argument("--parquet", action="store_true", help="write a parquet reference folder")
    refs.add_argument("--zarr-format", type=int, choices=(2, 3), default=2)
    refs.add_argument("--codecs", choices=("portable", "tiffzarr"), default="portable")
    refs.add_argument("--series", type=int, default=None)
    refs.add_argument("--level", type=int, default=None)
    _add_no_squeeze(refs)
    refs.add_argument("--version", type=int, choices=(0, 1), default=1)
    refs.add_argument("--inline-threshold", type=int, default=0, metavar="BYTES")
    refs.add_argument(
        "--target-url", default=None, help="where the references will live (relative URLs)"
    )
    _add_storage_option(refs, "--storage-option")
    refs.set_defaults(run=_refs)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tiffzarr", description="TIFF files as Zarr stores.")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="show the structure of a TIFF file")
    info.add_argument("url", help="path or fsspec URL")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    _add_no_squeeze(info)
    _add_storage_option(info, "--storage-option", "-o")
    info.set_defaults(run=_info)
    _add_refs(commands)
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
