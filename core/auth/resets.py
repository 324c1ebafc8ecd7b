"""Password reset by a one-time emailed link: the token hashed, short-lived, single use.

Runs in a system session: the link is opened before anyone is signed in.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.service import Actor, record
from core.auth import sessions
from core.auth.models import PasswordResetToken
from core.base import utcnow
from core.errors import ValidationFailed
from core.security.passwords import hash_password
from core.users.models import User
from core.users.service import MIN_PASSWORD_LENGTH


@dataclass(frozen=True)
class IssuedReset:
    token: str = field(repr=False)
    user: User


async def issue(
    *, session: AsyncSession, user: User, ttl: timedelta, now: datetime | None = None
) -> IssuedReset:
    """A new reset token for `user`, valid for `ttl`; earlier unused ones keep their expiry."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    session.add(
        PasswordResetToken(
            token_hash=sessions.token_hash(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    await record(
        session=session,
        actor=Actor(org_id=user.org_id, user_id=user.id, channel="web"),
        action="auth.password_reset_requested",
        resource_type="user",
        resource_id=user.id,
    )
    await session.flush()
    return IssuedReset(token=token, user=user)


async def peek(*, session: AsyncSession, token: str, now: datetime | None = None) -> User | None:
    """The user a still-valid token belongs to, without spending it (the form's GET)."""
    now = now or utcnow()
    return await session.scalar(
        select(User)
        .join(PasswordResetToken, PasswordResetToken.user_id == User.id)
        .where(
            PasswordResetToken.token_hash == sessions.token_hash(token),
            PasswordResetToken.used_at.is_(None),
            PasswordResetToken.expires_at > now,
            User.is_active.is_(True),
        )
    )


async def complete(
    *, session: AsyncSession, token: str, new_password: str, now: datetime | None = None
) -> User | None:
    """Spend the token and set the password; None when the token is unknown, used or expired.

    The user's other reset links die with it, and every session ends: whoever knew the old
    password is signed out everywhere.
    """
    if len(new_password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"The password needs at least {MIN_PASSWORD_LENGTH} characters.", field="password"
        )
    now = now or utcnow()
    claimed = await session.scalar(
        update(PasswordResetToken)
        .where(
            PasswordResetToken.token_hash == sessions.token_hash(token),
            PasswordResetToken.used_at.is_(None),
            PasswordResetToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(PasswordResetToken.user_id)
    )
    if claimed is None:
        return None
    user = await session.get(User, claimed)
    if user is None or not user.is_active:
        return None
    user.password_hash = hash_password(new_password)
    await _spend_all(session, user.id, now)
    await sessions.end_all(session=session, user_id=user.id)
    await record(
        session=session,
        actor=Actor(org_id=user.org_id, user_id=user.id, channel="web"),
        action="auth.password_reset",
        resource_type="user",
        resource_id=user.id,
    )
    await session.flush()
    return user


async def _spend_all(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user_id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
    )
