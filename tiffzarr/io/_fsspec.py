"""Files on any fsspec filesystem: async ones awaited natively, sync ones in threads.

Async filesystems (s3fs, gcsfs, fsspec's HTTP, ...) are created with
``asynchronous=True`` once per event loop and set of options (shared by the
sources that use them), because their clients bind to the loop that made them;
they are closed in that loop when it shuts down. Sync
filesystems (memory, local, zip, chained URLs) are shared and called through
:func:`asyncio.to_thread`.

>>> import asyncio, fsspec
>>> with fsspec.open("memory://doc/a.bin", "wb") as f:
...     _ = f.write(b"0123456789")
>>> src = FsspecSource("memory://doc/a.bin")
>>> asyncio.run(src.read(2, 3)), asyncio.run(src.size()), src.stats.requests
(b'234', 10, 2)
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from typing import Any

import aiohttp
import fsspec
from fsspec.asyn import AsyncFileSystem
from fsspec.core import split_protocol, url_to_fs
from fsspec.utils import tokenize

from tiffzarr.errors import SourceError, SourceNotFoundError
from tiffzarr.io._base import ByteSource, PerLoop
from tiffzarr.io._sessions import close_session_now

__all__ = ["FsspecSource"]

logger = logging.getLogger(__name__)

# botocore error codes (``exc.response["Error"]["Code"]``) that mean "no such file".
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NoSuchBucket", "NotFound"})
# ... and those that mean "not the version that was parsed" (overwritten, version deleted).
_CHANGED_CODES = frozenset({"PreconditionFailed", "412", "NoSuchVersion"})
# Separates the ETag and VersionId of an S3 object in its version string.
_VERSION_SEP = " version "
# Options the source sets itself when it creates an async filesystem.
_RESERVED_OPTIONS = frozenset({"asynchronous", "loop", "skip_instance_cache"})


class FsspecSource(ByteSource):
    """A file on any fsspec filesystem.

    Parameters
    ----------
    url
        fsspec URL, e.g. ``s3://bucket/key.tif``, ``memory://a.tif`` or a chained
        URL such as ``zip://a.tif::file:///data/b.zip``.
    storage_options
        Keyword arguments of the filesystem (credentials, ``client_kwargs``, ...).
        ``asynchronous``, ``loop`` and ``skip_instance_cache`` are set by the source.

    Notes
    -----
    The size comes from the filesystem's ``info`` and counts as one request.
    Async filesystems are closed with their loop or by :meth:`close`; the source
    pickles as its URL and options only.
    """

    def __init__(self, url: str, /, *, storage_options: dict[str, Any] | None = None) -> None:
        super().__init__(url)
        options = dict(storage_options or {})
        reserved = set(options) & _RESERVED_OPTIONS
        if reserved:
            raise ValueError(f"storage options {sorted(reserved)} are set by FsspecSource")
        self._storage_options = options
        self._sync_fs: fsspec.AbstractFileSystem | None = None
        self._sync_path = ""
        self._lock = threading.Lock()
        self._async_fs: PerLoop[AsyncFileSystem] | None = None
        self._path = ""
        cls = None if "::" in url else _filesystem_class(url)
        if cls is not None and getattr(cls, "async_impl", False):
            kwargs = {**cls._get_kwargs_from_urls(url), **options}
            self._path = cls._strip_protocol(url)
            self._async_fs = PerLoop.shared(
                ("fsspec", cls.__module__, cls.__qualname__, tokenize(kwargs)),
                functools.partial(_new_async_fs, cls, kwargs),
                _close_async_fs,
                _close_async_fs_now,
            )

    def _options(self) -> dict[str, object]:
        return {"storage_options": self._storage_options}

    async def close(self) -> None:
        """Close the async filesystems of all loops now (they reopen lazily when used).

        They are shared by all sources with the same filesystem and options, so
        this also interrupts their requests in flight. It is never required: each
        loop closes its own filesystem when it shuts down.
        """
        if self._async_fs is not None:
            await self._async_fs.aclose()

    def _sync(self) -> tuple[fsspec.AbstractFileSystem, str]:
        with self._lock:
            if self._sync_fs is None:
                try:
                    self._sync_fs, self._sync_path = url_to_fs(self.url, **self._storage_options)
                except FileNotFoundError as exc:
                    raise SourceNotFoundError(f"cannot open: {exc}", url=self.url) from exc
                except Exception as exc:
                    raise SourceError(
                        f"cannot open the filesystem: {type(exc).__name__}: {exc}", url=self.url
                    ) from exc
            return self._sync_fs, self._sync_path

    def _sync_info(self) -> dict[str, Any]:
        fs, path = self._sync()
        return dict(fs.info(path))

    def _sync_cat(self, start: int, stop: int) -> bytes:
        fs, path = self._sync()
        return bytes(fs.cat_file(path, start=start, end=stop))

    async def _size(self) -> int:
        try:
            if self._async_fs is None:
                info = await asyncio.to_thread(self._sync_info)
            else:
                fs = await self._async_fs.get()
                info = await fs._info(self._path)
        except SourceError:
            raise
        except Exception as exc:
            raise self._error("size lookup failed", exc) from exc
        self.stats.requests += 1
        size = info.get("size")
        if info.get("type") == "directory" or not isinstance(size, int):
            raise SourceError(f"not a file: {info.get('type')} of size {size}", url=self.url)
        self._learn_version(_info_version(info), "its listing")
        return size

    async def _read(self, offset: int, length: int) -> bytes:
        stop = offset + length
        try:
            if self._async_fs is None:
                return await asyncio.to_thread(self._sync_cat, offset, stop)
            fs = await self._async_fs.get()
            if self._version is not None and hasattr(fs, "_call_s3"):
                return await self._read_s3_version(fs, offset, stop)
            return bytes(await fs._cat_file(self._path, start=offset, end=stop))
        except SourceError:
            raise
        except Exception as exc:
            raise self._error(f"read of [{offset}, {stop}) failed", exc, offset) from exc

    async def _read_s3_version(self, fs: AsyncFileSystem, offset: int, stop: int) -> bytes:
        """A ranged GET of the object version that was parsed: by ``VersionId`` where
        the bucket keeps versions, else ``If-Match`` its ``ETag`` (S3 refuses with 412
        once the object was overwritten)."""
        assert self._version is not None
        etag, _, version_id = self._version.partition(_VERSION_SEP)
        pin = {"VersionId": version_id} if version_id else {"IfMatch": etag}
        bucket, key, _ = fs.split_path(self._path)
        answer = await fs._call_s3(
            "get_object", Bucket=bucket, Key=key, Range=f"bytes={offset}-{stop - 1}", **pin
        )
        body = answer["Body"]
        try:
            return bytes(await body.read())
        finally:
            body.close()

    def _error(self, what: str, exc: Exception, offset: int | None = None) -> SourceError:
        code = _error_code(exc)
        if code in _CHANGED_CODES and self._version is not None:
            return self._changed(f"{what}: {code} for version {self._version}", offset)
        if _is_not_found(exc):
            return SourceNotFoundError(f"no such file: {what}", url=self.url, offset=offset)
        return SourceError(f"{what}: {type(exc).__name__}: {exc}", url=self.url, offset=offset)


def _info_version(info: dict[str, Any]) -> str | None:
    """The version an fsspec ``info`` names: S3's ``ETag`` (and ``VersionId`` where
    the bucket keeps versions), GCS's ``generation``; ``None`` when it names none."""
    etag = info.get("ETag") or info.get("etag")
    version_id = info.get("VersionId")
    if etag and version_id:
        return f"{etag}{_VERSION_SEP}{version_id}"
    if etag:
        return str(etag)
    generation = info.get("generation")
    return None if generation is None else f"generation {generation}"


