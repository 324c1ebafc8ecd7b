"""`adpilot operator grant|revoke` through the real entry point, on both backends."""

from __future__ import annotations

from sqlalchemy import select

from core.audit.models import AuditLog
from core.db import Database
from core.users.models import User
from tests.cli.test_admin_cli import adpilot
from tests.web_min.conftest import web_user


async def _flag(database: Database, email: str) -> tuple[bool, list[str]]:
    async with database.system() as session:
        user = await session.scalar(select(User).where(User.email == email))
        assert user is not None
        actions = await session.scalars(
            select(AuditLog.action)
            .where(AuditLog.resource_id == str(user.id), AuditLog.action.like("operator.%"))
            .order_by(AuditLog.created_at)
        )
        return user.is_operator, list(actions)


async def test_grant_and_revoke_set_the_flag_and_audit_it(database: Database, db_url: str) -> None:
    user = await web_user(database)
    env = {"ADPILOT_DATABASE_URL": db_url}

    granted = adpilot("operator", "grant", user.email.upper(), env=env)
    assert granted.returncode == 0, granted.stderr
    assert await _flag(database, user.email) == (True, ["operator.granted"])

    revoked = adpilot("operator", "revoke", user.email, env=env)
    assert revoked.returncode == 0, revoked.stderr
    assert await _flag(database, user.email) == (False, ["operator.granted", "operator.revoked"])


async def test_an_unknown_email_is_one_red_line(database: Database, db_url: str) -> None:
    result = adpilot(
        "operator", "grant", "nobody@example.com", env={"ADPILOT_DATABASE_URL": db_url}
    )
    assert result.returncode == 1
    assert "No user with email" in result.stderr
    assert "Traceback" not in result.stderr
