"""Ended web sessions and spent or expired reset links are pruned daily; live ones stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.auth.models import PasswordResetToken, WebSession
from core.base import utcnow
from core.db import Database
from tests.web_min.conftest import web_user
from worker.housekeeping import prune_sign_in_rows
from worker.settings import WorkerSettings


def _session(user_id: object, name: str, *, idle_for: timedelta, ends_in: timedelta) -> WebSession:
    now = utcnow()
    return WebSession(
        token_hash=name.ljust(64, "0"),
        user_id=user_id,
        csrf_secret="x",
        mfa_pending=False,
        last_seen_at=now - idle_for,
        expires_at=now + ends_in,
    )


async def test_ended_sessions_and_spent_links_go_live_ones_stay(database: Database) -> None:
    user = await web_user(database)
    now = utcnow()
    async with database.system() as session:
        session.add_all(
            [
                _session(user.id, "live", idle_for=timedelta(hours=1), ends_in=timedelta(days=1)),
                _session(user.id, "idle", idle_for=timedelta(hours=9), ends_in=timedelta(days=1)),
                _session(user.id, "over", idle_for=timedelta(0), ends_in=-timedelta(seconds=1)),
            ]
        )
        session.add_all(
            [
                PasswordResetToken(
                    token_hash="fresh".ljust(64, "0"),
                    user_id=user.id,
                    expires_at=now + timedelta(minutes=10),
                ),
                PasswordResetToken(
                    token_hash="used".ljust(64, "0"),
                    user_id=user.id,
                    expires_at=now + timedelta(minutes=10),
                    used_at=now,
                ),
                PasswordResetToken(
                    token_hash="late".ljust(64, "0"),
                    user_id=user.id,
                    expires_at=now - timedelta(minutes=1),
                ),
            ]
        )
    assert await prune_sign_in_rows({"database": database}) == 4
    async with database.system() as session:
        sessions_left = set(await session.scalars(select(WebSession.token_hash)))
        links_left = set(await session.scalars(select(PasswordResetToken.token_hash)))
    assert sessions_left == {"live".ljust(64, "0")}
    assert links_left == {"fresh".ljust(64, "0")}


def test_the_worker_prunes_daily() -> None:
    assert any(job.coroutine is prune_sign_in_rows for job in WorkerSettings.cron_jobs)