def _error_code(exc: BaseException) -> str | None:
    """The botocore error code of ``exc`` or of the error it was translated from."""
    for error in (exc, exc.__cause__):
        response = getattr(error, "response", None)
        if isinstance(response, dict):
            return str(response.get("Error", {}).get("Code"))
    return None


def _filesystem_class(url: str) -> type[fsspec.AbstractFileSystem]:
    protocol = split_protocol(url)[0] or "file"
    try:
        found: type[fsspec.AbstractFileSystem] = fsspec.get_filesystem_class(protocol)
        return found
    except (ValueError, ImportError) as exc:
        raise SourceError(f"no fsspec filesystem for {protocol!r}: {exc}", url=url) from exc


def _is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, FileNotFoundError) or _error_code(exc) in _NOT_FOUND_CODES


def _new_async_fs(cls: type[AsyncFileSystem], kwargs: dict[str, Any]) -> AsyncFileSystem:
    fs = cls(asynchronous=True, skip_instance_cache=True, **kwargs)
    logger.debug("opened async %s %#x", cls.__name__, id(fs))
    return fs


async def _close_async_fs(fs: AsyncFileSystem) -> None:
    """Close the client of an async filesystem inside its loop."""
    logger.debug("closing async %s %#x", type(fs).__name__, id(fs))
    creator = getattr(fs, "_s3creator", None)  # s3fs: the aiobotocore client context
    if creator is not None:
        fs._s3creator = fs._s3 = None
        await creator.__aexit__(None, None, None)
    session = getattr(fs, "_session", None)  # fsspec's HTTPFileSystem: an aiohttp session
    if session is not None and hasattr(session, "close"):
        fs._session = None
        await session.close()


def _close_async_fs_now(fs: AsyncFileSystem) -> None:
    """Release the sockets of an async filesystem whose loop is closed or idle."""
    for session in _aiohttp_sessions(fs):
        close_session_now(session)
    if getattr(fs, "_s3creator", None) is not None:
        fs._s3creator = fs._s3 = None
    if getattr(fs, "_session", None) is not None:
        fs._session = None


def _aiohttp_sessions(fs: AsyncFileSystem) -> list[aiohttp.ClientSession]:
    """The aiohttp sessions of s3fs (through aiobotocore) or of fsspec's HTTP."""
    found: list[object] = []
    http = getattr(getattr(getattr(fs, "_s3", None), "_endpoint", None), "http_session", None)
    found.extend((getattr(http, "_sessions", None) or {}).values())
    found.append(getattr(fs, "_session", None))
    return [s for s in found if isinstance(s, aiohttp.ClientSession)]
