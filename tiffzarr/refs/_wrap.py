"""Codecs of a reference set wrapped so that no decode step outgrows its bound.

:func:`bounded_document` rewrites an array's metadata document when it is opened:
each numcodecs ``compressor`` and filter (zarr v2) and each bytes-to-bytes codec
(zarr v3, inside shards too) becomes ``tiffzarr.bounded`` around the original,
with the bound of :mod:`tiffzarr.refs._bounds`. The wrappers are transparent
otherwise: they encode with the original codec and describe themselves as it
(``get_config``, ``to_dict``), so an array copied elsewhere keeps its codecs.
Errors name the chunk's key and target (:func:`remember_origin`).

>>> doc = {"chunks": [64, 64], "dtype": "<u2", "compressor": {"id": "zlib", "level": 6},
...        "filters": None}
>>> bounded_document(doc, zarr_format=2, itemsize=2)["compressor"]
{'id': 'tiffzarr.bounded', 'codec': {'id': 'zlib', 'level': 6}, 'max_nbytes': 8192}
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

import numcodecs
import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_contiguous_ndarray, ndarray_copy
from zarr.abc.codec import BytesBytesCodec
from zarr.core.common import parse_named_configuration

from tiffzarr._config import config as limits
from tiffzarr.codecs import CHUNK_ORIGIN
from tiffzarr.errors import ChunkDecodeError, TiffZarrError
from tiffzarr.refs._bounds import (
    bounded_decoder,
    check_announced,
    check_decoded,
    decoded_nbytes,
    encoded_bound,
)

if TYPE_CHECKING:
    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import Buffer
    from zarr.core.chunk_grids import ChunkGrid
    from zarr.core.common import JSON
    from zarr.core.dtype.wrapper import TBaseDType, TBaseScalar, ZDType

__all__ = [
    "BOUNDED_ID",
    "BoundedBytesCodec",
    "BoundedCodec",
    "bounded_document",
    "register_bounded_codecs",
    "remember_origin",
]

BOUNDED_ID = "tiffzarr.bounded"

OUT_BUFFER_CODECS = frozenset(
    {
        "imagecodecs_aec",
        "imagecodecs_blosc",
        "imagecodecs_blosc2",
        "imagecodecs_brotli",
        "imagecodecs_bz2",
        "imagecodecs_deflate",
        "imagecodecs_lz4",
        "imagecodecs_lz4f",
        "imagecodecs_lz4h5",
        "imagecodecs_lzf",
        "imagecodecs_lzfse",
        "imagecodecs_lzham",
        "imagecodecs_lzma",
        "imagecodecs_lzw",
        "imagecodecs_packbits",
        "imagecodecs_snappy",
        "imagecodecs_zlib",
        "imagecodecs_zlibng",
        "imagecodecs_zopfli",
    }
)
"""imagecodecs' byte-stream codecs whose ``decode`` writes into a flat ``out`` buffer
and never beyond it: given ``limit + 1`` bytes, a stream that decodes to more fills
them or fails."""

Origin = tuple[str | None, str | None]
"""``(target url, chunk key)`` of the bytes being decoded."""

_buffers: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
"""Address of a chunk buffer's bytes → the zarr ``Buffer`` that holds them, while it
lives: numcodecs codecs see only the bytes (zarr v2), not the buffer."""


def remember_origin(buffer: Buffer, url: str | None, key: str, /) -> None:
    """Mark a chunk buffer a reference store returns with where its bytes came from."""
    setattr(buffer, CHUNK_ORIGIN, (url, key))
    array = buffer.as_numpy_array()
    if array.size:
        _buffers[array.ctypes.data] = buffer


def _origin(buf: Any) -> Origin:
    if isinstance(buf, np.ndarray) and buf.size:
        buffer = _buffers.get(buf.ctypes.data)
        if buffer is not None:
            origin: Origin = getattr(buffer, CHUNK_ORIGIN)
            return origin
    return None, None


def _located(exc: Exception, codec_id: str, origin: Origin) -> TiffZarrError:
    if not isinstance(exc, TiffZarrError):
        exc = ChunkDecodeError(f"{codec_id} data do not decode: {type(exc).__name__}: {exc}")
    return exc.located(url=origin[0], key=origin[1])


def _byte_view(buf: Any) -> np.ndarray | None:
    """The bytes of a decode step's input as a flat uint8 array (``None``: objects)."""
    try:
        array = ensure_contiguous_ndarray(buf)
    except (TypeError, ValueError):
        return None
    return None if array.dtype.hasobject else array.reshape(-1).view(np.uint8)


