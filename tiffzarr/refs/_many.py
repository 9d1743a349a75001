"""The reference sets of many TIFFs at once: one JSON file per TIFF, or one parquet set.

Files are opened ``concurrency`` at a time on one event loop, with the HTTP
sessions (and their connections) every open of the loop shares; opening a COG
costs one request (its first 64 KiB, whose ``Content-Range`` gives the size), so
each file costs one request in all. Each file's references are written as soon
as they are built and then dropped: memory does not grow with the number of
files (but for the parquet set's metadata documents, written last).

Each reference set is named after its file: the file name without its last
extension (``scene_001.tif`` → ``scene_001.json``, or the group ``scene_001`` of
the parquet set). Two files of the same name are refused before anything is read.

A file that fails (unreadable, not a TIFF, a server error) does not stop the
others: its error is reported in the summary, by URL (or raised at once, with
``on_error="raise"``). With a dask.distributed client, the files are split
among the workers; each writes the references of its share, and only small
summaries come back (with the metadata documents of a parquet set).

>>> import asyncio, numpy, tifffile, tempfile, os, json
>>> folder = tempfile.mkdtemp()
>>> for name in ("a", "b"):
...     tifffile.imwrite(os.path.join(folder, f"{name}.tif"), numpy.zeros((64, 64), "uint8"),
...                      tile=(32, 32))
>>> open(os.path.join(folder, "c.tif"), "wb").write(b"not a TIFF")
10
>>> summary = asyncio.run(write_many_references(os.path.join(folder, "*.tif"),
...                                             os.path.join(folder, "refs")))
>>> sorted(os.listdir(os.path.join(folder, "refs"))), len(summary.written)
(['a.json', 'b.json'], 2)
>>> [(os.path.basename(url), error.split(":")[0]) for url, error in summary.errors.items()]
[('c.tif', 'TiffFormatError')]
"""

from __future__ import annotations

import asyncio
import json
import os
import posixpath
import sys
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tiffzarr._check import check_arguments, describe
from tiffzarr._sync import run_sync
from tiffzarr.io._urls import absolute_url, protocol_of
from tiffzarr.model import PagePath
from tiffzarr.reader import Missing
from tiffzarr.refs._build import CodecChoice, Version, nest_references, references
from tiffzarr.refs._write import (
    Format,
    flatten_references,
    prepare_folder,
    save_references,
    write_arrays,
    write_zmetadata,
)
from tiffzarr.store import OME_XML_KEY, Files, ZarrFormat, sequence_files

__all__ = ["OnError", "ReferenceSummary", "reference_names", "write_many_references"]

OnError = Literal["collect", "raise"]


@dataclass(frozen=True, slots=True)
class ReferenceSummary:
    """What :func:`write_many_references` wrote.

    Attributes
    ----------
    folder
        The folder of the JSON files, or the parquet reference set.
    format
        ``"json"`` or ``"parquet"``.
    written
        Source URL → its JSON file (a path or URL), or its group in the parquet set.
    errors
        Source URL → the error that stopped it (``"TiffFormatError: ..."``); nothing
        was written for it.
    fallbacks
        Source URL → the arrays that kept tiffzarr's codec (see
        :class:`~tiffzarr.refs.ReferenceSet`), for the files that have any.
    """

    folder: str
    format: Format
    written: Mapping[str, str]
    errors: Mapping[str, str]
    fallbacks: Mapping[str, Mapping[str, str]]

    @property
    def ok(self) -> bool:
        """Whether every file was written."""
        return not self.errors


@dataclass(frozen=True, slots=True)
class _Job:
    """What writing a share of the files needs (pickled to dask workers): ``folder`` is
    the target as given (made absolute), ``root`` its path on the target filesystem."""

    folder: str
    format: Format
    options: Mapping[str, Any]
    target_options: dict[str, Any] | None
    concurrency: int
    on_error: OnError


@dataclass(slots=True)
class _Share:
    """What writing a share of the files found: errors, fallbacks and (parquet) the
    metadata documents of each file's group, as JSON text (one object per file: parsed,
    those of many files would take far more memory)."""

    errors: dict[str, str] = field(default_factory=dict)
    fallbacks: dict[str, dict[str, str]] = field(default_factory=dict)
    metadata: list[str] = field(default_factory=list)


