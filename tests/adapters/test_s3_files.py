"""S3-compatible storage against a loopback S3 server (moto in server mode): put, get, missing."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer
from pydantic import SecretStr

from adapters.file_stores import build_file_store
from adapters.s3_files import S3FileStore, parse_s3_url
from core.config import Settings
from core.errors import ValidationFailed
from core.exports.files import LocalFileStore, StorageError


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_settings(endpoint: str, url: str = "s3://exports-bucket/adpilot") -> Settings:
    return Settings(
        storage_url=url,
        storage_endpoint_url=endpoint,
        storage_access_key_id="test-key",
        storage_secret_access_key=SecretStr("test-secret"),
    )


def bucket(endpoint: str) -> object:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
    )
    client.create_bucket(Bucket="exports-bucket")
    return client


async def test_files_go_under_the_prefix_and_come_back(s3_endpoint: str) -> None:
    client = bucket(s3_endpoint)
    store = build_file_store(s3_settings(s3_endpoint))
    assert isinstance(store, S3FileStore)

    stored = await store.put("exports/org-1/report.csv", b"a,b\n1,2\n", content_type="text/csv")

    assert stored.location == "s3://exports-bucket/adpilot/exports/org-1/report.csv"
    assert await store.get("exports/org-1/report.csv") == b"a,b\n1,2\n"
    head = client.head_object(Bucket="exports-bucket", Key="adpilot/exports/org-1/report.csv")  # type: ignore[attr-defined]
    assert head["ContentType"] == "text/csv"
    assert await store.get("exports/org-1/missing.csv") is None


async def test_a_missing_bucket_is_a_storage_error(s3_endpoint: str) -> None:
    store = build_file_store(s3_settings(s3_endpoint, "s3://no-such-bucket"))
    with pytest.raises(StorageError):
        await store.put("exports/x.csv", b"x", content_type="text/csv")


def test_storage_urls_are_checked(tmp_path: object) -> None:
    assert parse_s3_url("s3://bucket") == ("bucket", "")
    assert isinstance(build_file_store(Settings(storage_url=f"file://{tmp_path}")), LocalFileStore)
    with pytest.raises(ValidationFailed):
        build_file_store(Settings(storage_url="ftp://host/dir"))
    with pytest.raises(ValidationFailed):
        parse_s3_url("s3:///prefix-only")


async def test_keys_cannot_climb_out(s3_endpoint: str, tmp_path: object) -> None:
    for store in (build_file_store(s3_settings(s3_endpoint)), LocalFileStore(tmp_path)):  # type: ignore[arg-type]
        for key in ("../etc/passwd", "/abs", "a//b", "a/./b", "a\\b", ""):
            with pytest.raises(ValidationFailed):
                await store.put(key, b"x", content_type="text/plain")