class BoundedCodec(Codec):
    """A numcodecs codec decoding with ``codec`` into at most ``max_nbytes`` bytes.

    ``get_config`` is the inner codec's, so a copy of the array keeps the original.
    """

    codec_id = BOUNDED_ID

    def __init__(self, codec: Mapping[str, Any], max_nbytes: int) -> None:
        self.codec = numcodecs.get_codec(dict(codec))
        self.max_nbytes = int(max_nbytes)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = self.codec.get_config()
        return config

    def encode(self, buf: Any) -> Any:
        return self.codec.encode(buf)

    def decode(self, buf: Any, out: Any = None) -> Any:
        config = self.get_config()
        try:
            decoded = self._decode(buf, config)
        except Exception as exc:
            raise _located(exc, config["id"], _origin(buf)) from exc
        return decoded if out is None else ndarray_copy(decoded, out)

    def _decode(self, buf: Any, config: dict[str, Any]) -> Any:
        codec_id, limit = config["id"], self.max_nbytes
        data = _byte_view(buf)
        decoder = bounded_decoder(codec_id)
        if data is not None:
            check_announced(codec_id, config, data, limit)
        if data is not None and decoder is not None:
            decoded = decoder(data, config, limit)
        elif codec_id in OUT_BUFFER_CODECS:
            decoded = self.codec.decode(buf, out=np.empty(limit + 1, np.uint8))
        else:
            decoded = self.codec.decode(buf)
        check_decoded(codec_id, decoded_nbytes(decoded), limit)
        return decoded

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.codec!r}, max_nbytes={self.max_nbytes})"


@dataclass(frozen=True)
class BoundedBytesCodec(BytesBytesCodec):
    """A zarr v3 bytes-to-bytes codec decoding with ``codec`` into at most ``max_nbytes``
    bytes; ``to_dict`` is the inner codec's."""

    is_fixed_size: ClassVar[bool] = False  # type: ignore[misc]

    codec: BytesBytesCodec
    max_nbytes: int

    def __init__(self, codec: BytesBytesCodec, max_nbytes: int) -> None:
        object.__setattr__(self, "codec", codec)
        object.__setattr__(self, "max_nbytes", int(max_nbytes))

    @classmethod
    def from_dict(cls, data: dict[str, JSON]) -> Self:
        _, config = parse_named_configuration(data, BOUNDED_ID)
        inner: Any = config["codec"]
        codec = zarr_codec_class(inner["name"]).from_dict(inner)
        if not isinstance(codec, BytesBytesCodec):
            raise TypeError(f"{BOUNDED_ID} wraps bytes-to-bytes codecs, not {inner['name']!r}")
        limit: Any = config["max_nbytes"]
        return cls(codec, int(limit))

    def to_dict(self) -> dict[str, JSON]:
        return self.codec.to_dict()

    def evolve_from_array_spec(self, array_spec: ArraySpec) -> Self:
        return dataclasses.replace(self, codec=self.codec.evolve_from_array_spec(array_spec))

    def resolve_metadata(self, chunk_spec: ArraySpec) -> ArraySpec:
        return self.codec.resolve_metadata(chunk_spec)

    def validate(
        self,
        *,
        shape: tuple[int, ...],
        dtype: ZDType[TBaseDType, TBaseScalar],
        chunk_grid: ChunkGrid,
    ) -> None:
        self.codec.validate(shape=shape, dtype=dtype, chunk_grid=chunk_grid)

    def compute_encoded_size(self, input_byte_length: int, chunk_spec: ArraySpec) -> int:
        return self.codec.compute_encoded_size(input_byte_length, chunk_spec)

    async def _encode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> Buffer | None:
        return await self.codec._encode_single(chunk_bytes, chunk_spec)

    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> Buffer:
        inner: Any = self.codec.to_dict()
        codec_id = str(inner["name"]).removeprefix("numcodecs.")
        config: Mapping[str, Any] = inner.get("configuration") or {}
        try:
            data = chunk_bytes.as_numpy_array()
            check_announced(codec_id, config, data, self.max_nbytes)
            decoder = bounded_decoder(codec_id)
            if decoder is not None:
                decoded = await asyncio.to_thread(decoder, data, config, self.max_nbytes)
                return chunk_spec.prototype.buffer.from_bytes(decoded)
            result = await self.codec._decode_single(chunk_bytes, chunk_spec)
            check_decoded(codec_id, len(result), self.max_nbytes)
            return result
        except Exception as exc:
            origin = getattr(chunk_bytes, CHUNK_ORIGIN, (None, None))
            raise _located(exc, codec_id, origin) from exc


