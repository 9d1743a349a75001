"""Open a reference set as a read-only zarr store (fsspec's reference filesystem).

The store is zarr's ``FsspecStore`` over an asynchronous
``ReferenceFileSystem`` whose target filesystems are asynchronous too (HTTP and
S3 natively, local files through fsspec's async wrapper), as zarr 3.1 needs.
JSON reference sets are checked entry by entry when opened; parquet ones
(fsspec's ``LazyReferenceMapper`` with pyarrow) have their metadata checked
when opened and each chunk reference when it is first read.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import weakref
from collections.abc import Mapping
from typing import Any

import fsspec
from fsspec.asyn import AsyncFileSystem
from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper
from fsspec.implementations.reference import LazyReferenceMapper, ReferenceFileSystem

from tiffzarr.codecs import register_codecs
from tiffzarr.codecs._portable import register_portable_codecs
from tiffzarr.errors import RefsError, SourceError
from tiffzarr.io import open_source
from tiffzarr.io._fsspec import _close_async_fs_now
from tiffzarr.io._urls import Base, absolute_url, protocol_of
from tiffzarr.refs._check import EntryChecker, is_metadata_key
from tiffzarr.refs._store import ReferenceStore

__all__ = ["open_references"]

_CHUNK_KEY = re.compile(r"\d+(\.\d+)*")


async def open_references(
    path_or_dict: str | os.PathLike[str] | Mapping[str, Any],
    /,
    *,
    storage_options: dict[str, Any] | None = None,
    remote_protocol: str | None = None,
    remote_options: dict[str, Any] | None = None,
    allow_external: bool = False,
) -> ReferenceStore:
    """Open a kerchunk reference set (JSON version 0/1, or a parquet folder) for zarr.

    Parameters
    ----------
    path_or_dict
        A reference file (``.json``), a parquet reference folder, or a reference
        dict. Relative targets in a file or folder are relative to its location.
    storage_options
        fsspec options for reading the reference file; also used for targets on the
        same filesystem when ``remote_options`` is not given.
    remote_protocol
        Targets written without a protocol are on this filesystem (as in fsspec).
    remote_options
        fsspec options for the targets (``asynchronous=True`` is always added).
    allow_external
        Read targets outside the folder of the reference file. Without it, such a
        target is refused with :class:`~tiffzarr.errors.RefsError` before anything
        is read. A dict has no location: its targets are not confined, and relative
        ones are refused.

    Returns
    -------
    ReferenceStore
        zarr's ``FsspecStore``, read-only; open it with ``zarr.open(store, mode="r")``.

    Raises
    ------
    RefsError
        Malformed JSON, entries or metadata (naming the key), or a target outside
        the folder.
    """
    register_codecs()
    register_portable_codecs()
    if isinstance(path_or_dict, Mapping):
        checker = _checker(path_or_dict, None, allow_external, remote_protocol)
        references: Any = _checked_entries(path_or_dict, checker)
        location = None
    else:
        location = os.fspath(path_or_dict)
        references = await _load(location, storage_options, allow_external, remote_protocol)
    filesystems = _Filesystems(
        reference_protocol=None if location is None else protocol_of(absolute_url(location)),
        storage_options=storage_options,
        remote_protocol=remote_protocol,
        remote_options=remote_options,
    )
    if isinstance(references, dict):
        identity: Any = references
        v3 = any(key.rpartition("/")[2] == "zarr.json" for key in references)
    else:
        identity, v3 = ("parquet", location), False
    fs = _CheckedReferenceFileSystem(references, filesystems, identity)
    return ReferenceStore(fs, zarr_format=3 if v3 else 2)


async def _load(
    location: str,
    storage_options: dict[str, Any] | None,
    allow_external: bool,
    remote_protocol: str | None,
) -> Any:
    """The checked entries of a JSON reference file, or the checking parquet mapper."""
    base = Base.of(location)
    if await asyncio.to_thread(_is_parquet, location, storage_options):
        checker = EntryChecker(
            base=base, allow_external=allow_external, remote_protocol=remote_protocol
        )
        return await asyncio.to_thread(_lazy_references, location, storage_options, checker)
    text = await _read_text(location, storage_options)
    try:
        loaded = json.loads(text)
    except ValueError as exc:
        raise RefsError(f"not a JSON reference file: {exc}", url=location) from exc
    if not isinstance(loaded, dict):
        raise RefsError("a reference file must hold a JSON object", url=location)
    return _checked_entries(loaded, _checker(loaded, base, allow_external, remote_protocol))


def _checker(
    refs: Mapping[str, Any], base: Base | None, allow_external: bool, remote_protocol: str | None
) -> EntryChecker:
    version = refs.get("version")
    if version not in (None, 1):
        raise RefsError(f"unknown reference set version {version!r}")
    templates = refs.get("templates", {}) if version == 1 else {}
    if not isinstance(templates, dict):
        raise RefsError(f"templates {templates!r} are not an object")
    return EntryChecker(
        base=base,
        allow_external=allow_external,
        remote_protocol=remote_protocol,
        templates=templates,
    )


def _checked_entries(refs: Mapping[str, Any], checker: EntryChecker) -> dict[str, Any]:
    """Version 0 entries, every one checked, targets absolute."""
    if refs.get("version") == 1:
        if refs.get("gen"):
            raise RefsError(
                "'gen' entries (generated references) are not supported; expand them first"
            )
        entries = refs.get("refs", {})
        if not isinstance(entries, dict):
            raise RefsError("'refs' is not an object")
    else:
        entries = refs
    out: dict[str, Any] = {}
    for key, value in entries.items():
        if not isinstance(key, str):
            raise RefsError(f"key {key!r} is not a string")
        if is_metadata_key(key):
            out[key] = checker.metadata(key, value)
            continue
        checked = checker.chunk(key, value)
        if checked is not None:
            out[key] = checked
    return out


def _is_parquet(location: str, storage_options: dict[str, Any] | None) -> bool:
    """kerchunk's rule: a folder (or a ``.parq``/``.parquet`` name) holds parquet references."""
    if location.endswith(".json"):
        return False
    if location.endswith(("parq", "parquet", "/")):
        return True
    fs, path = fsspec.core.url_to_fs(location, **(storage_options or {}))
    try:
        return bool(fs.isdir(path))
    except OSError:
        return False


