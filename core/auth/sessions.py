"""Server-side web sessions: issue, look up (idle and absolute expiry), rotate, end.

The cookie carries a random token; the database keeps only its SHA-256, so a leaked table or
backup signs nobody in. The lookup happens before the org is known, so every function takes
a cross-org session: `find` a blocking read-only one (`Database.read`), the rest a system unit
of work (`Database.system()`).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from core.auth.models import PasswordResetToken, WebSession
from core.base import utcnow
from core.config import Settings
from core.orgs.models import Organization
from core.users.models import Role, User

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


@dataclass(frozen=True, slots=True)
class SessionRow:
    """What a page needs of the session row (plain values: no ORM instance per page view)."""

    id: uuid.UUID
    csrf_secret: str = field(repr=False)
    mfa_pending: bool
    last_seen_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SessionUser:
    """What a page needs of the signed-in user."""

    id: uuid.UUID
    org_id: uuid.UUID
    email: str
    role: Role
    is_operator: bool
    totp_enabled: bool
    is_active: bool


@dataclass(frozen=True)
class LiveSession:
    """A valid session with what every page needs: the user and the org's sign-in policy."""

    row: SessionRow
    user: SessionUser
    org_name: str
    require_mfa: bool
    org_plan: str = ""


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


# Built once: the statement runs on every page view, and building it costs more than running it.
# Columns, not entities, run as Core: the page needs a dozen values, not two tracked objects.
_ROW = (
    WebSession.id,
    WebSession.csrf_secret,
    WebSession.mfa_pending,
    WebSession.last_seen_at,
    WebSession.expires_at,
)
_USER = (
    User.id,
    User.org_id,
    User.email,
    User.role,
    User.is_operator,
    User.totp_enabled,
    User.is_active,
)
_FIND = (
    select(*_ROW, *_USER, Organization.name, Organization.settings, Organization.plan)
    .join(User, User.id == WebSession.user_id)
    .join(Organization, Organization.id == User.org_id)
    .where(WebSession.token_hash == bindparam("token_hash"))
)
_USER_AT = len(_ROW)
_ORG_AT = _USER_AT + len(_USER)


@dataclass(frozen=True)
class Found:
    """A lookup's verdict: the live session (or None) and the write it calls for, if any."""

    live: LiveSession | None
    stale_id: uuid.UUID | None = None  # expired or its user deactivated: delete it
    touch_id: uuid.UUID | None = None  # last seen over TOUCH_INTERVAL ago: note this visit


def find(
    *, session: Session, token: str, policy: SessionPolicy, now: datetime | None = None
) -> Found:
    """Read the session for a cookie token without writing (`Database.read` runs it);
    `settle` then makes the rare write the verdict asks for."""
    now = now or utcnow()
    found = session.connection().execute(_FIND, {"token_hash": token_hash(token)}).first()
    if found is None:
        return Found(None)
    # Positional, in _FIND's order (past ten columns the Row's static type is one union).
    values: tuple[Any, ...] = tuple(found)
    row = SessionRow(*values[:_USER_AT])
    user = SessionUser(*values[_USER_AT:_ORG_AT])
    org_name, org_settings, org_plan = values[_ORG_AT:]
    if now >= row.expires_at or now - row.last_seen_at >= policy.idle or not user.is_active:
        return Found(None, stale_id=row.id)
    live = LiveSession(
        row=row,
        user=user,
        org_name=org_name,
        require_mfa=bool((org_settings or {}).get("require_mfa", False)),
        org_plan=str(org_plan),
    )
    touch = row.id if now - row.last_seen_at >= TOUCH_INTERVAL else None
    return Found(live, touch_id=touch)


async def settle(*, session: AsyncSession, found: Found, now: datetime | None = None) -> None:
    """The write a lookup called for: an expired session is deleted on sight, so its token can
    never come back; a live one's last visit is noted at most once per TOUCH_INTERVAL."""
    if found.stale_id is not None:
        await session.execute(delete(WebSession).where(WebSession.id == found.stale_id))
    if found.touch_id is not None:
        await session.execute(
            update(WebSession)
            .where(WebSession.id == found.touch_id)
            .values(last_seen_at=now or utcnow())
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
