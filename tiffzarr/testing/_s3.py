"""A local S3 (moto's threaded server on ``127.0.0.1``) for tests and benchmarks.

While the context is open, the environment is pinned so that neither botocore
nor aiobotocore looks anywhere but the local server: fake credentials, a fixed
region, the EC2/ECS metadata services disabled, no profiles or config files,
no proxies. The previous environment is restored on exit.

>>> with moto_server() as s3:
...     s3.endpoint_url.startswith("http://127.0.0.1:")
True
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["MotoS3", "moto_server"]

logger = logging.getLogger(__name__)

REGION = "us-east-1"

# Variables that could make botocore read real credentials or contact a remote
# endpoint (instance/container metadata, SSO, web identity, custom endpoints).
_UNSET = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)
_SET = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}


class MotoS3:
    """A running moto S3 server: its endpoint, s3fs options and an upload helper."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url
        self._client: Any = None

    @property
    def storage_options(self) -> dict[str, Any]:
        """s3fs ``storage_options`` for this server (a fresh dict each time)."""
        return {
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": REGION},
            "config_kwargs": {"s3": {"addressing_style": "path"}},
        }

    def client(self) -> Any:
        """A boto3 S3 client for this server (made once)."""
        if self._client is None:
            import boto3  # type: ignore[import-untyped]
            from botocore.config import Config  # type: ignore[import-untyped]

            self._client = boto3.client(
                "s3",
                endpoint_url=self.endpoint_url,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=Config(s3={"addressing_style": "path"}),
            )
        return self._client

    def create_bucket(self, bucket: str, /) -> None:
        """Create ``bucket`` unless it exists."""
        client = self.client()
        try:
            client.head_bucket(Bucket=bucket)
        except client.exceptions.ClientError:
            client.create_bucket(Bucket=bucket)

    def put(self, bucket: str, key: str, data: bytes, /) -> str:
        """Upload ``data`` (creating the bucket if needed); return ``s3://bucket/key``."""
        self.create_bucket(bucket)
        self.client().put_object(Bucket=bucket, Key=key, Body=bytes(data))
        return f"s3://{bucket}/{key}"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


@contextmanager
def _pinned_environment() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in (*_UNSET, *_SET)}
    try:
        for key in _UNSET:
            os.environ.pop(key, None)
        os.environ.update(_SET)
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _drop_server_header(app: Any) -> Any:
    """Wrap a WSGI app so its answers carry no ``Server`` header of their own.

    moto adds ``server: amazon.com`` to error answers while werkzeug adds its own
    ``Server``; aiohttp (>= 3.10) refuses the duplicate with a 400 client error,
    which botocore then retries instead of reporting NoSuchKey or InvalidRange.
    """

    def wrapped(environ: Any, start_response: Any) -> Any:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            kept = [(k, v) for k, v in headers if k.lower() != "server"]
            return start_response(status, kept, exc_info)

        return app(environ, start)

    return wrapped


def _start_moto() -> Any:
    """Start moto's ThreadedMotoServer on 127.0.0.1 (free port), quiet, one Server header."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class QuietHandler(MotoRequestHandler):
        def log(self, type: str, message: str, *args: Any) -> None:
            logger.debug("moto: " + message, *args)

    class Server(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = _drop_server_header(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=QuietHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever(poll_interval=0.05)

    server = Server(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    return server


@contextmanager
def moto_server() -> Iterator[MotoS3]:
    """Run moto's S3 server on ``127.0.0.1`` and a free port for the ``with`` block.

    Yields
    ------
    MotoS3
        ``endpoint_url``, ``storage_options`` for s3fs and ``put(bucket, key, data)``.

    Examples
    --------
    >>> import asyncio
    >>> from tiffzarr.io import FsspecSource
    >>> with moto_server() as s3:
    ...     url = s3.put("bucket", "a.bin", b"0123456789")
    ...     asyncio.run(FsspecSource(url, storage_options=s3.storage_options).read(2, 3))
    b'234'
    """
    with _pinned_environment():
        server = _start_moto()
        host, port = server.get_host_and_port()
        s3 = MotoS3(f"http://{host}:{port}")
        try:
            yield s3
        finally:
            s3.close()
            server.stop()
            server._server.server_close()
