"""Argon2 password hashing through pwdlib."""

from __future__ import annotations

from core.security.passwords import hash_password, verify_and_update, verify_password


def test_hash_is_argon2id_and_verifies() -> None:
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed
    assert verify_password("correct horse battery", hashed)


def test_wrong_password_is_rejected() -> None:
    hashed = hash_password("correct horse battery")
    assert not verify_password("correct horse batterY", hashed)
    assert not verify_password("", hashed)


def test_same_password_gets_a_fresh_salt_each_time() -> None:
    assert hash_password("same password!") != hash_password("same password!")


def test_unknown_hash_format_is_a_mismatch_not_a_crash() -> None:
    assert not verify_password("anything", "not-a-hash")
    assert verify_and_update("anything", "$md5$abc") == (False, None)


def test_verify_and_update_keeps_a_current_hash() -> None:
    hashed = hash_password("long enough pw")
    assert verify_and_update("long enough pw", hashed) == (True, None)
    assert verify_and_update("wrong", hashed) == (False, None)
