"""Chat identities: resolve who is speaking, and link a chat account with a one-time code.

Resolution and redemption happen before the org is known, so they take a cross-org
(worker-role) session; everything after runs org-scoped.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.service import Actor, record
from core.base import utcnow
from core.errors import (
    Conflict,
    Expired,
    NotFound,
    PermissionDenied,
    TooManyOpen,
    ValidationFailed,
)
from core.rbac import Permission, may
from core.users.models import ChannelIdentity, LinkCode, User

# No 0/O, 1/I/L: codes are read aloud and typed on phones.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
CODE_TTL = timedelta(minutes=15)
# Enough for a few chat apps at once; more open codes only widen what a leaked session yields.
MAX_OPEN_CODES = 5


@dataclass(frozen=True)
class Speaker:
    """A resolved chat user: which org and user a message comes from."""

    org_id: uuid.UUID
    user_id: uuid.UUID


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().replace("-", "").encode()).hexdigest()


def format_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


async def create_link_code(
    *, session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID, now: datetime | None = None
) -> str:
    """Issue a one-time code (shown once) that links the next chat account to redeem it.

    At most MAX_OPEN_CODES unexpired, unredeemed codes per user (TooManyOpen).
    """
    now = now or utcnow()
    # The user's row lock serialises two requests of the same person, so both cannot count
    # four open codes and insert (READ COMMITTED); NO KEY UPDATE leaves foreign-key checks on
    # the row (other inserts that reference this user) unblocked. SQLite has one writer.
    locked = await session.scalar(
        select(User.id)
        .where(User.id == user_id, User.org_id == org_id)
        .with_for_update(key_share=True)
    )
    if locked is None:
        raise NotFound("No such person in this organization.")
    open_expiries = list(
        await session.scalars(
            select(LinkCode.expires_at)
            .where(
                LinkCode.user_id == user_id,
                LinkCode.used_at.is_(None),
                LinkCode.expires_at > now,
            )
            .order_by(LinkCode.expires_at)
        )
    )
    if len(open_expiries) >= MAX_OPEN_CODES:
        wait = max(1, math.ceil((open_expiries[0] - now).total_seconds()))
        minutes = math.ceil(wait / 60)
        raise TooManyOpen(
            f"You have {MAX_OPEN_CODES} unused link codes already. Use one of them, or wait: "
            f"the oldest expires in {minutes} minute{'s' if minutes != 1 else ''}.",
            retry_after=wait,
        )
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    session.add(
        LinkCode(org_id=org_id, user_id=user_id, code_hash=_hash(code), expires_at=now + CODE_TTL)
    )
    await session.flush()
    return format_code(code)


async def resolve(
    *, session: AsyncSession, channel: str, workspace: str, external_user_id: str
) -> Speaker | None:
    """The linked org and user of a chat account, or None (who then gets linking help only)."""
    row = (
        await session.execute(
            select(ChannelIdentity.org_id, ChannelIdentity.user_id)
            .join(User, User.id == ChannelIdentity.user_id)
            .where(
                ChannelIdentity.channel == channel,
                ChannelIdentity.workspace == workspace,
                ChannelIdentity.external_user_id == external_user_id,
                User.is_active.is_(True),
            )
        )
    ).one_or_none()
    return None if row is None else Speaker(org_id=row.org_id, user_id=row.user_id)


async def redeem_link_code(
    *,
    session: AsyncSession,
    code: str,
    channel: str,
    workspace: str,
    external_user_id: str,
    display_name: str | None = None,
    now: datetime | None = None,
) -> Speaker:
    """Link a chat account to the code's user; single use, expiring, audit-logged."""
    now = now or utcnow()
    cleaned = code.strip().upper().replace("-", "")
    if len(cleaned) != CODE_LENGTH or any(char not in CODE_ALPHABET for char in cleaned):
        raise ValidationFailed("That is not a link code; codes look like ABCD-2345.", field="code")
    link = await session.scalar(select(LinkCode).where(LinkCode.code_hash == _hash(cleaned)))
    if link is None:
        raise NotFound("Unknown link code. Create a new one on the web settings page.")
    if link.expires_at <= now:
        raise Expired("This link code has expired. Create a new one on the web settings page.")
    # Conditional update: two chats redeeming the same code at once cannot both win.
    claimed = await session.execute(
        update(LinkCode)
        .where(LinkCode.id == link.id, LinkCode.used_at.is_(None))
        .values(used_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("This link code was used already. Create a new one.")
    existing = await resolve(
        session=session, channel=channel, workspace=workspace, external_user_id=external_user_id
    )
    if existing is not None:
        raise Conflict("This chat account is linked already; unlink it first.")
    try:
        async with session.begin_nested():
            session.add(
                ChannelIdentity(
                    org_id=link.org_id,
                    user_id=link.user_id,
                    channel=channel,
                    workspace=workspace,
                    external_user_id=external_user_id,
                    display_name=display_name,
                )
            )
    except IntegrityError as exc:
        raise Conflict("This chat account is linked already; unlink it first.") from exc
    await record(
        session=session,
        actor=Actor(org_id=link.org_id, user_id=link.user_id, channel=channel, source=workspace),
        action="identity.link",
        resource_type="channel_identity",
        resource_id=external_user_id,
        after={"channel": channel, "workspace": workspace},
    )
    return Speaker(org_id=link.org_id, user_id=link.user_id)


# An org's Slack workspaces whose members may link by their verified email (org.settings).
EMAIL_LINK_TEAMS_SETTING = "slack_email_link_teams"


async def link_by_verified_email(
    *,
    session: AsyncSession,
    channel: str,
    workspace: str,
    external_user_id: str,
    email: str,
    display_name: str | None = None,
) -> Speaker | None:
    """Link a chat account whose platform vouches for `email`, if that user's org allows it.

    Only for workspaces the org named in its settings: an email address alone is not trusted,
    since a workspace admin elsewhere could set any address on an account. The caller must pass
    an address the platform marked confirmed. Cross-org (worker) session, like redemption.
    """
    from core.orgs.models import Organization

    address = email.strip().lower()
    if not address or "@" not in address:
        return None
    row = (
        await session.execute(
            select(User, Organization.settings)
            .join(Organization, Organization.id == User.org_id)
            .where(User.email == address, User.is_active.is_(True))
        )
    ).one_or_none()
    if row is None:
        return None
    user, org_settings = row
    trusted = (org_settings or {}).get(EMAIL_LINK_TEAMS_SETTING) or []
    if not isinstance(trusted, list) or workspace not in trusted:
        return None
    try:
        async with session.begin_nested():
            session.add(
                ChannelIdentity(
                    org_id=user.org_id,
                    user_id=user.id,
                    channel=channel,
                    workspace=workspace,
                    external_user_id=external_user_id,
                    display_name=display_name,
                )
            )
    except IntegrityError:
        return None  # linked meanwhile (a concurrent message): resolution finds it next time
    await record(
        session=session,
        actor=Actor(org_id=user.org_id, user_id=user.id, channel=channel, source=workspace),
        action="identity.link",
        resource_type="channel_identity",
        resource_id=external_user_id,
        after={"channel": channel, "workspace": workspace, "method": "verified_email"},
    )
    return Speaker(org_id=user.org_id, user_id=user.id)


async def set_email_link_team(
    *, session: AsyncSession, org_id: uuid.UUID, team: str, enabled: bool, actor: Actor
) -> list[str]:
    """Allow (or stop) linking by verified email for one Slack workspace of the org."""
    from core.orgs.models import Organization

    org = await session.get(Organization, org_id)
    if org is None:
        raise NotFound("No such organization.")
    current = [t for t in (org.settings or {}).get(EMAIL_LINK_TEAMS_SETTING) or [] if t != team]
    teams = sorted([*current, team]) if enabled else sorted(current)
    before = (org.settings or {}).get(EMAIL_LINK_TEAMS_SETTING) or []
    org.settings = {**(org.settings or {}), EMAIL_LINK_TEAMS_SETTING: teams}
    await record(
        session=session,
        actor=actor,
        action="org.email_linking",
        resource_type="organization",
        resource_id=str(org_id),
        before={EMAIL_LINK_TEAMS_SETTING: before},
        after={EMAIL_LINK_TEAMS_SETTING: teams},
    )
    return teams


@dataclass(frozen=True)
class KnownContact:
    """A linked chat account as a recipient: its org, and when it last wrote to us."""

    org_id: uuid.UUID
    last_inbound_at: datetime | None


async def known_contact(
    *, session: AsyncSession, channel: str, workspace: str, external_user_id: str
) -> KnownContact | None:
    """The org and last inbound time of a linked chat account (worker session: before the
    org is known); None for an account nobody linked."""
    row = (
        await session.execute(
            select(ChannelIdentity.org_id, ChannelIdentity.last_inbound_at).where(
                ChannelIdentity.channel == channel,
                ChannelIdentity.workspace == workspace,
                ChannelIdentity.external_user_id == external_user_id,
            )
        )
    ).one_or_none()
    return None if row is None else KnownContact(row.org_id, row.last_inbound_at)


async def note_inbound(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    channel: str,
    workspace: str,
    external_user_id: str,
    at: datetime,
) -> None:
    """Remember that the account wrote at `at`; an older time (a late redelivery) changes
    nothing, so the mark never moves back."""
    await session.execute(
        update(ChannelIdentity)
        .where(
            ChannelIdentity.org_id == org_id,
            ChannelIdentity.channel == channel,
            ChannelIdentity.workspace == workspace,
            ChannelIdentity.external_user_id == external_user_id,
            (ChannelIdentity.last_inbound_at.is_(None)) | (ChannelIdentity.last_inbound_at < at),
        )
        .values(last_inbound_at=at)
    )


async def list_identities(
    *, session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID | None = None
) -> list[tuple[ChannelIdentity, str]]:
    """The org's linked chat accounts (one user's, when given) with their user's email."""
    query = (
        select(ChannelIdentity, User.email)
        .join(User, User.id == ChannelIdentity.user_id)
        .where(ChannelIdentity.org_id == org_id)
        .order_by(User.email, ChannelIdentity.channel, ChannelIdentity.created_at)
    )
    if user_id is not None:
        query = query.where(ChannelIdentity.user_id == user_id)
    return [(identity, email) for identity, email in await session.execute(query)]


async def revoke_identity(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    identity_id: uuid.UUID,
    user: User,
    channel: str = "web",
) -> ChannelIdentity:
    """Unlink a chat account at once (deleted, so the next message resolves to nobody).

    Your own, or anyone's in the org with the manage-team permission; audit-logged.
    """
    found = await session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.org_id == org_id, ChannelIdentity.id == identity_id
        )
    )
    if found is None:
        raise NotFound("No such linked chat account in this organization.")
    if user.org_id != org_id or (
        found.user_id != user.id and not may(user, Permission.MANAGE_TEAM, org_id=org_id)
    ):
        raise PermissionDenied(f"{user.email} may only unlink their own chat accounts.")
    await record(
        session=session,
        actor=Actor(org_id=org_id, user_id=user.id, channel=channel),
        action="identity.unlink",
        resource_type="channel_identity",
        resource_id=found.external_user_id[:64],
        before={
            "channel": found.channel,
            "workspace": found.workspace,
            "user_id": str(found.user_id),
        },
    )
    await session.delete(found)
    await session.flush()
    return found
