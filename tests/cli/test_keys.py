"""`adpilot rotate-keys` and `adpilot generate-key` in a real subprocess on both backends."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from cryptography.fernet import Fernet

from core.db import Database
from core.security.crypto import Cipher, generate_key
from tests.core.security.test_rotation import EXPECTED, read_all, seed_secrets

# Only this module's commands, mounted as channels/cli/main.py mounts them: the test then does
# not depend on every other command group importing cleanly.
KEYS_APP = (
    "import typer; from channels.cli import keys; "
    "app = typer.Typer(pretty_exceptions_enable=False); keys.register(app); app()"
)


async def adpilot(*args: str, keys: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "160", "ADPILOT_ENCRYPTION_KEYS": keys}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", KEYS_APP, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


async def test_generate_key_prints_a_usable_fernet_key() -> None:
    result = await adpilot("generate-key", keys=generate_key())
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    Fernet(key.encode())  # raises if malformed


async def test_rotate_keys_round_trip(database: Database) -> None:
    key_a, key_b = generate_key(), generate_key()
    org_id = await seed_secrets(database, Cipher([key_a]))

    result = await adpilot("rotate-keys", "--batch-size", "2", keys=f"{key_b},{key_a}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "12 re-encrypted, 0 already current" in result.stdout
    assert "ad_accounts.access_token_encrypted: 2 scanned" in result.stdout  # progress
    assert key_a not in result.stdout + result.stderr
    assert key_b not in result.stdout + result.stderr

    # Only the new key is left, and everything still decrypts.
    assert await read_all(database, Cipher([key_b]), org_id) == EXPECTED

    again = await adpilot("rotate-keys", keys=key_b)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 re-encrypted, 12 already current" in again.stdout


async def test_rotate_keys_without_the_old_key_fails_and_keeps_data(database: Database) -> None:
    key_a, key_b = generate_key(), generate_key()
    org_id = await seed_secrets(database, Cipher([key_a]))

    result = await adpilot("rotate-keys", keys=key_b)
    assert result.returncode == 1
    assert "could not be decrypted" in result.stderr
    assert "Traceback" not in result.stderr
    assert await read_all(database, Cipher([key_a]), org_id) == EXPECTED


async def test_rotate_keys_with_a_malformed_key_names_its_position(database: Database) -> None:
    result = await adpilot("rotate-keys", keys=f"{generate_key()},not-a-key")
    assert result.returncode == 2
    assert "#2" in result.stderr
    assert "not-a-key" not in result.stderr
