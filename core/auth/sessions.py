"""Server-side web sessions: issue, look up (idle and absolute expiry), rotate, end.

The cookie carries a random token; the database keeps only its SHA-256, so a leaked table or
backup signs nobody in. Every function takes a system session (`Database.system()`): the
lookup happens before the org is known.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth.models import PasswordResetToken, WebSession
from core.base import utcnow
from core.config import Settings
from core.orgs.models import Organization
from core.users.models import User

# last_seen_at is written at most this often: a page view is not a write per request.
TOUCH_INTERVAL = timedelta(seconds=60)


def token_hash(token: str) -> str:
    """SHA-256 hex of a random token: enough for 256-bit tokens (no dictionary to search)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta
    absolute: timedelta

    @classmethod
    def of(cls, settings: Settings) -> SessionPolicy:
        return cls(
            idle=timedelta(minutes=settings.web_session_idle_minutes),
            absolute=timedelta(days=settings.web_session_max_days),
        )


@dataclass(frozen=True)
class IssuedSession:
    """A new session; `token` goes into the cookie and nowhere else."""

    token: str = field(repr=False)
    row: WebSession


@dataclass(frozen=True)
class LiveSession:
    """A valid session with what every page needs: the user and the org's sign-in policy."""

    row: WebSession
    user: User
    org_name: str
    require_mfa: bool


async def issue(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    policy: SessionPolicy,
    mfa_pending: bool,
    replacing: str | None = None,
    now: datetime | None = None,
) -> IssuedSession:
    """A new session for `user_id`; the one whose token is `replacing` ends (rotation)."""
    now = now or utcnow()
    if replacing:
        await end(session=session, token=replacing)
    token = secrets.token_urlsafe(32)
    row = WebSession(
        token_hash=token_hash(token),
        user_id=user_id,
        csrf_secret=secrets.token_urlsafe(32),
        mfa_pending=mfa_pending,
        created_at=now,
        last_seen_at=now,
        expires_at=now + policy.absolute,
    )
    session.add(row)
    await session.flush()
    return IssuedSession(token=token, row=row)


async def lookup(
    *, session: AsyncSession, token: str, policy: SessionPolicy, now: datetime | None = None
) -> LiveSession | None:
    """The live session for a cookie token, or None (unknown, idle, expired, user inactive).

    An expired session is deleted on sight, so its token can never come back.
    """
    now = now or utcnow()
    found = (
        await session.execute(
            select(WebSession, User, Organization.name, Organization.settings)
            .join(User, User.id == WebSession.user_id)
            .join(Organization, Organization.id == User.org_id)
            .where(WebSession.token_hash == token_hash(token))
        )
    ).first()
    if found is None:
        return None
    row, user, org_name, org_settings = found
    if now >= row.expires_at or now - row.last_seen_at >= policy.idle or not user.is_active:
        await session.execute(delete(WebSession).where(WebSession.id == row.id))
        return None
    if now - row.last_seen_at >= TOUCH_INTERVAL:
        await session.execute(
            update(WebSession).where(WebSession.id == row.id).values(last_seen_at=now)
        )
    return LiveSession(
        row=row,
        user=user,
        org_name=org_name,
        require_mfa=bool((org_settings or {}).get("require_mfa", False)),
    )


async def end(*, session: AsyncSession, token: str) -> None:
    """Sign one browser out: its session row is gone, so the token is dead everywhere."""
    await session.execute(delete(WebSession).where(WebSession.token_hash == token_hash(token)))


async def end_all(*, session: AsyncSession, user_id: uuid.UUID) -> int:
    """Sign a user out everywhere; how many sessions ended."""
    result = await session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


async def prune(
    *, session: AsyncSession, policy: SessionPolicy, now: datetime | None = None
) -> int:
    """Delete sessions past their idle or absolute end, and reset tokens spent or expired:
    abandoned browsers never come back to be deleted on sight. How many rows went."""
    now = now or utcnow()
    ended = await session.execute(
        delete(WebSession).where(
            or_(WebSession.expires_at <= now, WebSession.last_seen_at <= now - policy.idle)
        )
    )
    spent = await session.execute(
        delete(PasswordResetToken).where(
            or_(PasswordResetToken.used_at.is_not(None), PasswordResetToken.expires_at <= now)
        )
    )
    return int(getattr(ended, "rowcount", 0) or 0) + int(getattr(spent, "rowcount", 0) or 0)
