"""A zarr v3 array-to-bytes codec for TIFF segments.

Registered under the name ``"tiffzarr.tiff"`` (entry point group
``zarr.codecs``); its configuration is the :class:`SegmentSpec` as plain JSON.

>>> codec = TiffZarrCodec(SegmentSpec(compression=5, shape=(1, 8, 8, 1), dtype="|u1",
...                                   bitspersample=8, sampleformat=1, byteorder="<"))
>>> TiffZarrCodec.from_dict(codec.to_dict()) == codec
True
>>> codec.to_dict()["name"]
'tiffzarr.tiff'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
from zarr.abc.codec import ArrayBytesCodec
from zarr.core.chunk_grids import RegularChunkGrid
from zarr.core.common import parse_named_configuration

from tiffzarr.codecs._decode import stored_nbytes
from tiffzarr.codecs._page import chunk_view, decode_chunk, encode_chunk
from tiffzarr.codecs._spec import SegmentSpec
from tiffzarr.codecs._threads import INLINE_BYTES, in_codec_threads
from tiffzarr.errors import ChunkDecodeError, TiffZarrError

if TYPE_CHECKING:
    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import Buffer, NDBuffer
    from zarr.core.chunk_grids import ChunkGrid
    from zarr.core.common import JSON
    from zarr.core.dtype.wrapper import TBaseDType, TBaseScalar, ZDType

__all__ = ["CHUNK_ORIGIN", "TiffZarrCodec"]

CHUNK_ORIGIN = "_tiffzarr_origin"
"""Attribute a tiffzarr store sets on the buffers it returns: ``(url, chunk key)``,
so decoding errors can say which chunk of which file failed."""


@dataclass(frozen=True)
class TiffZarrCodec(ArrayBytesCodec):
    """Decode (and encode) TIFF strips or tiles as zarr v3 chunks.

    The zarr chunk must hold as many elements as the segment (``spec.chunk_shape``);
    size-1 dimensions may be added or dropped. Decoding runs in a worker thread
    of tiffzarr's pool, one per CPU (:mod:`tiffzarr.codecs._threads`); imagecodecs
    releases the GIL.

    Parameters
    ----------
    spec
        What one segment holds and how it is stored.
    """

    codec_name: ClassVar[str] = "tiffzarr.tiff"
    is_fixed_size: ClassVar[bool] = False  # type: ignore[misc]

    spec: SegmentSpec

    def __init__(self, spec: SegmentSpec, /) -> None:
        if not isinstance(spec, SegmentSpec):
            raise TypeError(f"expected a SegmentSpec, not {type(spec).__name__}")
        object.__setattr__(self, "spec", spec)

    @classmethod
    def from_dict(cls, data: dict[str, JSON]) -> Self:
        """Build the codec from ``{"name": "tiffzarr.tiff", "configuration": {...}}``."""
        _, config = parse_named_configuration(data, cls.codec_name)
        return cls(SegmentSpec.from_config(config))

    def to_dict(self) -> dict[str, JSON]:
        """Return ``{"name": "tiffzarr.tiff", "configuration": spec.to_config()}``."""
        return {"name": self.codec_name, "configuration": self.spec.to_config()}

    def validate(
        self,
        *,
        shape: tuple[int, ...],
        dtype: ZDType[TBaseDType, TBaseScalar],
        chunk_grid: ChunkGrid,
    ) -> None:
        """Refuse arrays whose chunks cannot hold one segment."""
        native = self.spec.numpy_dtype.newbyteorder("=")
        if dtype.to_native_dtype() != native:
            raise ValueError(f"array dtype {dtype} does not match the segment's {self.spec.dtype}")
        if isinstance(chunk_grid, RegularChunkGrid) and math.prod(
            chunk_grid.chunk_shape
        ) != math.prod(self.spec.chunk_shape):
            raise ValueError(
                f"chunk shape {chunk_grid.chunk_shape} does not hold the segment "
                f"shape {self.spec.chunk_shape}"
            )

    def _decode_sync(
        self, chunk_bytes: Buffer, chunk_spec: ArraySpec, view: np.ndarray | None = None
    ) -> NDBuffer:
        try:
            array: Any = (
                decode_chunk(chunk_bytes.as_numpy_array(), self.spec) if view is None else view
            )
        except TiffZarrError as exc:
            where = getattr(chunk_bytes, CHUNK_ORIGIN, None)
            if where is None:
                raise
            raise exc.located(url=where[0], key=where[1]) from exc
        if array.size != math.prod(chunk_spec.shape):
            raise ChunkDecodeError(
                f"segment of shape {self.spec.chunk_shape} does not fill a chunk of "
                f"{chunk_spec.shape}"
            )
        native = chunk_spec.dtype.to_native_dtype()
        if array.dtype != native:
            raise ChunkDecodeError(f"segment dtype {array.dtype} is not the array's {native}")
        return chunk_spec.prototype.nd_buffer.from_ndarray_like(array.reshape(chunk_spec.shape))

    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        view = chunk_view(chunk_bytes.as_numpy_array(), self.spec)  # zarr copies it into place
        if view is not None or self.spec.chunk_nbytes <= INLINE_BYTES:  # cheaper than a hop
            return self._decode_sync(chunk_bytes, chunk_spec, view)
        return await in_codec_threads(self._decode_sync, chunk_bytes, chunk_spec)

    def _encode_sync(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        encoded = encode_chunk(chunk_array.as_numpy_array(), self.spec)
        return chunk_spec.prototype.buffer.from_bytes(encoded)

    async def _encode_single(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        return await in_codec_threads(self._encode_sync, chunk_array, chunk_spec)

    def compute_encoded_size(self, input_byte_length: int, chunk_spec: ArraySpec) -> int:
        """Uncompressed segments have a known size; compressed ones do not."""
        if self.spec.compression != 1 or self.spec.fillorder != 1:
            raise NotImplementedError("compressed TIFF segments have no fixed size")
        return stored_nbytes(self.spec)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.spec,))