async def _read_text(location: str, storage_options: dict[str, Any] | None) -> bytes:
    source = open_source(location, storage_options=storage_options)
    try:
        size = await source.size()
        return await source.read(0, size)
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result


class _CheckedLazyMapper(LazyReferenceMapper):
    """fsspec's parquet reference mapper, checking each reference as it is loaded.

    A missing chunk is a row without a path; pandas 3 reads that path as NaN
    (not ``None``, which fsspec expects), so it is treated as absent here.
    """

    def __init__(self, root: str, *, fs: Any, checker: EntryChecker) -> None:
        super().__init__(root, fs=fs, engine="pyarrow")
        self._checker = checker

    def _load_one_key(self, key: str) -> Any:
        # fsspec parses any key below an array as a chunk key: zarr's probe for
        # "<array>/zarr.json" would raise ValueError instead of KeyError.
        if not _CHUNK_KEY.fullmatch(key.rpartition("/")[2]) and not self._known(key):
            raise KeyError(key)
        value = super()._load_one_key(key)
        if not isinstance(value, list):
            return value  # inline data, or metadata checked when opened
        if not isinstance(value[0], str):
            raise KeyError(key)
        checked = self._checker.chunk(key, value)
        if checked is None:
            raise KeyError(key)
        return checked

    def _known(self, key: str) -> bool:
        return key in self._items or key in self.zmetadata


def _lazy_references(
    location: str, storage_options: dict[str, Any] | None, checker: EntryChecker
) -> _CheckedLazyMapper:
    fs, root = fsspec.core.url_to_fs(location.rstrip("/"), **(storage_options or {}))
    mapper = _CheckedLazyMapper(root, fs=fs, checker=checker)
    try:
        mapper.setup()
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RefsError(f"not a parquet reference folder: {exc}", url=location) from exc
    record_size = mapper.record_size
    if isinstance(record_size, bool) or not isinstance(record_size, int) or record_size < 1:
        raise RefsError(f"record_size {record_size!r} is not a positive integer", url=location)
    if not isinstance(mapper.zmetadata, dict):
        raise RefsError("'metadata' of .zmetadata is not an object", url=location)
    for key, doc in mapper.zmetadata.items():
        checker.metadata(key, doc)
    return mapper


