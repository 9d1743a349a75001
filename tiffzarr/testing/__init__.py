"""Test helpers: a loopback HTTP Range server, a local moto S3 server, and the
read-only store contract (``StoreContract``, loaded on first use: it needs pytest).

Only ``127.0.0.1`` is ever contacted.

>>> from tiffzarr.testing import serve
>>> with serve({"a.bin": b"abc"}) as server:
...     server.stats.requests
0
"""

from __future__ import annotations

from tiffzarr.testing._httpserver import (
    Fault,
    FaultKind,
    Faults,
    MultiRange,
    PathStats,
    RangeServer,
    RequestRecord,
    ServerStats,
    serve,
)
from tiffzarr.testing._s3 import MotoS3, moto_server

__all__ = [
    "StoreContract",
    "contract_data",
    "contract_file",
    "Fault",
    "FaultKind",
    "Faults",
    "MotoS3",
    "MultiRange",
    "PathStats",
    "RangeServer",
    "RequestRecord",
    "ServerStats",
    "moto_server",
    "serve",
]


def __getattr__(name: str) -> object:
    if name in ("StoreContract", "contract_data", "contract_file"):
        from tiffzarr.testing import _suite

        return getattr(_suite, name)
    raise AttributeError(name)
