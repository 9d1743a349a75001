"""Aperio SVS: the ImageDescription of a whole-slide image, as tifffile and openslide read it.

No specification is published. The description of an SVS page starts with
``Aperio `` and is a list of items separated by ``|``: the first is a header
(the software, the size of the scanned image and of this page, the tile size
and the compression), the others are ``key = value`` pairs such as
``AppMag = 20`` (the objective's magnification) and ``MPP = 0.4990`` (microns
per pixel).

>>> text = "Aperio Image Library v10.0.51\\r\\n46920x33014 JPEG Q=30|AppMag = 20|MPP = 0.4990"
>>> svs_metadata(text)
{'Header': 'Aperio Image Library v10.0.51\\r\\n46920x33014 JPEG Q=30', 'AppMag': 20, 'MPP': 0.499}
>>> svs_properties(text)
{'AppMag': '20', 'MPP': '0.4990'}
"""

from __future__ import annotations

from typing import Any

from tiffzarr.format._imagej import typed_value

__all__ = ["APERIO_MARK", "is_svs_description", "svs_metadata", "svs_properties"]

APERIO_MARK = "Aperio "
"""How the ImageDescription of every SVS page starts."""
MAX_ITEMS = 4096
"""Most ``key = value`` items read from one description."""


def is_svs_description(text: object, /) -> bool:
    """Whether ``text`` (an ImageDescription value) is an Aperio description."""
    return isinstance(text, str) and text.startswith(APERIO_MARK)


def _pairs(text: str) -> list[tuple[str, str]]:
    """The stripped ``(key, value)`` of each item after the header that has an ``=``."""
    out = []
    for item in text.split("|", MAX_ITEMS)[1:MAX_ITEMS]:
        key, sep, value = item.partition("=")
        if sep:
            out.append((key.strip(), value.strip()))
    return out


def svs_metadata(text: str, /) -> dict[str, Any]:
    """The header (``Header``) and the items of an Aperio description, their values
    typed (ints, floats, booleans, else text) and later items replacing earlier
    ones of the same key, as tifffile's ``svs_description_metadata`` gives them.

    Raises :class:`ValueError` when ``text`` is no Aperio description.
    """
    if not is_svs_description(text):
        raise ValueError(f"not an Aperio description: {text[:32]!r}")
    out: dict[str, Any] = {"Header": text.split("|", 1)[0].strip()}
    out.update((key, typed_value(value)) for key, value in _pairs(text))
    return out


def svs_properties(text: str, /) -> dict[str, str]:
    """The items of an Aperio description as openslide keeps them (the text of each
    value, later items replacing earlier ones; the header left out)."""
    return dict(_pairs(text))
