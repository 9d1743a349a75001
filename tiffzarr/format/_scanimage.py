"""ScanImage's metadata: MATLAB-style ``key = value`` text and the BigTIFF header block.

ScanImage (Vidrio) writes its settings as MATLAB assignments: in the
ImageDescription of older files (``state.acq.numberOfFrames=10``, ScanImage 3;
``scanimage.SI4.…``, versions 4 and 5) and, since ScanImage 2016, in a block
right after the BigTIFF header: at offset 16 the magic ``0x07030301``, the
version (3 or 4), the length of the non-varying frame data (MATLAB text ending
in a NUL) and the length of the ROI groups (JSON), both stored from offset 32
on. Every frame's ImageDescription then holds the data that vary per frame
(frame number, timestamps).

>>> parse_matlab("[1 2;3 4]"), parse_matlab("{'a' 'b'}"), parse_matlab("Inf")
([[1, 2], [3, 4]], ['a', 'b'], inf)
>>> parse_assignments("SI.hChannels.channelSave = [1;2]\\nSI.hStackManager.framesPerSlice = 5")
{'SI.hChannels.channelSave': [[1], [2]], 'SI.hStackManager.framesPerSlice': 5}
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "HEADER_SPAN",
    "SI_MAGIC",
    "ScanImageHeader",
    "parse_assignments",
    "parse_header",
    "parse_matlab",
    "parse_roi_groups",
    "roi_summary",
    "scanimage_dims",
]

HEADER_SPAN = (16, 16)
"""``(offset, length)`` of ScanImage's header block in a BigTIFF file."""
SI_MAGIC = 0x07030301
SI_VERSIONS = frozenset({3, 4})
MAX_DEPTH = 32
"""Deepest nesting of brackets parsed."""
MAX_ROIS = 64
"""ROIs listed per ROI group in :func:`roi_summary`."""

_TOKEN = re.compile(r"""\s+|,|;|\[|\]|\{|\}|'(?:[^']|'')*'?|<[^>]*>?|[^\s,;\[\]{}'<]+""")
_OPEN = {"[": "]", "{": "}"}


@dataclass(frozen=True, slots=True)
class ScanImageHeader:
    """ScanImage's BigTIFF header block: its version and where the frame data and
    the ROI groups are, as ``(offset, length)``."""

    version: int
    frame_data: tuple[int, int]
    roi_groups: tuple[int, int]


def parse_header(data: bytes, /) -> ScanImageHeader:
    """Parse the 16 bytes at :data:`HEADER_SPAN` (little-endian);
    :class:`ValueError` if they are not ScanImage's header.

    >>> import struct
    >>> parse_header(struct.pack("<4I", 0x07030301, 3, 100, 20))
    ScanImageHeader(version=3, frame_data=(32, 100), roi_groups=(132, 20))
    """
    if len(data) < 16:
        raise ValueError("the ScanImage header is cut by the end of the file")
    magic, version, size0, size1 = struct.unpack("<4I", data[:16])
    if magic != SI_MAGIC or version not in SI_VERSIONS:
        raise ValueError(f"no ScanImage header (magic {magic:#x}, version {version})")
    return ScanImageHeader(version, (32, size0), (32 + size0, size1))


def parse_matlab(text: str, /) -> Any:
    """A MATLAB value as written by ``mat2str``/ScanImage: numbers, ``true``/``false``,
    quoted strings, matrices ``[1 2;3 4]`` and cells ``{…}`` (as nested lists, rows
    first; a single row is a flat list). Other text is kept as a string.

    >>> parse_matlab("'it''s'"), parse_matlab("[]"), parse_matlab("<nonscalar struct>")
    ("it's", [], '<nonscalar struct>')
    """
    text = text.strip()
    tokens = [t for t in _TOKEN.findall(text) if not t.isspace() and t != ","]
    if not tokens or tokens[0] not in _OPEN:
        return _scalar(text)
    try:
        value, end = _group(tokens, 0, 0)
    except (ValueError, IndexError):
        return text
    return value if end == len(tokens) else text


def _group(tokens: list[str], pos: int, depth: int) -> tuple[Any, int]:
    """The bracketed group opening at ``tokens[pos]``, and the position after it."""
    if depth > MAX_DEPTH:
        raise ValueError("brackets nest too deeply")
    close = _OPEN[tokens[pos]]
    rows: list[list[Any]] = [[]]
    pos += 1
    while tokens[pos] != close:
        token = tokens[pos]
        if token in _OPEN:
            value, pos = _group(tokens, pos, depth + 1)
            rows[-1].append(value)
            continue
        if token in ("]", "}"):
            raise ValueError(f"unbalanced {token!r}")
        if token == ";":
            rows.append([])
        else:
            rows[-1].append(_scalar(token))
        pos += 1
    if rows[-1] == [] and len(rows) > 1:
        rows.pop()
    return (rows[0] if len(rows) == 1 else rows), pos + 1


