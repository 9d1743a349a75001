"""Walk the IFD tree of a file: the main chain, SubIFDs, Exif/GPS/Interop IFDs.

Reads are planned through a :class:`ByteCache`: an IFD not yet cached is
fetched with a little read-ahead, the out-of-line values an IFD needs are
fetched together, and the SubIFDs and private IFDs of all pages are fetched
concurrently, one tree level at a time. Every IFD offset is claimed in one
visited set before it is read, so a cycle of any length or depth ends at its
first revisit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tiffzarr.errors import (
    IfdCycleError,
    LimitError,
    TiffFormatError,
    TiffFormatWarning,
)
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
from tiffzarr.format._template import IfdTemplate
from tiffzarr.model import Ifd, PagePath, format_path
from tiffzarr.reader._cache import ByteCache
from tiffzarr.reader._predict import predict_run

__all__ = ["IfdWalker", "WalkedIfd"]

logger = logging.getLogger(__name__)

IFD_AHEAD = 4096
"""Bytes fetched at an IFD offset that is not cached yet."""
MAX_IFDS = 2**20
"""Most IFDs (of all kinds) read from one file."""
MAX_DEPTH = 4
"""Deepest nesting of SubIFDs (and Exif → Interoperability)."""
EAGER_LIMIT = 2**20
"""Largest value loaded at open for the tags a series interpreter needs."""
JPEG_HEAD = 64 * 1024
"""Bytes read from a JPEG stream to find its frame header."""
DESCRIPTION_LIMIT = 64 * 2**20
"""Largest ImageDescription loaded at open (OME-XML can be large)."""

SEGMENT_TAGS = frozenset({273, 279, 324, 325})
"""Strip/tile offsets and byte counts: never loaded with the IFD."""
# Child IFD pointers by the namespace of the IFD holding them: tag → child namespace.
CHILD_POINTERS: dict[Namespace, dict[int, Namespace]] = {
    "image": {330: "image", 34665: "exif", 34853: "gps"},
    "exif": {40965: "interop"},
    "gps": {},
    "interop": {},
}
# Tags whose values the model or a series interpreter needs at open.
NEEDED_TAGS = frozenset(
    {
        254, 256, 257, 258, 259, 262, 266, 270, 277, 278, 284, 292, 305, 317, 320, 322,
        323, 330, 338, 339, 347, 529, 530, 532, 32997, 32998, 33550, 33628, 33629, 33630,
        33631, 33922, 34264, 34412, 34665, 34735, 34736, 34737, 34853, 40965, 42112, 42113,
        50838, 50839, 51123, 65420,
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class WalkedIfd:
    """An IFD and the child IFDs reached from it (``None`` where one failed)."""

    ifd: Ifd
    invalid: dict[int, str]
    subifds: tuple[WalkedIfd | None, ...] = ()
    extra: tuple[tuple[Namespace, WalkedIfd], ...] = ()


class IfdWalker:
    """Reads the IFD tree of one file through a cache."""

    def __init__(self, cache: ByteCache, header: Header, *, url: str, predict: bool = True) -> None:
        self.cache = cache
        self.predict = predict
        self.checks: dict[int, tuple[IfdTemplate, int]] = {}
        """Predicted pages that were not read: IFD offset → (template, pages on)."""
        self.header = header
        self.url = url
        self.size = cache.size
        self.visited: set[int] = set()
        self.warnings: list[str] = []
        self.ndpi = False

    # -- bookkeeping ---------------------------------------------------
    def warn(self, message: str) -> None:
        self.warnings.append(message)
        logger.debug("%s: %s", self.url, message)
        warnings.warn(f"{self.url}: {message}", TiffFormatWarning, stacklevel=3)

    def claim(self, offset: int, path: str) -> None:
        """Reserve an IFD offset before reading it."""
        if offset in self.visited:
            raise IfdCycleError(
                f"IFD offset {offset} was reached before (a cycle)",
                url=self.url,
                ifd=path,
                offset=offset,
            )
        if len(self.visited) >= MAX_IFDS:
            raise LimitError(f"more than {MAX_IFDS} IFDs", url=self.url, ifd=path, offset=offset)
        if offset < self.header.layout.header_size or offset >= self.size:
            raise TiffFormatError(
                f"IFD offset {offset} is outside the file ({self.size} bytes)",
                url=self.url,
                ifd=path,
                offset=offset,
            )
        self.visited.add(offset)

    def fix_offset(self, value: int, ifd_offset: int) -> int:
        """Widen a 32-bit NDPI offset to the position just below its IFD."""
        if not self.ndpi or self.size <= 2**32:
            return value
        widened = value | (ifd_offset >> 32 << 32)
        return widened - 2**32 if widened > ifd_offset and widened >= 2**32 else widened

    # -- one IFD ---------------------------------------------------------
    async def read_raw(self, offset: int, path: str) -> RawIfd:
        layout = self.header.layout
        head = await self.cache.read(offset, layout.count_size, ahead=IFD_AHEAD)
        ntags = parse_ifd_count(self.header, head)
        if ntags == 0:
            raise TiffFormatError("IFD has no tags", url=self.url, ifd=path, offset=offset)
        next_size = 8 if self.ndpi else layout.offset_size
        need = layout.count_size + ntags * layout.entry_size + next_size
        if offset + need - next_size > self.size:
            raise TiffFormatError(
                f"IFD with {ntags} tags runs past the end of the file",
                url=self.url,
                ifd=path,
                offset=offset,
            )
        if offset + need > self.size:
            # all entries are there but the next-IFD pointer is cut: the chain ends here
            self.warn(f"IFD {path}: the next-IFD pointer is cut by the end of the file")
            data = await self.cache.read(offset, need - next_size, ahead=IFD_AHEAD)
            data = bytes(data) + bytes(next_size)
        else:
            data = await self.cache.read(offset, need, ahead=IFD_AHEAD)
        return parse_ifd(
            self.header, data, offset=offset, url=self.url, ifd=path, next_offset_size=next_size
        )

    async def load(self, raw: RawIfd, path: PagePath, namespace: Namespace) -> WalkedIfd:
        """Decode the inline values and fetch the needed out-of-line ones."""
        values: dict[int, TagValue] = {}
        deferred: set[int] = set()
        invalid: dict[int, str] = {}
        entries: dict[int, TagEntry] = {}
        fetch: list[tuple[TagEntry, int]] = []
        for code, stored in raw.entries.items():
            entry = stored
            if self.ndpi and entry.value_offset is not None:
                entry = entry._replace(value_offset=self.fix_offset(entry.value_offset, raw.offset))
            entries[code] = entry
            reason = self._check_entry(entry)
            if reason is not None:
                invalid[code] = reason
                continue
            if entry.value_offset is None:
                values[code] = decode_value(self.header, entry)
                continue
            if namespace == "image" and code in SEGMENT_TAGS:
                deferred.add(code)
                continue
            cached = self.cache.find(entry.value_offset, entry.nbytes)
            if cached is not None:
                values[code] = decode_value(self.header, entry, cached)
            elif self._wanted(code, entry, namespace):
                fetch.append((entry, entry.value_offset))
            else:
                deferred.add(code)
        if fetch:
            blobs = await self.cache.read_many([(vo, e.nbytes) for e, vo in fetch])
            for (entry, _), blob in zip(fetch, blobs, strict=True):
                values[entry.code] = decode_value(self.header, entry, blob)
        for code, reason in invalid.items():
            self.warn(f"IFD {_where(path, namespace)}: {reason}; tag {code} ignored")
        if namespace == "image" and 256 not in values and 513 in values and 514 in values:
            values.update(await self._jpeg_geometry(values))
        ifd = Ifd(
            path, raw.offset, namespace, entries, values, frozenset(deferred), raw.next_offset
        )
        return WalkedIfd(ifd, invalid)

    async def _jpeg_geometry(self, values: dict[int, TagValue]) -> dict[int, TagValue]:
        """Size tags of an IFD that holds only a JPEG stream (Exif-style thumbnails).

        Like libtiff, take them from the stream's frame header; the tags an IFD
        does store are kept.
        """
        offset, length = values[513], values[514]
        if not isinstance(offset, int) or not isinstance(length, int) or not length:
            return {}
        length = min(length, JPEG_HEAD, self.size - offset)
        if offset >= self.size or length <= 0:
            return {}
        frame = jpeg_frame(await self.cache.read(offset, length))
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

    def _check_entry(self, entry: TagEntry) -> str | None:
        if entry.datatype is None:
            return f"unknown field type {entry.type}"
        if entry.value_offset is not None and entry.value_offset + entry.nbytes > self.size:
            return (
                f"value of {entry.nbytes} bytes at offset {entry.value_offset} "
                f"is past the end of the file"
            )
        return None

    @staticmethod
    def _wanted(code: int, entry: TagEntry, namespace: Namespace) -> bool:
        if namespace != "image":
            return entry.nbytes <= EAGER_LIMIT
        if code == 270:
            return entry.nbytes <= DESCRIPTION_LIMIT
        return code in NEEDED_TAGS and entry.nbytes <= EAGER_LIMIT

    async def read_ifd(self, offset: int, path: PagePath, namespace: Namespace) -> WalkedIfd:
        raw = await self.read_raw(offset, _where(path, namespace))
        return await self.load(raw, path, namespace)

    # -- the tree --------------------------------------------------------
    async def main_chain(self) -> list[WalkedIfd]:
        """The chain of IFDs from the header; a broken link after the first ends it.

        Runs of uniform pages are predicted rather than read one by one (see
        :mod:`tiffzarr.reader._predict`).
        """
        chain: list[WalkedIfd] = []
        previous: RawIfd | None = None
        predicted_until = -1  # chain index of the last predicted page
        offset = self.header.first_ifd
        while offset:
            k = len(chain)
            try:
                self.claim(offset, str(k))
                raw = await self.read_raw(offset, str(k))
                if k == 0 and 65420 in raw.entries:
                    self.ndpi = True
                    raw = await self.read_raw(offset, str(k))
                walked = await self.load(raw, (k,), "image")
            except TiffFormatError as exc:
                if k == 0:
                    raise
                self.warn(f"the IFD chain ends after {k} IFDs: {exc}")
                break
            chain.append(walked)
            if self.predict and k > predicted_until and _strided(previous, raw):
                assert previous is not None
                run = await predict_run(self.cache, self.header, previous, raw)
                if run is not None:
                    predicted_until = k + run.count
                    for delta in range(1, run.count + 1):
                        if delta not in run.read:
                            self.checks[run.template.ifd(delta)] = (run.template, delta)
            previous = raw
            offset = walked.ifd.next_offset
        return chain

    async def children(self, roots: Sequence[WalkedIfd]) -> list[WalkedIfd]:
        """Attach SubIFDs and private IFDs to ``roots``, one tree level at a time."""
        level = list(roots)
        depth = 0
        done: dict[int, WalkedIfd] = {}
        # parent id → [(slot, child id, namespace)], in the order they were read
        links: dict[int, list[tuple[int, int, Namespace]]] = {}
        while level and depth < MAX_DEPTH:
            depth += 1
            jobs: list[tuple[WalkedIfd, int, int, Namespace, PagePath]] = []
            for parent in level:
                for slot, offset, namespace, path in self._pointers(parent):
                    try:
                        self.claim(offset, _where(path, namespace))
                    except TiffFormatError as exc:
                        self.warn(f"skipped: {exc}")
                        continue
                    jobs.append((parent, slot, offset, namespace, path))
            results = await asyncio.gather(
                *(self.read_ifd(o, p, ns) for _, _, o, ns, p in jobs), return_exceptions=True
            )
            level = []
            for (parent, slot, _, namespace, _), result in zip(jobs, results, strict=True):
                if isinstance(result, TiffFormatError):
                    self.warn(f"skipped: {result}")
                    continue
                if isinstance(result, BaseException):
                    raise result
                done[id(result)] = result
                links.setdefault(id(parent), []).append((slot, id(result), namespace))
                level.append(result)
        if level:
            self.warn(f"IFDs nested deeper than {MAX_DEPTH} levels were not read")
        return [self._assemble(root, links, done) for root in roots]

    def _pointers(self, parent: WalkedIfd) -> list[tuple[int, int, Namespace, PagePath]]:
        out: list[tuple[int, int, Namespace, PagePath]] = []
        for code, namespace in CHILD_POINTERS[parent.ifd.namespace].items():
            if code not in parent.ifd.entries or code in parent.invalid:
                continue
            value = parent.ifd.values.get(code)
            if value is None:
                continue
            offsets = [int(v) for v in np.atleast_1d(np.asarray(value)).reshape(-1)]
            for slot, stored in enumerate(offsets):
                offset = self.fix_offset(stored, parent.ifd.offset)
                path = (*parent.ifd.path, slot) if namespace == "image" else parent.ifd.path
                out.append((slot if namespace == "image" else -1, offset, namespace, path))
        return out

    def _assemble(
        self,
        node: WalkedIfd,
        links: dict[int, list[tuple[int, int, Namespace]]],
        done: dict[int, WalkedIfd],
    ) -> WalkedIfd:
        count = _subifd_count(node.ifd)
        subifds: list[WalkedIfd | None] = [None] * count
        extra: list[tuple[Namespace, WalkedIfd]] = []
        for slot, child, namespace in links.get(id(node), ()):
            built = self._assemble(done[child], links, done)
            if namespace == "image":
                subifds[slot] = built
            else:
                extra.append((namespace, built))
        return dataclasses.replace(node, subifds=tuple(subifds), extra=tuple(extra))


def _strided(a: RawIfd | None, b: RawIfd) -> bool:
    """Whether ``a`` → ``b`` → ``b``'s next IFD are equally spaced (worth a prediction)."""
    return a is not None and 0 < b.offset - a.offset == b.next_offset - b.offset


def _where(path: PagePath, namespace: Namespace) -> str:
    """How errors name an IFD: ``"3"``, ``"3/1"``, ``"3 exif"``."""
    return format_path(path) if namespace == "image" else f"{format_path(path)} {namespace}"


def _subifd_count(ifd: Ifd) -> int:
    value = ifd.values.get(330)
    if value is None:
        return 0
    return int(np.asarray(value).size)
