"""Checks of reference entries before anything is read through them.

Every metadata document must be a JSON object nested at most
:data:`MAX_JSON_DEPTH` deep, every array's chunk must fit
``tiffzarr.config.max_chunk_bytes``, every chunk reference must be
``[url]`` or ``[url, offset, length]`` with sensible integers and no more bytes
than its chunk can plausibly encode to (inline data too), and every target must
lie inside the reference file's folder unless the caller allows others. Each
problem raises :class:`~tiffzarr.errors.RefsError` naming the key. The codecs of
each array are wrapped so that no chunk decodes past its size
(:mod:`tiffzarr.refs._wrap`), in consolidated metadata too.

>>> checker = EntryChecker(base=Base.of("/data/refs.json"))
>>> checker.chunk("0.0", ["x.tif", 8, 100])
('/data/x.tif', 8, 100)
>>> checker.chunk("0.1", ["/etc/passwd", 0, 64])  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tiffzarr.errors.RefsError: target /etc/passwd is outside the reference file's folder ...
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np

from tiffzarr._config import config
from tiffzarr.codecs import TiffCodec
from tiffzarr.errors import RefsError
from tiffzarr.io._urls import Base, absolute_url, protocol_of
from tiffzarr.refs._bounds import encoded_bound
from tiffzarr.refs._wrap import bounded_document

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_OFFSET",
    "EntryChecker",
    "check_outline",
    "expand_templates",
    "is_metadata_key",
    "json_outline",
]

MAX_OFFSET = 2**53
"""Largest offset + length of a reference: JSON readers that use doubles cannot
represent larger integers exactly, and no file is that large."""

MAX_JSON_DEPTH = 128
"""Deepest nesting of arrays and objects in a reference file or metadata document
(a reference file needs 3, zarr attributes rarely 20; Python's parser recurses)."""

_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_NOT_BACKSLASH = re.compile(rb"[^\\]")
_NOT_STRUCTURE = bytes(range(256)).translate(None, b'"[]{}:')
_STEPS = np.zeros(256, np.int8)
_STEPS[list(b"[{")], _STEPS[list(b"]}")] = 1, -1
_BLOCK = 2**19

_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_METADATA_NAMES = frozenset({".zarray", ".zgroup", ".zattrs", ".zmetadata", "zarr.json"})


def is_metadata_key(key: str, /) -> bool:
    """Whether ``key`` names a zarr metadata document.

    >>> is_metadata_key("a/.zarray"), is_metadata_key("a/0.0")
    (True, False)
    """
    return key.rpartition("/")[2] in _METADATA_NAMES


def json_outline(text: bytes, /) -> tuple[int, int]:
    """The nesting depth of a JSON text and its number of object members (an upper
    bound where the text is not valid JSON), without parsing it or recursing.

    Block by block, in memory of the order of a block: escapes removed, then all
    but quotes, brackets and colons, then the structure outside strings counted.

    >>> json_outline(b'{"a": [1, {"b": "[[{:"}], "c": 2}')
    (3, 3)
    """
    depth = deepest = members = inside = start = 0
    while start < len(text):
        end = min(start + _BLOCK, len(text))
        if text[end - 1] == ord("\\"):  # never split an escape: end after the backslashes
            found = _NOT_BACKSLASH.search(text, end)
            end = len(text) if found is None else found.end()
        skeleton = _ESCAPE.sub(b"", text[start:end]).translate(None, _NOT_STRUCTURE)
        start = end
        if not skeleton:
            continue
        block = np.frombuffer(skeleton, np.uint8)
        quotes = block == ord('"')
        parity = (np.cumsum(quotes, dtype=np.int64) + inside) & 1
        outside = (parity == 0) & ~quotes
        members += int(np.count_nonzero(outside & (block == ord(":"))))
        levels = np.cumsum(_STEPS[block] * outside, dtype=np.int64) + depth
        deepest = max(deepest, int(levels.max()))
        depth, inside = int(levels[-1]), int(parity[-1])
    return deepest, members


def check_outline(text: bytes | str, /, *, key: str | None = None, url: str | None = None) -> int:
    """Refuse JSON nested deeper than :data:`MAX_JSON_DEPTH`; its number of object members.

    >>> check_outline(b"[" * 200 + b"]" * 200, key=".zattrs")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    tiffzarr.errors.RefsError: JSON nested 200 deep, more than 128 (chunk '.zattrs')
    """
    depth, members = json_outline(text.encode() if isinstance(text, str) else text)
    if depth > MAX_JSON_DEPTH:
        raise RefsError(f"JSON nested {depth} deep, more than {MAX_JSON_DEPTH}", key=key, url=url)
    return members


def expand_templates(url: str, templates: Mapping[str, str], /, *, key: str) -> str:
    """Replace ``{{name}}`` in ``url`` with its template (kerchunk's simple templates).

    >>> expand_templates("{{u}}", {"u": "a.tif"}, key="0.0")
    'a.tif'
    """
    if "{%" in url or "{#" in url:
        raise RefsError(f"target {url!r} uses a template statement (only {{{{name}}}})", key=key)

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in templates:
            raise RefsError(f"target {url!r} uses the undefined template {name!r}", key=key)
        return templates[name]

    expanded = _TEMPLATE.sub(replace, url)
    if "{{" in expanded:
        raise RefsError(f"target {url!r} has a template that is not a plain name", key=key)
    return expanded


class EntryChecker:
    """Validate entries and make their targets absolute.

    Parameters
    ----------
    base
        The folder of the reference file; ``None`` for a reference set given as a
        dict (then relative targets are refused, and others are not confined).
    allow_external
        Accept targets outside ``base``.
    remote_protocol
        Targets without a protocol are on this filesystem (fsspec's meaning),
        instead of relative to ``base``.
    templates
        Version 1 templates.
    """

    def __init__(
        self,
        *,
        base: Base | None,
        allow_external: bool = False,
        remote_protocol: str | None = None,
        templates: Mapping[str, str] | None = None,
    ) -> None:
        self.base = base
        self.allow_external = allow_external
        self.remote_protocol = remote_protocol
        self.templates = dict(templates or {})
        self._resolved: dict[str, str] = {}  # URL as written → checked absolute URL
        self._chunks: dict[str, int | None] = {}  # array path → decoded bytes of a chunk
        for name, value in self.templates.items():
            if not isinstance(value, str) or "{{" in value or "{%" in value:
                raise RefsError(f"template {name!r} is not a plain URL: {value!r}")

    # -- targets -----------------------------------------------------------------
    def url(self, key: str, url: Any) -> str:
        """The absolute target URL of ``key``, refused when outside the base."""
        if not isinstance(url, str) or not url:
            raise RefsError(f"target URL {url!r} is not a non-empty string", key=key)
        resolved = self._resolved.get(url)
        if resolved is None:
            resolved = self._resolved[url] = self._resolve(key, url)
        return resolved

    def _resolve(self, key: str, url: str) -> str:
        if "{{" in url or "{%" in url:
            url = expand_templates(url, self.templates, key=key)
        if self.remote_protocol and protocol_of(url) is None:
            url = f"{self.remote_protocol}://{url}"
        if self.base is None:
            if protocol_of(url) is None and not url.startswith("/"):
                raise RefsError(
                    f"target {url!r} is relative, but a reference dict has no location; "
                    "open the reference file by its path or URL",
                    key=key,
                )
            return absolute_url(url)
        resolved = self.base.resolve(url)
        if not self.allow_external and not self.base.contains(resolved):
            raise RefsError(
                f"target {resolved} is outside the reference file's folder {self.base.folder} "
                "(pass allow_external=True to read it)",
                key=key,
            )
        return resolved

    # -- chunk references ------------------------------------------------------------
    def chunk(self, key: str, value: Any) -> str | bytes | tuple[Any, ...] | None:
        """The checked chunk entry; ``None`` for a zero-length reference (an absent chunk)."""
        if isinstance(value, bytes | str):
            return self._inline(key, value)
        if not isinstance(value, list | tuple) or len(value) not in (1, 3):
            raise RefsError(
                f"reference {_short(value)} is not inline data, [url] or [url, offset, length]",
                key=key,
            )
        url = self.url(key, value[0])
        if len(value) == 1:
            return (url,)
        offset, length = (
            _integer(v, what, key) for v, what in zip(value[1:], ("offset", "length"), strict=True)
        )
        if offset < 0 or length < 0:
            raise RefsError(f"negative offset {offset} or length {length}", key=key)
        self._check_encoded(key, length, "a reference", offset)
        if offset + length > MAX_OFFSET:
            raise RefsError(
                f"byte range [{offset}, {offset + length}) lies beyond 2**53",
                key=key,
                offset=offset,
            )
        if length == 0:
            return None
        return (url, offset, length)

    def _inline(self, key: str, value: str | bytes) -> str | bytes:
        base64_data = isinstance(value, str) and value.startswith("base64:")
        nbytes = (len(value) - 7) * 3 // 4 - 2 if base64_data else len(value)
        self._check_encoded(key, nbytes, "inline data", None)
        if base64_data:
            try:
                base64.b64decode(value[7:], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise RefsError(f"inline data is not valid base64: {exc}", key=key) from exc
        return value

    def _check_encoded(self, key: str, nbytes: int, what: str, offset: int | None) -> None:
        """Refuse more bytes than the key's chunk can plausibly encode to (twice
        ``max_chunk_bytes`` for chunks of no known array)."""
        chunk = self._chunk_nbytes(key)
        limit = 2 * config.max_chunk_bytes if chunk is None else encoded_bound(chunk)
        if nbytes <= limit:
            return
        if chunk is None:
            message = f"exceeds twice max_chunk_bytes ({limit} bytes)"
        else:
            message = f"is more than a chunk of {chunk} bytes can encode to ({limit} bytes)"
        raise RefsError(f"{what} of {nbytes} bytes {message}", key=key, offset=offset)

    def _chunk_nbytes(self, key: str) -> int | None:
        """Decoded bytes of a chunk of the array ``key`` belongs to (the deepest array
        path above it); ``None`` for no known array, or variable-length data."""
        parent = key
        while parent:
            parent = parent.rpartition("/")[0]
            if parent in self._chunks:
                return self._chunks[parent]
        return None

    # -- metadata ----------------------------------------------------------------------
    def metadata(self, key: str, value: Any) -> str:
        """The checked metadata document as JSON text (array codecs wrapped)."""
        doc, changed = self.document(key, value)
        if changed or not isinstance(value, str):
            return json.dumps(doc)
        return value

    def document(self, key: str, value: Any) -> tuple[dict[str, Any], bool]:
        """The checked metadata document, and whether it differs from ``value``: the
        codecs of arrays (consolidated ones too) wrapped in bounds."""
        doc = _json_document(key, value)
        folder, _, name = key.rpartition("/")
        if name == ".zarray":
            return self._array(folder, key, doc, 2), True
        if name == "zarr.json" and doc.get("node_type") == "array":
            return self._array(folder, key, doc, 3), True
        members, where = _consolidated(key, doc)
        if members is None or where is None:
            return doc, False
        bounded = {m: self._member(folder, key, str(m), d) for m, d in members.items()}
        return where(bounded), True

    def _member(self, folder: str, key: str, member: str, doc: Any) -> Any:
        """A member document of consolidated metadata, bounded when it is an array's."""
        where = f"{key}: {member}"
        if key.endswith(".zmetadata") and member.rpartition("/")[2] == ".zarray":
            return self._array(_joined(folder, member.rpartition("/")[0]), where, doc, 2)
        if key.endswith("zarr.json") and isinstance(doc, dict) and doc.get("node_type") == "array":
            return self._array(_joined(folder, member), where, doc, 3)
        return doc

    def _array(self, path: str, key: str, doc: Any, zarr_format: Literal[2, 3]) -> dict[str, Any]:
        if not isinstance(doc, dict):
            raise RefsError(f"metadata {_short(doc)} is not a JSON object", key=key)
        check = _check_v2_array if zarr_format == 2 else _check_v3_array
        itemsize, nbytes = check(key, doc)
        nbytes = _whole_segment(doc, nbytes)
        known = self._chunks.get(path, nbytes)
        self._chunks[path] = nbytes if known is None or nbytes is None else min(known, nbytes)
        return bounded_document(doc, zarr_format=zarr_format, itemsize=itemsize)


def _whole_segment(doc: dict[str, Any], nbytes: int | None) -> int | None:
    """The bytes a reference of the array may hold: a chunk's, or a whole segment's
    (within ``max_chunk_bytes``) when tiffzarr's codec crops segments to chunks."""
    codecs = [doc.get("compressor")] if "compressor" in doc else list(doc.get("codecs") or [])
    for codec in codecs:
        if not isinstance(codec, dict) or TiffCodec.codec_id not in (
            codec.get("id"),
            codec.get("name"),
        ):
            continue
        spec = codec.get("configuration") if "name" in codec else codec
        if nbytes is None or not isinstance(spec, dict) or not spec.get("crop"):
            return nbytes
        try:
            segment = math.prod(int(n) for n in spec["shape"]) * np.dtype(spec["dtype"]).itemsize
        except (KeyError, TypeError, ValueError):
            return nbytes
        return max(nbytes, min(segment, config.max_chunk_bytes))
    return nbytes


def _joined(*parts: str) -> str:
    return "/".join(p for p in parts if p)


Rebuild = Callable[[dict[str, Any]], dict[str, Any]]


def _consolidated(key: str, doc: dict[str, Any]) -> tuple[dict[str, Any] | None, Rebuild | None]:
    """The member documents of consolidated metadata (v2 ``.zmetadata``, or a v3 group's
    ``consolidated_metadata``), and how to put changed ones back; ``None`` when the
    document consolidates nothing."""
    name = key.rpartition("/")[2]
    if name == ".zmetadata":
        members = doc.get("metadata")
        if not isinstance(members, dict):
            raise RefsError("'metadata' of .zmetadata is not an object", key=key)
        return members, lambda bounded: {**doc, "metadata": bounded}
    consolidated = doc.get("consolidated_metadata") if name == "zarr.json" else None
    if not isinstance(consolidated, dict) or not isinstance(consolidated.get("metadata"), dict):
        return None, None
    return consolidated["metadata"], lambda bounded: {
        **doc,
        "consolidated_metadata": {**consolidated, "metadata": bounded},
    }


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _integer(value: Any, what: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise RefsError(f"{what} {_short(value)} is not an integer", key=key)
    return int(value)


def _json_document(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.startswith("base64:"):
        try:
            value = base64.b64decode(value[7:], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RefsError(f"metadata is not valid base64: {exc}", key=key) from exc
    if not isinstance(value, str | bytes):
        raise RefsError(f"metadata {_short(value)} is not a JSON document", key=key)
    check_outline(value, key=key)
    try:
        doc = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RefsError(f"metadata is not valid JSON: {exc}", key=key) from exc
    if not isinstance(doc, dict):
        raise RefsError(f"metadata {_short(doc)} is not a JSON object", key=key)
    return doc


def _check_geometry(key: str, shape: Any, chunks: Any, itemsize: int) -> int:
    """The bytes of one chunk, checked against ``max_chunk_bytes``."""

    def integers(value: Any, what: str, minimum: int) -> list[int]:
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in value
        ):
            raise RefsError(
                f"{what} {_short(value)} is not a list of integers >= {minimum}", key=key
            )
        return value

    shape = integers(shape, "shape", 0)
    chunks = integers(chunks, "chunk shape", 1)
    if len(shape) != len(chunks):
        raise RefsError(f"shape {shape} and chunk shape {chunks} differ in rank", key=key)
    nbytes = int(math.prod(chunks)) * int(itemsize)
    if nbytes > config.max_chunk_bytes:
        raise RefsError(
            f"a chunk of {chunks} x {itemsize} bytes ({nbytes} bytes) exceeds max_chunk_bytes "
            f"({config.max_chunk_bytes}; see tiffzarr.set_config)",
            key=key,
        )
    return nbytes


def _native_dtype(key: str, spec: Any, zarr_format: int) -> np.dtype:
    from zarr.core.dtype import get_data_type_from_json

    try:
        dtype = get_data_type_from_json(spec, zarr_format=zarr_format)  # type: ignore[arg-type]
        return np.dtype(dtype.to_native_dtype())
    except Exception as exc:  # zarr raises ValueError, TypeError or KeyError for bad specs
        raise RefsError(f"data type {_short(spec)} is not valid: {exc}", key=key) from exc


def _sizes(key: str, shape: Any, chunks: Any, dtype: np.dtype) -> tuple[int | None, int | None]:
    """(itemsize, bytes of a chunk), both ``None`` for variable-length data types."""
    nbytes = _check_geometry(key, shape, chunks, dtype.itemsize)
    return (None, None) if dtype.kind in "OT" else (dtype.itemsize, nbytes)


def _check_v2_array(key: str, doc: dict[str, Any]) -> tuple[int | None, int | None]:
    spec = {"name": doc.get("dtype"), "object_codec_id": None}
    sizes = _sizes(key, doc.get("shape"), doc.get("chunks"), _native_dtype(key, spec, 2))
    if doc.get("compressor") is not None and not isinstance(doc["compressor"], dict):
        raise RefsError(f"compressor {_short(doc['compressor'])} is not an object", key=key)
    filters = doc.get("filters")
    if filters is not None and not (
        isinstance(filters, list) and all(isinstance(f, dict) for f in filters)
    ):
        raise RefsError(f"filters {_short(filters)} are not a list of objects", key=key)
    _refuse_unsafe(key, [doc.get("compressor"), *(filters or [])], "id")
    return sizes


UNSAFE_CODECS = frozenset({"pickle", "numcodecs.pickle"})
"""Codecs whose decoding runs code the data names: a reference set may not use them."""


def _refuse_unsafe(key: str, codecs: list[Any], field: str) -> None:
    for codec in codecs:
        if isinstance(codec, dict) and codec.get(field) in UNSAFE_CODECS:
            raise RefsError(
                f"codec {codec[field]!r} would run code from the data when decoding: refused",
                key=key,
            )


def _check_v3_array(key: str, doc: dict[str, Any]) -> tuple[int | None, int | None]:
    grid = doc.get("chunk_grid")
    configuration = grid.get("configuration") if isinstance(grid, dict) else None
    chunks = configuration.get("chunk_shape") if isinstance(configuration, dict) else None
    dtype = _native_dtype(key, doc.get("data_type"), 3)
    sizes = _sizes(key, doc.get("shape"), chunks, dtype)
    if not isinstance(doc.get("codecs"), list):
        raise RefsError(f"codecs {_short(doc.get('codecs'))} are not a list", key=key)
    _refuse_unsafe(key, doc["codecs"], "name")
    return sizes
