"""The ``tiffzarr`` command line: ``info``, ``refs``, ``convert`` and ``validate``.

Run as ``tiffzarr`` or ``python -m tiffzarr``; ``docs/cli.md`` documents every
command, flag and exit status.
"""

from tiffzarr.cli._main import EXIT_CODES, main

__all__ = ["EXIT_CODES", "main"]
