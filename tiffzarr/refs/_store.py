"""The zarr store :func:`~tiffzarr.refs.open_references` returns.

zarr's ``FsspecStore`` over the reference filesystem, made strictly read-only
(:class:`~tiffzarr.errors.ReadOnlyError`, capabilities that say so), with an
optional ``prototype`` (xarray calls ``get`` without one), listings relative
to the reference set's root, and equal to its pickled copy, as the store
contract of :mod:`tiffzarr.testing` asks of every store backend. Chunk buffers
carry their key and target, for the decoding errors of the bounded codecs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any, Literal

from zarr.abc.store import ByteRequest
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype
from zarr.storage import FsspecStore

from tiffzarr.errors import ReadOnlyError
from tiffzarr.refs._check import is_metadata_key
from tiffzarr.refs._wrap import remember_origin

__all__ = ["ReferenceStore"]


class ReferenceStore(FsspecStore):
    """A read-only ``FsspecStore`` over a (checked) reference filesystem.

    ``zarr_format`` is the format of the reference set's metadata (2 or 3).
    """

    supports_writes: bool = False
    supports_deletes: bool = False

    def __init__(self, fs: Any, /, *, zarr_format: Literal[2, 3]) -> None:
        super().__init__(fs, read_only=True, path="")
        self.zarr_format: Literal[2, 3] = zarr_format

    def __repr__(self) -> str:
        return f"ReferenceStore(zarr_format={self.zarr_format})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ReferenceStore)
            and self.zarr_format == other.zarr_format
            and self.fs.identity == other.fs.identity
        )

    def __hash__(self) -> int:
        return id(self.fs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self)._rebuild, (self.fs, self.zarr_format))

    @classmethod
    def _rebuild(cls, fs: Any, zarr_format: Literal[2, 3]) -> ReferenceStore:
        return cls(fs, zarr_format=zarr_format)

    def with_read_only(self, read_only: bool = False) -> ReferenceStore:
        if not read_only:
            raise ReadOnlyError("reference stores are read-only")
        return self

    async def get(
        self,
        key: str,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        buffer = await super().get(key, prototype or default_buffer_prototype(), byte_range)
        if buffer is not None and not is_metadata_key(key):
            remember_origin(buffer, self.fs.chunk_target(key), key)
        return buffer

    # FsspecStore lists below "<path>/", which the reference filesystem's keys never start with
    async def list(self) -> AsyncIterator[str]:
        for key in self.fs.find("", detail=False):  # fsspec's fast path over the keys
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        for key in self.fs.find(prefix, detail=False):
            yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        prefix = prefix.rstrip("/")
        try:
            names = await self.fs._ls(prefix, detail=False)
        except FileNotFoundError:
            return
        for name in names:
            yield name[len(prefix) + 1 :] if prefix else name

    async def set(self, key: str, value: Buffer, byte_range: tuple[int, int] | None = None) -> None:
        raise ReadOnlyError("reference stores are read-only", key=key)

    async def delete(self, key: str) -> None:
        raise ReadOnlyError("reference stores are read-only", key=key)

    async def delete_dir(self, prefix: str) -> None:
        raise ReadOnlyError("reference stores are read-only", key=prefix)

    async def set_partial_values(
        self, key_start_values: Iterable[tuple[str, int, bytes | bytearray | memoryview]]
    ) -> None:
        raise ReadOnlyError("reference stores are read-only")
