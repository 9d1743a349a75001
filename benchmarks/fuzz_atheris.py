"""Fuzz the reader's bytes with atheris (libFuzzer), by hand; ``make test`` runs the
structure fuzzer in ``tests/test_fuzz.py`` instead.

Run from the repository root (``pip install -e '.[fuzz]'`` installs atheris)::

    .venv/bin/python benchmarks/fuzz_atheris.py                # until stopped or a finding
    .venv/bin/python benchmarks/fuzz_atheris.py -runs=20000 -seed=1

Each input is a TIFF file, opened and read through zarr as ``tests/test_fuzz.py``
reads its mutated files: any exception but a :class:`~tiffzarr.errors.TiffZarrError`,
or more than 200 MB allocated (tracemalloc), is a finding and stops the run with the
input saved as ``crash-*``; an input slower than 1 s is printed. The seed corpus is
the structure fuzzer's valid files, written to ``benchmarks/data/fuzz-corpus`` (libFuzzer
adds what it finds there). Extra arguments go to libFuzzer; ``-timeout`` defaults to
10 s (a hang guard: atheris' instrumentation slows Python down several times).
"""

from __future__ import annotations

import sys
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "benchmarks" / "data" / "fuzz-corpus"


def target() -> Callable[[bytes], None]:
    """The function libFuzzer calls with each input."""
    from tests.test_fuzz import BASES, SLOW, run

    CORPUS.mkdir(parents=True, exist_ok=True)
    for name, data in BASES.items():
        (CORPUS / f"{name}.tif").write_bytes(data)
    folder = Path(tempfile.mkdtemp(prefix="tiffzarr-atheris-"))
    tracemalloc.start()

    def one(data: bytes) -> None:
        outcome = run(data, folder)
        if outcome.seconds > SLOW:
            print(f"slow input: {outcome.seconds:.1f} s, {len(data)} bytes", file=sys.stderr)
        if outcome.result == "failure":
            raise outcome.error or MemoryError(f"{outcome.peak >> 20} MiB allocated")

    return one


def main(argv: list[str]) -> None:
    try:
        import atheris
    except ImportError:
        sys.exit("atheris is not installed: pip install -e '.[fuzz]'")
    sys.path.insert(0, str(ROOT))
    with atheris.instrument_imports():
        one = target()
    options = [a for a in argv[1:] if a.startswith("-")]
    if not any(a.startswith("-timeout=") for a in options):
        options.append("-timeout=10")
    atheris.Setup([argv[0], *options, str(CORPUS)], one)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
