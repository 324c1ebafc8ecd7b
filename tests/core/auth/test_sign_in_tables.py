"""Migration 0010's access rules on PostgreSQL: sessions and reset tokens are out of the app
role's reach (read through the worker login); recovery codes are a tenant table under RLS."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from core.auth import recovery
from core.config import Settings, reset_settings_cache
from core.db import Database
from core.users.models import Role
from tests.conftest import login_url, truncate_all
from tests.web_min.conftest import web_user

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM web_sessions",
        "DELETE FROM web_sessions",
        "SELECT * FROM password_reset_tokens",
    ],
)
async def test_the_app_login_cannot_touch_sessions_or_reset_tokens(
    pg_url: str, statement: str
) -> None:
    engine = create_async_engine(login_url(pg_url, "adpilot_app"))
    try:
        async with engine.connect() as connection:
            with pytest.raises(DBAPIError, match="permission denied"):
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture
async def pg_database(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Database]:
    """The app as production runs it: app and worker on their own logins, committing."""
    monkeypatch.setenv("ADPILOT_DATABASE_URL", pg_url)
    monkeypatch.setenv("ADPILOT_DATABASE_APP_URL", login_url(pg_url, "adpilot_app"))
    monkeypatch.setenv("ADPILOT_DATABASE_WORKER_URL", login_url(pg_url, "adpilot_worker"))
    reset_settings_cache()
    database = Database(Settings())
    try:
        yield database
    finally:
        await database.dispose()
        owner = create_async_engine(pg_url)
        await truncate_all(owner)
        await owner.dispose()


async def test_recovery_codes_of_another_org_are_invisible(pg_database: Database) -> None:
    database = pg_database
    first = await web_user(database, role=Role.ADMIN)
    second = await web_user(database, role=Role.ADMIN)
    async with database.tenant(first.org_id) as session:
        await recovery.regenerate(session=session, org_id=first.org_id, user_id=first.id)
    async with database.tenant(second.org_id) as session:
        seen = await session.scalar(text("SELECT count(*) FROM recovery_codes"))
        assert seen == 0
        assert not await recovery.use(
            session=session, org_id=first.org_id, user_id=first.id, code="abcde-fghjk"
        )
    async with database.tenant(first.org_id) as session:
        assert (
            await recovery.remaining(session=session, org_id=first.org_id, user_id=first.id) == 10
        )
