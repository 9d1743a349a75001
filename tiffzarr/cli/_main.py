"""The ``tiffzarr`` command: its parser, and errors turned into one line and an exit status."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from tiffzarr.cli._convert import add_convert
from tiffzarr.cli._inspect import add_info, add_validate
from tiffzarr.cli._options import UsageError, add_common
from tiffzarr.cli._refs import add_refs
from tiffzarr.errors import TiffZarrError

__all__ = ["EXIT_CODES", "main"]

EXIT_CODES = {
    0: "success (validate: the file is valid)",
    1: "validate found problems",
    2: "usage: unknown command or flag, or options that do not fit each other",
    3: "bad input: the file or its metadata cannot be used (a tiffzarr error)",
    4: "I/O: a missing file, a target that exists, a network or permission failure",
    130: "interrupted (Ctrl-C)",
}

_EPILOG = "exit status:\n" + "\n".join(f"  {code:<4} {text}" for code, text in EXIT_CODES.items())


def parser() -> argparse.ArgumentParser:
    """The parser of every command."""
    from tiffzarr import __version__

    top = argparse.ArgumentParser(
        prog="tiffzarr",
        description="TIFF files as Zarr stores: inspect, reference, convert and validate.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"tiffzarr {__version__}")
    add_common(top, suppress=False)
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(command: argparse.ArgumentParser) -> None:
        command.epilog = _EPILOG
        command.formatter_class = argparse.RawDescriptionHelpFormatter
        add_common(command, suppress=True)

    add_info(commands, common)
    add_refs(commands, common)
    add_convert(commands, common)
    add_validate(commands, common)
    return top


def _status(exc: BaseException) -> int:
    """The exit status of an error: I/O (an ``OSError``, tiffzarr's too) or bad input."""
    return 4 if isinstance(exc, OSError) else 3


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (see :data:`EXIT_CODES`)."""
    args = parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except KeyboardInterrupt:
        print("tiffzarr: error: interrupted", file=sys.stderr)
        return 130
    except UsageError as exc:
        print(f"tiffzarr: error: {exc}", file=sys.stderr)
        return 2
    except (TiffZarrError, OSError, ValueError) as exc:
        if args.debug:
            traceback.print_exc()
        else:
            print(f"tiffzarr: error: {exc}", file=sys.stderr)
        return _status(exc)
    return status
