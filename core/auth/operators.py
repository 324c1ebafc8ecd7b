"""The installation's operators: a flag on a user, granted and revoked from the terminal."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.service import Actor, record
from core.auth.login import find_by_email
from core.errors import NotFound
from core.users.models import User


async def set_operator(*, session: AsyncSession, email: str, operator: bool) -> User:
    """Grant or revoke the operator flag; audit-logged in the user's org (channel `cli`)."""
    user = await find_by_email(session=session, email=email)
    if user is None:
        raise NotFound(f"No user with email {email.strip()}.")
    before = bool(user.is_operator)
    user.is_operator = operator
    await record(
        session=session,
        actor=Actor(org_id=user.org_id, user_id=None, channel="cli"),
        action="operator.granted" if operator else "operator.revoked",
        resource_type="user",
        resource_id=user.id,
        before={"is_operator": before},
        after={"is_operator": operator},
    )
    await session.flush()
    return user
