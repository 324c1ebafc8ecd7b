"""Password hashing with argon2 (pwdlib's recommended settings)."""

from __future__ import annotations

from functools import lru_cache

from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError


@lru_cache(maxsize=1)
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()


def hash_password(password: str) -> str:
    """An argon2id hash of `password` with a fresh random salt."""
    return str(_hasher().hash(password))


def verify_password(password: str, password_hash: str) -> bool:
    """Whether `password` matches; a hash no hasher recognises is a plain mismatch."""
    try:
        return bool(_hasher().verify(password, password_hash))
    except UnknownHashError:
        return False


def verify_and_update(password: str, password_hash: str) -> tuple[bool, str | None]:
    """Verify, and return a new hash when the stored one uses outdated parameters."""
    try:
        valid, updated = _hasher().verify_and_update(password, password_hash)
    except UnknownHashError:
        return False, None
    return bool(valid), (str(updated) if updated is not None else None)