def _new_filesystems(options: dict[str, Any]) -> _Filesystems:
    return _Filesystems(**options)


class _Filesystems(dict[str | None, AsyncFileSystem]):
    """Asynchronous target filesystems, created on first use of each protocol.

    ``None`` (plain paths) is the local filesystem behind fsspec's async wrapper.
    Remote ones get ``asynchronous=True`` and their own instance (fsspec's instance
    cache would share one bound to another event loop).
    """

    def __init__(
        self,
        *,
        reference_protocol: str | None,
        storage_options: dict[str, Any] | None,
        remote_protocol: str | None,
        remote_options: dict[str, Any] | None,
    ) -> None:
        super().__init__()
        self.reference_protocol = reference_protocol
        self.storage_options = dict(storage_options or {})
        self.remote_protocol = remote_protocol
        self.remote_options = remote_options

    def __reduce__(self) -> tuple[Any, ...]:
        # a copy starts without filesystems: they bind to the event loop that uses them
        options = {
            "reference_protocol": self.reference_protocol,
            "storage_options": self.storage_options,
            "remote_protocol": self.remote_protocol,
            "remote_options": self.remote_options,
        }
        return (_new_filesystems, (options,))

    def options(self, protocol: str) -> dict[str, Any]:
        if self.remote_options is not None and self.remote_protocol in (None, protocol):
            return dict(self.remote_options)
        if protocol == self.reference_protocol:
            return dict(self.storage_options)
        return {}

    def __missing__(self, protocol: str | None) -> AsyncFileSystem:
        if protocol in (None, "file", "local"):
            fs: AsyncFileSystem = AsyncFileSystemWrapper(
                fsspec.filesystem("file"), asynchronous=True
            )
        else:
            cls = fsspec.get_filesystem_class(protocol)
            options = self.options(protocol)
            if cls.async_impl:
                options.update(asynchronous=True, skip_instance_cache=True)
                fs = fsspec.filesystem(protocol, **options)
            else:
                fs = AsyncFileSystemWrapper(
                    fsspec.filesystem(protocol, **options), asynchronous=True
                )
        self[protocol] = fs
        return fs


def _close_filesystems(filesystems: dict[str | None, AsyncFileSystem]) -> None:
    """Release the sessions of the target filesystems (their loop may be gone)."""
    for fs in filesystems.values():
        _close_async_fs_now(fs)


class _CheckedReferenceFileSystem(ReferenceFileSystem):
    """fsspec's reference filesystem whose reads say which key failed.

    A target that cannot be read raises :class:`~tiffzarr.errors.SourceError`
    (not ``FileNotFoundError``, which zarr would take for an absent chunk and
    fill), and so does a target that returns fewer or more bytes than referenced.
    """

    def __init__(self, references: Any, filesystems: _Filesystems, identity: Any) -> None:
        super().__init__(references, fs={}, asynchronous=True)
        self.fss = filesystems
        self.identity = identity
        # fsspec closes the sessions of synchronous instances only
        weakref.finalize(self, _close_filesystems, filesystems)

    async def _cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        part, lo, hi = self._cat_common(path, start=start, end=end)
        if isinstance(part, bytes):
            data: bytes = part[start:end]
            return data
        key = self._strip_protocol(path)
        fs = self.fss[protocol_of(part)]
        try:
            data = await fs._cat_file(part, start=lo, end=hi)
        except Exception as exc:
            raise SourceError(
                f"reference target {part} [{lo}, {hi}) cannot be read: {type(exc).__name__}: {exc}",
                key=key,
                url=part,
            ) from exc
        if lo is not None and hi is not None and len(data) != hi - lo:
            raise SourceError(
                f"reference target {part} returned {len(data)} bytes for [{lo}, {hi})",
                key=key,
                url=part,
                offset=lo,
            )
        return data
