"""Encryption at rest: MultiFernet over the configured keys, newest first, so keys can rotate."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from core.config import ConfigError, Settings, get_settings
from core.errors import CoreError
from core.security.local_files import create_private_text, read_private_text

logger = logging.getLogger(__name__)

# Development and test only: production refuses to start without ADPILOT_ENCRYPTION_KEYS.
LOCAL_KEY_PATH = Path(".adpilot") / "encryption.key"


class DecryptionFailed(CoreError):
    """No configured key can read this token (a key was dropped too early, or the data is bad)."""

    code = "decryption_failed"

    def __init__(self) -> None:
        super().__init__(
            "A stored secret cannot be decrypted with the configured keys; "
            "restore the old key in ADPILOT_ENCRYPTION_KEYS and run `adpilot rotate-keys`."
        )


class Cipher:
    """Encrypts with the newest key, decrypts with any; never shows a key in its repr."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ConfigError("At least one encryption key is needed.")
        fernets: list[Fernet] = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.encode("ascii")))
            except (ValueError, UnicodeEncodeError) as exc:
                # Name the position, never the key itself: this message may reach a log.
                raise ConfigError(
                    f"Encryption key #{position} is not a valid Fernet key "
                    "(32 url-safe base64-encoded bytes)."
                ) from exc
        self._primary = fernets[0]
        self._multi = MultiFernet(fernets)
        self.key_count = len(fernets)

    def __repr__(self) -> str:
        return f"Cipher(keys={self.key_count})"

    def encrypt(self, plaintext: str) -> str:
        return self._multi.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._multi.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise DecryptionFailed from exc

    def is_current(self, token: str) -> bool:
        """Whether the newest key already reads `token` (then rotation can skip it)."""
        try:
            self._primary.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeError):
            return False
        return True

    def rotate(self, token: str) -> str:
        """`token` re-encrypted under the newest key; any configured key may have written it."""
        try:
            return self._multi.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError) as exc:
            raise DecryptionFailed from exc


def generate_key() -> str:
    """A fresh Fernet key, for `ADPILOT_ENCRYPTION_KEYS`."""
    return Fernet.generate_key().decode("ascii")


@lru_cache(maxsize=8)
def _cipher_for(keys: tuple[str, ...]) -> Cipher:
    return Cipher(keys)


@lru_cache(maxsize=4)
def _local_key(path: Path) -> str:
    """Read, or create once with mode 0600, the development key file; say so once.

    A key file other users can read (or that another user owns) is refused: whoever reads it
    can decrypt every stored ad-platform token.
    """
    if path.exists():
        return read_private_text(path).strip()
    key = generate_key()
    # Atomic and exclusive: two processes starting together must not each write a key.
    if not create_private_text(path, key + "\n"):
        return read_private_text(path).strip()
    logger.warning(
        "ADPILOT_ENCRYPTION_KEYS is not set: generated a development key in %s. "
        "Keep this file; secrets stored with it cannot be read without it.",
        path,
    )
    return key


def key_list(settings: Settings | None = None) -> list[str]:
    """The keys in force, newest first; a local key file stands in outside production."""
    settings = settings or get_settings()
    keys = settings.encryption_key_list()
    if keys:
        return keys
    if settings.is_production:
        raise ConfigError("ADPILOT_ENV=production refuses to run without ADPILOT_ENCRYPTION_KEYS.")
    return [_local_key(LOCAL_KEY_PATH.absolute())]


def get_cipher(settings: Settings | None = None) -> Cipher:
    """The cipher for the current settings (cached per key list, so rotation picks up changes)."""
    return _cipher_for(tuple(key_list(settings)))


def encrypt(plaintext: str, *, settings: Settings | None = None) -> str:
    """`plaintext` encrypted under the newest key, as an ASCII token for a text column."""
    return get_cipher(settings).encrypt(plaintext)


def decrypt(token: str, *, settings: Settings | None = None) -> str:
    """The plaintext of `token`; DecryptionFailed when no configured key can read it."""
    return get_cipher(settings).decrypt(token)


def encrypt_optional(plaintext: str | None, *, settings: Settings | None = None) -> str | None:
    return None if plaintext is None else encrypt(plaintext, settings=settings)


def decrypt_optional(token: str | None, *, settings: Settings | None = None) -> str | None:
    return None if token is None else decrypt(token, settings=settings)