async def write_many_references(
    files: Files,
    target_folder: str,
    /,
    *,
    format: Format = "json",
    concurrency: int = 64,
    client: Any = None,
    on_error: OnError = "collect",
    series: int | None = None,
    level: int | None = None,
    page: int | PagePath | None = None,
    storage_options: dict[str, Any] | None = None,
    squeeze: bool | None = None,
    missing: Missing = "error",
    version: Version = 1,
    zarr_format: ZarrFormat = 2,
    codecs: CodecChoice = "portable",
    inline_threshold: int = 0,
    target_options: dict[str, Any] | None = None,
) -> ReferenceSummary:
    """Write the references of every file, each as it would be by
    :func:`~tiffzarr.refs.write_references`, into ``target_folder``.

    Parameters
    ----------
    files
        A list of paths and URLs, a glob pattern or a folder (its ``.tif`` and
        ``.tiff`` files; a listing is one request per page).
    target_folder
        A folder (path or fsspec URL): ``format="json"`` writes ``<name>.json`` there
        for each file; ``format="parquet"`` makes it one parquet reference set with a
        group ``<name>`` per file (zarr v2; ``version`` does not apply; the OME-XML
        is left out, as by :func:`~tiffzarr.refs.write_references`). A folder holding
        a parquet set is replaced; any other non-empty folder is refused for parquet.
        Targets inside the folder that holds the references are written relative to it.
    concurrency
        Files opened at a time (per worker with ``client``). HTTP sources share one
        aiohttp session per event loop, which keeps at most 100 connections unless
        ``storage_options["client_kwargs"]`` gives it another connector.
    client
        ``None``: everything in this process; a ``dask.distributed.Client``: the files
        split among its workers, each writing its share (``target_folder`` must be
        reachable from them); ``"auto"``: the active client if there is one.
    on_error
        ``"collect"``: a file that fails is reported in the summary, the others go on;
        ``"raise"``: the first error is raised (with a note naming the file), and the
        files in flight are abandoned.
    series, level, page, storage_options, squeeze, missing
        As for :func:`~tiffzarr.refs.references`, for every file.
    version, zarr_format, codecs, inline_threshold
        As for :func:`~tiffzarr.refs.references`.
    target_options
        fsspec options for writing ``target_folder``.

    Returns
    -------
    ReferenceSummary
        The files written, and the errors of those that were not.

    Raises
    ------
    ValueError
        Two files would give references of the same name, or a file's name gives none.
    """
    check_arguments(
        target_folder=target_folder,
        format=format,
        concurrency=concurrency,
        on_error=on_error,
        target_options=target_options,
        series=series,
        level=level,
        page=page,
        storage_options=storage_options,
        squeeze=squeeze,
        missing=missing,
        version=version,
        zarr_format=zarr_format,
        codecs=codecs,
        inline_threshold=inline_threshold,
    )
    if format == "parquet" and zarr_format != 2:
        raise ValueError("parquet reference sets are zarr v2 only (fsspec's LazyReferenceMapper)")
    running = _client(client)
    urls = await sequence_files(files, storage_options=storage_options)
    names = reference_names(urls)
    folder = absolute_url(os.fspath(target_folder)).rstrip("/")
    options = {
        "series": series,
        "level": level,
        "page": page,
        "storage_options": storage_options,
        "squeeze": squeeze,
        "missing": missing,
        "version": 1 if format == "parquet" else version,
        "zarr_format": zarr_format,
        "codecs": codecs,
        "inline_threshold": inline_threshold,
    }
    job = _Job(folder, format, options, target_options, concurrency, on_error)
    root = await asyncio.to_thread(_prepare, job)
    pairs = list(names.items())
    if running is None:
        shares = [await _write_share(pairs, job)]
    else:
        shares = await _on_cluster(running, pairs, job)
    errors = {url: text for share in shares for url, text in share.errors.items()}
    if format == "parquet":
        parts = [part for share in shares for part in share.metadata]
        await asyncio.to_thread(_finish_parquet, job, root, parts)
    written = {url: _target(job, name) for url, name in names.items() if url not in errors}
    return ReferenceSummary(
        folder,
        format,
        written,
        errors,
        {url: found for share in shares for url, found in share.fallbacks.items()},
    )


def reference_names(urls: Iterable[str], /) -> dict[str, str]:
    """The name of each file's references: its file name without the last extension.

    >>> reference_names(["s3://b/run/a.tif", "http://h/x/b%20c.ome.tiff", "/data/d.TIF"])
    {'s3://b/run/a.tif': 'a', 'http://h/x/b%20c.ome.tiff': 'b c.ome', '/data/d.TIF': 'd'}
    >>> reference_names(["/one/a.tif", "/two/a.tif"])
    Traceback (most recent call last):
    ValueError: /one/a.tif and /two/a.tif would both write references named 'a'
    """
    owners: dict[str, str] = {}
    out: dict[str, str] = {}
    for url in urls:
        name = _name_of(url)
        if name in owners:
            raise ValueError(f"{owners[name]} and {url} would both write references named {name!r}")
        owners[name] = url
        out[url] = name
    return out


def _name_of(url: str) -> str:
    head = url.partition("::")[0]  # a chained URL is named after its first part
    if protocol_of(head) in (None, "file"):
        base = os.path.basename(absolute_url(head))
    else:
        base = urllib.parse.unquote(posixpath.basename(urllib.parse.urlsplit(head).path))
    name = os.path.splitext(base)[0]
    if not name or name.startswith(".") or "/" in name or "\\" in name:
        raise ValueError(
            f"cannot name references after {url}: its file name {base!r} gives the name"
            f" {name!r} (empty, hidden or with a slash)"
        )
    return name


