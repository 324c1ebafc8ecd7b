"""Invitations: one-time, hashed at rest, expiring, and redeemed into the invite's org and role."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.audit.models import AuditLog
from core.audit.service import Actor
from core.base import utcnow
from core.db import Database
from core.errors import Conflict, Expired, NotFound, ValidationFailed
from core.security.passwords import verify_password
from core.team import invites
from core.team.models import Invite
from core.users.models import Role, User
from tests import factories


async def _org_with_admin(database: Database) -> tuple[uuid.UUID, Actor]:
    async with database.system() as session:
        org = await factories.org(session, name="Acme")
        admin = await factories.user(session, org, role=Role.ADMIN)
    return org.id, Actor(org_id=org.id, user_id=admin.id, channel="web")


async def _invite(database: Database, org_id: uuid.UUID, actor: Actor, **kw: object) -> str:
    async with database.tenant(org_id) as session:
        issued = await invites.create(
            session=session,
            org_id=org_id,
            email=str(kw.get("email", "New.Person@Example.com")),
            role=Role(str(kw.get("role", "manager"))),
            actor=actor,
            now=kw.get("now"),  # type: ignore[arg-type]
        )
    return issued.token


async def test_accept_creates_the_user_once_and_only_the_hash_is_stored(
    database: Database,
) -> None:
    org_id, actor = await _org_with_admin(database)
    token = await _invite(database, org_id, actor)

    async with database.system() as session:
        stored = await session.scalar(select(Invite))
        assert stored is not None
        assert stored.token_hash == invites.hash_token(token)
        assert token not in {stored.token_hash, stored.email}
        ttl = stored.expires_at - stored.created_at
        assert abs(ttl - invites.INVITE_TTL) < timedelta(seconds=5)
        user = await invites.accept(session=session, token=token, password="correct horse battery")
        user_id = user.id

    async with database.tenant(org_id) as session:
        created = await session.get(User, user_id)
        assert created is not None
        assert (created.email, created.role, created.org_id) == (
            "new.person@example.com",
            Role.MANAGER,
            org_id,
        )
        assert created.password_hash is not None
        assert verify_password("correct horse battery", created.password_hash)
        actions = set(await session.scalars(select(AuditLog.action)))
        assert {"team.invite", "team.invite_accepted"} <= actions

    with pytest.raises(Conflict, match="used already"):
        async with database.system() as session:
            await invites.accept(session=session, token=token, password="correct horse battery")


async def test_expired_and_unknown_tokens_are_refused(database: Database) -> None:
    org_id, actor = await _org_with_admin(database)
    token = await _invite(database, org_id, actor, now=utcnow() - timedelta(days=8))
    async with database.system() as session:
        with pytest.raises(Expired):
            await invites.open_invite(session=session, token=token)
        with pytest.raises(Expired):
            await invites.accept(session=session, token=token, password="correct horse battery")
        with pytest.raises(NotFound):
            await invites.open_invite(session=session, token="not-a-token")


async def test_a_refused_password_leaves_the_invite_open(database: Database) -> None:
    org_id, actor = await _org_with_admin(database)
    token = await _invite(database, org_id, actor)
    with pytest.raises(ValidationFailed, match="at least 10"):
        async with database.system() as session:
            await invites.accept(session=session, token=token, password="short")
    async with database.system() as session:
        found = await invites.open_invite(session=session, token=token)
        assert found.email == "new.person@example.com"


async def test_a_new_invite_withdraws_the_older_one_and_existing_accounts_are_refused(
    database: Database,
) -> None:
    org_id, actor = await _org_with_admin(database)
    first = await _invite(database, org_id, actor)
    second = await _invite(database, org_id, actor, role="user")
    async with database.system() as session:
        with pytest.raises(Conflict):
            await invites.open_invite(session=session, token=first)
        assert (await invites.open_invite(session=session, token=second)).role == Role.USER
        admin = await session.get(User, actor.user_id)
        assert admin is not None
        admin_email = admin.email
    with pytest.raises(Conflict, match="already a member of your organization"):
        await _invite(database, org_id, actor, email=admin_email.upper())


async def test_an_address_with_an_account_elsewhere_is_invited_like_any_other_but_never_joins(
    database: Database,
) -> None:
    """The inviting admin learns nothing of another org's people; the invitee's redemption is
    refused plainly, and their account stays as it was, in its own org."""
    org_id, actor = await _org_with_admin(database)
    async with database.system() as session:
        other = await factories.org(session, name="Elsewhere")
        kim = await factories.user(
            session, other, email="kim@example.com", password="kims own password"
        )
        kim_id, other_id, kim_hash = kim.id, other.id, kim.password_hash

    taken = await _invite(database, org_id, actor, email="Kim@Example.com", role="user")
    fresh = await _invite(database, org_id, actor, email="lee@example.com", role="user")

    async with database.tenant(org_id) as session:
        open_now = {i.email: i for i in await invites.list_open(session=session, org_id=org_id)}
        assert set(open_now) == {"kim@example.com", "lee@example.com"}
        logged = list(
            await session.scalars(select(AuditLog.action).where(AuditLog.action == "team.invite"))
        )
        assert logged == ["team.invite", "team.invite"]
    async with database.system() as session:
        assert await invites.has_account(session=session, email="KIM@example.com")
        assert not await invites.has_account(session=session, email="lee@example.com")
        # The accept page reads the same for both.
        assert (await invites.open_invite(session=session, token=taken)).org_id == org_id
        assert (await invites.open_invite(session=session, token=fresh)).org_id == org_id

    with pytest.raises(Conflict, match="already has an AdPilot account"):
        async with database.system() as session:
            await invites.accept(session=session, token=taken, password="a brand new password")

    async with database.system() as session:
        kims = list(await session.scalars(select(User).where(User.email == "kim@example.com")))
        assert [(u.id, u.org_id, u.password_hash) for u in kims] == [(kim_id, other_id, kim_hash)]
        # Still open: the admin's list does not tell an ignored invite from a refused one.
        assert (await invites.open_invite(session=session, token=taken)).email == "kim@example.com"
