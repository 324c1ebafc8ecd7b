"""`adpilot chat`, run through the real entry point on both backends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.db import Database
from core.users.models import Role
from tests import factories

ADPILOT = str(Path(sys.executable).with_name("adpilot"))


def adpilot(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ADPILOT, *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, "COLUMNS": "120"},
        timeout=120,
        check=False,
    )


@pytest.fixture
async def org_slug(database: Database) -> str:
    """An org with an admin (the default speaker), a plain user and one sandbox campaign."""
    async with database.system() as session:
        org = await factories.org(session, name="Chat Co")
        await factories.user(session, org, role=Role.ADMIN, email=f"admin@{org.slug}.example")
        await factories.user(session, org, role=Role.USER, email=f"user@{org.slug}.example")
        account = await factories.ad_account(session, org)
        await factories.campaign(session, account, name="Winter Warmers")
        return org.slug


def test_one_command_prints_one_answer_and_exits_zero(org_slug: str) -> None:
    result = adpilot("chat", "--org", org_slug, "-c", "help")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "AdPilot commands" in result.stdout
    assert "report [today|yesterday|7d|14d|30d]" in result.stdout


def test_campaigns_lists_the_orgs_campaigns(org_slug: str) -> None:
    result = adpilot("chat", "--org", org_slug, "-c", "campaigns")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Winter Warmers" in result.stdout


def test_an_error_reply_exits_one(org_slug: str) -> None:
    result = adpilot("chat", "--org", org_slug, "-c", "pauze Winter")
    assert result.returncode == 1
    assert "pause" in result.stdout
    assert "Traceback" not in result.stderr


def test_user_option_picks_the_speaker_and_unknown_users_are_refused(org_slug: str) -> None:
    known = adpilot("chat", "--org", org_slug, "--user", f"USER@{org_slug}.example", "-c", "help")
    assert known.returncode == 0, known.stdout + known.stderr
    unknown = adpilot("chat", "--org", org_slug, "--user", "nobody@example.com", "-c", "help")
    assert unknown.returncode == 1
    assert "No user nobody@example.com" in unknown.stderr


def test_repl_answers_each_line_and_leaves_on_exit(org_slug: str) -> None:
    result = adpilot("chat", "--org", org_slug, stdin="help\n\ncampaigns\nexit\nhelp\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("AdPilot commands") == 1
    assert "Winter Warmers" in result.stdout


def test_repl_leaves_on_end_of_input(org_slug: str) -> None:
    result = adpilot("chat", "--org", org_slug, stdin="campaigns\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Winter Warmers" in result.stdout


def test_fresh_embedded_database_is_migrated_on_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADPILOT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/fresh.db")
    result = adpilot("chat", "--org", "nowhere", "-c", "help")
    # The schema exists (no "no such table"): the org lookup itself answers.
    assert result.returncode == 1
    assert "No organization with slug 'nowhere'" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unsafe_development_key_file_stops_the_chat_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No configured keys: the development key file in the working directory stands in.
    monkeypatch.delenv("ADPILOT_ENCRYPTION_KEYS")
    key_file = tmp_path / ".adpilot" / "encryption.key"
    key_file.parent.mkdir()
    key_file.write_text("F16TH-tTfrmBQqX1mpFGOawZPsePS9aJl5wroKhSfkc=\n")
    key_file.chmod(0o644)
    result = adpilot("chat", "--org", "demo", "-c", "campaigns")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    assert f"Fix: chmod 600 {key_file}" in message
