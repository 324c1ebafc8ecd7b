"""The admin commands, run through the real `adpilot` entry point on both backends."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from core.security.passwords import verify_password
from core.users.models import Role, User
from tests.conftest import login_url

ADPILOT = str(Path(sys.executable).with_name("adpilot"))


def adpilot(*args: str, env: dict[str, str] | None = None, stdin: str | None = None):
    return subprocess.run(
        [ADPILOT, *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, "COLUMNS": "120", **(env or {})},
        timeout=120,
        check=False,
    )


def test_doctor_on_fresh_embedded_database_says_what_to_do(tmp_path: Path) -> None:
    env = {"ADPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/fresh.db"}
    down = adpilot("doctor", env=env)
    assert down.returncode == 1
    assert "adpilot migrate" in down.stdout
    assert adpilot("migrate", env=env).returncode == 0
    up = adpilot("doctor", env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "Everything required is ready" in up.stdout


def test_doctor_fails_when_redis_configured_but_down(tmp_path: Path) -> None:
    env = {
        "ADPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/r.db",
        "ADPILOT_REDIS_URL": "redis://127.0.0.1:1/0",
    }
    adpilot("migrate", env=env)
    result = adpilot("doctor", env=env)
    assert result.returncode == 1
    assert "redis" in result.stderr


def test_production_without_settings_exits_with_the_missing_names(tmp_path: Path) -> None:
    env = {"ADPILOT_ENV": "production", "ADPILOT_ENCRYPTION_KEYS": "", "ADPILOT_SECRET_KEY": ""}
    result = adpilot("doctor", env=env)
    assert result.returncode == 2
    for name in ("ADPILOT_SECRET_KEY", "ADPILOT_DATABASE_APP_URL", "ADPILOT_DATABASE_WORKER_URL"):
        assert name in result.stderr
    assert "Traceback" not in result.stderr


async def _user(url: str, email: str) -> User | None:
    engine = create_async_engine(url)
    async with AsyncSession(engine) as session:
        user = await session.scalar(select(User).where(User.email == email))
    await engine.dispose()
    return user


async def test_create_org_and_user_with_hidden_password(db_url: str) -> None:
    env = {"ADPILOT_DATABASE_URL": db_url}
    created = adpilot("create-org", "Acme Ads", "--timezone", "Europe/Berlin", env=env)
    assert created.returncode == 0, created.stderr
    assert "acme-ads" in created.stdout

    password = "correct horse battery"
    result = adpilot(
        "create-user", "--org", "acme-ads", "--email", "Dana@Acme.test", "--role", "admin",
        env=env, stdin=f"{password}\n{password}\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert password not in result.stdout + result.stderr
    user = await _user(db_url, "dana@acme.test")
    assert user is not None
    assert user.role is Role.ADMIN
    assert user.password_hash
    assert verify_password(password, user.password_hash)

    again = adpilot("create-org", "Acme Ads", env=env)
    assert again.returncode == 1
    assert "exists already" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("create-user", "--org", "nope", "--email", "a@b.co"), "No organization"),
        (("create-user", "--org", "x", "--email", "not-an-email"), "not an email"),
    ],
)
def test_create_user_errors_are_one_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    env = {
        "ADPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/e.db",
        "ADPILOT_NEW_USER_PASSWORD": "long enough password",
    }
    adpilot("migrate", env=env)
    if "x" in args:
        adpilot("create-org", "X", env=env)
    result = adpilot(*args, env=env)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_link_code_is_issued_for_an_existing_user(tmp_path: Path) -> None:
    env = {
        "ADPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/l.db",
        "ADPILOT_NEW_USER_PASSWORD": "long enough password",
    }
    adpilot("migrate", env=env)
    adpilot("create-org", "Linkers", env=env)
    adpilot("create-user", "--org", "linkers", "--email", "kim@linkers.test", env=env)
    issued = adpilot("link-code", "--org", "linkers", "--email", "kim@linkers.test", env=env)
    assert issued.returncode == 0, issued.stderr
    assert "link " in issued.stdout
    missing = adpilot("link-code", "--org", "linkers", "--email", "nobody@linkers.test", env=env)
    assert missing.returncode == 1
    assert "No user" in missing.stderr
    for _ in range(4):  # five open codes in all
        again = adpilot("link-code", "--org", "linkers", "--email", "kim@linkers.test", env=env)
        assert again.returncode == 0, again.stderr
    sixth = adpilot("link-code", "--org", "linkers", "--email", "kim@linkers.test", env=env)
    assert sixth.returncode == 1
    assert "5 unused link codes" in sixth.stderr
    assert "Traceback" not in sixth.stderr


def test_doctor_checks_the_real_redis(tmp_path: Path, redis_url: str) -> None:
    env = {
        "ADPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/d.db",
        "ADPILOT_REDIS_URL": redis_url,
    }
    adpilot("migrate", env=env)
    result = adpilot("doctor", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ping answered" in result.stdout


@pytest.mark.postgres
def test_doctor_flags_app_and_worker_without_their_own_logins(pg_url: str) -> None:
    shared = adpilot("doctor", env={"ADPILOT_DATABASE_URL": pg_url})
    assert shared.returncode == 0, shared.stdout + shared.stderr
    assert "database logins" in shared.stdout
    assert "missing" in shared.stdout
    assert "the app login 'postgres' is a superuser" in " ".join(shared.stdout.split())
    own = adpilot(
        "doctor",
        env={
            "ADPILOT_DATABASE_URL": pg_url,
            "ADPILOT_DATABASE_APP_URL": login_url(pg_url, "adpilot_app"),
            "ADPILOT_DATABASE_WORKER_URL": login_url(pg_url, "adpilot_worker"),
        },
    )
    assert own.returncode == 0, own.stdout + own.stderr
    assert "log in as themselves" in own.stdout


def test_doctor_reports_each_channel_truthfully(tmp_path: Path) -> None:
    env = {
        "ADPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/c.db",
        "ADPILOT_TELEGRAM_BOT_TOKEN": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0",
        "ADPILOT_TELEGRAM_WEBHOOK_SECRET": "s3cret-webhook-token-24ch",
        "ADPILOT_SLACK_BOT_TOKEN": "xoxb-1-2-abc",
    }
    adpilot("migrate", env=env)
    result = adpilot("doctor", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert "ok" in lines["channel: telegram"]
    assert "settings complete and valid" in lines["channel: telegram"]
    assert "missing" in lines["channel: slack"]
    assert "ADPILOT_SLACK_SIGNING_SECRET" in lines["channel: slack"]
    assert "AAHdqTcv" not in result.stdout


def test_doctor_says_signal_is_off_without_its_settings_and_ok_with_them(tmp_path: Path) -> None:
    env = {"ADPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/s.db"}
    adpilot("migrate", env=env)

    def signal_row(extra: dict[str, str]) -> str:
        result = adpilot("doctor", env={**env, **extra})
        assert result.returncode == 0, result.stdout + result.stderr
        rows = {
            line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line
        }
        return " ".join(rows["channel: signal"].split())

    off = signal_row({})
    assert "off" in off
    assert "not configured" in off
    on = signal_row(
        {
            "ADPILOT_SIGNAL_API_URL": "http://signal-cli:8080",
            "ADPILOT_SIGNAL_NUMBER": "+4915112345678",
        }
    )
    assert "ok" in on
    assert "settings complete and valid" in on


@pytest.mark.postgres
def test_doctor_and_chat_stop_when_the_database_holds_another_binding_key(pg_url: str) -> None:
    """A new ADPILOT_SECRET_KEY without `adpilot migrate`: tenant queries would see nothing."""
    env = {
        "ADPILOT_DATABASE_URL": pg_url,
        "ADPILOT_DATABASE_APP_URL": login_url(pg_url, "adpilot_app"),
        "ADPILOT_DATABASE_WORKER_URL": login_url(pg_url, "adpilot_worker"),
        "ADPILOT_SECRET_KEY": "not-the-key-the-database-holds-" + "x7Qz" * 8,
    }
    doctor = adpilot("doctor", env=env)
    assert doctor.returncode == 1, doctor.stdout
    assert "not ready: database login: app" in doctor.stderr
    assert "does not match ADPILOT_SECRET_KEY" in " ".join(doctor.stdout.split())
    chat = adpilot("chat", "--org", "nobody", "-c", "help", env=env)
    assert chat.returncode == 2, chat.stdout + chat.stderr
    message = " ".join(chat.stderr.split())
    assert "AdPilot refuses to start: the org binding key stored in the database" in message
    assert "Traceback" not in chat.stderr


def test_slack_email_linking_is_switched_per_workspace_and_audited(tmp_path: Path) -> None:
    env = {"ADPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/s.db"}
    adpilot("migrate", env=env)
    adpilot("create-org", "Emailers", env=env)
    on = adpilot("slack", "email-linking", "--org", "emailers", "--team", "T024BE7LD", env=env)
    assert on.returncode == 0, on.stderr
    assert "Workspaces that link by email: T024BE7LD" in on.stdout
    off = adpilot(
        "slack", "email-linking", "--org", "emailers", "--team", "T024BE7LD", "--off", env=env
    )
    assert "Workspaces that link by email: none" in off.stdout
    with sqlite3.connect(tmp_path / "s.db") as db:
        actions = [row[0] for row in db.execute("SELECT action FROM audit_logs")]
    assert actions.count("org.email_linking") == 2
    bad = adpilot("slack", "email-linking", "--org", "emailers", "--team", "acme", env=env)
    assert bad.returncode == 1
    assert "is not a Slack workspace id" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_the_worker_says_it_needs_redis(tmp_path: Path) -> None:
    result = adpilot("worker", env={"ADPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/w.db"})
    assert result.returncode == 1
    assert "The worker needs Redis: set ADPILOT_REDIS_URL" in result.stderr
    assert "Traceback" not in result.stderr
