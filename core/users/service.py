"""Create and find users."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound, ValidationFailed
from core.security.passwords import hash_password
from core.users.models import Role, User

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 10


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL_RE.match(email) or len(email) > 320:
        raise ValidationFailed(f"{email!r} is not an email address.", field="email")
    return email


def check_password(password: str) -> None:
    """Refuse a password too short to set (the one rule every way of setting one shares)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"The password needs at least {MIN_PASSWORD_LENGTH} characters.", field="password"
        )


async def create(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    email: str,
    role: Role = Role.USER,
    password: str | None = None,
    name: str | None = None,
) -> User:
    """Create a user in an org; emails are unique across AdPilot (they sign in with it)."""
    email = normalise_email(email)
    if password is not None:
        check_password(password)
    if await session.scalar(select(User.id).where(User.email == email)):
        raise Conflict(f"A user with email {email} exists already.")
    user = User(
        org_id=org_id,
        email=email,
        role=role,
        name=name,
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    await session.flush()
    return user


async def get(*, session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> User:
    user = await session.scalar(select(User).where(User.id == user_id, User.org_id == org_id))
    if user is None:
        raise NotFound("No such user in this organization.")
    return user


async def get_by_email(*, session: AsyncSession, org_id: uuid.UUID, email: str) -> User:
    user = await session.scalar(
        select(User).where(User.org_id == org_id, User.email == normalise_email(email))
    )
    if user is None:
        raise NotFound(f"No user {email} in this organization.")
    return user


async def first_admin(*, session: AsyncSession, org_id: uuid.UUID) -> User:
    user = await session.scalar(
        select(User)
        .where(User.org_id == org_id, User.role == Role.ADMIN, User.is_active.is_(True))
        .order_by(User.created_at)
        .limit(1)
    )
    if user is None:
        raise NotFound("This organization has no active admin.")
    return user
