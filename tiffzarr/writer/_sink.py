"""Where the bytes go: a temporary file renamed into place, an append, a file object, fsspec.

A local target is written to a temporary name in its own folder, flushed,
fsynced and renamed over the target only when complete, so no partial file is
ever visible and a failed overwrite leaves the old file as it was. Appending
writes after the old end of the file and truncates back on failure. An fsspec
URL is written to a local temporary file and uploaded when complete.

Temporary files are named ``{prefix}tiffzarr-{pid}-{random}.tmp`` and locked
(``flock``) while their writer lives, so a write that finds one nobody locks,
whose process is gone (or that has not changed for :data:`STALE_AFTER`
seconds), removes it: a killed writer's leftovers last until the next write to
the same target, never longer.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "a.bin")
>>> sink = open_sink(path)
>>> sink.write(b"abc"), sink.reserve(2), sink.write(b"d")
(0, 3, 5)
>>> sink.pwrite(3, b"XY"); sink.commit()
>>> open(path, "rb").read()
b'abcXYd'
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from typing import IO, Any, Literal, Protocol

from tiffzarr.errors import WriteError

__all__ = ["STALE_AFTER", "Sink", "Spool", "open_sink", "remove_stale", "write_error"]

logger = logging.getLogger(__name__)

if sys.platform == "win32":
    _fcntl: Any = None
else:
    import fcntl as _fcntl

Mode = Literal["w", "x", "r+"]
_BUFFER = 1 << 20
_MARK = "tiffzarr-"
"""What every temporary file's name carries before its writer's process id."""
_SUFFIX = ".tmp"
_OWNER = re.compile(r"(\d{1,10})-[a-z0-9_]+")
"""The rest of a temporary name: the writer's pid, then ``mkstemp``'s random letters."""
STALE_AFTER = 600.0
"""Seconds after which an unlocked temporary file is stale even if its pid is in use
(the pid was reused, or belongs to another host or container)."""


def write_error(exc: OSError, where: str, /) -> WriteError:
    """A :class:`WriteError` naming ``where``, carrying the OS error number."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    error = WriteError(f"cannot write: {reason}", url=where)
    error.errno = exc.errno
    return error


class Sink(Protocol):
    """A file being written: appended to in order, patched at known offsets."""

    folder: str | None
    """A local folder for temporary files next to the target (``None``: the system's)."""

    def tell(self) -> int: ...

    def write(self, data: bytes | memoryview, /) -> int:
        """Append ``data``; return the offset it starts at."""
        ...

    def reserve(self, nbytes: int, /) -> int:
        """Leave ``nbytes`` (zeros until patched); return where they start."""
        ...

    def pwrite(self, offset: int, data: bytes, /) -> None: ...

    def append_file(self, path: str, /) -> int:
        """Append the contents of a local file; return where they start."""
        ...

    def read(self, offset: int, nbytes: int, /) -> bytes: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class _FdSink:
    """Buffered sequential writes and positioned patches on a file descriptor."""

    folder: str | None = None

    def __init__(self, fd: int, where: str, start: int = 0) -> None:
        self._fd = fd
        self._where = where
        self._pos = start
        self._flushed = start
        self._buffer = bytearray()

    def tell(self) -> int:
        return self._pos

    def write(self, data: bytes | memoryview, /) -> int:
        at = self._pos
        if len(data) >= _BUFFER:
            self._flush()
            self._write_at(self._pos, data)
            self._flushed += len(data)
        else:
            self._buffer += data
            if len(self._buffer) >= _BUFFER:
                self._flush()
        self._pos += len(data)
        return at

    def reserve(self, nbytes: int, /) -> int:
        self._flush()
        at = self._pos
        self._pos += nbytes
        self._flushed = self._pos
        return at

    def pwrite(self, offset: int, data: bytes, /) -> None:
        self._flush()
        self._write_at(offset, data)

    def append_file(self, path: str, /) -> int:
        self._flush()
        at = self._pos
        with open(path, "rb") as source:
            size = os.fstat(source.fileno()).st_size
            copied = 0
            try:
                while copied < size:
                    copied += _copy_range(source.fileno(), self._fd, at + copied, size - copied)
            except OSError as exc:
                raise write_error(exc, self._where) from exc
        self._pos += size
        self._flushed = self._pos
        return at

    def read(self, offset: int, nbytes: int, /) -> bytes:
        self._flush()
        return os.pread(self._fd, nbytes, offset)

    def _flush(self) -> None:
        if self._buffer:
            self._write_at(self._flushed, self._buffer)
            self._flushed += len(self._buffer)
            self._buffer = bytearray()

    def _write_at(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        try:
            while view:
                written = os.pwrite(self._fd, view, offset)
                view, offset = view[written:], offset + written
        except OSError as exc:
            raise write_error(exc, self._where) from exc

    def _finish(self) -> None:
        """Write what is buffered, give the file its full size and sync it."""
        self._flush()
        try:
            if os.fstat(self._fd).st_size < self._pos:
                os.ftruncate(self._fd, self._pos)
            os.fsync(self._fd)
        except OSError as exc:
            raise write_error(exc, self._where) from exc


def _copy_range(src: int, dst: int, offset: int, nbytes: int) -> int:
    """Copy from ``src``'s position to ``dst`` at ``offset`` (in the kernel where possible)."""
    chunk = min(nbytes, 1 << 30)
    if hasattr(os, "copy_file_range"):
        with contextlib.suppress(OSError):
            copied = os.copy_file_range(src, dst, chunk, None, offset)
            if copied > 0:
                return copied
    data = os.read(src, min(chunk, 16 << 20))
    if not data:
        raise OSError(errno.EIO, "source file ended early")
    os.pwrite(dst, data, offset)
    return len(data)


class _TempSink(_FdSink):
    """A sink writing a temporary file ``_tmp`` that ``abort`` removes."""

    _tmp: str

    def abort(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)  # before the lock goes with the descriptor
        self._close()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class _TempFileSink(_TempSink):
    """Write to a hidden temporary file beside ``path``; rename it over ``path`` on commit."""

    def __init__(self, path: str, *, exclusive: bool) -> None:
        path = os.path.abspath(path)
        if os.path.isdir(path):
            raise WriteError("the target is a folder", url=path)
        if exclusive and os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "the target exists (mode='x')", path)
        self.folder = os.path.dirname(path)
        try:
            fd, self._tmp = temporary(self.folder, f".{os.path.basename(path)}.")
        except OSError as exc:
            raise write_error(exc, path) from exc
        super().__init__(fd, path)
        self._path = path
        self._exclusive = exclusive

    def commit(self) -> None:
        self._finish()
        try:
            os.fchmod(self._fd, _target_mode(self._path))
            if self._exclusive:
                os.link(self._tmp, self._path)  # fails if the target appeared meanwhile
                os.unlink(self._tmp)
            else:
                os.replace(self._tmp, self._path)
        except FileExistsError:
            raise
        except OSError as exc:
            raise write_error(exc, self._path) from exc
        self._close()  # locked until renamed: no other write can take it for stale
        _sync_folder(self.folder)


