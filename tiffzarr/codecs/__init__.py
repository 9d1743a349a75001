"""Decode and encode TIFF segments; numcodecs (zarr v2) and zarr v3 codecs.

>>> import numcodecs
>>> register_codecs()
>>> type(numcodecs.get_codec({"id": "tiffzarr.tiff", **SegmentSpec(
...     compression=1, shape=(1, 1, 1, 1), dtype="|u1", bitspersample=8,
...     sampleformat=1, byteorder="<").to_config()})).__name__
'TiffCodec'
"""

from __future__ import annotations

from tiffzarr.codecs._decode import decode_segment, stored_nbytes
from tiffzarr.codecs._encode import encode_segment
from tiffzarr.codecs._numcodecs import TiffCodec
from tiffzarr.codecs._page import chunk_view, decode_chunk, frame_segments, split_frame
from tiffzarr.codecs._spec import SegmentSpec
from tiffzarr.codecs._table import COMPRESSIONS, PREDICTORS, CompressionCodec, PredictorCodec
from tiffzarr.codecs._transpose import TransposeFilter
from tiffzarr.codecs._zarr3 import CHUNK_ORIGIN, TiffZarrCodec

__all__ = [
    "CHUNK_ORIGIN",
    "COMPRESSIONS",
    "PREDICTORS",
    "CompressionCodec",
    "PredictorCodec",
    "SegmentSpec",
    "TiffCodec",
    "TiffZarrCodec",
    "TransposeFilter",
    "chunk_view",
    "decode_chunk",
    "decode_segment",
    "encode_segment",
    "frame_segments",
    "register_codecs",
    "split_frame",
    "stored_nbytes",
]


def register_codecs() -> None:
    """Register :class:`TiffCodec` and :class:`TransposeFilter` with numcodecs and
    :class:`TiffZarrCodec` with zarr.

    The package's entry points already make both discoverable; calling this is
    only needed where entry points are unavailable. Calling it again is harmless.
    """
    import numcodecs
    import zarr.registry

    numcodecs.register_codec(TiffCodec, codec_id=TiffCodec.codec_id)
    numcodecs.register_codec(TransposeFilter, codec_id=TransposeFilter.codec_id)
    zarr.registry.register_codec(TiffZarrCodec.codec_name, TiffZarrCodec)