def zarr_codec_class(name: Any, /) -> type[Any]:
    """zarr's codec class registered under ``name``; ``KeyError`` when there is none."""
    from zarr.registry import get_codec_class

    if not isinstance(name, str):
        raise KeyError(name)
    return get_codec_class(name)


def register_bounded_codecs() -> None:
    """Register the wrappers with numcodecs (v2) and zarr (v3); harmless to repeat."""
    import zarr.registry

    numcodecs.register_codec(BoundedCodec, codec_id=BOUNDED_ID)
    zarr.registry.register_codec(BOUNDED_ID, BoundedBytesCodec)


# -- metadata documents ------------------------------------------------------------------


def bounded_document(
    doc: Mapping[str, Any], /, *, zarr_format: Literal[2, 3], itemsize: int | None
) -> dict[str, Any]:
    """An array's (checked) metadata document with its codecs wrapped.

    ``itemsize`` is the bytes of one element, ``None`` for variable-length data
    types, whose decode steps are bounded by ``max_chunk_bytes`` only.
    """
    out = dict(doc)
    if zarr_format == 2:
        chunk = None if itemsize is None else math.prod(doc["chunks"]) * itemsize
        compressor, filters = doc.get("compressor"), doc.get("filters") or []
        # decode order: the compressor, then the filters from last to first
        if compressor is not None:
            out["compressor"] = _wrap_v2(compressor, _step_limit(chunk, last=not filters))
        if filters:
            out["filters"] = [
                _wrap_v2(f, _step_limit(chunk, last=i == 0)) for i, f in enumerate(filters)
            ]
        return out
    shape = doc["chunk_grid"]["configuration"]["chunk_shape"]
    out["codecs"] = _wrap_v3(doc["codecs"], shape, itemsize)
    return out


def _step_limit(nbytes: int | None, *, last: bool) -> int:
    if nbytes is None:
        return limits.max_chunk_bytes
    return nbytes if last else encoded_bound(nbytes)


def _unwrapped(codec: Any, key: str) -> Any:
    """The codec inside any ``tiffzarr.bounded`` the reference set itself wrote."""
    while isinstance(codec, dict) and codec.get(key) == BOUNDED_ID:
        codec = (
            codec.get("codec") if key == "id" else (codec.get("configuration") or {}).get("codec")
        )
    return codec


def _wrap_v2(codec: Any, limit: int) -> Any:
    codec = _unwrapped(codec, "id")
    if not isinstance(codec, dict):
        return codec
    return {"id": BOUNDED_ID, "codec": codec, "max_nbytes": limit}


def _wrap_v3(codecs: list[Any], chunk_shape: list[int], itemsize: int | None) -> list[Any]:
    """v3 codecs with each bytes-to-bytes one wrapped; the one that decodes into the
    ``bytes`` codec gets the chunk's exact size."""
    nbytes = None if itemsize is None else math.prod(chunk_shape) * itemsize
    out: list[Any] = []
    into_bytes = False
    for written in codecs:
        codec = _unwrapped(written, "name")
        kind = _kind(codec)
        if kind == "bytes-bytes":
            limit = _step_limit(nbytes, last=into_bytes)
            out.append({"name": BOUNDED_ID, "configuration": {"codec": codec, "max_nbytes": limit}})
        elif kind == "shard":
            out.append(_wrap_shard(codec, chunk_shape, itemsize))
        else:
            out.append(codec)
        into_bytes = isinstance(codec, dict) and codec.get("name") == "bytes"
    return out


def _kind(codec: Any) -> str | None:
    from zarr.codecs import ShardingCodec

    try:
        cls = zarr_codec_class(codec.get("name") if isinstance(codec, dict) else None)
    except KeyError:
        return None  # zarr refuses it when the array is opened
    if issubclass(cls, BytesBytesCodec):
        return "bytes-bytes"
    return "shard" if issubclass(cls, ShardingCodec) else None


def _wrap_shard(codec: dict[str, Any], shard: list[int], itemsize: int | None) -> dict[str, Any]:
    config = dict(codec.get("configuration") or {})
    inner = config.get("chunk_shape")
    if not (
        isinstance(inner, list)
        and len(inner) == len(shard)
        and all(isinstance(n, int) and n > 0 for n in inner)
    ):
        return codec  # zarr refuses it when the array is opened
    if isinstance(config.get("codecs"), list):
        config["codecs"] = _wrap_v3(config["codecs"], inner, itemsize)
    if isinstance(config.get("index_codecs"), list):
        index = [math.ceil(s / i) for s, i in zip(shard, inner, strict=True)] + [2]
        config["index_codecs"] = _wrap_v3(config["index_codecs"], index, 8)
    return {**codec, "configuration": config}
