"""ImageJ hyperstacks: the ImageJ image description and the IJMetadata tags.

ImageJ reads up to six dimensions in the order TZCYXS from a text description
in the first page (``images=``, ``channels=``, ``slices=``, ``frames=``, ...) and
extra metadata (ranges, LUTs, labels, info, properties) from a pair of private
tags: IJMetadataByteCounts (50838) and IJMetadata (50839).

>>> print(imagej_description((5, 2, 64, 64), axes="ZCYX", spacing=0.5, unit="um"), end="")
ImageJ=1.11a
images=10
channels=2
slices=5
hyperstack=true
mode=grayscale
spacing=0.5
unit=um
>>> imagej_shape((3, 64, 64, 3), rgb=True)
(1, 1, 3, 64, 64, 3)
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tiffzarr.format._serialize import Tag
from tiffzarr.format._types import ByteOrder

__all__ = ["IJMETADATA_KEYS", "imagej_description", "imagej_metadata_tags", "imagej_shape"]

IJMETADATA_KEYS = ("Info", "Labels", "Ranges", "LUTs", "Plot", "ROI", "Overlays", "Properties")
"""Metadata keys written to the IJMetadata tag instead of the description."""

_IGNORED = {
    "images",
    "channels",
    "slices",
    "frames",
    "axes",
    "hyperstack",
    "mode",
    "loop",
    "imagej",
}


def imagej_shape(
    shape: Sequence[int], /, *, rgb: bool | None = None, axes: str | None = None
) -> tuple[int, ...]:
    """``shape`` as six dimensions in ImageJ's order TZCYXS.

    Raises :class:`ValueError` for shapes or axes ImageJ cannot hold.
    """
    shape = tuple(int(n) for n in shape)
    if not 1 <= len(shape) <= 6:
        raise ValueError(f"an ImageJ hyperstack has 1 to 6 dimensions, not {len(shape)}")
    if axes is not None:
        axes = axes.upper()
        if len(axes) != len(shape) or any(a not in "TZCYXS" for a in axes):
            raise ValueError(f"ImageJ axes {axes!r} do not match shape {shape}")
        positions = ["TZCYXS".index(a) for a in axes]
        if positions != sorted(set(positions)):
            raise ValueError(f"ImageJ axes {axes!r} are not in TZCYXS order")
        full = [1] * 6
        for n, p in zip(shape, positions, strict=True):
            full[p] = n
        if full[5] not in (1, 3, 4):
            raise ValueError("an ImageJ hyperstack has 1, 3 or 4 samples")
        return tuple(full)
    if rgb is None:
        rgb = len(shape) > 2 and shape[-1] in (3, 4)
    if rgb and shape[-1] not in (3, 4):
        raise ValueError(f"shape {shape} is not an RGB image")
    if not rgb and len(shape) == 6 and shape[-1] != 1:
        raise ValueError(f"shape {shape} is not a grayscale ImageJ hyperstack")
    if rgb or shape[-1] == 1:
        return (1,) * (6 - len(shape)) + shape
    return (1,) * (5 - len(shape)) + (*shape, 1)


def imagej_description(
    shape: Sequence[int],
    /,
    *,
    axes: str | None = None,
    rgb: bool | None = None,
    colormapped: bool = False,
    **metadata: Any,
) -> str:
    """The ImageJ description of a hyperstack of ``shape`` with ``metadata`` items.

    Items of :data:`IJMETADATA_KEYS` are left out (they go to the IJMetadata tag).
    """
    items = {k: v for k, v in metadata.items() if k not in IJMETADATA_KEYS}
    mode = items.pop("mode", None)
    hyperstack = items.pop("hyperstack", None)
    loop = items.pop("loop", None)
    version = items.pop("ImageJ", "1.11a")
    if colormapped:
        hyperstack, rgb = False, False
    frames, slices, channels, _, _, samples = imagej_shape(shape, rgb=rgb, axes=axes)
    lines = [f"ImageJ={version}", f"images={frames * slices * channels}"]
    tail = [f"hyperstack={'true' if hyperstack is None else str(bool(hyperstack)).lower()}"]
    if channels > 1:
        lines.append(f"channels={channels}")
    if mode is None and samples not in (3, 4) and not colormapped:
        mode = "grayscale"
    if (hyperstack is None or hyperstack) and mode:
        tail.append(f"mode={mode}")
    if slices > 1:
        lines.append(f"slices={slices}")
    if frames > 1:
        lines.append(f"frames={frames}")
        if loop is None:
            tail.append("loop=false")
    if loop is not None:
        tail.append(f"loop={str(bool(loop)).lower()}")
    for key, value in items.items():
        if key.lower() not in _IGNORED:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            tail.append(f"{key.lower()}={text}")
    return "\n".join([*lines, *tail, ""])


def _utf16(value: Any, byteorder: ByteOrder) -> bytes:
    return str(value).encode("utf-16-be" if byteorder == ">" else "utf-16-le")


def _doubles(value: Any, byteorder: ByteOrder) -> bytes:
    values = [float(v) for v in np.asarray(value, dtype=np.float64).reshape(-1)]
    return struct.pack(f"{byteorder}{len(values)}d", *values)


def _lut(value: Any, byteorder: ByteOrder) -> bytes:
    lut = np.asarray(value, dtype=np.uint8)
    if lut.shape != (3, 256):
        raise ValueError(f"an ImageJ LUT has shape (3, 256), not {lut.shape}")
    return lut.tobytes()


def _raw(value: Any, byteorder: ByteOrder) -> bytes:
    return bytes(value)


_KINDS: tuple[tuple[str, bytes, Callable[[Any, ByteOrder], bytes]], ...] = (
    ("Info", b"info", _utf16),
    ("Labels", b"labl", _utf16),
    ("Ranges", b"rang", _doubles),
    ("LUTs", b"luts", _lut),
    ("Plot", b"plot", _raw),
    ("ROI", b"roi ", _raw),
    ("Overlays", b"over", _raw),
    ("Properties", b"prop", _utf16),
)


def imagej_metadata_tags(metadata: Mapping[str, Any], byteorder: ByteOrder, /) -> list[Tag]:
    """IJMetadataByteCounts and IJMetadata tags for the items of :data:`IJMETADATA_KEYS`.

    >>> tags = imagej_metadata_tags({"Ranges": (0.0, 255.0), "Info": "hi"}, "<")
    >>> [t.code for t in tags], tags[0].value
    ([50838, 50839], [20, 4, 16])
    """
    header = [b"IJIJ" if byteorder == ">" else b"JIJI"]
    body: list[bytes] = []
    for key, mark, pack in _KINDS:
        value = metadata.get(key, metadata.get(key.lower()))
        if value is None:
            continue
        if isinstance(value, Mapping):
            values: list[Any] = [str(v) for pair in value.items() for v in pair]
        elif pack is _doubles or isinstance(value, str | bytes) or not isinstance(value, Sequence):
            values = [value]
        else:
            values = list(value)
        header.append(
            (mark if byteorder == ">" else mark[::-1]) + struct.pack(byteorder + "I", len(values))
        )
        body += [pack(v, byteorder) for v in values]
    if not body:
        return []
    head = b"".join(header)
    counts = [len(head)] + [len(b) for b in body]
    return [Tag(50838, 4, counts), Tag(50839, 1, head + b"".join(body))]
