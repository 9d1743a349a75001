"""ImageJ hyperstacks: the ImageJ image description and the IJMetadata tags, both ways.

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
>>> text = "ImageJ=1.53t\\nimages=6\\nslices=3\\nchannels=2\\nspacing=0.5"
>>> items = imagej_description_items(text)
>>> items
{'ImageJ': '1.53t', 'images': 6, 'slices': 3, 'channels': 2, 'spacing': 0.5}
>>> stack = hyperstack(items, page_shape=(64, 80), page_axes="YX")
>>> stack.images, stack.shape, stack.axes
(6, (1, 3, 2, 64, 80, 1), 'TZCYXS')
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tiffzarr.errors import TiffFormatError
from tiffzarr.format._serialize import Tag
from tiffzarr.format._types import ByteOrder

__all__ = [
    "IJMETADATA_KEYS",
    "ORDERS",
    "Hyperstack",
    "hyperstack",
    "imagej_description",
    "imagej_description_items",
    "imagej_metadata_items",
    "imagej_metadata_tags",
    "imagej_shape",
    "is_imagej_description",
    "typed_value",
]

IJMETADATA_BYTECOUNTS = 50838
IJMETADATA = 50839

IJMETADATA_KEYS = ("Info", "Labels", "Ranges", "LUTs", "Plot", "ROI", "Overlays", "Properties")
"""Metadata keys written to the IJMetadata tag instead of the description."""

MARKS = ("ImageJ=", "SCIFIO=")
"""How an ImageJ description starts (SCIFIO writes ImageJ's grammar under its own name)."""

ORDERS: dict[str, str] = {
    "czt": "TZC",
    "default": "TZC",
    "ctz": "ZTC",
    "zct": "TCZ",
    "ztc": "CTZ",
    "tcz": "ZCT",
    "tzc": "CZT",
}
"""ImageJ's ``order`` item (fastest axis first) → the stack's axes, slowest first."""

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

_HEADER_BYTES = (12, 804)
"""Smallest and largest IJMetadata header: the magic and 1 to 100 (type, count) pairs."""


# -- the description -------------------------------------------------------
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


def is_imagej_description(text: object, /) -> bool:
    """Whether ``text`` (an ImageDescription value) is an ImageJ description."""
    return isinstance(text, str) and text.startswith(MARKS)


_BOOLS = {"true": True, "false": False}


def typed_value(text: str, /) -> str | int | float | bool:
    """A description value as ImageJ (and tifffile, for other descriptions such as
    Aperio's) types it: an int, a float, a bool or text."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return _BOOLS.get(text.lower(), text)


def imagej_description_items(text: str, /) -> dict[str, str | int | float | bool]:
    """The ``key=value`` items of an ImageJ description, typed (ints, floats, bools).

    Lines without ``=`` are skipped; a later item replaces an earlier one of the
    same key. Raises :class:`ValueError` when the items do not start with
    ``ImageJ`` (or ``SCIFIO``).

    >>> imagej_description_items("ImageJ=1.11a\\nimages=510\\nhyperstack=true\\nunit=micron")
    {'ImageJ': '1.11a', 'images': 510, 'hyperstack': True, 'unit': 'micron'}
    """
    items: dict[str, str | int | float | bool] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            items[key.strip()] = typed_value(value.strip())
    if "ImageJ" not in items and "SCIFIO" not in items:
        raise ValueError(f"not an ImageJ description: {text[:64]!r}")
    return items


# -- the stack's dimensions ------------------------------------------------
@dataclass(frozen=True, slots=True)
class Hyperstack:
    """The dimensions of an ImageJ stack: how many images (pages) it holds, and
    its full shape and axes (the images' dimensions, then one page's, then ``S``).

    ``order_known`` is false when the description names an order ImageJ does not
    define (the default order is used then).
    """

    images: int
    shape: tuple[int, ...]
    axes: str
    order_known: bool = True


def _count(items: Mapping[str, Any], key: str) -> int:
    value = items.get(key, 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"ImageJ {key}={value!r} is not a positive count")
    return value


def hyperstack(
    items: Mapping[str, Any], /, *, page_shape: tuple[int, ...], page_axes: str, pages: int = 1
) -> Hyperstack:
    """The stack that the description ``items`` describe over pages of
    ``page_shape``/``page_axes`` (the file has ``pages`` pages, if known).

    As ImageJ readers do: separate samples that Bio-Formats declares as channels
    are the channels; contiguous RGB samples declared as channels are samples;
    ``images=1`` in a multi-page file means one image per page; images left over
    by the declared dimensions go to a leading ``I``. Raises :class:`ValueError`
    for counts that are not positive integers.

    >>> hyperstack({"images": 4, "channels": 3}, page_shape=(3, 8, 8), page_axes="SYX").shape
    (1, 1, 3, 8, 8, 1)
    >>> hyperstack({"images": 1}, page_shape=(8, 8), page_axes="YX", pages=5).axes
    'ITZCYXS'
    """
    frames, slices, channels, images = (
        _count(items, k) for k in ("frames", "slices", "channels", "images")
    )
    separate = page_shape[0] if page_axes[:1] == "S" else 1
    contig = page_shape[-1] if page_axes[-1:] == "S" else 1
    if channels == 1 or (separate > 1 and separate == channels):
        images = frames * slices
    elif images == frames * slices and contig == channels:
        channels = 1
    else:
        images = frames * slices * channels
    if images == 1 and pages > 1:
        images = pages
    order = str(items.get("order", "czt")).lower()
    known = order in ORDERS
    axes = ORDERS.get(order, ORDERS["czt"])
    sizes = {"T": frames, "Z": slices, "C": channels}
    shape = tuple(sizes[a] for a in axes)
    remain = images // math.prod(shape)
    if remain > 1:
        shape, axes = (remain, *shape), "I" + axes
    if separate > 1:
        if axes[-1] != "C":
            raise ValueError(f"separate samples as channels with ImageJ order {order!r}")
        shape, axes = shape[:-1] + page_shape, axes + page_axes[1:]
    else:
        shape, axes = shape + page_shape, axes + page_axes
    if "S" not in axes:
        shape, axes = (*shape, 1), axes + "S"
    return Hyperstack(images, shape, axes, known)


# -- the IJMetadata tags ---------------------------------------------------
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


def _read_text(data: bytes, byteorder: ByteOrder) -> str:
    return data.decode("utf-16-be" if byteorder == ">" else "utf-16-le", errors="replace")


def _read_doubles(data: bytes, byteorder: ByteOrder) -> tuple[float, ...]:
    return tuple(float(v) for v in np.frombuffer(data[: len(data) // 8 * 8], f"{byteorder}f8"))


def _read_lut(data: bytes, byteorder: ByteOrder) -> np.ndarray:
    if len(data) % 256:
        raise ValueError(f"an ImageJ LUT of {len(data)} bytes is not whole rows of 256")
    return np.frombuffer(data, np.uint8).reshape(-1, 256)


def _read_raw(data: bytes, byteorder: ByteOrder) -> bytes:
    return data


_KINDS: tuple[
    tuple[str, bytes, Callable[[Any, ByteOrder], bytes], Callable[[bytes, ByteOrder], Any]], ...
] = (
    ("Info", b"info", _utf16, _read_text),
    ("Labels", b"labl", _utf16, _read_text),
    ("Ranges", b"rang", _doubles, _read_doubles),
    ("LUTs", b"luts", _lut, _read_lut),
    ("Plot", b"plot", _raw, _read_raw),
    ("ROI", b"roi ", _raw, _read_raw),
    ("Overlays", b"over", _raw, _read_raw),
    ("Properties", b"prop", _utf16, _read_text),
)
"""Each kind of IJMetadata entry: key, type mark (big-endian), packer, reader."""
_BY_MARK = {mark: (key, read) for key, mark, _, read in _KINDS} | {
    mark[::-1]: (key, read) for key, mark, _, read in _KINDS
}


def imagej_metadata_tags(metadata: Mapping[str, Any], byteorder: ByteOrder, /) -> list[Tag]:
    """IJMetadataByteCounts and IJMetadata tags for the items of :data:`IJMETADATA_KEYS`.

    >>> tags = imagej_metadata_tags({"Ranges": (0.0, 255.0), "Info": "hi"}, "<")
    >>> [t.code for t in tags], tags[0].value
    ([50838, 50839], [20, 4, 16])
    """
    header = [b"IJIJ" if byteorder == ">" else b"JIJI"]
    body: list[bytes] = []
    for key, mark, pack, _ in _KINDS:
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
    return [Tag(IJMETADATA_BYTECOUNTS, 4, counts), Tag(IJMETADATA, 1, head + b"".join(body))]


def imagej_metadata_items(
    data: bytes, counts: Sequence[int], byteorder: ByteOrder, /
) -> dict[str, Any]:
    """The entries of an IJMetadata tag (``data``) split by IJMetadataByteCounts.

    Texts (``Info``, ``Labels``, ``Properties``) are decoded, ``Ranges`` are floats,
    each of the ``LUTs`` a ``(3, 256)`` uint8 array; ``Plot``, ``ROI``,
    ``Overlays`` and unknown kinds stay bytes. A kind with one entry is that
    entry, with several a list; ``Properties`` become a dict. Raises
    :class:`~tiffzarr.errors.TiffFormatError` when the header or the counts do
    not describe ``data``.

    >>> tags = imagej_metadata_tags({"Labels": ["a", "b"], "Properties": {"k": "v"}}, ">")
    >>> imagej_metadata_items(tags[1].value, tags[0].value, ">")
    {'Labels': ['a', 'b'], 'Properties': {'k': 'v'}}
    """
    sizes = [int(n) for n in counts]
    if not sizes or data[:4] not in (b"IJIJ", b"JIJI"):
        raise TiffFormatError("IJMetadata does not start with an IJIJ header", tag=IJMETADATA)
    low, high = _HEADER_BYTES
    if not low <= sizes[0] <= min(high, len(data)):
        raise TiffFormatError(f"IJMetadata header of {sizes[0]} bytes", tag=IJMETADATA)
    if any(n < 0 for n in sizes) or sum(sizes) > len(data):
        raise TiffFormatError(
            f"IJMetadataByteCounts add up to {sum(sizes)} bytes, more than the "
            f"{len(data)} of IJMetadata",
            tag=IJMETADATA_BYTECOUNTS,
        )
    ntypes = (sizes[0] - 4) // 8
    header = struct.unpack_from(byteorder + "4sI" * ntypes, data, 4)
    result: dict[str, Any] = {}
    position, entry = sizes[0], 1
    for mark, count in zip(header[::2], header[1::2], strict=True):
        if count > len(sizes) - entry:
            raise TiffFormatError(
                f"IJMetadata {mark!r} has {count} entries, more than its byte counts",
                tag=IJMETADATA_BYTECOUNTS,
            )
        key, read = _BY_MARK.get(mark, (mark.decode("latin-1").strip(), _read_raw))
        values = []
        for n in sizes[entry : entry + count]:
            values.append(read(data[position : position + n], byteorder))
            position += n
        entry += count
        result[key.strip()] = values[0] if count == 1 else values
    properties = result.get("Properties")
    if isinstance(properties, list) and len(properties) % 2 == 0:
        result["Properties"] = dict(zip(properties[::2], properties[1::2], strict=True))
    return result
