"""Tables from TIFF codes to the imagecodecs functions that decode and encode them.

Each TIFF compression is one :class:`CompressionCodec` row: its code, a name,
how the segment decoder drives it (``kind``), the imagecodecs functions by name,
and the imagecodecs feature that says whether this build has it. Predictors and
the JPEG colour spaces are tables too.

>>> codec = compression_codec(50000)
>>> codec.name, codec.kind, codec.available
('zstd', 'bytes', True)
>>> compression_codec(34661)  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tiffzarr.errors.UnsupportedCompressionError: TIFF compression 34661 (JBIG) has no decoder...
>>> PREDICTORS[34894]
PredictorCodec(code=34894, name='floatingpointx2', kind='floatingpoint', distance=2)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import imagecodecs
import numpy as np

from tiffzarr.codecs._lzw import lzw_decode
from tiffzarr.errors import UnsupportedCompressionError
from tiffzarr.format._enums import Compression

__all__ = [
    "COMPRESSIONS",
    "JPEG_COLORSPACES",
    "JPEG_ENCODE_COLORSPACES",
    "NOMINAL_SAMPLES",
    "PREDICTORS",
    "UNPACKING",
    "CompressionCodec",
    "PredictorCodec",
    "Unpacking",
    "compression_codec",
    "compression_label",
    "image_shape",
]

CodecKind = Literal["none", "bytes", "image", "jpeg", "ccitt", "pixarlog", "sgilog", "thunderscan"]
"""How the segment decoder drives a codec.

