"""Checks of reference entries before anything is read through them.

Every metadata document must be a JSON object, every array's chunk must fit
``tiffzarr.config.max_chunk_bytes``, every chunk reference must be
``[url]`` or ``[url, offset, length]`` with sensible integers, and every target
must lie inside the reference file's folder unless the caller allows others.
Each problem raises :class:`~tiffzarr.errors.RefsError` naming the key.

>>> checker = EntryChecker(base=Base.of("/data/refs.json"))
>>> checker.chunk("0.0", ["x.tif", 8, 100])
['/data/x.tif', 8, 100]
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
from collections.abc import Mapping
from typing import Any

import numpy as np

from tiffzarr._config import config
from tiffzarr.errors import RefsError
from tiffzarr.io._urls import Base, absolute_url, protocol_of

__all__ = ["MAX_OFFSET", "EntryChecker", "expand_templates", "is_metadata_key"]

MAX_OFFSET = 2**53
"""Largest offset + length of a reference: JSON readers that use doubles cannot
represent larger integers exactly, and no file is that large."""

_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_METADATA_NAMES = frozenset({".zarray", ".zgroup", ".zattrs", ".zmetadata", "zarr.json"})


def is_metadata_key(key: str, /) -> bool:
    """Whether ``key`` names a zarr metadata document.

    >>> is_metadata_key("a/.zarray"), is_metadata_key("a/0.0")
    (True, False)
    """
    return key.rpartition("/")[2] in _METADATA_NAMES


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
    def chunk(self, key: str, value: Any) -> str | bytes | list[Any] | None:
        """The checked chunk entry; ``None`` for a zero-length reference (an absent chunk)."""
        if isinstance(value, bytes):
            return value
        if isinstance(value, str):
            if value.startswith("base64:"):
                try:
                    base64.b64decode(value[7:], validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise RefsError(f"inline data is not valid base64: {exc}", key=key) from exc
            return value
        if not isinstance(value, list | tuple) or len(value) not in (1, 3):
            raise RefsError(
                f"reference {_short(value)} is not inline data, [url] or [url, offset, length]",
                key=key,
            )
        url = self.url(key, value[0])
        if len(value) == 1:
            return [url]
        offset, length = (
            _integer(v, what, key) for v, what in zip(value[1:], ("offset", "length"), strict=True)
        )
        if offset < 0 or length < 0:
            raise RefsError(f"negative offset {offset} or length {length}", key=key)
        limit = 2 * config.max_chunk_bytes
        if length > limit:
            raise RefsError(
                f"a reference of {length} bytes exceeds twice max_chunk_bytes ({limit} bytes)",
                key=key,
                offset=offset,
            )
        if offset + length > MAX_OFFSET:
            raise RefsError(
                f"byte range [{offset}, {offset + length}) lies beyond 2**53",
                key=key,
                offset=offset,
            )
        if length == 0:
            return None
        return [url, offset, length]

    # -- metadata ----------------------------------------------------------------------
    def metadata(self, key: str, value: Any) -> str:
        """The checked metadata document as JSON text."""
        doc = _json_document(key, value)
        name = key.rpartition("/")[2]
        if name == ".zarray":
            _check_v2_array(key, doc)
        elif name == "zarr.json" and doc.get("node_type") == "array":
            _check_v3_array(key, doc)
        return value if isinstance(value, str) else json.dumps(doc)


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
    try:
        doc = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RefsError(f"metadata is not valid JSON: {exc}", key=key) from exc
    if not isinstance(doc, dict):
        raise RefsError(f"metadata {_short(doc)} is not a JSON object", key=key)
    return doc


def _check_geometry(key: str, shape: Any, chunks: Any, itemsize: int) -> None:
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
    nbytes = math.prod(chunks) * itemsize
    if nbytes > config.max_chunk_bytes:
        raise RefsError(
            f"a chunk of {chunks} x {itemsize} bytes ({nbytes} bytes) exceeds max_chunk_bytes "
            f"({config.max_chunk_bytes}; see tiffzarr.set_config)",
            key=key,
        )


def _itemsize(key: str, spec: Any, zarr_format: int) -> int:
    from zarr.core.dtype import get_data_type_from_json

    try:
        dtype = get_data_type_from_json(spec, zarr_format=zarr_format)  # type: ignore[arg-type]
        return int(dtype.to_native_dtype().itemsize)
    except Exception as exc:  # zarr raises ValueError, TypeError or KeyError for bad specs
        raise RefsError(f"data type {_short(spec)} is not valid: {exc}", key=key) from exc


def _check_v2_array(key: str, doc: dict[str, Any]) -> None:
    spec = {"name": doc.get("dtype"), "object_codec_id": None}
    _check_geometry(key, doc.get("shape"), doc.get("chunks"), _itemsize(key, spec, 2))
    if doc.get("compressor") is not None and not isinstance(doc["compressor"], dict):
        raise RefsError(f"compressor {_short(doc['compressor'])} is not an object", key=key)
    filters = doc.get("filters")
    if filters is not None and not (
        isinstance(filters, list) and all(isinstance(f, dict) for f in filters)
    ):
        raise RefsError(f"filters {_short(filters)} are not a list of objects", key=key)


def _check_v3_array(key: str, doc: dict[str, Any]) -> None:
    grid = doc.get("chunk_grid")
    configuration = grid.get("configuration") if isinstance(grid, dict) else None
    chunks = configuration.get("chunk_shape") if isinstance(configuration, dict) else None
    itemsize = _itemsize(key, doc.get("data_type"), 3)
    _check_geometry(key, doc.get("shape"), chunks, itemsize)
    if not isinstance(doc.get("codecs"), list):
        raise RefsError(f"codecs {_short(doc.get('codecs'))} are not a list", key=key)
