"""The org's people: who is in it, role changes and deactivation, with the last admin kept."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.service import Actor, record
from core.errors import Conflict, NotFound
from core.users.models import ChannelIdentity, Role, User


@dataclass(frozen=True)
class Member:
    user_id: uuid.UUID
    email: str
    name: str | None
    role: Role
    is_active: bool
    mfa_enabled: bool
    identities: int
    created_at: datetime


async def list_members(*, session: AsyncSession, org_id: uuid.UUID) -> list[Member]:
    """Everyone in the org, active first, with how many chat accounts each has linked."""
    linked = (
        select(ChannelIdentity.user_id, func.count().label("n"))
        .where(ChannelIdentity.org_id == org_id)
        .group_by(ChannelIdentity.user_id)
        .subquery()
    )
    rows = await session.execute(
        select(User, func.coalesce(linked.c.n, 0))
        .outerjoin(linked, linked.c.user_id == User.id)
        .where(User.org_id == org_id)
        .order_by(User.is_active.desc(), User.email)
    )
    return [
        Member(
            user_id=user.id,
            email=user.email,
            name=user.name,
            role=Role(user.role),
            is_active=user.is_active,
            mfa_enabled=user.totp_enabled,
            identities=int(count),
            created_at=user.created_at,
        )
        for user, count in rows
    ]


async def _lock_admins(*, session: AsyncSession, org_id: uuid.UUID) -> list[uuid.UUID]:
    """The org's active admins, row-locked in id order.

    Every role change and (de)activation takes these locks first, before the member's own:
    two admins demoting each other at once then queue on the same first row instead of each
    holding one and waiting for the other's (a deadlock), and the second, once it runs, reads
    the first one's committed change (PostgreSQL re-checks a locked row's condition under
    READ COMMITTED). SQLite has one writer.
    """
    return list(
        await session.scalars(
            select(User.id)
            .where(User.org_id == org_id, User.role == Role.ADMIN, User.is_active.is_(True))
            .order_by(User.id)
            .with_for_update()
        )
    )


async def _member(*, session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> User:
    # FOR UPDATE: a role change and a deactivation of the same person serialise.
    user = await session.scalar(
        select(User).where(User.id == user_id, User.org_id == org_id).with_for_update()
    )
    if user is None:
        raise NotFound("No such person in this organization.")
    return user


def _keep_an_admin(*, admins: list[uuid.UUID], leaving: User) -> None:
    """Refuse a change that would leave the org with no active admin (`admins`: locked)."""
    if leaving.role != Role.ADMIN or not leaving.is_active:
        return
    if admins == [leaving.id]:
        raise Conflict(
            f"{leaving.email} is the organization's last active admin. "
            "Make someone else an admin first."
        )


async def change_role(
    *, session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID, role: Role, actor: Actor
) -> User:
    """Give a member another role (audit-logged); the last active admin cannot be demoted."""
    admins = await _lock_admins(session=session, org_id=org_id)
    user = await _member(session=session, org_id=org_id, user_id=user_id)
    before = Role(user.role)
    if before == role:
        return user
    if role != Role.ADMIN:
        _keep_an_admin(admins=admins, leaving=user)
    user.role = role
    await session.flush()
    await record(
        session=session,
        actor=actor,
        action="team.role_change",
        resource_type="user",
        resource_id=user.id,
        before={"email": user.email, "role": before.value},
        after={"email": user.email, "role": role.value},
    )
    return user


async def set_active(
    *, session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID, active: bool, actor: Actor
) -> User:
    """Deactivate (or reactivate) a member, audit-logged.

    A deactivated user holds no permission (`core.rbac.may`), their chat identities stop
    resolving (`core.users.identity.resolve` joins on `is_active`) and the web refuses their
    sessions; the caller also deletes their web sessions in the same transaction.
    """
    admins = await _lock_admins(session=session, org_id=org_id)
    user = await _member(session=session, org_id=org_id, user_id=user_id)
    if user.is_active == active:
        return user
    if not active:
        if user.id == actor.user_id:
            raise Conflict("You cannot deactivate yourself; ask another admin.")
        _keep_an_admin(admins=admins, leaving=user)
    user.is_active = active
    await session.flush()
    await record(
        session=session,
        actor=actor,
        action="team.activate" if active else "team.deactivate",
        resource_type="user",
        resource_id=user.id,
        before={"email": user.email, "is_active": not active},
        after={"email": user.email, "is_active": active},
    )
    return user
