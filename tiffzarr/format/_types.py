"""The TIFF field types as a table: code → name, item size and numpy format."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["DATA_TYPES", "DataType", "ByteOrder"]

ByteOrder = Literal["<", ">"]


@dataclass(frozen=True, slots=True)
class DataType:
    """One TIFF field type.

    ``format`` is a numpy type character without byte order; rational types are
    two integers per value (``itemsize`` counts both).
    """

    code: int
    name: str
    itemsize: int
    format: str
    per_value: int = 1

    def numpy_dtype(self, byteorder: ByteOrder) -> np.dtype:
        return np.dtype(byteorder + self.format)

    @property
    def is_offset(self) -> bool:
        """True for the IFD pointer types."""
        return self.name in ("IFD", "IFD8")


DATA_TYPES: dict[int, DataType] = {
    t.code: t
    for t in (
        DataType(1, "BYTE", 1, "u1"),
        DataType(2, "ASCII", 1, "u1"),
        DataType(3, "SHORT", 2, "u2"),
        DataType(4, "LONG", 4, "u4"),
        DataType(5, "RATIONAL", 8, "u4", 2),
        DataType(6, "SBYTE", 1, "i1"),
        DataType(7, "UNDEFINED", 1, "u1"),
        DataType(8, "SSHORT", 2, "i2"),
        DataType(9, "SLONG", 4, "i4"),
        DataType(10, "SRATIONAL", 8, "i4", 2),
        DataType(11, "FLOAT", 4, "f4"),
        DataType(12, "DOUBLE", 8, "f8"),
        DataType(13, "IFD", 4, "u4"),
        DataType(16, "LONG8", 8, "u8"),
        DataType(17, "SLONG8", 8, "i8"),
        DataType(18, "IFD8", 8, "u8"),
    )
}
