"""The storage options of :class:`~tiffzarr.io.HttpSource`: their defaults, which are
passed on to requests, and their parsed form, shared by the sources that use the same."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import aiohttp
from fsspec.utils import tokenize

from tiffzarr.io._base import PerLoop
from tiffzarr.io._sessions import close_session, close_session_now, new_session

__all__ = [
    "CONNECT_TIMEOUT",
    "DEADLINE",
    "READ_TIMEOUT",
    "RETRIES",
    "RETRY_BACKOFF",
    "Settings",
    "parse_options",
]

CONNECT_TIMEOUT = 10.0
"""Default seconds to establish a connection (``storage_options["connect_timeout"]``)."""

READ_TIMEOUT = 30.0
"""Default seconds to wait for the next bytes of an answer (``storage_options["read_timeout"]``)."""

RETRIES = 4
"""Default extra attempts after a transient failure (``storage_options["retries"]``)."""

RETRY_BACKOFF = 0.1
"""Default first backoff in seconds, doubled per attempt (``storage_options["retry_backoff"]``)."""

DEADLINE = 60.0
"""Default seconds one read may take, retries included (``storage_options["deadline"]``)."""


# storage_options passed on to every request (as fsspec's HTTPFileSystem does).
_REQUEST_OPTIONS = frozenset(
    {"headers", "auth", "cookies", "proxy", "proxy_auth", "ssl", "allow_redirects", "max_redirects"}
)
# storage_options of fsspec's HTTPFileSystem that configure its caching and listing only.
_IGNORED_OPTIONS = frozenset(
    {
        "asynchronous",
        "block_size",
        "cache_options",
        "cache_type",
        "encoded",
        "listings_expiry_time",
        "max_paths",
        "same_scheme",
        "simple_links",
        "size_policy",
        "skip_instance_cache",
        "use_listings_cache",
    }
)
_OWN_OPTIONS = frozenset(
    {
        "client_kwargs",
        "connect_timeout",
        "read_timeout",
        "retries",
        "retry_backoff",
        "deadline",
        "check_version",
    }
)


@dataclass(frozen=True, slots=True)
class Settings:
    """What a source's storage options say, parsed once for all the sources (of a
    sequence's many files, say) that share them."""

    storage_options: dict[str, Any]
    request_options: dict[str, Any]
    retries: int
    backoff: float
    deadline: float
    check_version: bool
    sessions: PerLoop[aiohttp.ClientSession]


_PARSED: dict[str, Settings] = {}
_PARSED_KEPT = 64


def parse_options(storage_options: dict[str, Any], url: str) -> Settings:
    """The parsed ``storage_options`` (kept for the :data:`_PARSED_KEPT` latest)."""
    key = tokenize(storage_options)
    found = _PARSED.get(key)
    if found is not None:
        return found
    options = dict(storage_options)
    unknown = set(options) - _REQUEST_OPTIONS - _IGNORED_OPTIONS - _OWN_OPTIONS
    if unknown:
        raise ValueError(f"unsupported HTTP storage options {sorted(unknown)} for {url}")
    request = {k: v for k, v in options.items() if k in _REQUEST_OPTIONS}
    request["headers"] = {"Accept-Encoding": "identity", **dict(options.get("headers") or {})}
    client_kwargs = dict(options.get("client_kwargs") or {})
    client_kwargs.setdefault(
        "timeout",
        aiohttp.ClientTimeout(
            total=None,
            sock_connect=_seconds(options, "connect_timeout", CONNECT_TIMEOUT),
            sock_read=_seconds(options, "read_timeout", READ_TIMEOUT),
        ),
    )
    settings = Settings(
        storage_options=options,
        request_options=request,
        retries=int(options.get("retries", RETRIES)),
        backoff=float(options.get("retry_backoff", RETRY_BACKOFF)),
        deadline=float(options.get("deadline", DEADLINE)),
        check_version=bool(options.get("check_version", True)),
        sessions=PerLoop.shared(
            ("aiohttp", tokenize(client_kwargs)),
            functools.partial(new_session, client_kwargs),
            close_session,
            close_session_now,
        ),
    )
    if len(_PARSED) >= _PARSED_KEPT:
        _PARSED.pop(next(iter(_PARSED)))
    _PARSED[key] = settings
    return settings


def _seconds(options: dict[str, Any], key: str, default: float) -> float | None:
    value = options.get(key, default)
    return None if value is None else float(value)
