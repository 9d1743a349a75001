"""Parse the writer's option values into TIFF codes, with tifffile's meanings.

Options are given as names (case-insensitive), codes or booleans, exactly as
:class:`tifffile.TiffWriter` accepts them; these functions turn them into the
integers written to the file, or raise :class:`ValueError` naming the option.

>>> compression_code("zlib"), compression_code(True), compression_code(None)
(8, 8, 1)
>>> predictor_code(True, np.dtype("float32"), 50000), predictor_code("none", None, 1)
(3, 1)
>>> rational(0.5), rational((300, 1))
((1, 2), (300, 1))
"""

from __future__ import annotations

import datetime as _datetime
import enum
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, Literal

import numpy as np

from tiffzarr.codecs._table import COMPRESSIONS
from tiffzarr.errors import UnsupportedCompressionError
from tiffzarr.format._enums import (
    Compression,
    ExtraSample,
    Photometric,
    Predictor,
    ResolutionUnit,
)

__all__ = [
    "IMAGE_COMPRESSIONS",
    "PHOTOMETRIC_SAMPLES",
    "ByteOrderOption",
    "byteorder_code",
    "compression_code",
    "datetime_text",
    "enum_code",
    "extrasamples_codes",
    "predictor_code",
    "rational",
    "resolutionunit_code",
]

ByteOrderOption = Literal["<", ">", "=", "|"]

PHOTOMETRIC_SAMPLES: dict[int, int] = {
    Photometric.RGB: 3,
    Photometric.SEPARATED: 4,
    Photometric.YCBCR: 3,
    Photometric.CIELAB: 3,
    Photometric.ICCLAB: 3,
    Photometric.ITULAB: 3,
    Photometric.LOGLUV: 3,
    Photometric.LINEAR_RAW: 3,
}
"""Samples per pixel a photometric interpretation implies (1 when not listed)."""

IMAGE_COMPRESSIONS = frozenset(c.code for c in COMPRESSIONS.values() if c.kind in ("image", "jpeg"))
"""Compressions that code whole images: a predictor cannot be combined with them."""

_ALIASES = {"ZLIB": Compression.ADOBE_DEFLATE}


def enum_code(table: type[enum.IntEnum], value: Any, option: str, /) -> int:
    """The code of an enum member given by name (any case), member or int.

    >>> enum_code(Photometric, "rgb", "photometric"), enum_code(Predictor, 2, "predictor")
    (2, 2)
    """
    if isinstance(value, str):
        try:
            return int(table[value.upper()])
        except KeyError:
            names = ", ".join(m.name.lower() for m in table)
            raise ValueError(f"invalid {option} {value!r}; one of {names}") from None
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"invalid {option} {value!r}")
    return int(value)


def byteorder_code(value: str | None, /) -> Literal["<", ">"]:
    """``'<'`` or ``'>'`` from a byte order option (``None``, ``'='``, ``'|'``: native).

    >>> byteorder_code(">")
    '>'
    """
    if value is None or value in ("=", "|"):
        return "<" if np.little_endian else ">"
    if value not in ("<", ">"):
        raise ValueError(f"invalid byteorder {value!r}; one of '<', '>', '=', '|'")
    return value  # type: ignore[return-value]


def compression_code(value: Any, /) -> int:
    """The Compression tag value; ``None``/``False`` mean none, ``True`` zlib.

    Raises :class:`~tiffzarr.errors.UnsupportedCompressionError` when
    imagecodecs cannot encode it.
    """
    if value is None or value is False or (isinstance(value, str) and value.upper() == "NONE"):
        return 1
    if value is True:
        return int(Compression.ADOBE_DEFLATE)
    if isinstance(value, str) and value.upper() in _ALIASES:
        code = int(_ALIASES[value.upper()])
    else:
        code = enum_code(Compression, value, "compression")
    codec = COMPRESSIONS.get(code)
    if code != 1 and (codec is None or not codec.can_encode):
        raise UnsupportedCompressionError(
            f"compression {value!r} cannot be encoded with this imagecodecs build", tag=259
        )
    return code


_INTEGER_PREDICTORS = (Predictor.HORIZONTAL, Predictor.HORIZONTALX2, Predictor.HORIZONTALX4)
_FLOAT_PREDICTORS = (
    Predictor.FLOATINGPOINT,
    Predictor.FLOATINGPOINTX2,
    Predictor.FLOATINGPOINTX4,
)


def predictor_code(value: Any, dtype: np.dtype | None, compression: int, /) -> int:
    """The Predictor tag value; ``True`` picks horizontal or floating point by dtype."""
    if value is None or value is False or (value == 1 and value is not True):
        return 1
    if isinstance(value, str) and value.upper() == "NONE":
        return 1
    if compression == 1:
        raise ValueError("cannot use a predictor without compression")
    if compression in IMAGE_COMPRESSIONS:
        raise ValueError(f"cannot use a predictor with compression {compression}")
    kind = "u" if dtype is None else dtype.kind
    if value is True:
        if kind == "f":
            return int(Predictor.FLOATINGPOINT)
        if kind in "iu" and dtype is not None and dtype.itemsize <= 4:
            return int(Predictor.HORIZONTAL)
        raise ValueError(f"cannot use a predictor with {dtype}")
    code = enum_code(Predictor, value, "predictor")
    allowed = _FLOAT_PREDICTORS if kind == "f" else _INTEGER_PREDICTORS
    if code not in allowed or kind not in "iuf":
        raise ValueError(f"cannot use predictor {value!r} with {dtype}")
    return code


def extrasamples_codes(value: Any, /) -> tuple[int, ...] | None:
    """ExtraSamples values from names or codes (a single value is allowed).

    >>> extrasamples_codes(["unassalpha"]), extrasamples_codes(None)
    ((2,), None)
    """
    if value is None:
        return None
    items = value if isinstance(value, list | tuple) else (value,)
    return tuple(enum_code(ExtraSample, v, "extrasamples") for v in items)


def rational(value: float | Sequence[int], /) -> tuple[int, int]:
    """A RATIONAL value from a number or a ``(numerator, denominator)`` pair."""
    if isinstance(value, Sequence):
        if len(value) != 2:
            raise ValueError(f"invalid rational {value!r}")
        return (int(value[0]), int(value[1]))
    fraction = Fraction(float(value)).limit_denominator(2**32 - 1)
    if fraction.numerator >= 2**32 or fraction.numerator < 0:
        raise ValueError(f"{value!r} does not fit a RATIONAL")
    return (fraction.numerator, fraction.denominator)


def resolutionunit_code(value: Any, *, resolution: bool, imagej: bool) -> int:
    """ResolutionUnit: given, else none (no resolution, or ImageJ) or inch."""
    if value is not None:
        return enum_code(ResolutionUnit, value, "resolutionunit")
    if imagej or not resolution:
        return int(ResolutionUnit.NONE)
    return int(ResolutionUnit.INCH)


def datetime_text(value: Any, /) -> str | None:
    """DateTime tag text: ``True`` is now; a string must be ``YYYY:MM:DD HH:MM:SS``.

    >>> datetime_text(_datetime.datetime(2024, 5, 6, 7, 8, 9))
    '2024:05:06 07:08:09'
    """
    if value is None or value is False:
        return None
    if value is True:
        value = _datetime.datetime.now()
    if isinstance(value, _datetime.datetime):
        return value.strftime("%Y:%m:%d %H:%M:%S")
    if not isinstance(value, str) or len(value) != 19 or value[16] != ":":
        raise ValueError(f"invalid datetime {value!r}; expected 'YYYY:MM:DD HH:MM:SS'")
    return value
