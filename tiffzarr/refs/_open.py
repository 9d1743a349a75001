"""Open a reference set as a read-only zarr store (fsspec's reference filesystem).

The store is zarr's ``FsspecStore`` over an asynchronous
``ReferenceFileSystem`` whose target filesystems are asynchronous too (HTTP and
S3 natively, local files through fsspec's async wrapper), as zarr 3.1 needs.
JSON reference sets are checked entry by entry when opened; parquet ones
(fsspec's ``LazyReferenceMapper`` with pyarrow) have their metadata checked
when opened and each chunk reference when it is first read. A JSON file's
nesting and number of entries are checked before it is parsed
(``tiffzarr.config.max_references``), and its entries are checked in place.
Local targets confined to the reference file's folder are checked again each
time one is opened for reading, so a target replaced by a symbolic link after
the open is refused too.
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
from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.reference import LazyReferenceMapper, ReferenceFileSystem

from tiffzarr._check import check_arguments, describe
from tiffzarr._config import config
from tiffzarr.codecs import register_codecs
from tiffzarr.codecs._portable import register_portable_codecs
from tiffzarr.errors import LimitError, RefsError, SourceError
from tiffzarr.io import open_source
from tiffzarr.io._fsspec import _close_async_fs_now
from tiffzarr.io._urls import Base, absolute_url, protocol_of
from tiffzarr.refs._check import EntryChecker, check_outline, is_metadata_key
from tiffzarr.refs._store import ReferenceStore
from tiffzarr.refs._wrap import register_bounded_codecs

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
        Malformed JSON, entries or metadata (naming the key), JSON nested more
        than 128 deep, more bytes for a chunk than it can encode to, or a target
        outside the folder (when opened, and when read).
    LimitError
        More entries than ``tiffzarr.config.max_references``.
    """
    if not isinstance(path_or_dict, Mapping | str | os.PathLike):
        raise TypeError(f"path_or_dict must be a path, URL or dict, not {describe(path_or_dict)}")
    check_arguments(
        storage_options=storage_options,
        remote_protocol=remote_protocol,
        remote_options=remote_options,
        allow_external=allow_external,
    )
    register_codecs()
    register_portable_codecs()
    if isinstance(path_or_dict, Mapping):
        checker = _checker(path_or_dict, None, allow_external, remote_protocol)
        references: Any = _checked_entries(path_or_dict, checker, in_place=False)
        location = None
    else:
        location = os.fspath(path_or_dict)
        references = await _load(location, storage_options, allow_external, remote_protocol)
    base = None if location is None else Base.of(location)
    filesystems = _Filesystems(
        reference_protocol=None if location is None else protocol_of(absolute_url(location)),
        storage_options=storage_options,
        remote_protocol=remote_protocol,
        remote_options=remote_options,
        confine=base if base is not None and base.protocol is None and not allow_external else None,
    )
    if isinstance(references, dict):
        identity: Any = references
        v3 = any(key.rpartition("/")[2] == "zarr.json" for key in references)
    else:
        identity, v3 = ("parquet", location), False
    fs = _CheckedReferenceFileSystem(_Opaque((references, identity)), filesystems)
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
    loaded = await _read_json(location, storage_options)
    if not isinstance(loaded, dict):
        raise RefsError("a reference file must hold a JSON object", url=location)
    checker = _checker(loaded, base, allow_external, remote_protocol)
    return _checked_entries(loaded, checker, in_place=True)


async def _read_json(location: str, storage_options: dict[str, Any] | None) -> Any:
    """The JSON document, once its nesting and number of entries are known to be bounded.

    The parse (in a thread) is the peak of memory: by then the bytes are released
    and only the text is held.
    """
    data = await _read_text(location, storage_options)
    _check_count(check_outline(data, url=location), location)
    try:
        text = data.decode(json.detect_encoding(data), "surrogatepass")
        del data  # and the finished read that holds it, once this step yields
        return await asyncio.to_thread(json.loads, text)
    except ValueError as exc:
        raise RefsError(f"not a JSON reference file: {exc}", url=location) from exc


def _check_count(entries: int, location: str | None) -> None:
    if entries > config.max_references:
        raise LimitError(
            f"a JSON reference set of {entries} entries exceeds max_references "
            f"({config.max_references}; see tiffzarr.set_config, or write parquet references)",
            url=location,
        )


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


def _checked_entries(
    refs: Mapping[str, Any], checker: EntryChecker, *, in_place: bool
) -> dict[str, Any]:
    """Version 0 entries, every one checked, targets absolute; metadata first (the chunk
    checks need each array's chunk size). ``in_place``: the checked entries replace
    the parsed ones in their own dict (no second dict of every entry)."""
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
    if not in_place:
        _check_count(len(entries), None)
    out: dict[str, Any] = entries if in_place and isinstance(entries, dict) else {}
    for key, value in entries.items():
        if not isinstance(key, str):
            raise RefsError(f"key {key!r} is not a string")
        if is_metadata_key(key):
            out[key] = checker.metadata(key, value)
    absent = []
    for key, value in entries.items():
        if is_metadata_key(key):
            continue
        checked = checker.chunk(key, value)
        if checked is None:
            absent.append(key)
        else:
            out[key] = checked
    for key in absent:
        out.pop(key, None)
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
            # metadata checked when opened, or inline data
            return value if self._known(key) else self._checker.chunk(key, value)
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
        # fsspec reads and parses .zmetadata in setup(): its nesting is checked first
        check_outline(fs.cat_file(f"{root}/.zmetadata"), url=location)
        mapper.setup()
    except (FileNotFoundError, RefsError):
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RefsError(f"not a parquet reference folder: {exc}", url=location) from exc
    record_size = mapper.record_size
    if isinstance(record_size, bool) or not isinstance(record_size, int) or record_size < 1:
        raise RefsError(f"record_size {record_size!r} is not a positive integer", url=location)
    if not isinstance(mapper.zmetadata, dict):
        raise RefsError("'metadata' of .zmetadata is not an object", url=location)
    for key, doc in list(mapper.zmetadata.items()):
        mapper.zmetadata[key] = checker.document(key, doc)[0]
    # zarr may read the consolidated metadata: serve the checked documents there too
    consolidated = json.loads(mapper._items[".zmetadata"])
    consolidated["metadata"] = mapper.zmetadata
    mapper._items[".zmetadata"] = json.dumps(consolidated).encode()
    return mapper


