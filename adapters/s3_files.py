"""S3-compatible file storage (AWS S3, MinIO, R2, …) through boto3, for report exports.

boto3 is synchronous: each call runs in a thread so the event loop never waits on the network.
The endpoint is a setting, so a local S3-compatible server stands in for tests.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from core.config import Settings
from core.errors import ValidationFailed
from core.exports.files import StorageError, StoredFile, checked_key

_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


def parse_s3_url(storage_url: str) -> tuple[str, str]:
    """(bucket, prefix) of `s3://bucket/prefix`; the prefix may be empty."""
    parts = urlsplit(storage_url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValidationFailed("Not an s3://bucket/prefix storage URL.", field="storage_url")
    return parts.netloc, parts.path.strip("/")


class S3FileStore:
    def __init__(self, settings: Settings, *, client: Any | None = None) -> None:
        self.bucket, self.prefix = parse_s3_url(settings.storage_url)
        secret = settings.storage_secret_access_key
        self.client = client or boto3.client(
            "s3",
            endpoint_url=settings.storage_endpoint_url,
            region_name=settings.storage_region,
            aws_access_key_id=settings.storage_access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            config=Config(
                connect_timeout=settings.http_timeout_seconds,
                read_timeout=settings.http_timeout_seconds,
                retries={"max_attempts": settings.http_max_attempts, "mode": "standard"},
            ),
        )

    def _object_key(self, key: str) -> str:
        checked_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    async def put(self, key: str, data: bytes, *, content_type: str) -> StoredFile:
        object_key = self._object_key(key)
        try:
            await asyncio.to_thread(
                self.client.put_object,
                Bucket=self.bucket,
                Key=object_key,
                Body=data,
                ContentType=content_type,
            )
        except (BotoCoreError, ClientError) as exc:
            raise StorageError("Could not store the file.") from exc
        return StoredFile(
            key=key,
            size=len(data),
            content_type=content_type,
            location=f"s3://{self.bucket}/{object_key}",
        )

    async def get(self, key: str) -> bytes | None:
        object_key = self._object_key(key)
        try:
            response = await asyncio.to_thread(
                self.client.get_object, Bucket=self.bucket, Key=object_key
            )
            body: bytes = await asyncio.to_thread(response["Body"].read)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise StorageError("Could not read the file.") from exc
        except BotoCoreError as exc:
            raise StorageError("Could not read the file.") from exc
        return body
