"""The read-only store contract on every backend: local, memory, HTTP, S3; v3 and v2."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest

import tiffzarr
from tiffzarr.testing import StoreContract, contract_file, moto_server, serve

CONTRACT = contract_file()


@pytest.fixture(scope="module")
def contract_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("contract") / "contract.tif"
    path.write_bytes(CONTRACT)
    return path


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    with serve({"contract.tif": CONTRACT}) as server:
        yield server.url_for("contract.tif")


@pytest.fixture(scope="module")
def s3() -> Iterator[tuple[str, dict]]:
    with moto_server() as server:
        server.create_bucket("contract")
        yield server.put("contract", "contract.tif", CONTRACT), server.storage_options


class TestLocalV3(StoreContract):
    @pytest.fixture
    def store(self, contract_path: Path) -> tiffzarr.TiffStore:
        return tiffzarr.open_store(str(contract_path), series=0, level=0)


class TestLocalV2(StoreContract):
    @pytest.fixture
    def store(self, contract_path: Path) -> tiffzarr.TiffStore:
        return tiffzarr.open_store(str(contract_path), series=0, level=0, zarr_format=2)


class TestMemory(StoreContract):
    @pytest.fixture
    def store(self) -> tiffzarr.TiffStore:
        url = f"memory://contract-{uuid.uuid4().hex}/contract.tif"
        fsspec.filesystem("memory").pipe(url, CONTRACT)
        return tiffzarr.open_store(url, series=0, level=0)


class TestHttp(StoreContract):
    @pytest.fixture
    def store(self, http_url: str) -> tiffzarr.TiffStore:
        return tiffzarr.open_store(http_url, series=0, level=0)


class TestS3(StoreContract):
    @pytest.fixture
    def store(self, s3: tuple[str, dict]) -> tiffzarr.TiffStore:
        url, options = s3
        return tiffzarr.open_store(url, series=0, level=0, storage_options=options)
