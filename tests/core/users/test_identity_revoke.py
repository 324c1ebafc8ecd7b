"""Listing and revoking linked chat accounts: at once, own or (admins) anyone's, audited."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.models import AuditLog
from core.errors import NotFound, PermissionDenied
from core.orgs.models import Organization
from core.users import identity
from core.users.models import Role, User
from tests import factories


async def _linked(session: AsyncSession, org: Organization, user: User, external: str) -> uuid.UUID:
    code = await identity.create_link_code(session=session, org_id=org.id, user_id=user.id)
    await identity.redeem_link_code(
        session=session, code=code, channel="telegram", workspace="", external_user_id=external
    )
    [(row, _)] = [
        pair
        for pair in await identity.list_identities(session=session, org_id=org.id)
        if pair[0].external_user_id == external
    ]
    return row.id


async def test_revoked_identity_no_longer_resolves_and_is_audited(session: AsyncSession) -> None:
    org = await factories.org(session)
    dana = await factories.user(session, org)
    identity_id = await _linked(session, org, dana, "4242")

    await identity.revoke_identity(
        session=session, org_id=org.id, identity_id=identity_id, user=dana
    )

    assert (
        await identity.resolve(
            session=session, channel="telegram", workspace="", external_user_id="4242"
        )
        is None
    )
    audit = await session.scalar(select(AuditLog).where(AuditLog.action == "identity.unlink"))
    assert audit is not None
    assert (audit.user_id, audit.channel) == (dana.id, "web")


async def test_a_plain_user_may_not_revoke_a_colleagues_identity_but_an_admin_may(
    session: AsyncSession,
) -> None:
    org = await factories.org(session)
    dana = await factories.user(session, org)
    eve = await factories.user(session, org)
    admin = await factories.user(session, org, role=Role.ADMIN)
    identity_id = await _linked(session, org, dana, "77")

    with pytest.raises(PermissionDenied, match="only unlink their own"):
        await identity.revoke_identity(
            session=session, org_id=org.id, identity_id=identity_id, user=eve
        )
    mine = await identity.list_identities(session=session, org_id=org.id, user_id=eve.id)
    assert mine == []
    await identity.revoke_identity(
        session=session, org_id=org.id, identity_id=identity_id, user=admin
    )
    assert await identity.list_identities(session=session, org_id=org.id) == []


async def test_another_orgs_identity_is_not_found(session: AsyncSession) -> None:
    theirs = await factories.org(session)
    owner = await factories.user(session, theirs)
    identity_id = await _linked(session, theirs, owner, "99")
    ours = await factories.org(session)
    admin = await factories.user(session, ours, role=Role.ADMIN)

    with pytest.raises(NotFound):
        await identity.revoke_identity(
            session=session, org_id=ours.id, identity_id=identity_id, user=admin
        )