def _client(client: object) -> Any:
    """The dask.distributed client to run on, or ``None`` for this process."""
    if client is None:
        return None
    distributed = sys.modules.get("distributed")  # not imported: no client can be active
    if isinstance(client, str) and client == "auto":
        if distributed is None:
            return None
        try:
            return distributed.default_client()
        except ValueError:  # no client is active
            return None
    if distributed is None or not isinstance(client, distributed.Client):
        raise TypeError(
            f"client must be None, 'auto' or a dask.distributed Client, not {describe(client)}"
        )
    if client.asynchronous:
        raise ValueError("client must be a blocking dask.distributed Client (asynchronous=False)")
    return client


def _target(job: _Job, name: str) -> str:
    """Where a file's references go: its JSON file, or its group in the parquet set."""
    return f"{job.folder}/{name}.json" if job.format == "json" else name


def _filesystem(job: _Job) -> tuple[Any, str]:
    import fsspec

    fs, root = fsspec.core.url_to_fs(job.folder, **(job.target_options or {}))
    return fs, root.rstrip("/")


def _prepare(job: _Job) -> str:
    """Make the target folder (empty, for a parquet set); return its path there."""
    fs, root = _filesystem(job)
    if job.format == "parquet":
        prepare_folder(fs, root)
    else:
        fs.makedirs(root, exist_ok=True)
    return root


def _finish_parquet(job: _Job, root: str, parts: list[str]) -> None:
    fs, _ = _filesystem(job)
    top = json.dumps({".zgroup": {"zarr_format": 2}, ".zattrs": {}})
    write_zmetadata(fs, root, [top, *parts])


async def _write_share(pairs: Sequence[tuple[str, str]], job: _Job, /) -> _Share:
    """Write the references of ``pairs`` (URL, name), ``job.concurrency`` at a time."""
    share = _Share()
    fs, root = await asyncio.to_thread(_filesystem, job)
    queue = iter(pairs)

    async def work() -> None:
        for url, name in queue:  # one iterator shared by every worker
            try:
                fallbacks, metadata = await _write_one(url, name, job, fs, root)
            except Exception as exc:  # reported per file, never dropped
                if job.on_error == "raise":
                    exc.add_note(f"while writing the references of {url}")
                    raise
                share.errors[url] = f"{type(exc).__name__}: {exc}"
                continue
            if fallbacks:
                share.fallbacks[url] = fallbacks
            if metadata is not None:
                share.metadata.append(metadata)

    tasks = [asyncio.create_task(work()) for _ in range(min(job.concurrency, len(pairs)))]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return share


async def _write_one(
    url: str, name: str, job: _Job, fs: Any, root: str
) -> tuple[dict[str, str], str | None]:
    """Build and write one file's references; its fallbacks and (parquet) its documents
    (JSON text)."""
    target_url = _target(job, name) if job.format == "json" else job.folder
    refs = await references(url, **job.options, target_url=target_url)
    if job.format == "json":
        await asyncio.to_thread(
            save_references, refs, target_url, target_options=job.target_options
        )
        return refs.fallbacks, None
    entries = flatten_references(refs)
    entries.pop(OME_XML_KEY, None)
    nested = nest_references(entries, name)
    mine = {key: value for key, value in nested.items() if key.startswith(f"{name}/")}
    metadata = await asyncio.to_thread(write_arrays, fs, root, mine)
    return refs.fallbacks, json.dumps(metadata, separators=(",", ":"))


def _write_share_sync(pairs: Sequence[tuple[str, str]], job: _Job) -> _Share:
    """:func:`_write_share` on a dask worker."""
    return run_sync(_write_share(pairs, job))


async def _on_cluster(client: Any, pairs: list[tuple[str, str]], job: _Job) -> list[_Share]:
    """Split ``pairs`` among the client's workers; their shares' summaries (keyed by the
    URLs as given: relative local paths go to the workers made absolute here)."""
    given = {(os.path.abspath(url) if protocol_of(url) is None else url): url for url, _ in pairs}
    located = list(zip(given, (name for _, name in pairs), strict=True))
    count = max(1, min(len(client.nthreads()), len(located)))
    parts = [
        located[i * len(located) // count : (i + 1) * len(located) // count] for i in range(count)
    ]
    futures = client.map(_write_share_sync, parts, job=job, pure=False)
    try:
        shares: list[_Share] = await asyncio.to_thread(client.gather, futures)
    except BaseException:
        client.cancel(futures)
        raise
    for share in shares:
        share.errors = {given[url]: text for url, text in share.errors.items()}
        share.fallbacks = {given[url]: found for url, found in share.fallbacks.items()}
    return shares
