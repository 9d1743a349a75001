"""What a series interpreter is, and what it may ask of the file while it works.

An interpreter is a module with a ``KIND`` (the series kind it makes, as
tifffile names it), a ``FALLBACK`` (what happens when it finds nothing:
``"next"`` tries the interpreters after it, ``"generic"`` goes straight to the
generic one), ``detect(index)`` (a cheap test on the parsed pages) and
``series(context)`` (a coroutine that returns what it found). Interpreters
never do I/O themselves: they ask the :class:`SeriesContext`, which the reader
implements over the bytes it already cached.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from tiffzarr.format import Header, RawIfd, TagValue
from tiffzarr.model import Ifd, SegmentTable, Series, TiffIndex

__all__ = ["ChainEnds", "Fallback", "Interpretation", "Interpreter", "SeriesContext"]

Fallback = Literal["next", "generic"]

ChainEnds = Callable[[Header, RawIfd, Callable[[int], TagValue | None], int], bool]
"""Whether the first IFD alone describes all the image data of the file: called with
the header, the first IFD, a getter of its values already at hand (``None`` for
values not read yet) and the file size. When one says so, the reader does not
walk the IFD chain further."""


@dataclass(frozen=True, slots=True)
class Interpretation:
    """The series an interpreter found, the OME-XML that describes them (if any),
    and the other files of the set whose pages they use (from
    :meth:`SeriesContext.companion`)."""

    series: tuple[Series, ...]
    ome_xml: str | None = None
    members: tuple[TiffIndex, ...] = ()


class SeriesContext(Protocol):
    """The file being interpreted, and the reads an interpreter may ask for."""

    @property
    def index(self) -> TiffIndex:
        """The parsed pages (``series`` is still empty)."""
        ...

    @property
    def missing(self) -> Literal["error", "fill"]:
        """What to do when a file of a set is missing: raise, or serve fill and warn."""
        ...

    async def read(self, offset: int, length: int, /) -> bytes:
        """``length`` bytes of the file at ``offset`` (cached blocks are not read again)."""
        ...

    async def read_many(self, ranges: Sequence[tuple[int, int]], /) -> list[bytes]:
        """The bytes of several ``(offset, length)`` ranges, in as few requests as may be."""
        ...

    async def value(self, ifd: Ifd, code: int, /) -> TagValue | None:
        """A tag's value, read now when it was too large to load at open."""
        ...

    async def load_table(self, table: SegmentTable, /) -> None:
        """Load all offsets and byte counts of a page's segment table."""
        ...

    async def companion(self, name: str, /) -> TiffIndex:
        """Another TIFF file of the set, by its file name in the opened file's folder."""
        ...

    async def companion_text(self, name: str, /) -> str:
        """A text file of the set (an OME companion XML), by its file name."""
        ...

    async def companion_bytes(
        self, name: str, /, offset: int = 0, length: int | None = None
    ) -> bytes:
        """Bytes of another file of the set (an NDTiff index, another file's header
        block), by its file name: all of it, or ``length`` bytes at ``offset``
        (fewer where the file ends)."""
        ...

    def warn(self, message: str, /) -> None:
        """Report something the file gets wrong (a :class:`TiffFormatWarning`)."""
        ...


class Interpreter(Protocol):
    """A module that turns the pages of one kind of file into series."""

    KIND: str
    FALLBACK: Fallback

    def detect(self, index: TiffIndex, /) -> bool: ...

    async def series(self, context: SeriesContext, /) -> Interpretation: ...