def _target_mode(path: str) -> int:
    """Keep an overwritten file's permissions; new files get 0o666 less the umask."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _sync_folder(folder: str | None) -> None:
    if folder is None or not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with contextlib.suppress(OSError):  # some filesystems cannot sync folders
            os.fsync(fd)
    finally:
        os.close(fd)


class _AppendSink(_FdSink):
    """Write after the end of an existing file; truncate back to its old size on failure."""

    def __init__(self, path: str) -> None:
        path = os.path.abspath(path)
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError as exc:
            raise write_error(exc, path) from exc
        size = os.fstat(fd).st_size
        super().__init__(fd, path, start=size + (size & 1))
        self.folder = os.path.dirname(path)
        self.original_size = size

    def commit(self) -> None:
        self._finish()
        os.close(self._fd)
        self._fd = -1

    def abort(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self.original_size)
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1


class _FileObjectSink:
    """A seekable binary file object; offsets are relative to its position when opened."""

    folder: str | None = None

    def __init__(self, handle: IO[bytes]) -> None:
        self._fh = handle
        self._base = handle.tell()
        self._pos = 0

    def tell(self) -> int:
        return self._pos

    def write(self, data: bytes | memoryview, /) -> int:
        at = self._pos
        self._fh.seek(self._base + at)
        self._fh.write(data)
        self._pos += len(data)
        return at

    def reserve(self, nbytes: int, /) -> int:
        at = self._pos
        self._pos += nbytes
        return at

    def pwrite(self, offset: int, data: bytes, /) -> None:
        self._fh.seek(self._base + offset)
        self._fh.write(data)

    def append_file(self, path: str, /) -> int:
        at = self._pos
        self._fh.seek(self._base + at)
        with open(path, "rb") as source:
            shutil.copyfileobj(source, self._fh)
        self._pos += os.path.getsize(path)
        return at

    def read(self, offset: int, nbytes: int, /) -> bytes:
        self._fh.seek(self._base + offset)
        return self._fh.read(nbytes)

    def commit(self) -> None:
        self._fh.seek(self._base + self._pos)
        if self._fh.tell() < self._base + self._pos:
            self._fh.truncate(self._base + self._pos)
        self._fh.flush()

    def abort(self) -> None:
        self._fh.flush()


class _FsspecSink(_TempSink):
    """Write a local temporary file, then upload it to an fsspec URL on commit."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None, *, exclusive: bool):
        import fsspec

        self._fs, self._path = fsspec.core.url_to_fs(url, **(storage_options or {}))
        if exclusive and self._fs.exists(self._path):
            raise FileExistsError(errno.EEXIST, "the target exists (mode='x')", url)
        fd, self._tmp = temporary(None, "upload-")
        super().__init__(fd, url)
        self._url = url

    def commit(self) -> None:
        self._finish()
        try:
            self._fs.put_file(self._tmp, self._path)
        except OSError as exc:
            raise write_error(exc, self._url) from exc
        finally:
            self.abort()  # the upload is done (or failed): remove the local copy


