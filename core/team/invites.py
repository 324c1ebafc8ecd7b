"""Invitations: issue a one-time link, read it for the accept page, and redeem it exactly once.

The link's token is shown once (the email, or the embedded server's console) and only its hash
is stored. Reading and redeeming happen before the invitee has an account, so they take a
cross-org (worker-role) session, like link-code redemption.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.service import Actor, record
from core.base import utcnow
from core.errors import Conflict, Expired, NotFound
from core.orgs.models import Organization
from core.team.models import Invite
from core.users import service as users
from core.users.models import Role, User

INVITE_TTL = timedelta(days=7)
# 32 random bytes: unguessable, and short enough for a link in an email.
TOKEN_BYTES = 32


def hash_token(token: str) -> str:
    return hashlib.sha256(token.strip().encode()).hexdigest()


@dataclass(frozen=True)
class IssuedInvite:
    """A new invite and its token, which exists nowhere else once this is dropped."""

    invite: Invite
    token: str


@dataclass(frozen=True)
class OpenInvite:
    """What the accept page shows: which org, which address, which role."""

    invite_id: uuid.UUID
    org_id: uuid.UUID
    org_name: str
    email: str
    role: Role
    expires_at: datetime


async def create(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    email: str,
    role: Role,
    actor: Actor,
    now: datetime | None = None,
) -> IssuedInvite:
    """Invite `email` into the org with `role`; earlier open invites for it are withdrawn."""
    now = now or utcnow()
    address = users.normalise_email(email)
    # Only the org's own members are refused here. An account in another org is invited like a
    # fresh address, so an admin cannot learn who uses AdPilot elsewhere; the invitee is told
    # instead (`has_account`), and redeeming such an invite is refused (`accept`).
    if await session.scalar(select(User.id).where(User.org_id == org_id, User.email == address)):
        raise Conflict(f"{address} is already a member of your organization.")
    await session.execute(
        update(Invite)
        .where(Invite.org_id == org_id, Invite.email == address, Invite.used_at.is_(None))
        .values(used_at=now)
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    invite = Invite(
        org_id=org_id,
        email=address,
        role=role,
        token_hash=hash_token(token),
        invited_by=actor.user_id,
        expires_at=now + INVITE_TTL,
    )
    session.add(invite)
    await session.flush()
    await record(
        session=session,
        actor=actor,
        action="team.invite",
        resource_type="invite",
        resource_id=invite.id,
        after={"email": address, "role": role.value, "expires_at": invite.expires_at.isoformat()},
    )
    return IssuedInvite(invite=invite, token=token)


async def has_account(*, session: AsyncSession, email: str) -> bool:
    """Whether `email` has an AdPilot account in any org (worker session: cross-org).

    For choosing what the invitee is told; never for anything the inviting admin sees.
    """
    address = users.normalise_email(email)
    return await session.scalar(select(User.id).where(User.email == address)) is not None


ADDRESS_TAKEN = (
    "This address already has an AdPilot account, and an account belongs to one organization, "
    "so this invitation cannot be used. Sign in with your existing account, or ask whoever "
    "invited you to invite a different address."
)


async def open_invite(
    *, session: AsyncSession, token: str, now: datetime | None = None
) -> OpenInvite:
    """The invite behind `token` if it can still be accepted (worker session: pre-identity)."""
    now = now or utcnow()
    row = (
        await session.execute(
            select(Invite, Organization.name)
            .join(Organization, Organization.id == Invite.org_id)
            .where(Invite.token_hash == hash_token(token))
        )
    ).one_or_none()
    if row is None:
        raise NotFound("This invitation link is not valid. Ask your admin for a new one.")
    invite, org_name = row
    if invite.used_at is not None:
        raise Conflict("This invitation was used already (or withdrawn). Sign in instead.")
    if invite.expires_at <= now:
        raise Expired("This invitation has expired. Ask your admin to invite you again.")
    return OpenInvite(
        invite_id=invite.id,
        org_id=invite.org_id,
        org_name=org_name,
        email=invite.email,
        role=Role(invite.role),
        expires_at=invite.expires_at,
    )


async def accept(
    *,
    session: AsyncSession,
    token: str,
    password: str,
    name: str | None = None,
    source: str | None = None,
    now: datetime | None = None,
) -> User:
    """Redeem the invite: one user in the invite's org with its role; single use, audit-logged.

    The claim is one conditional UPDATE, so two tabs accepting at once cannot both win; a
    refused password or an address with an account (in any org) raises before commit and
    leaves the invite open.
    """
    now = now or utcnow()
    found = await open_invite(session=session, token=token, now=now)
    # Refused before the claim, so the invite stays open: the inviting admin's list shows no
    # difference between an ignored invite and one whose address has an account elsewhere.
    # Never a second account, and never the existing one moved between orgs.
    if await has_account(session=session, email=found.email):
        raise Conflict(ADDRESS_TAKEN)
    users.check_password(password)
    claimed = await session.execute(
        update(Invite)
        .where(
            Invite.id == found.invite_id,
            Invite.used_at.is_(None),
            Invite.expires_at > now,
        )
        .values(used_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("This invitation was used already (or withdrawn). Sign in instead.")
    user = await users.create(
        session=session,
        org_id=found.org_id,
        email=found.email,
        role=found.role,
        password=password,
        name=name.strip()[:200] if name and name.strip() else None,
    )
    await session.execute(
        update(Invite).where(Invite.id == found.invite_id).values(user_id=user.id)
    )
    await record(
        session=session,
        actor=Actor(org_id=found.org_id, user_id=user.id, channel="web", source=source),
        action="team.invite_accepted",
        resource_type="user",
        resource_id=user.id,
        after={"email": found.email, "role": found.role.value},
    )
    return user


async def list_open(
    *, session: AsyncSession, org_id: uuid.UUID, now: datetime | None = None
) -> list[Invite]:
    """The org's invites that can still be accepted, newest first."""
    now = now or utcnow()
    query = (
        select(Invite)
        .where(Invite.org_id == org_id, Invite.used_at.is_(None), Invite.expires_at > now)
        .order_by(Invite.created_at.desc())
    )
    return list(await session.scalars(query))


async def withdraw(
    *, session: AsyncSession, org_id: uuid.UUID, invite_id: uuid.UUID, actor: Actor
) -> None:
    """Close an open invite so its link stops working."""
    invite = await session.scalar(
        select(Invite).where(Invite.id == invite_id, Invite.org_id == org_id)
    )
    if invite is None:
        raise NotFound("No such invitation in this organization.")
    if invite.used_at is not None:
        raise Conflict("This invitation is closed already.")
    invite.used_at = utcnow()
    await session.flush()
    await record(
        session=session,
        actor=actor,
        action="team.invite_withdrawn",
        resource_type="invite",
        resource_id=invite.id,
        before={"email": invite.email, "role": Role(invite.role).value},
    )
