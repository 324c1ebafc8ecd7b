"""Password sign-in: find the user by email across orgs and check the password.

Runs in a system session: nobody's org is known before they sign in.
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.service import Actor, record
from core.errors import ValidationFailed
from core.security.passwords import hash_password, verify_and_update, verify_password
from core.users.models import User
from core.users.service import normalise_email


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password("no user has this password")


async def find_by_email(*, session: AsyncSession, email: str) -> User | None:
    """The user with this email in any org, or None (also for a malformed email)."""
    try:
        normalised = normalise_email(email)
    except ValidationFailed:
        return None
    return await session.scalar(select(User).where(User.email == normalised))


async def authenticate(*, session: AsyncSession, email: str, password: str) -> User | None:
    """The active user whose password this is, or None; failures are audit-logged per user.

    An unknown email costs one argon2 verification too, so timing does not tell which
    emails have an account.
    """
    user = await find_by_email(session=session, email=email)
    if user is None or user.password_hash is None:
        verify_password(password, _dummy_hash())
        return None
    valid, updated = verify_and_update(password, user.password_hash)
    if valid and updated is not None:
        user.password_hash = updated
    if not valid or not user.is_active:
        await record(
            session=session,
            actor=Actor(org_id=user.org_id, user_id=user.id, channel="web"),
            action="auth.sign_in_failed",
            resource_type="user",
            resource_id=user.id,
            after={"reason": "inactive" if valid else "password"},
        )
        return None
    return user
