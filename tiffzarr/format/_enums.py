"""Enumerated TIFF tag values as tables. Unknown codes stay plain ints.

>>> Compression.from_code(8), Compression.from_code(12345)
(<Compression.ADOBE_DEFLATE: 8>, 12345)
"""

from __future__ import annotations

import enum
from typing import Self

__all__ = [
    "Compression",
    "ExtraSample",
    "FillOrder",
    "Photometric",
    "PlanarConfig",
    "Predictor",
    "ResolutionUnit",
    "SampleFormat",
    "SubfileType",
]


class _Table(enum.IntEnum):
    @classmethod
    def from_code(cls, code: int, /) -> Self | int:
        """Return the member for ``code``, or ``code`` itself when unknown."""
        try:
            return cls(code)
        except ValueError:
            return int(code)


class Compression(_Table):
    NONE = 1
    CCITTRLE = 2
    CCITT_T4 = 3
    CCITT_T6 = 4
    LZW = 5
    OJPEG = 6
    JPEG = 7
    ADOBE_DEFLATE = 8
    JBIG_BW = 9
    JBIG_COLOR = 10
    JPEG_99 = 99
    KODAK_262 = 262
    NEXT = 32766
    SONY_ARW = 32767
    PACKED_RAW = 32769
    SAMSUNG_SRW = 32770
    CCIRLEW = 32771
    SAMSUNG_SRW2 = 32772
    PACKBITS = 32773
    THUNDERSCAN = 32809
    KODAK_KDC = 32867
    IT8CTPAD = 32895
    IT8LW = 32896
    IT8MP = 32897
    IT8BL = 32898
    PIXARFILM = 32908
    PIXARLOG = 32909
    DEFLATE = 32946
    DCS = 32947
    APERIO_JP2000_YCBC = 33003
    JPEG_2000_LOSSY = 33004
    APERIO_JP2000_RGB = 33005
    ALT_JPEG = 33007
    JBIG = 34661
    SGILOG = 34676
    SGILOG24 = 34677
    LURADOC = 34692
    JPEG2000 = 34712
    NIKON_NEF = 34713
    JBIG2 = 34715
    MDI_BINARY = 34718
    MDI_PROGRESSIVE = 34719
    MDI_VECTOR = 34720
    LERC = 34887
    JPEG_LOSSY = 34892
    LZMA = 34925
    ZSTD_DEPRECATED = 34926
    WEBP_DEPRECATED = 34927
    PNG = 34933
    JPEGXR = 34934
    JETRAW = 48124
    ZSTD = 50000
    WEBP = 50001
    JPEGXL = 50002
    JPEGXL_DNG = 52546
    EER_V0 = 65000
    EER_V1 = 65001
    EER_V2 = 65002


class Photometric(_Table):
    MINISWHITE = 0
    MINISBLACK = 1
    RGB = 2
    PALETTE = 3
    MASK = 4
    SEPARATED = 5
    YCBCR = 6
    CIELAB = 8
    ICCLAB = 9
    ITULAB = 10
    CFA = 32803
    LOGL = 32844
    LOGLUV = 32845
    LINEAR_RAW = 34892
    DEPTH_MAP = 51177
    SEMANTIC_MASK = 52527


class Predictor(_Table):
    NONE = 1
    HORIZONTAL = 2
    FLOATINGPOINT = 3
    HORIZONTALX2 = 34892
    HORIZONTALX4 = 34893
    FLOATINGPOINTX2 = 34894
    FLOATINGPOINTX4 = 34895


class SampleFormat(_Table):
    UINT = 1
    INT = 2
    IEEEFP = 3
    VOID = 4
    COMPLEXINT = 5
    COMPLEXIEEEFP = 6


class PlanarConfig(_Table):
    CONTIG = 1
    SEPARATE = 2


class FillOrder(_Table):
    MSB2LSB = 1
    LSB2MSB = 2


class ExtraSample(_Table):
    UNSPECIFIED = 0
    ASSOCALPHA = 1
    UNASSALPHA = 2


class ResolutionUnit(_Table):
    NONE = 1
    INCH = 2
    CENTIMETER = 3
    MILLIMETER = 4
    MICROMETER = 5


class SubfileType(enum.IntFlag):
    """Bits of NewSubfileType (tag 254)."""

    UNDEFINED = 0
    REDUCEDIMAGE = 1
    PAGE = 2
    MASK = 4
    MACRO = 8
    ENHANCED = 16
    DNG = 65536
