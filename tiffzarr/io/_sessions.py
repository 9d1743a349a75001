"""aiohttp sessions for :class:`~tiffzarr.io.HttpSource`: made per event loop, closed
in their own loop, or right away (sockets included) when that loop is gone."""

from __future__ import annotations

import logging
import socket
from typing import Any

import aiohttp

__all__ = ["close_session", "close_session_now", "new_session"]

logger = logging.getLogger(__name__)


def new_session(client_kwargs: dict[str, Any]) -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(**{"auto_decompress": False, **client_kwargs})
    if hasattr(session, "_retry_connection"):
        # aiohttp >= 3.10 silently repeats a request once when a reused connection
        # drops; tiffzarr counts every request and owns the retry policy.
        session._retry_connection = False
    logger.debug("opened aiohttp session %#x", id(session))
    return session


async def close_session(session: aiohttp.ClientSession) -> None:
    logger.debug("closing aiohttp session %#x", id(session))
    await session.close()


def close_session_now(session: aiohttp.ClientSession) -> None:
    """Close ``session`` without awaiting, because its loop is closed or not running.

    On an idle loop the connections close when the loop next runs. A closed loop
    can no longer close its transports, so their sockets are closed here directly
    (otherwise each would warn "unclosed transport" when collected).
    """
    connector = session.connector
    if connector is not None and not connector.closed:
        loop = getattr(connector, "_loop", None)
        if loop is not None and loop.is_closed():
            for protocol in _protocols(connector):
                _drop_socket(getattr(protocol, "transport", None))
        connector._close()
    session.detach()


def _protocols(connector: aiohttp.BaseConnector) -> list[Any]:
    conns: dict[Any, Any] = getattr(connector, "_conns", {})
    protocols = [proto for pairs in conns.values() for proto, _ in pairs]
    return protocols + list(getattr(connector, "_acquired", ()))


def _drop_socket(transport: Any) -> None:
    """Close the socket under an asyncio transport whose loop is closed."""
    ssl_protocol = getattr(transport, "_ssl_protocol", None)
    if ssl_protocol is not None:  # TLS: mark the outer transport, close the inner socket
        transport._closed = True
        transport = getattr(ssl_protocol, "_transport", None)
    sock = getattr(transport, "_sock", None)
    if isinstance(sock, socket.socket):
        sock.close()
        transport._sock = None