``none``: the bytes are the samples. ``bytes``: a byte-stream compressor whose
output holds the samples as stored (then predictor, unpacking, byte order).
``image``: an image codec that returns the decoded array itself. ``jpeg``: an
image codec with JPEG tables and colour spaces. ``ccitt``: bilevel fax coding
that needs the segment's rows and width. ``pixarlog``: needs shape and dtype.
``sgilog``, ``thunderscan``: decoded by tiffzarr itself (numpy), without imagecodecs.
"""

_OWN_KINDS = frozenset({"none", "sgilog", "thunderscan"})
"""Kinds that need no imagecodecs function."""


@dataclass(frozen=True, slots=True)
class CompressionCodec:
    """One TIFF compression and the imagecodecs functions behind it.

    ``decoder`` and ``encoder`` are imagecodecs function names (``None`` when
    imagecodecs has no such function); ``feature`` is the imagecodecs codec
    class whose ``available`` flag tells whether this build can run them;
    ``lossless`` says whether :func:`encode_segment` at default settings
    reproduces the array exactly; ``takes_level`` whether the encoder has a
    ``level``; ``row_wise`` whether rows are encoded separately (PackBits);
    ``spec_options`` the :class:`SegmentSpec` fields passed to the decoder by
    name; ``encode_options`` are keyword arguments for the encoder when no level
    is given (its lossless mode).
    """

    code: int
    name: str
    kind: CodecKind
    decoder: str | None
    encoder: str | None
    feature: str | None
    lossless: bool = True
    takes_level: bool = True
    row_wise: bool = False
    spec_options: tuple[str, ...] = ()
    encode_options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        """Whether this imagecodecs build can decode the compression."""
        if self.kind in _OWN_KINDS:
            return True
        if self.decoder is None or self.feature is None:
            return False
        return bool(getattr(getattr(imagecodecs, self.feature, None), "available", False))

    @property
    def can_encode(self) -> bool:
        """Whether this imagecodecs build can encode the compression."""
        return self.kind == "none" or (self.encoder is not None and self.available)

    @property
    def decode(self) -> Callable[..., Any]:
        """The decode function (only for available codecs): imagecodecs', or for LZW
        tiffzarr's, which has imagecodecs' libtiff decode (:mod:`tiffzarr.codecs._lzw`)."""
        assert self.decoder is not None
        if self.decoder == "lzw_decode":
            return lzw_decode
        func: Callable[..., Any] = getattr(imagecodecs, self.decoder)
        return func

    @property
    def encode(self) -> Callable[..., Any]:
        """The imagecodecs encode function (only where :attr:`can_encode`)."""
        assert self.encoder is not None
        func: Callable[..., Any] = getattr(imagecodecs, self.encoder)
        return func


def _row(
    code: int,
    name: str,
    kind: CodecKind,
    coder: str | None,
    feature: str | None,
    *,
    encoder: bool = True,
    exact: bool = True,
    level: bool = True,
    row_wise: bool = False,
    spec_options: tuple[str, ...] = (),
    **options: Any,
) -> CompressionCodec:
    return CompressionCodec(
        code=code,
        name=name,
        kind=kind,
        decoder=f"{coder}_decode" if coder else None,
        encoder=f"{coder}_encode" if coder and encoder else None,
        feature=feature,
        lossless=exact,
        takes_level=level,
        row_wise=row_wise,
        spec_options=spec_options,
        encode_options=MappingProxyType(options),
    )


_T4 = ("t4options",)

_ROWS = (
    _row(1, "none", "none", None, None),
    _row(2, "ccittrle", "ccitt", "ccittrle", "CCITTRLE", encoder=False),
    _row(3, "ccitt_t4", "ccitt", "ccittfax3", "CCITTFAX3", encoder=False, spec_options=_T4),
    _row(4, "ccitt_t6", "ccitt", "ccittfax4", "CCITTFAX4", encoder=False),
    _row(5, "lzw", "bytes", "lzw", "LZW", level=False),
    _row(6, "ojpeg", "jpeg", "jpeg", "JPEG8", encoder=False, exact=False),
    _row(7, "jpeg", "jpeg", "jpeg", "JPEG8", exact=False),
    _row(8, "adobe_deflate", "bytes", "deflate", "DEFLATE"),
    _row(22610, "jpegxr_ndpi", "image", "jpegxr", "JPEGXR"),
    _row(32773, "packbits", "bytes", "packbits", "PACKBITS", level=False, row_wise=True),
    _row(32809, "thunderscan", "thunderscan", None, None),
    _row(32909, "pixarlog", "pixarlog", "pixarlog", "PIXARLOG", exact=False),
    _row(32946, "deflate", "bytes", "deflate", "DEFLATE"),
    _row(33003, "aperio_jp2000_ycbc", "image", "jpeg2k", "JPEG2K", reversible=True),
    _row(33004, "jpeg_2000_lossy", "image", "jpeg2k", "JPEG2K", reversible=True),
    _row(33005, "aperio_jp2000_rgb", "image", "jpeg2k", "JPEG2K", reversible=True),
    _row(33007, "alt_jpeg", "jpeg", "jpeg", "JPEG8", encoder=False, exact=False),
    _row(34676, "sgilog", "sgilog", None, None),
    _row(34677, "sgilog24", "sgilog", None, None),
    _row(34712, "jpeg2000", "image", "jpeg2k", "JPEG2K", reversible=True),
    _row(34887, "lerc", "image", "lerc", "LERC"),
    _row(34892, "jpeg_lossy", "jpeg", "jpeg8", "JPEG8", exact=False),
    _row(34925, "lzma", "bytes", "lzma", "LZMA"),
    _row(34926, "zstd_deprecated", "bytes", "zstd", "ZSTD"),
    _row(34927, "webp_deprecated", "image", "webp", "WEBP", lossless=True),
    _row(34933, "png", "image", "png", "PNG"),
    _row(34934, "jpegxr", "image", "jpegxr", "JPEGXR"),
    _row(48124, "jetraw", "image", "jetraw", "JETRAW", exact=False),
    _row(50000, "zstd", "bytes", "zstd", "ZSTD"),
    _row(50001, "webp", "image", "webp", "WEBP", lossless=True),
    _row(50002, "jpegxl", "image", "jpegxl", "JPEGXL", lossless=True),
    _row(50013, "deflate_pixtiff", "bytes", "deflate", "DEFLATE"),
    _row(52546, "jpegxl_dng", "image", "jpegxl", "JPEGXL", lossless=True),
)

COMPRESSIONS: Mapping[int, CompressionCodec] = MappingProxyType({r.code: r for r in _ROWS})
"""TIFF Compression code → codec. Codes not listed have no decoder here."""


def compression_label(code: int, /) -> str:
    """Return ``"<code> (<NAME>)"`` for messages.

    >>> compression_label(8), compression_label(12345)
    ('8 (ADOBE_DEFLATE)', '12345')
    """
    known = Compression.from_code(code)
    return f"{code} ({known.name})" if isinstance(known, Compression) else str(code)


def compression_codec(code: int, /, *, encode: bool = False) -> CompressionCodec:
    """Return the codec row for a TIFF compression that this build can run.

    Raises :class:`~tiffzarr.errors.UnsupportedCompressionError` naming the
    compression when imagecodecs cannot decode it (or, with ``encode=True``,
    cannot encode it).
    """
    codec = COMPRESSIONS.get(code)
    if codec is None or not codec.available:
        why = "has no decoder" if codec is None else "is not available in this imagecodecs build"
        raise UnsupportedCompressionError(
            f"TIFF compression {compression_label(code)} {why}", tag=259
        )
    if encode and not codec.can_encode:
        raise UnsupportedCompressionError(
            f"TIFF compression {compression_label(code)} has no encoder", tag=259
        )
    return codec


@dataclass(frozen=True, slots=True)
class PredictorCodec:
    """One TIFF predictor: horizontal (integer) or floating-point differencing.

    ``distance`` is the stride in pixels (1, or 2 and 4 for the X2/X4 variants).
    """

    code: int
    name: str
    kind: Literal["horizontal", "floatingpoint"]
    distance: int


PREDICTORS: Mapping[int, PredictorCodec | None] = MappingProxyType(
    {
        1: None,
        2: PredictorCodec(2, "horizontal", "horizontal", 1),
        3: PredictorCodec(3, "floatingpoint", "floatingpoint", 1),
        34892: PredictorCodec(34892, "horizontalx2", "horizontal", 2),
        34893: PredictorCodec(34893, "horizontalx4", "horizontal", 4),
        34894: PredictorCodec(34894, "floatingpointx2", "floatingpoint", 2),
        34895: PredictorCodec(34895, "floatingpointx4", "floatingpoint", 4),
    }
)
"""TIFF Predictor code → predictor (``None`` for no prediction)."""

JPEG_COLORSPACES: Mapping[int, tuple[int | str | None, int | str | None]] = MappingProxyType(
    {
        2: ("RGB", "RGB"),  # RGB stored without colour transform (Aperio SVS)
        5: (None, "CMYK"),  # separated: Adobe CMYK
        6: (None, "RGB"),  # YCbCr → RGB
    }
)
"""Photometric → (JPEG colour space, output colour space) for images without extra
samples. A JFIF stream is always YCbCr, so its JPEG colour space is left to the
decoder."""

NOMINAL_SAMPLES: Mapping[int, int] = MappingProxyType({2: 3, 5: 4, 6: 3})
"""Photometric → samples per pixel without extra samples (alpha and the like)."""

JPEG_ENCODE_COLORSPACES: Mapping[tuple[int, int], Mapping[str, Any]] = MappingProxyType(
    {
        (6, 3): {"colorspace": "RGB", "outcolorspace": "YCBCR"},
        (2, 3): {"colorspace": "RGB", "outcolorspace": "RGB"},
        (5, 4): {"colorspace": "CMYK", "outcolorspace": "CMYK"},
    }
)
"""(Photometric, samples) → colour spaces that the decoder undoes."""

Unpacking = Literal["direct", "packed", "float24", "complexint", "complexhalf", "ycbcr"]
"""How decompressed samples become the decoded array."""

UNPACKING: Mapping[tuple[int, int], Unpacking] = MappingProxyType(
    {
        (5, 16): "complexint",  # two int8 → complex64
        (5, 32): "complexint",  # two int16 → complex64
        (5, 64): "complexint",  # two int32 → complex128
        (6, 32): "complexhalf",  # two float16 → complex64
        (3, 24): "float24",  # → float32
    }
)
"""(SampleFormat, bits per sample) stored unlike the decoded dtype; otherwise samples are
``direct`` (whole bytes, as decoded) or ``packed`` (bit fields, rows start on a byte)."""


# -- image headers: the size an image codec will decode to, read before decoding --

_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
"""JPEG start-of-frame markers (baseline, extended, progressive, lossless, arithmetic)."""
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})
"""JPEG markers without a length field (TEM, RSTn, SOI)."""


def _jpeg_shape(data: memoryview) -> tuple[int, int, int] | None:
    pos, end = 0, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
        elif marker in _JPEG_STANDALONE:
            pos += 2
        elif marker in _JPEG_SOF:
            if pos + 10 > end:
                return None
            rows, cols = (int.from_bytes(data[i : i + 2]) for i in (pos + 5, pos + 7))
            return (rows, cols, data[pos + 9])
        elif marker in (0xD9, 0xDA):  # end of image or start of scan before any frame
            return None
        else:
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4])
    return None


def _png_shape(data: memoryview) -> tuple[int, int, int] | None:
    if bytes(data[:8]) != b"\x89PNG\r\n\x1a\n" or bytes(data[12:16]) != b"IHDR" or len(data) < 24:
        return None
    return (int.from_bytes(data[20:24]), int.from_bytes(data[16:20]), 0)


def _webp_shape(data: memoryview) -> tuple[int, int, int] | None:
    if bytes(data[:4]) != b"RIFF" or bytes(data[8:12]) != b"WEBP" or len(data) < 30:
        return None
    chunk = bytes(data[12:16])
    if chunk == b"VP8 ":
        width, height = (int.from_bytes(data[i : i + 2], "little") & 0x3FFF for i in (26, 28))
        return (height, width, 0)
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (((bits >> 14) & 0x3FFF) + 1, (bits & 0x3FFF) + 1, 0)
    if chunk == b"VP8X":
        rows, cols = (int.from_bytes(data[i : i + 3], "little") + 1 for i in (27, 24))
        return (rows, cols, 0)
    return None


_Probe = Callable[[memoryview], tuple[int, int, int] | None]
_IMAGE_HEADERS: Mapping[str, _Probe] = MappingProxyType(
    {"jpeg": _jpeg_shape, "png": _png_shape, "webp": _webp_shape}
)


def image_shape(data: bytes | np.ndarray, /) -> tuple[int, int, int] | None:
    """Return (rows, columns, components) from a JPEG, PNG or WebP header, or ``None``.

    Components are 0 where the header does not say (PNG, WebP).

    Only a few header bytes are read (a JPEG's markers up to its frame
    header), so the size is known before a decoder allocates anything.

    >>> image_shape(b"\\xff\\xd8\\xff\\xc0\\x00\\x11\\x08\\x00\\x10\\x00\\x20\\x03")
    (16, 32, 3)
    >>> image_shape(b"not an image") is None
    True
    """
    view = (data.data if isinstance(data, np.ndarray) else memoryview(data)).cast("B")
    for probe in _IMAGE_HEADERS.values():
        shape = probe(view)
        if shape is not None:
            return shape
    return None
