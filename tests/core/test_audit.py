"""Audit rows: written in the change's transaction, rolled back with it, scoped to one org."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.models import AuditLog
from core.audit.service import REDACTED, Actor, list_recent, record, redact
from core.db import Database
from core.users.models import User
from tests import factories


class Boom(Exception):
    pass


async def rename_user(session: AsyncSession, actor: Actor, user_id: uuid.UUID, name: str) -> None:
    """A stand-in mutation written the way every service writes one: change plus audit row."""
    user = await session.get(User, user_id)
    assert user is not None
    before = {"name": user.name}
    user.name = name
    await record(
        session=session,
        actor=actor,
        action="user.renamed",
        resource_type="user",
        resource_id=user.id,
        before=before,
        after={"name": name},
    )


async def seed(database: Database) -> tuple[uuid.UUID, uuid.UUID]:
    async with database.system() as session:
        org = await factories.org(session)
        user = await factories.user(session, org)
        return org.id, user.id


async def audit_count(database: Database, org_id: uuid.UUID) -> int:
    async with database.tenant(org_id) as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(AuditLog).where(AuditLog.org_id == org_id)
            )
            or 0
        )


async def test_a_failed_transaction_takes_its_audit_row_with_it(database: Database) -> None:
    org_id, user_id = await seed(database)
    actor = Actor(org_id=org_id, user_id=user_id, channel="slack", source="C024BE91L")

    async def failing_change() -> None:
        async with database.tenant(org_id) as session:
            await rename_user(session, actor, user_id, "Renamed")
            # The row is in the transaction before it fails...
            assert await session.scalar(select(func.count()).select_from(AuditLog)) == 1
            raise Boom

    with pytest.raises(Boom):
        await failing_change()

    # ...and neither the change nor its record survive.
    async with database.tenant(org_id) as session:
        user = await session.get(User, user_id)
        assert user is not None
        assert user.name is None
    assert await audit_count(database, org_id) == 0


async def test_a_committed_change_has_exactly_its_audit_row(database: Database) -> None:
    org_id, user_id = await seed(database)
    actor = Actor(org_id=org_id, user_id=user_id, channel="telegram", source="chat:42")
    async with database.tenant(org_id) as session:
        await rename_user(session, actor, user_id, "Ada")

    async with database.tenant(org_id) as session:
        (entry,) = await list_recent(session=session, org_id=org_id)
        user = await session.get(User, user_id)
    assert user is not None
    assert user.name == "Ada"
    assert (entry.action, entry.resource_type, entry.resource_id) == (
        "user.renamed",
        "user",
        str(user_id),
    )
    assert (entry.user_id, entry.channel, entry.source) == (user_id, "telegram", "chat:42")
    assert (entry.before, entry.after) == ({"name": None}, {"name": "Ada"})


async def test_a_rolled_back_savepoint_takes_its_audit_row_with_it(session: AsyncSession) -> None:
    org = await factories.org(session)
    user = await factories.user(session, org)
    actor = Actor(org_id=org.id, user_id=user.id)
    await rename_user(session, actor, user.id, "Kept")

    async def failing_change() -> None:
        async with session.begin_nested():
            await rename_user(session, actor, user.id, "Dropped")
            raise Boom

    with pytest.raises(Boom):
        await failing_change()
    rows = await list_recent(session=session, org_id=org.id)
    assert [row.after for row in rows] == [{"name": "Kept"}]


async def test_list_recent_is_org_scoped_and_filters_by_action(session: AsyncSession) -> None:
    first, second = await factories.org(session), await factories.org(session)
    for org, actions in ((first, ["a.one", "a.two"]), (second, ["b.one"])):
        await factories.act_as(session, org)
        for action in actions:
            await record(
                session=session,
                actor=Actor(org_id=org.id, user_id=None),
                action=action,
                resource_type="thing",
            )
    await factories.act_as(session, first)
    assert sorted(r.action for r in await list_recent(session=session, org_id=first.id)) == [
        "a.one",
        "a.two",
    ]
    only = await list_recent(session=session, org_id=first.id, action="a.two")
    assert [r.action for r in only] == ["a.two"]
    await factories.act_as(session, second)
    assert [r.action for r in await list_recent(session=session, org_id=second.id)] == ["b.one"]


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_row_level_security_hides_and_refuses_other_orgs_rows(database: Database) -> None:
    org_a, user_a = await seed(database)
    org_b, _user_b = await seed(database)
    for org_id in (org_a, org_b):
        async with database.tenant(org_id) as session:
            await record(
                session=session,
                actor=Actor(org_id=org_id, user_id=None),
                action="x.done",
                resource_type="thing",
            )

    async with database.tenant(org_a) as session:
        # No org filter at all: RLS still shows only org A's row.
        visible = list(await session.scalars(select(AuditLog.org_id)))
    assert visible == [org_a]

    forged = 'new row violates row-level security policy for table "audit_logs"'
    with pytest.raises(DBAPIError, match=forged):
        async with database.tenant(org_a) as session:
            await record(
                session=session,
                actor=Actor(org_id=org_b, user_id=user_a),
                action="x.forged",
                resource_type="thing",
            )
    assert await audit_count(database, org_b) == 1


def test_secrets_never_reach_the_audit_trail() -> None:
    cleaned = redact(
        {
            "name": "Summer Sale",
            "access_token": "ya29.secret",
            "refresh_token_encrypted": "gAAAA...",
            "password": "hunter22",
            "nested": {"client_secret": "s3cr3t", "daily_budget": "50"},
            "input_tokens": 812,
            "code": "123456",
        }
    )
    assert cleaned == {
        "name": "Summer Sale",
        "access_token": REDACTED,
        "refresh_token_encrypted": REDACTED,
        "password": REDACTED,
        "nested": {"client_secret": REDACTED, "daily_budget": "50"},
        "input_tokens": 812,
        "code": REDACTED,
    }
    assert redact(None) is None


async def test_record_redacts_before_storing(session: AsyncSession) -> None:
    org = await factories.org(session)
    entry = await record(
        session=session,
        actor=Actor(org_id=org.id, user_id=None),
        action="account.connected",
        resource_type="ad_account",
        after={"platform": "google", "access_token": "ya29.secret"},
    )
    stored = await session.scalar(select(AuditLog.after).where(AuditLog.id == entry.id))
    assert stored == {"platform": "google", "access_token": REDACTED}
