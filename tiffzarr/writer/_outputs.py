"""Outputs for encoded segments: straight into the file, or per-level spools for COGs.

>>> import os, tempfile
>>> from tiffzarr.writer._sink import open_sink
>>> sink = open_sink(os.path.join(tempfile.mkdtemp(), "a.bin"))
>>> out = CogOutput(sink, levels=2)
>>> out.write(0, b"full"), out.write(1, b"ovr")
(4, 4)
>>> out.finish()
[11, 0]
>>> sink.read(0, 23)
b'\\x03\\x00\\x00\\x00ovrovr\\x00\\x04\\x00\\x00\\x00fullfull'
>>> out.close(); sink.abort()
"""

from __future__ import annotations

from tiffzarr.writer._cog import leader, trailer
from tiffzarr.writer._sink import Sink, Spool

__all__ = ["CogOutput", "StreamOutput"]


class StreamOutput:
    """Segments of every level appended to the file in the order they are encoded."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink

    def write(self, level: int, data: bytes, /) -> int:
        return self._sink.write(data)

    def reserve(self, level: int, nbytes: int, /) -> int:
        return self._sink.reserve(nbytes)


class CogOutput:
    """Each level spooled to its own temporary file with tile leaders and trailers.

    :meth:`finish` appends the spools to the file, smallest level first, and
    returns how far each level's offsets must be shifted.
    """

    def __init__(self, sink: Sink, *, levels: int) -> None:
        self._sink = sink
        self._spools: list[Spool] = []
        try:
            for _ in range(levels):
                self._spools.append(Spool(sink.folder))
        except BaseException:
            self.close()
            raise

    def write(self, level: int, data: bytes, /) -> int:
        spool = self._spools[level]
        at = spool.write(leader(data))
        spool.write(data)
        spool.write(trailer(data))
        return at + 4

    def reserve(self, level: int, nbytes: int, /) -> int:
        raise NotImplementedError("COG pages are never empty")

    def finish(self) -> list[int]:
        """Copy the spools into the file, smallest level first; return each level's start."""
        starts = [0] * len(self._spools)
        for level in reversed(range(len(self._spools))):
            spool = self._spools[level]
            spool.finish()
            starts[level] = self._sink.append_file(spool.path)
        return starts

    def close(self) -> None:
        for spool in self._spools:
            spool.remove()
        self._spools = []
