"""Team changes at the same moment: the last-admin lock and single-use invites hold.

On PostgreSQL each side has its own connection and transaction, and all have begun (a barrier)
before any of them acts; on SQLite the single writer serialises them, and the rules still hold.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.service import Actor
from core.db import Database
from core.errors import Conflict
from core.team import invites
from core.team import service as team
from core.users.models import Role, User
from tests import factories

Change = Callable[[AsyncSession, uuid.UUID, uuid.UUID, Actor], Awaitable[User]]


async def _demote(
    session: AsyncSession, org_id: uuid.UUID, target: uuid.UUID, actor: Actor
) -> User:
    return await team.change_role(
        session=session, org_id=org_id, user_id=target, role=Role.MANAGER, actor=actor
    )


async def _deactivate(
    session: AsyncSession, org_id: uuid.UUID, target: uuid.UUID, actor: Actor
) -> User:
    return await team.set_active(
        session=session, org_id=org_id, user_id=target, active=False, actor=actor
    )


async def _together(
    database: Database,
    backend: str,
    org_id: uuid.UUID | None,
    *steps: Callable[[AsyncSession], Awaitable[object]],
) -> list[object]:
    """Run each step in its own unit of work at once; a Conflict is returned, not raised."""
    barrier = asyncio.Barrier(len(steps))

    async def run(step: Callable[[AsyncSession], Awaitable[object]]) -> object:
        unit = database.tenant(org_id) if org_id is not None else database.system()
        try:
            async with unit as session:
                if backend == "postgresql":
                    # Both transactions hold a connection and have read before either acts.
                    await session.execute(text("SELECT 1"))
                    await barrier.wait()
                return await step(session)
        except Conflict as refused:
            return refused

    return list(await asyncio.gather(*(run(step) for step in steps)))


@pytest.mark.parametrize(
    ("first", "second"),
    [(_demote, _demote), (_deactivate, _deactivate), (_demote, _deactivate)],
    ids=["both-demote", "both-deactivate", "demote-and-deactivate"],
)
async def test_two_admins_removing_each_other_at_once_leave_one_admin(
    database: Database, backend: str, first: Change, second: Change
) -> None:
    async with database.system() as session:
        org = await factories.org(session)
        dana = await factories.user(session, org, role=Role.ADMIN)
        sam = await factories.user(session, org, role=Role.ADMIN)
        org_id, dana_id, sam_id = org.id, dana.id, sam.id
    as_dana = Actor(org_id=org_id, user_id=dana_id, channel="web")
    as_sam = Actor(org_id=org_id, user_id=sam_id, channel="web")

    outcomes = await _together(
        database,
        backend,
        org_id,
        lambda session: first(session, org_id, sam_id, as_dana),
        lambda session: second(session, org_id, dana_id, as_sam),
    )

    refused = [outcome for outcome in outcomes if isinstance(outcome, Conflict)]
    assert len(refused) == 1, outcomes
    assert "last active admin" in refused[0].message
    async with database.tenant(org_id) as session:
        admins = await session.scalar(
            select(func.count()).where(
                User.org_id == org_id, User.role == Role.ADMIN, User.is_active.is_(True)
            )
        )
    assert admins == 1


async def test_one_invite_redeemed_twice_at_once_creates_one_user(
    database: Database, backend: str
) -> None:
    async with database.system() as session:
        org = await factories.org(session)
        admin = await factories.user(session, org, role=Role.ADMIN)
        org_id = org.id
        issued = await invites.create(
            session=session,
            org_id=org_id,
            email="new.person@example.com",
            role=Role.USER,
            actor=Actor(org_id=org_id, user_id=admin.id, channel="web"),
        )
        token = issued.token

    async def accept(session: AsyncSession) -> User:
        return await invites.accept(session=session, token=token, password="correct horse battery")

    outcomes = await _together(database, backend, None, accept, accept)

    created = [outcome for outcome in outcomes if isinstance(outcome, User)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, Conflict)]
    assert (len(created), len(refused)) == (1, 1), outcomes
    assert "used already" in refused[0].message
    async with database.system() as session:
        users = await session.scalar(
            select(func.count()).where(User.email == "new.person@example.com")
        )
    assert users == 1
