"""Shared fixtures: the third-party corpus, the hostile files, result tallies."""

from __future__ import annotations

import collections
import contextlib
import csv
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def shared_dir(name: str, env: str) -> Path | None:
    """``../shared/<name>`` beside the repository, or the folder named by ``$env``."""
    path = Path(os.environ[env]) if env in os.environ else ROOT.parent / "shared" / name
    return path if (path / "MANIFEST.tsv").is_file() else None


@contextlib.contextmanager
def local_cluster(n_workers: int = 2) -> Iterator[Any]:
    """A dask.distributed ``Client`` of ``n_workers`` single-threaded worker processes,
    everything on 127.0.0.1 (the scheduler's HTTP routes on a free port, no dashboard)."""
    from dask.distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


CORPUS = shared_dir("corpus", "TIFFZARR_CORPUS")
HOSTILE = shared_dir("hostile", "TIFFZARR_HOSTILE")


def manifest(folder: Path | None) -> list[dict[str, str]]:
    if folder is None:
        return []
    with open(folder / "MANIFEST.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def corpus_params(rows: list[dict[str, str]], known: dict[str, str]) -> list[object]:
    """One pytest parameter per corpus file; files in ``known`` are strict xfails."""
    return [
        pytest.param(r["relpath"], marks=pytest.mark.xfail(strict=True, reason=known[r["relpath"]]))
        if r["relpath"] in known
        else r["relpath"]
        for r in rows
    ]


def require(folder: Path | None, what: str) -> Path:
    if folder is None:
        pytest.skip(f"{what} not found (expected ../shared/{what} or $TIFFZARR_{what.upper()})")
    return folder


# name → Counter of outcomes; printed at the end of the run
TALLIES: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLIES:
        return
    terminalreporter.section("tiffzarr conformance tallies")
    for name, counter in sorted(TALLIES.items()):
        total = sum(counter.values())
        parts = ", ".join(f"{k}: {v}" for k, v in sorted(counter.items()))
        terminalreporter.write_line(f"{name}: {parts} (of {total})")


@pytest.fixture(scope="session")
def corpus_server():  # type: ignore[no-untyped-def]
    """The corpus folder served over a loopback HTTP Range server."""
    from tiffzarr.testing import serve

    with serve(require(CORPUS, "corpus")) as server:
        yield server
