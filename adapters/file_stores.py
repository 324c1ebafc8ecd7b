"""ADPILOT_STORAGE_URL -> a FileStore, for the composition roots (web, worker, CLI)."""

from __future__ import annotations

from core.config import Settings
from core.errors import ValidationFailed
from core.exports.files import FileStore, LocalFileStore, local_root


def build_file_store(settings: Settings) -> FileStore:
    """Local disk for `file://…`, S3-compatible storage for `s3://bucket/prefix`."""
    scheme = settings.storage_url.partition("://")[0]
    if scheme == "file":
        return LocalFileStore(local_root(settings.storage_url))
    if scheme == "s3":
        # Imported here: boto3 is loaded only by deployments that store files on S3.
        from adapters.s3_files import S3FileStore

        return S3FileStore(settings)
    raise ValidationFailed(
        "ADPILOT_STORAGE_URL must start with file:// or s3://.", field="storage_url"
    )
