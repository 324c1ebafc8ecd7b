"""MultiFernet encryption at rest: round trips, rotation order, errors, the dev key file."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from core.config import ConfigError, Settings
from core.security import crypto
from core.security.crypto import Cipher, DecryptionFailed, decrypt, encrypt, generate_key

KEY_A = generate_key()
KEY_B = generate_key()


def test_round_trip_with_configured_keys() -> None:
    token = encrypt("ya29.a0-secret-token")
    assert token != "ya29.a0-secret-token"
    assert "secret" not in token
    assert decrypt(token) == "ya29.a0-secret-token"


def test_unicode_round_trip() -> None:
    cipher = Cipher([KEY_A])
    assert cipher.decrypt(cipher.encrypt("päss wörd 🔑")) == "päss wörd 🔑"


def test_newest_key_encrypts_and_older_keys_still_decrypt() -> None:
    old_token = Cipher([KEY_A]).encrypt("refresh")
    both = Cipher([KEY_B, KEY_A])
    assert both.decrypt(old_token) == "refresh"
    new_token = both.encrypt("refresh")
    # Written by the newest key: readable by B alone, not by A alone.
    assert Cipher([KEY_B]).decrypt(new_token) == "refresh"
    with pytest.raises(DecryptionFailed):
        Cipher([KEY_A]).decrypt(new_token)


def test_rotate_moves_a_token_to_the_newest_key() -> None:
    old_token = Cipher([KEY_A]).encrypt("bot-token")
    both = Cipher([KEY_B, KEY_A])
    assert not both.is_current(old_token)
    rotated = both.rotate(old_token)
    assert both.is_current(rotated)
    assert Cipher([KEY_B]).decrypt(rotated) == "bot-token"


def test_token_no_key_reads_is_a_typed_error() -> None:
    token = Cipher([KEY_A]).encrypt("x")
    with pytest.raises(DecryptionFailed) as info:
        Cipher([KEY_B]).decrypt(token)
    assert info.value.code == "decryption_failed"
    assert token not in info.value.message
    with pytest.raises(DecryptionFailed):
        Cipher([KEY_B]).decrypt("garbage")
    with pytest.raises(DecryptionFailed):
        Cipher([KEY_B]).rotate(token)


def test_repr_and_errors_never_show_a_key() -> None:
    cipher = Cipher([KEY_A, KEY_B])
    assert repr(cipher) == "Cipher(keys=2)"
    assert KEY_A not in repr(cipher)
    with pytest.raises(ConfigError) as info:
        Cipher([KEY_A, "not-a-valid-key"])
    assert "#2" in str(info.value)
    assert "not-a-valid-key" not in str(info.value)
    settings = Settings(encryption_keys=f"{KEY_A},{KEY_B}")
    assert KEY_A not in repr(settings)
    assert KEY_A not in str(settings.model_dump())


def test_settings_order_is_newest_first() -> None:
    settings = Settings(encryption_keys=f" {KEY_B} , {KEY_A} ")
    assert crypto.key_list(settings) == [KEY_B, KEY_A]
    token = encrypt("s", settings=settings)
    assert Fernet(KEY_B.encode()).decrypt(token.encode()) == b"s"


def test_development_without_keys_generates_one_key_file_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(crypto, "_local_key", crypto._local_key.__wrapped__)
    settings = Settings(env="development", encryption_keys=None)
    with caplog.at_level(logging.WARNING, logger="core.security.crypto"):
        token = encrypt("dev secret", settings=settings)
        again = encrypt("dev secret 2", settings=settings)
    key_file = tmp_path / ".adpilot" / "encryption.key"
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert Cipher([key]).decrypt(token) == "dev secret"
    assert Cipher([key]).decrypt(again) == "dev secret 2"
    warnings = [r for r in caplog.records if "generated a development key" in r.getMessage()]
    assert len(warnings) == 1
    assert key not in caplog.text
