"""Secrets kept in local files (the development key, the embedded SQLite database): owner-only.

A key file another local user can read hands them every stored ad-platform token; the SQLite
file holds those tokens (encrypted) and everything else. Both are created 0600 from the first
byte, and a key file that others can read, or that someone else owns, is refused.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

from core.config import ConfigError

OWNER_ONLY = 0o600
# In-memory databases and SQLite URI filenames have no plain path to create.
_NO_FILE = {"", ":memory:"}


def check_private(path: Path, status: os.stat_result) -> None:
    """ConfigError naming the exact fix when `path` is not a regular file private to us."""
    if not stat.S_ISREG(status.st_mode):
        raise ConfigError(f"{path} is not a regular file; remove it and start again.")
    uid = os.geteuid()
    if status.st_uid != uid:
        raise ConfigError(
            f"{path} is owned by uid {status.st_uid}, not by you (uid {uid}); "
            f"refusing to use it. Fix: chown {uid} {path}"
        )
    if status.st_mode & 0o077:
        raise ConfigError(
            f"{path} can be read by other users (mode {stat.S_IMODE(status.st_mode):04o}); "
            f"refusing to use it. Fix: chmod 600 {path}"
        )


def read_private_text(path: Path) -> str:
    """The text of an owner-only file, checked on the open descriptor (no swap in between)."""
    try:
        # O_NOFOLLOW: a symlink planted in place of the key file is refused, not followed.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise ConfigError(f"Cannot open {path}: {exc.strerror}.") from exc
    with os.fdopen(descriptor, "r", encoding="ascii") as handle:
        check_private(path, os.fstat(descriptor))
        return handle.read()


def create_private_text(path: Path, text: str) -> bool:
    """Write `text` to a new 0600 file at `path` atomically; False if `path` already exists.

    The text goes to a temporary file first and is hard-linked into place, so a process
    starting at the same moment never reads a half-written (or empty) file.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        temporary.unlink(missing_ok=True)
    return True


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL, or None for an in-memory or URI-style database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in _NO_FILE or database.startswith("file:") or url.query.get("uri"):
        return None
    return Path(database)


def ensure_private_sqlite_file(database_url: str) -> None:
    """Create the SQLite file 0600 before the driver does (it would use the umask, often 0644).

    An existing file is left as it is: it may be shared on purpose, and SQLite gives its
    journal and WAL files the database file's mode, so a new file keeps all three private.
    """
    path = sqlite_path(database_url)
    if path is None or path.exists():
        return
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY)
    except FileExistsError:
        return  # another process created it first
    except FileNotFoundError:
        return  # no such directory: let the driver report it as it always has
    os.close(descriptor)
