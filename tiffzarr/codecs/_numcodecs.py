"""A numcodecs codec for TIFF segments, for zarr v2 arrays and kerchunk references.

>>> import numpy as np
>>> codec = TiffCodec(SegmentSpec(compression=8, shape=(1, 2, 2, 1), dtype="<u2",
...                               bitspersample=16, sampleformat=1, byteorder=">"))
>>> codec.get_config()["id"], TiffCodec.from_config(codec.get_config()) == codec
('tiffzarr.tiff', True)
>>> codec.decode(codec.encode(np.arange(4, dtype="<u2")))[0, :, :, 0]
array([[0, 1],
       [2, 3]], dtype=uint16)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_contiguous_ndarray, ndarray_copy

from tiffzarr.codecs._page import decode_chunk, encode_chunk
from tiffzarr.codecs._spec import SegmentSpec

__all__ = ["TiffCodec"]


class TiffCodec(Codec):
    """Decode (and encode) one TIFF strip or tile described by a :class:`SegmentSpec`.

    The configuration is the spec's fields as plain JSON (JPEG tables base64),
    under the codec id ``"tiffzarr.tiff"``. ``decode`` returns an array of
    ``spec.chunk_shape`` and ``spec.dtype`` in native byte order.

    Parameters
    ----------
    spec
        What one segment holds and how it is stored.
    """

    codec_id = "tiffzarr.tiff"

    def __init__(self, spec: SegmentSpec, /) -> None:
        if not isinstance(spec, SegmentSpec):
            raise TypeError(f"expected a SegmentSpec, not {type(spec).__name__}")
        self.spec = spec

    def get_config(self) -> dict[str, Any]:
        """Return ``{"id": "tiffzarr.tiff", **spec.to_config()}``."""
        return {"id": self.codec_id, **self.spec.to_config()}

    @classmethod
    def from_config(cls, config: dict[str, Any], /) -> TiffCodec:
        """Build the codec from :meth:`get_config` output (``id`` optional)."""
        fields = {key: value for key, value in config.items() if key != "id"}
        return cls(SegmentSpec.from_config(fields))

    def decode(self, buf: Any, out: Any = None) -> Any:
        """Decode one segment's bytes; copy into ``out`` when given."""
        array = decode_chunk(ensure_contiguous_ndarray(buf), self.spec)
        if out is None:
            return array
        return ndarray_copy(array, out)

    def encode(self, buf: Any) -> bytes:
        """Encode an array of the segment's size and dtype."""
        array = np.asarray(buf)
        if array.dtype == np.uint8 and self.spec.numpy_dtype != np.uint8:  # raw bytes
            array = np.ascontiguousarray(array).reshape(-1).view(self.spec.numpy_dtype)
        return encode_chunk(array, self.spec)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"