def _new_filesystems(options: dict[str, Any]) -> _Filesystems:
    return _Filesystems(**options)


class _Filesystems(dict[str | None, AsyncFileSystem]):
    """Asynchronous target filesystems, created on first use of each protocol.

    ``None`` (plain paths) is the local filesystem behind fsspec's async wrapper,
    confined to the folder ``confine`` when given. Remote ones get
    ``asynchronous=True`` and their own instance (fsspec's instance cache would
    share one bound to another event loop).
    """

    def __init__(
        self,
        *,
        reference_protocol: str | None,
        storage_options: dict[str, Any] | None,
        remote_protocol: str | None,
        remote_options: dict[str, Any] | None,
        confine: Base | None = None,
    ) -> None:
        super().__init__()
        self.reference_protocol = reference_protocol
        self.storage_options = dict(storage_options or {})
        self.remote_protocol = remote_protocol
        self.remote_options = remote_options
        self.confine = confine

    def __reduce__(self) -> tuple[Any, ...]:
        # a copy starts without filesystems: they bind to the event loop that uses them
        options = {
            "reference_protocol": self.reference_protocol,
            "storage_options": self.storage_options,
            "remote_protocol": self.remote_protocol,
            "remote_options": self.remote_options,
            "confine": self.confine,
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
            local = fsspec.filesystem("file") if self.confine is None else _Confined(self.confine)
            fs: AsyncFileSystem = AsyncFileSystemWrapper(local, asynchronous=True)
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


class _Confined(LocalFileSystem):
    """The local filesystem, opening files for reading only inside ``folder``.

    Checked when each file is opened, after opening: the file must be the one its
    real path names, and that path must lie in the folder. A target swapped for a
    symbolic link after the reference set was opened (even between the check and
    the open) is refused with :class:`~tiffzarr.errors.RefsError`.
    """

    cachable = False

    def __init__(self, folder: Base, /) -> None:
        super().__init__()
        self.folder = folder

    def _open(self, path: str, mode: str = "rb", block_size: Any = None, **kwargs: Any) -> Any:
        opened = super()._open(path, mode, block_size=block_size, **kwargs)
        if "r" in mode:
            try:
                _check_confined(opened.f, self._strip_protocol(path), self.folder)
            except BaseException:
                opened.close()
                raise
        return opened


def _check_confined(file: Any, path: str, folder: Base) -> None:
    real = os.path.realpath(path)
    try:
        same = os.path.samestat(os.fstat(file.fileno()), os.stat(real))
    except OSError:
        same = False
    if not (same and folder.contains(real)):
        raise RefsError(
            f"target {path} (now {real}) is outside the reference file's folder "
            f"{folder.folder}: it changed after the reference set was opened",
            url=path,
        )


def _close_filesystems(filesystems: dict[str | None, AsyncFileSystem]) -> None:
    """Release the sessions of the target filesystems (their loop may be gone)."""
    for fs in filesystems.values():
        _close_async_fs_now(fs)


class _Opaque:
    """An argument fsspec's instance token does not spell out: the token is the
    ``str`` of every constructor argument, a copy of the whole reference set."""

    __slots__ = ("value",)

    def __init__(self, value: Any, /) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"<{type(self.value).__name__} at {id(self.value):#x}>"


class _CheckedReferenceFileSystem(ReferenceFileSystem):
    """fsspec's reference filesystem whose reads say which key failed.

    A target that cannot be read raises :class:`~tiffzarr.errors.SourceError`
    (not ``FileNotFoundError``, which zarr would take for an absent chunk and
    fill), and so does a target that returns fewer or more bytes than referenced.
    """

    def __init__(self, entries: _Opaque, filesystems: _Filesystems, /) -> None:
        register_bounded_codecs()  # here too: unpickling (dask workers) runs it again
        references, identity = entries.value
        super().__init__(references, fs={}, asynchronous=True)
        self.fss = filesystems
        self.identity = identity
        # fsspec closes the sessions of synchronous instances only
        weakref.finalize(self, _close_filesystems, filesystems)

    def _process_references(self, references: Any, template_overrides: Any = None) -> None:
        # checked version 0 entries or the checking parquet mapper: used as they are
        # (fsspec would copy every entry into a new dict)
        self.references = references

    def chunk_target(self, key: str, /) -> str | None:
        """The target URL of a chunk key (``None``: inline data or no such key)."""
        part = self.references.get(key)
        return part[0] if isinstance(part, list | tuple) else None

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
        except RefsError as exc:  # the target left the folder since the open
            raise exc.located(key=key) from exc
        except Exception as exc:
            raise SourceError(
                f"reference target [{lo}, {hi}) cannot be read: {type(exc).__name__}: {exc}",
                key=key,
                url=part,
            ) from exc
        if lo is not None and hi is not None and len(data) != hi - lo:
            raise SourceError(
                f"reference target returned {len(data)} bytes for [{lo}, {hi})",
                key=key,
                url=part,
                offset=lo,
            )
        return data
