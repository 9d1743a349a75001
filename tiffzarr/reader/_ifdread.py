"""Read one IFD from cached bytes: its extent, the values it needs, the result.

These steps never do I/O: each says which bytes it still needs, and the walker
fetches the needs of every IFD in flight together before trying again.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

from tiffzarr.errors import TiffFormatError, TiffFormatWarning
from tiffzarr.format import (
    Compression,
    Header,
    Namespace,
    RawIfd,
    TagEntry,
    TagValue,
    decode_value,
    parse_ifd,
    parse_ifd_count,
)
from tiffzarr.format._jpeg import jpeg_frame
from tiffzarr.format._tagrules import entry_problem
from tiffzarr.model import Ifd, PagePath, format_path
from tiffzarr.reader._cache import ByteCache

__all__ = ["IFD_AHEAD", "IfdReader", "WalkedIfd", "where"]

logger = logging.getLogger(__name__)

IFD_AHEAD = 4096
"""Bytes first fetched at an IFD offset that is not cached yet; later fetches are
sized like the IFDs (with the values stored after them) seen so far."""
MIN_AHEAD, MAX_AHEAD = 1024, 16 * 1024
EAGER_LIMIT = 2**20
"""Largest value loaded at open for the tags a series interpreter needs."""
JPEG_HEAD = 64 * 1024
"""Bytes read from a JPEG stream to find its frame header."""
DESCRIPTION_LIMIT = 64 * 2**20
"""Largest ImageDescription loaded at open (OME-XML can be large)."""
INTERNED = 4096
"""Distinct IFD entries remembered to share them between pages."""

SEGMENT_TAGS = frozenset({273, 279, 324, 325})
"""Strip/tile offsets and byte counts: never loaded with the IFD."""
# Tags whose values the model or a series interpreter needs at open.
NEEDED_TAGS = frozenset(
    {
        254, 256, 257, 258, 259, 262, 266, 270, 277, 278, 282, 283, 284, 292, 305, 317, 320, 322,
        323, 330, 338, 339, 347, 529, 530, 532, 32997, 32998, 33550, 33628, 33629, 33630,
        33631, 33922, 34264, 34412, 34665, 34735, 34736, 34737, 34853, 40965, 42112, 42113,
        50838, 50839, 51123, 65420,
    }
)  # fmt: skip

Range = tuple[int, int]


def where(path: PagePath, namespace: Namespace) -> str:
    """How errors name an IFD: ``"3"``, ``"3/1"``, ``"3 exif"``."""
    return format_path(path) if namespace == "image" else f"{format_path(path)} {namespace}"


@dataclass(frozen=True, slots=True)
class WalkedIfd:
    """An IFD and the child IFDs reached from it (``None`` where one failed)."""

    ifd: Ifd
    invalid: dict[int, str]
    subifds: tuple[WalkedIfd | None, ...] = ()
    extra: tuple[tuple[Namespace, WalkedIfd], ...] = ()


@dataclass(slots=True)
class IfdReader:
    """The per-file facts the IFD steps need, and the warnings they raise."""

    cache: ByteCache
    header: Header
    url: str
    ndpi: bool = False
    warnings: list[str] = field(default_factory=list)
    ahead: int = IFD_AHEAD
    descriptions: bool = True
    """Load ImageDescription values at open (files of a set do without)."""
    _seen: int = 0
    _interned: dict[TagEntry, TagEntry] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.cache.size

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        logger.debug("%s: %s", self.url, message)
        warnings.warn(f"{self.url}: {message}", TiffFormatWarning, stacklevel=4)

    def fix_offset(self, value: int, ifd_offset: int) -> int:
        """Widen a 32-bit NDPI offset to the position just below its IFD."""
        if not self.ndpi or self.size <= 2**32:
            return value
        widened = value | (ifd_offset >> 32 << 32)
        return widened - 2**32 if widened > ifd_offset and widened >= 2**32 else widened

    # -- the IFD structure ---------------------------------------------
    def parse(self, offset: int, name: str) -> RawIfd | Range:
        """The IFD at ``offset`` if its bytes are cached, else the range to fetch."""
        layout = self.header.layout
        if offset + layout.count_size > self.size:
            raise TiffFormatError(
                f"IFD offset {offset} leaves no room for its tag count in a file of "
                f"{self.size} bytes",
                url=self.url,
                ifd=name,
                offset=offset,
            )
        head = self.cache.find(offset, layout.count_size)
        if head is None:
            rest = self.size - offset
            return offset, rest if rest <= 2 * self.ahead else self.ahead
        ntags = parse_ifd_count(self.header, head)
        if ntags == 0:
            raise TiffFormatError("IFD has no tags", url=self.url, ifd=name, offset=offset)
        next_size = 8 if self.ndpi else layout.offset_size
        need = layout.count_size + ntags * layout.entry_size + next_size
        if offset + need - next_size > self.size:
            raise TiffFormatError(
                f"IFD with {ntags} tags runs past the end of the file",
                url=self.url,
                ifd=name,
                offset=offset,
            )
        cut = offset + need > self.size  # entries complete, next pointer cut
        data = self.cache.find(offset, need - next_size if cut else need)
        if data is None:
            return offset, need - next_size if cut else need
        if cut:
            self.warn(f"IFD {name}: the next-IFD pointer is cut by the end of the file")
            data = bytes(data) + bytes(next_size)
        raw = parse_ifd(
            self.header, data, offset=offset, url=self.url, ifd=name, next_offset_size=next_size
        )
        self._learn_size(raw, need)
        # pages of a stack repeat most entries: keep one copy of each (of the recent ones:
        # entries that hold offsets differ from page to page)
        if len(self._interned) > INTERNED:
            self._interned.clear()
        intern = self._interned.setdefault
        raw.entries.update({code: intern(e, e) for code, e in raw.entries.items()})
        return raw

    def _learn_size(self, raw: RawIfd, ifd_size: int) -> None:
        """Size later IFD fetches like this IFD and the values stored right after it."""
        end = ifd_size
        for entry in raw.entries.values():
            rel = -1 if entry.value_offset is None else entry.value_offset - raw.offset
            if 0 <= rel < MAX_AHEAD:
                end = max(end, rel + entry.nbytes)
        self._seen = max(self._seen, end)
        self.ahead = min(max(self._seen + self._seen // 4 + 64, MIN_AHEAD), MAX_AHEAD)

    # -- its values ---------------------------------------------------------
    def entries(self, raw: RawIfd) -> dict[int, TagEntry]:
        if not self.ndpi:
            return raw.entries
        return {
            code: e._replace(value_offset=self.fix_offset(e.value_offset, raw.offset))
            if e.value_offset is not None
            else e
            for code, e in raw.entries.items()
        }

    def needs(self, raw: RawIfd, namespace: Namespace) -> list[Range]:
        """Out-of-line values (and JPEG headers) still to fetch for ``raw``."""
        out = []
        for code, entry in self.entries(raw).items():
            if (
                entry.value_offset is not None
                and self._check(entry, namespace) is None
                and not (namespace == "image" and code in SEGMENT_TAGS)
                and _wanted(code, entry, namespace, descriptions=self.descriptions)
                and self.cache.find(entry.value_offset, entry.nbytes) is None
            ):
                out.append((entry.value_offset, entry.nbytes))
        jpeg = self._jpeg_range(raw, namespace)
        if jpeg is not None and self.cache.find(*jpeg) is None:
            out.append(jpeg)
        return out

    def cached_value(self, raw: RawIfd, code: int) -> TagValue | None:
        """A tag's value if it is inline or cached, else ``None`` (also for invalid tags)."""
        entry = self.entries(raw).get(code)
        if entry is None or self._check(entry, "image") is not None:
            return None
        if entry.value_offset is None:
            return decode_value(self.header, entry)
        data = self.cache.find(entry.value_offset, entry.nbytes)
        return None if data is None else decode_value(self.header, entry, data)

    def finish(self, raw: RawIfd, path: PagePath, namespace: Namespace) -> WalkedIfd:
        """The IFD with its values, once :meth:`needs` is empty."""
        values: dict[int, TagValue] = {}
        deferred: set[int] = set()
        invalid: dict[int, str] = {}
        entries = self.entries(raw)
        for code, entry in entries.items():
            reason = self._check(entry, namespace)
            if reason is not None:
                invalid[code] = reason
                continue
            if entry.value_offset is None:
                values[code] = decode_value(self.header, entry)
                continue
            cached = None
            if not (namespace == "image" and code in SEGMENT_TAGS):
                cached = self.cache.find(entry.value_offset, entry.nbytes)
            if cached is None:
                deferred.add(code)
            else:
                values[code] = decode_value(self.header, entry, cached)
        for code, reason in invalid.items():
            self.warn(f"IFD {where(path, namespace)}: {reason}; tag {code} ignored")
        jpeg = self._jpeg_range(raw, namespace)
        if jpeg is not None:
            values.update(self._jpeg_geometry(jpeg, values))
        ifd = Ifd(
            path, raw.offset, namespace, entries, values, frozenset(deferred), raw.next_offset
        )
        return WalkedIfd(ifd, invalid)

    def _check(self, entry: TagEntry, namespace: Namespace) -> str | None:
        """Why ``entry`` must be ignored, or ``None``."""
        if entry.datatype is None:
            return f"unknown field type {entry.type}"
        if namespace == "image" and (problem := entry_problem(entry)) is not None:
            return problem
        if entry.value_offset is not None and entry.value_offset + entry.nbytes > self.size:
            return (
                f"value of {entry.nbytes} bytes at offset {entry.value_offset} "
                f"is past the end of the file"
            )
        return None

    def _jpeg_range(self, raw: RawIfd, namespace: Namespace) -> Range | None:
        """Where to look for the frame header of an IFD that holds only a JPEG stream."""
        if namespace != "image" or 256 in raw.entries:
            return None
        if 513 not in raw.entries or 514 not in raw.entries:
            return None
        offset = decode_value(self.header, raw.entries[513])
        length = decode_value(self.header, raw.entries[514])
        if not isinstance(offset, int) or not isinstance(length, int) or not length:
            return None
        length = min(length, JPEG_HEAD, self.size - offset)
        return (offset, length) if offset < self.size and length > 0 else None

    def _jpeg_geometry(self, span: Range, values: dict[int, TagValue]) -> dict[int, TagValue]:
        """Size tags from the JPEG stream's frame header (as libtiff does).

        The tags an IFD does store are kept.
        """
        data = self.cache.find(*span)
        frame = None if data is None else jpeg_frame(data)
        if frame is None:
            return {}
        derived: dict[int, TagValue] = {
            256: frame.width,
            257: frame.height,
            258: 8 if frame.precision <= 8 else 16,
            259: int(Compression.OJPEG),
            277: frame.components,
        }
        return {code: value for code, value in derived.items() if code not in values}


def _wanted(code: int, entry: TagEntry, namespace: Namespace, *, descriptions: bool) -> bool:
    if namespace != "image":
        return entry.nbytes <= EAGER_LIMIT
    if code == 270:
        return descriptions and entry.nbytes <= DESCRIPTION_LIMIT
    return code in NEEDED_TAGS and entry.nbytes <= EAGER_LIMIT
