"""Every example in the documentation runs: the fenced code blocks of each docs page.

Conventions (docs/*.md):

- ```` ```python ```` blocks run in order, in one namespace per page, in a temporary
  folder holding the sample files of :mod:`tests._docs_samples` (``image.tif``,
  ``cog.tif``, ``cells.ome.tif``, ``run/frame_000.tif`` ... ``run/frame_009.tif``);
  the folder is also served over loopback HTTP, and the URL prefix
  ``https://example.org/data/`` in a block stands for it there.
- ```` ```console ```` blocks: each line starting with ``$ `` is a shell command run in
  that folder (the virtual environment's ``bin`` first on ``PATH``, so ``tiffzarr``
  resolves) that must exit 0, or ``N`` when the line ends with ``# exit N``; other
  lines are the output shown, not compared.
- Blocks with other info strings (``text``, ``json``, ``sh`` for make targets...) are
  not run. Python shown as ``py``/``pycon``/``python3`` is a defect (it would not run).

Each page is one test case: ``tests/test_docs.py::test_page[reading.md]``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
import tifffile
from rio_cogeo.cogeo import cog_validate

from tests._docs_samples import make_samples, sample_arrays
from tiffzarr.testing import RangeServer, serve

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(p.name for p in DOCS.glob("*.md"))
URL_PREFIX = "https://example.org/data/"
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)")
EXIT = re.compile(r"\s+#\s*exit\s+(?P<status>\d+)\s*$")
RUNNABLE = frozenset({"python", "console"})
UNRUNNABLE_PYTHON = frozenset({"py", "pycon", "python3", "ipython", "ipy"})


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced code block of a page: its info string, first line number and text."""

    info: str
    line: int
    text: str


def fenced_blocks(markdown: str) -> list[Block]:
    """The fenced code blocks of ``markdown``, in order (their indentation removed).

    >>> [(b.info, b.line, b.text) for b in fenced_blocks("a\\n  ```python\\n  x = 1\\n  ```\\n")]
    [('python', 2, 'x = 1\\n')]
    """
    blocks: list[Block] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not re.match(rf"^[ \t]*{fence[0]}{{{len(fence)},}}\s*$", lines[j]):
            line = lines[j]
            body.append(line[indent:] if not line[:indent].strip() else line.lstrip())
            j += 1
        blocks.append(Block(opening["info"].lower(), i + 1, "".join(f"{b}\n" for b in body)))
        i = j + 1
    return blocks


def console_commands(text: str) -> list[tuple[str, int]]:
    """The ``$ `` commands of a console block and the exit status each must give.

    >>> console_commands("$ tiffzarr info a.tif\\nshown\\n$ false  # exit 1\\n")
    [('tiffzarr info a.tif', 0), ('false', 1)]
    """
    commands = []
    lines = iter(text.splitlines())
    for line in lines:
        if not line.startswith("$ "):
            continue
        command = line[2:]
        while command.endswith("\\"):
            command = command[:-1] + next(lines, "")
        status = EXIT.search(command)
        if status is not None:
            commands.append((command[: status.start()], int(status["status"])))
        else:
            commands.append((command, 0))
    return commands


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample folder, ``data`` in a temporary folder."""
    return make_samples(tmp_path_factory.mktemp("docs") / "data")


@pytest.fixture(scope="module")
def server(samples: Path) -> Iterator[RangeServer]:
    """A loopback server whose ``/data/`` is the sample folder (as in the pages' URLs)."""
    with serve(samples.parent) as running:
        yield running


def run_python(page: str, block: Block, namespace: dict[str, object], base: str) -> None:
    # blank lines in front: tracebacks give the page's own line numbers
    source = "\n" * block.line + block.text.replace(URL_PREFIX, base)
    exec(compile(source, str(DOCS / page), "exec"), namespace)


def run_console(page: str, block: Block, folder: Path, base: str) -> None:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    for command, status in console_commands(block.text):
        shown = command.replace(URL_PREFIX, base)
        done = subprocess.run(
            shown, shell=True, cwd=folder, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == status, (
            f"docs/{page}:{block.line}: {shlex.quote(command)} exited {done.returncode}, "
            f"not {status}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )


@pytest.mark.filterwarnings(  # rioxarray's use of affine, not ours
    "ignore:Use `@` matmul instead of `\\*` mul:PendingDeprecationWarning"
)
@pytest.mark.parametrize("page", PAGES)
def test_page(
    page: str, samples: Path, server: RangeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = fenced_blocks((DOCS / page).read_text(encoding="utf-8"))
    hidden = [b for b in blocks if b.info in UNRUNNABLE_PYTHON]
    assert not hidden, f"docs/{page}: Python in blocks that do not run: {hidden}"
    runnable = [b for b in blocks if b.info in RUNNABLE]
    if not runnable:
        pytest.skip(f"docs/{page} shows no Python or console code")
    monkeypatch.chdir(samples)
    base = server.url_for("data") + "/"
    namespace: dict[str, object] = {"__name__": f"docs.{page}"}
    for block in runnable:
        if block.info == "python":
            run_python(page, block, namespace, base)
        else:
            run_console(page, block, samples, base)


def test_samples_are_what_the_pages_say(samples: Path) -> None:
    """The sample files as tifffile and rio-cogeo read them (oracles, not tiffzarr)."""
    for name, data in sample_arrays().items():
        with tifffile.TiffFile(samples / name) as tif:
            assert np.array_equal(tif.series[0].asarray(), data), name
            levels = [level.shape for level in tif.series[0].levels]
            ome = tif.is_ome
        if name == "image.tif":
            assert levels == [(512, 384), (256, 192)]
        if name == "cells.ome.tif":
            assert ome and levels == [(2, 2, 3, 128, 128), (2, 2, 3, 64, 64)]
    valid, errors, _ = cog_validate(str(samples / "cog.tif"), quiet=True)
    assert valid and not errors
    with rasterio.open(samples / "cog.tif") as src:
        assert src.crs.to_epsg() == 32633 and src.nodata == 0 and src.overviews(1) == [2]
