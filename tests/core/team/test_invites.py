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
    with pytest.raises(Conflict, match="already has an AdPilot account"):
        await _invite(database, org_id, actor, email=admin_email)
