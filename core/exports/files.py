"""File storage for exports: the FileStore port and its local-disk implementation.

Keys are relative, slash-separated paths (`exports/<org id>/<name>`); a store never accepts one
that could climb out of its root. S3-compatible storage lives in adapters (its SDK stays there).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from core.errors import CoreError, ValidationFailed


class StorageError(CoreError):
    """The file store failed (network, permissions); the message is safe to show."""

    code = "storage_error"


@dataclass(frozen=True)
class StoredFile:
    key: str
    size: int
    content_type: str
    # Where an operator finds it: a local path or an s3:// URL (never a public link).
    location: str


class FileStore(Protocol):
    async def put(self, key: str, data: bytes, *, content_type: str) -> StoredFile: ...

    async def get(self, key: str) -> bytes | None:
        """The file's bytes, or None when there is no such file."""
        ...


def checked_key(key: str) -> str:
    """`key` when it is a plain relative path; a typed error otherwise."""
    parts = key.split("/")
    if not key or key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in parts):
        raise ValidationFailed("Not a valid file key.", field="key")
    return key


class LocalFileStore:
    """Files under one directory, written atomically (temp file, then rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*checked_key(key).split("/"))

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f".{path.name}.partial")
        # Exports hold an org's figures: readable by the service's user only.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        temporary.replace(path)

    async def put(self, key: str, data: bytes, *, content_type: str) -> StoredFile:
        path = self._path(key)
        await asyncio.to_thread(self._write, path, data)
        return StoredFile(key=key, size=len(data), content_type=content_type, location=str(path))

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None


def local_root(storage_url: str) -> Path:
    """The directory of a `file://` storage URL (`file:///abs/dir` or `file://./relative`)."""
    parts = urlsplit(storage_url)
    if parts.scheme != "file":
        raise ValidationFailed("Not a file:// storage URL.", field="storage_url")
    return Path(unquote(parts.netloc + parts.path)).expanduser()
