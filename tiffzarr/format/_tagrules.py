"""What the tags the reader interprets may hold: their kind of value and count.

An entry that breaks these rules (an ASCII ``StripOffsets``, a ``Compression``
with two values, a ``ReferenceBlackWhite`` with one) cannot describe the image;
the reader ignores it with a warning naming the IFD and tag, as it ignores an
entry of an unknown type, and the page then fails for lack of it if it must.

>>> from tiffzarr.format._ifd import TagEntry
>>> from tiffzarr.format._types import DATA_TYPES
>>> entry = TagEntry(273, 2, 4, b"abc\\x00", None, DATA_TYPES[2])
>>> entry_problem(entry)
'StripOffsets holds ASCII values, not offsets'
>>> entry_problem(entry._replace(type=4, datatype=DATA_TYPES[4], count=1)) is None
True
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from tiffzarr.format._ifd import TagEntry
from tiffzarr.format._tags import tag_name

__all__ = ["TAG_RULES", "TagRule", "entry_problem"]

INTEGER_TYPES = frozenset({"SHORT", "LONG", "SBYTE", "SSHORT", "SLONG", "LONG8", "SLONG8"})
"""BYTE is left out: the reader decodes BYTE values as ``bytes`` (as UNDEFINED)."""
OFFSET_TYPES = INTEGER_TYPES | {"IFD", "IFD8"}
NUMBER_TYPES = INTEGER_TYPES | {"RATIONAL", "SRATIONAL", "FLOAT", "DOUBLE"}

Kind = Literal["integers", "offsets", "numbers"]
_TYPES = {"integers": INTEGER_TYPES, "offsets": OFFSET_TYPES, "numbers": NUMBER_TYPES}


class TagRule(NamedTuple):
    """A tag holds values of ``kind``: exactly ``number`` of them, or at least one
    when ``number`` is ``None``."""

    kind: Kind
    number: int | None = 1


TAG_RULES: dict[int, TagRule] = {
    254: TagRule("integers"),  # NewSubfileType
    255: TagRule("integers"),  # SubfileType
    256: TagRule("integers"),  # ImageWidth
    257: TagRule("integers"),  # ImageLength
    258: TagRule("integers", None),  # BitsPerSample, per sample
    259: TagRule("integers"),  # Compression
    262: TagRule("integers"),  # PhotometricInterpretation
    266: TagRule("integers"),  # FillOrder
    273: TagRule("offsets", None),  # StripOffsets
    277: TagRule("integers"),  # SamplesPerPixel
    278: TagRule("integers"),  # RowsPerStrip
    279: TagRule("integers", None),  # StripByteCounts
    282: TagRule("numbers"),  # XResolution
    283: TagRule("numbers"),  # YResolution
    284: TagRule("integers"),  # PlanarConfiguration
    296: TagRule("integers"),  # ResolutionUnit
    317: TagRule("integers"),  # Predictor
    322: TagRule("integers"),  # TileWidth
    323: TagRule("integers"),  # TileLength
    324: TagRule("offsets", None),  # TileOffsets
    325: TagRule("integers", None),  # TileByteCounts
    330: TagRule("offsets", None),  # SubIFDs
    338: TagRule("integers", None),  # ExtraSamples
    339: TagRule("integers", None),  # SampleFormat, per sample
    529: TagRule("numbers", 3),  # YCbCrCoefficients
    530: TagRule("integers", 2),  # YCbCrSubSampling
    532: TagRule("numbers", 6),  # ReferenceBlackWhite
    32997: TagRule("integers"),  # ImageDepth
    32998: TagRule("integers"),  # TileDepth
}
"""The image tags whose values the reader uses as numbers, and how many it expects."""


def entry_problem(entry: TagEntry, /) -> str | None:
    """Why an image IFD's ``entry`` cannot hold what its tag means, or ``None``."""
    rule = TAG_RULES.get(entry.code)
    if rule is None or entry.datatype is None:
        return None
    if entry.datatype.name not in _TYPES[rule.kind]:
        return f"{tag_name(entry.code)} holds {entry.datatype.name} values, not {rule.kind}"
    if rule.number is not None and entry.count != rule.number:
        return f"{tag_name(entry.code)} holds {entry.count} values, not {rule.number}"
    if entry.count < 1:
        return f"{tag_name(entry.code)} holds no value"
    return None
