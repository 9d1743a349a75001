"""``tiffzarr info`` and ``tiffzarr validate``: what a file holds, and whether it keeps rules."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable
from typing import Any

from tiffzarr._info import describe, render
from tiffzarr._sync import run_sync
from tiffzarr._validate import Finding, cog_findings, ome_findings, parse_findings
from tiffzarr.cli._options import add_no_squeeze, add_storage_option
from tiffzarr.errors import TiffZarrWarning
from tiffzarr.format._ome import is_ome
from tiffzarr.io import open_source
from tiffzarr.model import TiffIndex, load_segments
from tiffzarr.reader import read_index

__all__ = ["add_info", "add_validate"]


def _info(args: argparse.Namespace) -> int:
    options = dict(args.storage_option) or None
    source = open_source(args.url, storage_options=options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the index keeps them: shown under "Warnings"
        index = run_sync(read_index(source, storage_options=options))
    info = describe(
        index,
        requests=source.stats.requests,
        nbytes=source.stats.bytes,
        squeeze=False if args.no_squeeze else None,
        series=args.series,
    )
    if args.json:
        json.dump(info, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(render(info))
    return 0


def add_info(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    info = commands.add_parser(
        "info",
        help="show the structure and metadata of a TIFF file",
        description="Show the header, the series (with their metadata) and every IFD of a TIFF.",
    )
    info.add_argument("url", help="path or fsspec URL")
    info.add_argument("--series", type=int, default=None, metavar="N", help="only series N")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_no_squeeze(info)
    add_storage_option(info, "-o", "--storage-option")
    common(info)
    info.set_defaults(run=_info)


async def _open_checked(url: str, options: dict[str, Any] | None) -> tuple[TiffIndex, list[str]]:
    """The file parsed without prediction (every IFD read), the warnings parsing raised,
    and every segment table loaded (the COG rules compare data offsets)."""
    source = open_source(url, storage_options=options)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TiffZarrWarning)
        index = await read_index(source, predict=False, missing="fill", storage_options=options)
    recorded = [str(w.message) for w in caught if issubclass(w.category, TiffZarrWarning)]
    tables = [(p.segments, 0, p.segments.count) for p in index.iter_pages() if p.segments]
    await load_segments(source, tables)
    return index, recorded


def _claims_cog(index: TiffIndex) -> bool:
    """GDAL's ghost area says COG, or the first IFD has GeoTIFF tags."""
    return "cog" in index.flags or 34735 in index.pages[0].ifd


def _validate(args: argparse.Namespace) -> int:
    options = dict(args.storage_option) or None
    index, recorded = run_sync(_open_checked(args.url, options))
    description = index.pages[0].ifd.get(270)
    check_cog = args.cog or (not args.ome and _claims_cog(index))
    check_ome = args.ome or (
        not args.cog
        and (
            index.ome_xml is not None
            or is_ome(description if isinstance(description, str) else None)
        )
    )
    findings: list[Finding] = []
    if check_cog:
        findings += cog_findings(index.pages)
    if check_ome:
        findings += ome_findings(index)
    findings += parse_findings(index, recorded=recorded)
    for finding in findings:
        print(finding)
    errors = sum(f.level == "error" for f in findings)
    checked = [name for name, on in (("COG", check_cog), ("OME-TIFF", check_ome)) if on]
    what = " and ".join(checked) or "TIFF"
    if errors:
        print(f"{args.url}: not a valid {what} ({errors} error{'s' if errors > 1 else ''})")
        return 1
    warned = len(findings)
    print(f"{args.url}: valid {what}" + (f" ({warned} warnings)" if warned else ""))
    return 0


def add_validate(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    validate = commands.add_parser(
        "validate",
        help="check a COG or OME-TIFF, and what a reader would trip on",
        description=(
            "Check the COG layout (--cog) or OME-TIFF consistency (--ome); without either, "
            "whatever the file claims to be. Parser warnings and pages no series holds are "
            "always reported. Exit status 0: valid, 1: not valid."
        ),
    )
    validate.add_argument("url", help="path or fsspec URL")
    validate.add_argument("--cog", action="store_true", help="check the COG layout rules")
    validate.add_argument("--ome", action="store_true", help="check the OME-TIFF rules")
    add_storage_option(validate, "--storage-option")
    common(validate)
    validate.set_defaults(run=_validate)