def open_sink(
    target: Any, /, *, mode: Mode = "w", storage_options: dict[str, Any] | None = None
) -> Sink:
    """A sink for a path, ``file://`` or other fsspec URL, or a seekable binary file object."""
    if hasattr(target, "write") and hasattr(target, "seek"):
        return _FileObjectSink(target)
    if not isinstance(target, str | os.PathLike):
        raise TypeError(f"cannot write to {type(target).__name__}; give a path, URL or file")
    path = os.fspath(target)
    if "://" in path and not path.startswith("file://"):
        if mode == "r+":
            raise ValueError(f"cannot append to {path}: only local files can be appended to")
        return _FsspecSink(path, storage_options, exclusive=mode == "x")
    path = path.removeprefix("file://")
    if mode == "r+":
        return _AppendSink(path)
    return _TempFileSink(path, exclusive=mode == "x")


class Spool:
    """A temporary file holding one level's encoded segments until they are copied into place."""

    def __init__(self, folder: str | None) -> None:
        fd, self.path = temporary(folder, ".spool-")
        self._sink = _FdSink(fd, self.path)
        self._fd = fd

    def write(self, data: bytes | memoryview, /) -> int:
        return self._sink.write(data)

    def tell(self) -> int:
        return self._sink.tell()

    def finish(self) -> None:
        self._sink._flush()

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


# -- temporary files and the stale ones of killed writers ----------------------


def temporary(folder: str | None, prefix: str, /) -> tuple[int, str]:
    """Create and lock ``{prefix}tiffzarr-{pid}-{random}.tmp`` in ``folder``.

    ``None`` is the system's temporary folder. Stale files of the same
    ``prefix`` are removed first. The lock lasts while this process holds the
    descriptor: close it only after the file is renamed or removed.
    """
    remove_stale(folder, prefix)
    fd, path = tempfile.mkstemp(dir=folder, prefix=f"{prefix}{_MARK}{os.getpid()}-", suffix=_SUFFIX)
    if _fcntl is not None:
        with contextlib.suppress(OSError):  # no locks here: stale files are never taken
            _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
    return fd, path


def remove_stale(folder: str | None, prefix: str, /) -> list[str]:
    """Remove the temporary files ``prefix`` of writers that died; return their paths.

    A file is stale when no process holds its lock and its writer's pid is no
    live process here, or it has not changed for :data:`STALE_AFTER` seconds.
    A live writer's file is never removed. Does nothing where files cannot be
    locked (Windows).

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> fd, live = temporary(folder, ".a.tif.")
    >>> dead = os.path.join(folder, ".a.tif.tiffzarr-99999999-x1y2z3.tmp")  # no such pid
    >>> open(dead, "wb").close()
    >>> remove_stale(folder, ".a.tif.") == [dead], os.listdir(folder) == [os.path.basename(live)]
    (True, True)
    """
    if _fcntl is None:
        return []
    folder = tempfile.gettempdir() if folder is None else folder
    start = prefix + _MARK
    removed = []
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if e.name.startswith(start)]
    except OSError:  # an unreadable folder: creating the file will say why
        return []
    for name in names:
        owner = _OWNER.fullmatch(name[len(start) : -len(_SUFFIX)])
        if owner is None or not name.endswith(_SUFFIX):
            continue
        path = os.path.join(folder, name)
        if _remove_if_stale(path, int(owner.group(1))):
            removed.append(path)
            logger.info("removed %s, left by writer %s", path, owner.group(1))
    return removed


def _remove_if_stale(path: str, pid: int) -> bool:
    """Remove ``path`` if its writer is gone; whether it did."""
    assert _fcntl is not None
    try:
        info = os.lstat(path)
        if pid == os.getpid() or not stat.S_ISREG(info.st_mode):
            return False  # closing a descriptor of our own file could drop its lock
        if _alive(pid) and time.time() - info.st_mtime < STALE_AFTER:
            return False
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)  # held: its writer lives
        if not os.path.samestat(os.fstat(fd), os.lstat(path)):
            return False
        os.unlink(path)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists here (``os.kill`` with signal 0 tests, sends nothing)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # none, or an absurd pid
        return False
    except PermissionError:  # another user's
        return True
    return True
