"""``tiffzarr refs``: kerchunk references of one file, or of a sequence of files stacked."""

from __future__ import annotations

import argparse
import asyncio
import sys
import warnings
from collections.abc import Callable
from typing import Any

from tiffzarr._config import set_config
from tiffzarr._sync import run_sync
from tiffzarr.cli._options import (
    UsageError,
    add_no_squeeze,
    add_storage_option,
    expand_inputs,
)
from tiffzarr.cli._progress import progress
from tiffzarr.refs import ReferenceSet, save_references, store_references, write_references
from tiffzarr.store import PARSE_CONCURRENCY, open_sequence

__all__ = ["add_refs"]


async def _parse_all(files: list[str], options: dict[str, Any] | None, *, quiet: bool) -> None:
    """Parse every file of a sequence once, a bar counting them (the sequence store then
    finds them among the recently parsed files)."""
    from tiffzarr.reader import open_tiff

    limit = asyncio.Semaphore(PARSE_CONCURRENCY)
    with progress(len(files), desc="parse", unit="file", quiet=quiet) as bar:

        async def one(url: str) -> None:
            async with limit:
                await open_tiff(url, storage_options=options, predict=False)
            bar.update(1)

        await asyncio.gather(*(one(url) for url in files))


async def _sequence_refs(args: argparse.Namespace, files: list[str]) -> ReferenceSet:
    options = dict(args.storage_option) or None
    with set_config(metadata_cache_files=len(files) + 1):
        await _parse_all(files, options, quiet=args.quiet)
        store = await open_sequence(
            files,
            series=args.series or 0,
            level=args.level or 0,
            storage_options=options,
            zarr_format=args.zarr_format,
            predict=False,
        )
    return await store_references(
        store,
        version=1 if args.parquet else args.version,
        codecs=args.codecs,
        inline_threshold=args.inline_threshold,
        target_url=args.target_url,
    )


def _save(refs: ReferenceSet, args: argparse.Namespace) -> None:
    """Write a reference set as the single-file path does (JSON, or a parquet folder)."""
    save_references(
        refs,
        args.output,
        format="parquet" if args.parquet else "json",
        target_options=dict(args.target_option),
    )


def _refs(args: argparse.Namespace) -> int:
    if args.parquet and args.zarr_format != 2:
        raise UsageError("--parquet reference sets are zarr v2 only")
    options = dict(args.storage_option) or None
    files = expand_inputs(args.url, storage_options=options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if len(files) > 1:
            refs = run_sync(_sequence_refs(args, files))
            _save(refs, args)
        else:
            refs = run_sync(
                write_references(
                    files[0],
                    args.output,
                    format="parquet" if args.parquet else "json",
                    series=args.series,
                    level=args.level,
                    storage_options=options,
                    squeeze=False if args.no_squeeze else None,
                    version=args.version,
                    zarr_format=args.zarr_format,
                    codecs=args.codecs,
                    inline_threshold=args.inline_threshold,
                    target_url=args.target_url,
                    target_options=dict(args.target_option) or None,
                )
            )
    for path, reason in sorted(refs.fallbacks.items()):
        print(f"tiffzarr: array {path or '/'!r} keeps tiffzarr's codec: {reason}", file=sys.stderr)
    return 0


def add_refs(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    refs = commands.add_parser(
        "refs",
        help="write kerchunk references (JSON or parquet)",
        description=(
            "Write the kerchunk references of a TIFF, or of several files (or a glob pattern, "
            "quoted) stacked along a new first axis as one array."
        ),
    )
    refs.add_argument("url", nargs="+", help="path, fsspec URL or glob pattern of the TIFF(s)")
    refs.add_argument("-o", "--output", required=True, help="reference file or parquet folder")
    refs.add_argument("--parquet", action="store_true", help="write a parquet reference folder")
    refs.add_argument("--zarr-format", type=int, choices=(2, 3), default=2)
    refs.add_argument("--codecs", choices=("portable", "tiffzarr"), default="portable")
    refs.add_argument("--series", type=int, default=None, metavar="N")
    refs.add_argument("--level", type=int, default=None, metavar="N")
    add_no_squeeze(refs)
    refs.add_argument(
        "--version", type=int, choices=(0, 1), default=1, help="kerchunk reference version"
    )
    refs.add_argument("--inline-threshold", type=int, default=0, metavar="BYTES")
    refs.add_argument(
        "--target-url", default=None, help="where the references will live (relative URLs)"
    )
    add_storage_option(refs, "--storage-option")
    add_storage_option(refs, "--target-option", dest="target_option", what="the output")
    common(refs)
    refs.set_defaults(run=_refs)
