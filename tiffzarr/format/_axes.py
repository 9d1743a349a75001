"""Axis letters as TIFF readers name them, and the units their physical sizes come in.

The letters follow tifffile's convention (itself from TIFF, OME-TIFF, ImageJ,
LSM and FluoView): ``X`` width, ``Y`` height, ``Z`` depth, ``S`` samples,
``I`` a generic sequence, ``T`` time, ``C`` channel, and so on. Units are
normalised to the UDUNITS-2 names that NGFF uses.

>>> AXIS_NAMES["I"], axis_letter("position"), udunits("µm"), udunits("sec"), udunits("pixel")
('sequence', 'R', 'micrometer', 'second', None)
"""

from __future__ import annotations

__all__ = ["AXIS_NAMES", "SPACE_UNITS", "TIME_UNITS", "axis_letter", "udunits"]

AXIS_NAMES: dict[str, str] = {
    "X": "width",
    "Y": "height",
    "Z": "depth",
    "S": "sample",
    "I": "sequence",
    "T": "time",
    "C": "channel",
    "A": "angle",
    "P": "phase",
    "R": "tile",
    "H": "lifetime",
    "E": "lambda",
    "L": "exposure",
    "V": "event",
    "M": "mosaic",
    "Q": "other",
    "J": "column",
    "K": "row",
}
"""Axis letter → what the axis enumerates."""

_LETTERS = {name: letter for letter, name in AXIS_NAMES.items()} | {"z": "Z", "position": "R"}


def axis_letter(name: str, /, default: str = "Q") -> str:
    """The letter of an axis named ``name`` (``default`` for names not known)."""
    return _LETTERS.get(name, _LETTERS.get(name.lower(), default))


SPACE_UNITS = frozenset(
    {
        "angstrom", "attometer", "centimeter", "decimeter", "exameter", "femtometer", "foot",
        "gigameter", "hectometer", "inch", "kilometer", "megameter", "meter", "micrometer",
        "mile", "millimeter", "nanometer", "parsec", "petameter", "picometer", "terameter",
        "yard", "yoctometer", "yottameter", "zeptometer", "zettameter",
    }
)  # fmt: skip
"""The length units NGFF allows."""
TIME_UNITS = frozenset(
    {
        "attosecond", "centisecond", "day", "decisecond", "exasecond", "femtosecond",
        "gigasecond", "hectosecond", "hour", "kilosecond", "megasecond", "microsecond",
        "millisecond", "minute", "nanosecond", "petasecond", "picosecond", "second",
        "terasecond", "yoctosecond", "yottasecond", "zeptosecond", "zettasecond",
    }
)  # fmt: skip
"""The time units NGFF allows."""

_ALIASES = {
    "Å": "angstrom",
    "å": "angstrom",
    "am": "attometer",
    "cm": "centimeter",
    "dm": "decimeter",
    "fm": "femtometer",
    "ft": "foot",
    "in": "inch",
    "km": "kilometer",
    "m": "meter",
    "µm": "micrometer",
    "μm": "micrometer",
    "um": "micrometer",
    "micron": "micrometer",
    "microns": "micrometer",
    "mm": "millimeter",
    "nm": "nanometer",
    "pm": "picometer",
    "pc": "parsec",
    "mi": "mile",
    "yd": "yard",
    "as": "attosecond",
    "cs": "centisecond",
    "d": "day",
    "ds": "decisecond",
    "fs": "femtosecond",
    "h": "hour",
    "hr": "hour",
    "µs": "microsecond",
    "μs": "microsecond",
    "us": "microsecond",
    "ms": "millisecond",
    "min": "minute",
    "ns": "nanosecond",
    "ps": "picosecond",
    "s": "second",
    "sec": "second",
}


def udunits(unit: str | None, /) -> str | None:
    """The NGFF (UDUNITS-2) name of ``unit`` as files write it, or ``None`` (pixels,
    or a unit NGFF does not know)."""
    if unit is None:
        return None
    text = unit.strip().replace("\\u00B5", "µ").replace("\\u00b5", "µ")
    lowered = text.lower()
    for candidate in (lowered, lowered.rstrip("s")):
        if candidate in SPACE_UNITS or candidate in TIME_UNITS:
            return candidate
    return _ALIASES.get(text, _ALIASES.get(lowered))
