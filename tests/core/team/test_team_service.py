"""Roles, deactivation and the org's audit search, on the tenant session (RLS on PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.service import Actor, AuditQuery, record, search
from core.base import utcnow
from core.errors import Conflict, NotFound
from core.team import service as team
from core.users import identity
from core.users.models import ChannelIdentity, Role
from tests import factories


def _actor(org_id: object, user_id: object) -> Actor:
    return Actor(org_id=org_id, user_id=user_id, channel="web")  # type: ignore[arg-type]


async def test_the_last_active_admin_cannot_be_demoted_or_deactivated(
    session: AsyncSession,
) -> None:
    org = await factories.org(session)
    dana = await factories.user(session, org, role=Role.ADMIN)
    sam = await factories.user(session, org, role=Role.USER)
    actor = _actor(org.id, dana.id)
    with pytest.raises(Conflict, match="last active admin"):
        await team.change_role(
            session=session, org_id=org.id, user_id=dana.id, role=Role.MANAGER, actor=actor
        )
    # With a second admin, the first may step down; the second is then the last one.
    await team.change_role(
        session=session, org_id=org.id, user_id=sam.id, role=Role.ADMIN, actor=actor
    )
    await team.change_role(
        session=session, org_id=org.id, user_id=dana.id, role=Role.MANAGER, actor=actor
    )
    with pytest.raises(Conflict, match="last active admin"):
        await team.set_active(
            session=session,
            org_id=org.id,
            user_id=sam.id,
            active=False,
            actor=_actor(org.id, dana.id),
        )


async def test_deactivation_stops_chat_identities_resolving_and_is_audited(
    session: AsyncSession,
) -> None:
    org = await factories.org(session)
    dana = await factories.user(session, org, role=Role.ADMIN)
    sam = await factories.user(session, org, role=Role.USER)
    session.add(
        ChannelIdentity(
            org_id=org.id, user_id=sam.id, channel="slack", workspace="T1", external_user_id="U9"
        )
    )
    await session.flush()
    found = await identity.resolve(
        session=session, channel="slack", workspace="T1", external_user_id="U9"
    )
    assert found is not None

    await team.set_active(
        session=session, org_id=org.id, user_id=sam.id, active=False, actor=_actor(org.id, dana.id)
    )
    assert (
        await identity.resolve(
            session=session, channel="slack", workspace="T1", external_user_id="U9"
        )
        is None
    )
    members = {m.email: m for m in await team.list_members(session=session, org_id=org.id)}
    assert members[sam.email].is_active is False
    assert members[sam.email].identities == 1
    page = await search(session=session, query=AuditQuery(org_id=org.id, action="team."))
    assert [e.row.action for e in page.entries] == ["team.deactivate"]
    assert page.entries[0].actor_email == dana.email


async def test_nobody_deactivates_themselves_and_other_orgs_people_are_not_found(
    session: AsyncSession,
) -> None:
    org = await factories.org(session)
    dana = await factories.user(session, org, role=Role.ADMIN)
    await factories.user(session, org, role=Role.ADMIN)
    with pytest.raises(Conflict, match="yourself"):
        await team.set_active(
            session=session,
            org_id=org.id,
            user_id=dana.id,
            active=False,
            actor=_actor(org.id, dana.id),
        )
    other = await factories.org(session)
    stranger = await factories.user(session, other)
    await factories.act_as(session, org)
    with pytest.raises(NotFound):
        await team.change_role(
            session=session,
            org_id=org.id,
            user_id=stranger.id,
            role=Role.ADMIN,
            actor=_actor(org.id, dana.id),
        )


async def test_audit_search_filters_and_pages(session: AsyncSession) -> None:
    org = await factories.org(session)
    dana = await factories.user(session, org, role=Role.ADMIN)
    sam = await factories.user(session, org)
    for n in range(5):
        await record(
            session=session,
            actor=_actor(org.id, dana.id),
            action="rule.create",
            resource_type="rule",
            resource_id=str(n),
        )
    await record(
        session=session, actor=_actor(org.id, sam.id), action="team.invite", resource_type="invite"
    )

    first = await search(session=session, query=AuditQuery(org_id=org.id), limit=4)
    assert len(first.entries) == 4
    assert first.has_more
    second = await search(session=session, query=AuditQuery(org_id=org.id), offset=4, limit=4)
    assert len(second.entries) == 2
    assert not second.has_more
    by_sam = await search(session=session, query=AuditQuery(org_id=org.id, user_id=sam.id))
    assert [e.row.action for e in by_sam.entries] == ["team.invite"]
    by_email = await search(
        session=session, query=AuditQuery(org_id=org.id, actor_email=dana.email.upper())
    )
    assert len(by_email.entries) == 5
    assert {e.row.action for e in by_email.entries} == {"rule.create"}
    # "rule.create" matched by its prefix; a LIKE wildcard is not one.
    assert len((await search(session=session, query=AuditQuery(action="rule."))).entries) == 5
    assert not (await search(session=session, query=AuditQuery(action="rule%"))).entries
    future = utcnow() + timedelta(hours=1)
    assert not (await search(session=session, query=AuditQuery(since=future))).entries
    assert len((await search(session=session, query=AuditQuery(until=future))).entries) == 6
