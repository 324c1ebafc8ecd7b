"""Local secrets on disk: the development key file and the embedded SQLite file are owner-only."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from core import schema
from core.config import ConfigError, Settings
from core.db import create_engine
from core.security import crypto, local_files

NOBODY = 65534


@pytest.fixture
def uncached_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto, "_local_key", crypto._local_key.__wrapped__)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    # The common default; without our 0600 a new file would come out world-readable.
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _dev_settings() -> Settings:
    return Settings(env="development", encryption_keys=None)


def _key_file(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / ".adpilot" / "encryption.key"
    path.parent.mkdir()
    path.write_text(crypto.generate_key() + "\n")
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_others_can_read_is_refused_with_the_fix(
    tmp_path: Path, uncached_key: None, mode: int
) -> None:
    path = _key_file(tmp_path, mode)
    with pytest.raises(ConfigError) as caught:
        crypto.encrypt("secret", settings=_dev_settings())
    message = str(caught.value)
    assert f"mode {mode:04o}" in message
    assert message.endswith(f"Fix: chmod 600 {path}")


def test_a_key_file_owned_by_someone_else_is_refused(
    tmp_path: Path, uncached_key: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _key_file(tmp_path, 0o600)
    if os.geteuid() == 0:
        os.chown(path, NOBODY, NOBODY)  # a real foreign owner
        me = 0
    else:
        me = os.geteuid() + 1  # we cannot give a file away: be someone else instead
        monkeypatch.setattr(os, "geteuid", lambda: me)
    with pytest.raises(ConfigError) as caught:
        crypto.encrypt("secret", settings=_dev_settings())
    assert str(caught.value).endswith(f"Fix: chown {me} {path}")


def test_a_symlinked_key_file_is_refused(tmp_path: Path, uncached_key: None) -> None:
    real = tmp_path / "elsewhere.key"
    real.write_text(crypto.generate_key())
    real.chmod(0o600)
    (tmp_path / ".adpilot").mkdir()
    (tmp_path / ".adpilot" / "encryption.key").symlink_to(real)
    with pytest.raises(ConfigError, match="Cannot open"):
        crypto.encrypt("secret", settings=_dev_settings())


def test_a_private_key_file_is_used(tmp_path: Path, uncached_key: None) -> None:
    path = _key_file(tmp_path, 0o600)
    token = crypto.encrypt("secret", settings=_dev_settings())
    assert crypto.Cipher([path.read_text().strip()]).decrypt(token) == "secret"


async def test_concurrent_first_starts_agree_on_one_private_key(
    tmp_path: Path, permissive_umask: None
) -> None:
    path = tmp_path / ".adpilot" / "encryption.key"
    create = crypto._local_key.__wrapped__
    keys = await asyncio.gather(*(asyncio.to_thread(create, path) for _ in range(8)))
    assert len(set(keys)) == 1
    assert path.read_text().strip() == keys[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # No temporary file is left beside it.
    assert [p.name for p in path.parent.iterdir()] == ["encryption.key"]


async def test_the_embedded_database_file_is_created_0600(
    tmp_path: Path, permissive_umask: None
) -> None:
    path = tmp_path / "adpilot.db"
    engine = create_engine(Settings(), url=f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (x INTEGER)"))
    finally:
        await engine.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_migrate_creates_the_database_file_0600(tmp_path: Path, permissive_umask: None) -> None:
    # `adpilot migrate` and the embedded first start both go through schema.upgrade.
    path = tmp_path / "migrated.db"
    schema.upgrade(f"sqlite+aiosqlite:///{path}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    journal_modes = {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.glob("migrated.db*")}
    assert journal_modes == {0o600}


def test_an_existing_database_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    path.touch()
    path.chmod(0o640)
    local_files.ensure_private_sqlite_file(f"sqlite+aiosqlite:///{path}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:///:memory:",
        "sqlite+aiosqlite://",
        "postgresql+asyncpg://postgres@127.0.0.1/adpilot",
    ],
)
def test_urls_without_a_plain_file_are_left_alone(url: str) -> None:
    assert local_files.sqlite_path(url) is None
    local_files.ensure_private_sqlite_file(url)