def _scalar(token: str) -> Any:
    if len(token) >= 2 and token[0] == token[-1] == "'":
        return token[1:-1].replace("''", "'")
    if token in ("true", "True"):
        return True
    if token in ("false", "False"):
        return False
    try:
        return int(token)
    except ValueError:
        pass
    try:
        return float(token)
    except ValueError:
        return token


def parse_assignments(text: str, /, *, limit: int = 100_000) -> dict[str, Any]:
    """The ``key = value`` lines of ScanImage text (lines without ``=``, comments
    and keys that are not names are skipped; at most ``limit`` keys).

    >>> parse_assignments("state.configName='x'\\r% note\\rstate.acq.numberOfFrames=10")
    {'state.configName': 'x', 'state.acq.numberOfFrames': 10}
    """
    out: dict[str, Any] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] == "%" or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.strip()
        if not key or any(c in key for c in " ';[]{}<>"):
            continue
        out[key] = parse_matlab(value)
        if len(out) >= limit:
            break
    return out


def parse_roi_groups(data: bytes, /) -> dict[str, Any]:
    """The ROI groups (a JSON object; a trailing NUL is allowed)."""
    value = json.loads(data.split(b"\x00", 1)[0].decode("utf-8"))
    if not isinstance(value, dict):
        raise ValueError("the ROI groups are not a JSON object")
    return value


def scanimage_dims(frame_data: Mapping[str, Any], pages: int, /) -> tuple[int, int, int] | None:
    """``(slices, frames per slice, channels)`` of a ScanImage acquisition of
    ``pages`` frames, as tifffile derives them from the frame data: the saved
    channels (``SI.hChannels.channelSave``, one or a list) and
    ``SI.hStackManager.framesPerSlice`` (when it is not finite, all frames are one
    slice); ``None`` without ``channelSave``. :class:`ValueError` when the frame
    data do not give a shape.

    >>> scanimage_dims({"SI.hChannels.channelSave": [[1], [2]],
    ...                 "SI.hStackManager.framesPerSlice": 3}, 12)
    (2, 3, 2)
    >>> scanimage_dims({"SI.hChannels.channelSave": 1,
    ...                 "SI.hStackManager.framesPerSlice": float("inf")}, 7)
    (1, 7, 1)
    """
    if "SI.hChannels.channelSave" not in frame_data:
        return None
    saved = frame_data["SI.hChannels.channelSave"]
    channels = len(saved) if isinstance(saved, list | str) else 1
    if channels < 1:
        raise ValueError("no channel is saved")
    frames = _frames(frame_data.get("SI.hStackManager.framesPerSlice"))
    if frames is None:
        if pages % channels:
            raise ValueError(f"{pages} frames are not a multiple of {channels} channels")
        return 1, pages // channels, channels
    return max(pages // (frames * channels), 1), frames, channels


def _frames(value: Any) -> int | None:
    """Frames per slice; ``None`` when not given or not a finite number."""
    if value is None:
        return None
    if not isinstance(value, int | float | str):
        raise ValueError(f"framesPerSlice is {value!r}, not a number")
    try:
        number = int(value)
    except (OverflowError, ValueError):
        return None
    if number < 1:
        raise ValueError(f"framesPerSlice is {number}")
    return number


def roi_summary(roi_groups: Mapping[str, Any], /) -> dict[str, Any]:
    """A short account of the ROI groups: per group its name and, for up to
    :data:`MAX_ROIS` ROIs, their names and how many scan fields each has.

    >>> roi_summary({"RoiGroups": {"imagingRoiGroup": {"name": "g", "rois": {
    ...     "name": "r", "scanfields": [{}, {}], "zs": [0, 5]}}}})
    {'imagingRoiGroup': {'name': 'g', 'rois': [{'name': 'r', 'scanfields': 2, 'zs': [0, 5]}]}}
    """
    groups = roi_groups.get("RoiGroups", roi_groups)
    out: dict[str, Any] = {}
    if not isinstance(groups, Mapping):
        return out
    for key, group in list(groups.items())[:MAX_ROIS]:
        if not isinstance(group, Mapping):
            continue
        rois = group.get("rois", [])
        rois = [rois] if isinstance(rois, Mapping) else rois if isinstance(rois, list) else []
        listed = []
        for roi in rois[:MAX_ROIS]:
            if not isinstance(roi, Mapping):
                continue
            fields = roi.get("scanfields", [])
            zs = roi.get("zs")
            listed.append(
                {
                    "name": str(roi.get("name", ""))[:256],
                    "scanfields": len(fields) if isinstance(fields, list) else int(bool(fields)),
                    "zs": zs[:MAX_ROIS] if isinstance(zs, list) else zs,
                }
            )
        entry: dict[str, Any] = {"name": str(group.get("name", ""))[:256], "rois": listed}
        if len(rois) > MAX_ROIS:
            entry["count"] = len(rois)
        out[str(key)[:256]] = entry
    return out
