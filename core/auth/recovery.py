"""MFA recovery codes: ten one-time codes, shown once, stored as SHA-256 hashes.

A code is 10 characters of a 32-letter alphabet (50 bits): far beyond guessing under the
sign-in limit of 5 attempts a minute, and short enough to type from paper.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.service import Actor, record
from core.auth.models import RecoveryCode
from core.base import utcnow

CODE_COUNT = 10
CODE_LENGTH = 10
# No 0/o, 1/l/i: a code copied from paper is read the way it was printed.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def normalise(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def looks_like_recovery_code(code: str) -> bool:
    """Recovery codes are letters and digits of CODE_LENGTH; TOTP codes are six digits."""
    normal = normalise(code)
    return len(normal) == CODE_LENGTH and all(character in ALPHABET for character in normal)


def code_hash(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


def _new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


async def regenerate(*, session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> list[str]:
    """A fresh set of codes for the user; every earlier code stops working. Shown once."""
    await session.execute(
        delete(RecoveryCode).where(RecoveryCode.org_id == org_id, RecoveryCode.user_id == user_id)
    )
    codes = [_new_code() for _ in range(CODE_COUNT)]
    session.add_all(
        RecoveryCode(org_id=org_id, user_id=user_id, code_hash=code_hash(code)) for code in codes
    )
    await record(
        session=session,
        actor=Actor(org_id=org_id, user_id=user_id, channel="web"),
        action="mfa.recovery_codes_created",
        resource_type="user",
        resource_id=user_id,
    )
    await session.flush()
    return codes


async def use(*, session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID, code: str) -> bool:
    """Spend one unused code; False when it is unknown or spent (one conditional UPDATE, so
    two sign-ins racing with the same code cannot both win)."""
    result = await session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.org_id == org_id,
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == code_hash(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    used = getattr(result, "rowcount", 0) == 1
    if used:
        await record(
            session=session,
            actor=Actor(org_id=org_id, user_id=user_id, channel="web"),
            action="mfa.recovery_code_used",
            resource_type="user",
            resource_id=user_id,
        )
    return used


async def remaining(*, session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(
            RecoveryCode.org_id == org_id,
            RecoveryCode.user_id == user_id,
            RecoveryCode.used_at.is_(None),
        )
    )
    return int(count or 0)


async def discard(*, session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> None:
    await session.execute(
        delete(RecoveryCode).where(RecoveryCode.org_id == org_id, RecoveryCode.user_id == user_id)
    )
