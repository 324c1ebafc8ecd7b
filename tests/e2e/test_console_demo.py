"""End to end through the real `adpilot` entry point: seed the demo, report, pause, approve."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from core.db import Database

ADPILOT = str(Path(sys.executable).with_name("adpilot"))
TIKTOK_SALE = "Summer Sale 2026 – TikTok"
CODE = re.compile(r"approve ([A-Z0-9]{4,8})\b")
COUNTED = (
    "organizations",
    "users",
    "ad_accounts",
    "campaigns",
    "campaign_metrics",
    "rules",
    "sandbox_accounts",
    "sandbox_campaigns",
)

pytestmark = pytest.mark.slow


def adpilot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ADPILOT, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
        timeout=300,
        check=False,
    )


async def query(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return [tuple(row) for row in await connection.execute(text(sql), params)]
    finally:
        await engine.dispose()


async def counts(url: str) -> dict[str, int]:
    # Table names come from the constant above, never from input.
    sql = "SELECT count(*) FROM {}"
    return {table: (await query(url, sql.format(table)))[0][0] for table in COUNTED}


@pytest.fixture
def demo_url(db_url: str, database: Database) -> str:
    """A migrated database (SQLite file or PostgreSQL, truncated after) with the demo seeded."""
    seeded = adpilot("demo", "--seed-only")
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    assert "created organization Demo Co" in seeded.stdout
    return db_url


async def test_seeding_twice_changes_nothing(demo_url: str) -> None:
    first = await counts(demo_url)
    assert first["organizations"] == 1
    assert first["users"] == 3
    assert first["ad_accounts"] == 3
    assert first["campaigns"] == 12
    assert first["rules"] == 2
    assert first["sandbox_campaigns"] >= 12
    assert first["campaign_metrics"] >= 12 * 25
    again = adpilot("demo", "--seed-only")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "exists" in again.stdout
    assert await counts(demo_url) == first
    platforms = await query(demo_url, "SELECT DISTINCT platform FROM campaigns ORDER BY 1")
    assert [row[0] for row in platforms] == ["google", "meta", "tiktok"]


def _report_shows_every_platform() -> None:
    report = adpilot("chat", "--org", "demo", "-c", "report 7d")
    assert report.returncode == 0, report.stdout + report.stderr
    for platform in ("google", "meta", "tiktok"):
        assert platform in report.stdout


async def _assert_paused_and_audited(url: str) -> None:
    sandbox = await query(
        url, "SELECT status FROM sandbox_campaigns WHERE name = :n", n=TIKTOK_SALE
    )
    assert sandbox == [("PAUSED",)]
    local = await query(url, "SELECT status FROM campaigns WHERE name = :n", n=TIKTOK_SALE)
    assert local == [("paused",)]
    audit = await query(
        url,
        "SELECT a.channel, u.email FROM audit_logs a JOIN users u ON u.id = a.user_id "
        "WHERE a.action = 'campaign.paused'",
    )
    assert audit == [("console", "demo-admin@example.com")]


@pytest.mark.parametrize(
    "backend",
    [
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
    ],
)
async def test_report_pause_and_approve_with_reply_codes(demo_url: str) -> None:
    _report_shows_every_platform()
    asked = adpilot("chat", "--org", "demo", "-c", f'pause "{TIKTOK_SALE}"')
    assert asked.returncode == 0, asked.stdout + asked.stderr
    match = CODE.search(asked.stdout)
    assert match is not None, asked.stdout
    pending = await query(
        demo_url, "SELECT status FROM sandbox_campaigns WHERE name = :n", n=TIKTOK_SALE
    )
    assert pending == [("ACTIVE",)]
    approved = adpilot("chat", "--org", "demo", "-c", f"approve {match.group(1)}")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    await _assert_paused_and_audited(demo_url)


def _interactive_pause(answer: str) -> str:
    child = pexpect.spawn(
        ADPILOT,
        # The rules' background run would push cards of its own between these turns.
        ["chat", "--org", "demo", "--no-schedule"],
        env={**os.environ, "COLUMNS": "120", "TERM": "dumb"},
        encoding="utf-8",
        timeout=120,
    )
    try:
        child.expect("you> ")
        child.sendline(f'pause "{TIKTOK_SALE}"')
        child.expect(r"\[a\]pprove / \[r\]eject / \[s\]kip")
        child.sendline(answer)
        child.expect("you> ")
        shown = child.before
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    return str(shown)


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)])
async def test_interactive_approve_at_the_card(demo_url: str) -> None:
    shown = _interactive_pause("a")
    assert "executed" in shown
    await _assert_paused_and_audited(demo_url)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_interactive_reject_at_the_card_leaves_the_campaign_running(demo_url: str) -> None:
    shown = _interactive_pause("r")
    assert "Rejected" in shown
    sandbox = await query(
        demo_url, "SELECT status FROM sandbox_campaigns WHERE name = :n", n=TIKTOK_SALE
    )
    assert sandbox == [("ACTIVE",)]
    statuses = await query(demo_url, "SELECT status FROM pending_actions")
    assert statuses == [("rejected",)]


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_chat_shows_the_rules_alerts_and_cards_as_the_schedule_pushes_them(
    demo_url: str,
) -> None:
    child = pexpect.spawn(
        ADPILOT,
        ["chat", "--org", "demo"],
        env={**os.environ, "COLUMNS": "120", "TERM": "dumb"},
        encoding="utf-8",
        timeout=120,
    )
    try:
        child.expect("Rules run in the background")
        # Pushed, not asked for: the demo's "High CPA guard" proposes a pause with approval.
        child.expect("pushed by your rules")
        child.expect(r"Approval needed · ([A-Z0-9]{4,8})")
        code = child.match.group(1)
        child.expect(f"reject {code}")
        child.sendline(f"approve {code}")
        child.expect("executed")
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    sent = await query(
        demo_url,
        "SELECT count(*) FROM notifications WHERE channel = 'console' AND status = 'sent'",
    )
    assert sent[0][0] >= 1
    executed = await query(
        demo_url, "SELECT status FROM pending_actions WHERE short_code = :c", c=code
    )
    assert executed == [("executed",)]


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_second_chat_leaves_the_schedule_to_the_first(
    demo_url: str, tmp_path: Path
) -> None:
    from worker.local_scheduler import claim_schedule

    held = claim_schedule(demo_url)  # as a running `adpilot serve` on this file holds it
    assert held is not None
    try:
        child = pexpect.spawn(
            ADPILOT,
            ["chat", "--org", "demo"],
            env={**os.environ, "COLUMNS": "200", "TERM": "dumb"},
            encoding="utf-8",
            timeout=60,
        )
        try:
            child.expect("runs this database's schedule")
            child.sendline("exit")
            child.expect(pexpect.EOF)
            assert "pushed by your rules" not in str(child.before)
        finally:
            child.close()
    finally:
        held.release()
    pushed = await query(demo_url, "SELECT count(*) FROM notifications")
    assert pushed == [(0,)]
