"""TOTP multi-factor sign-in: enrol, confirm with a first code, verify with a replay guard."""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import pyotp
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from core.audit.service import Actor, record
from core.base import utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.security.crypto import decrypt, encrypt
from core.users.models import User

ISSUER = "AdPilot"
# ±1 step of 30 s: tolerates clock drift and a code typed just as it rolled over.
VALID_WINDOW = 1
DIGITS = 6


@dataclass(frozen=True)
class TotpEnrolment:
    """What the user needs to add AdPilot to an authenticator app."""

    provisioning_uri: str = field(repr=False)
    # For manual entry when the QR code cannot be scanned; never logged.
    secret: str = field(repr=False)


def _normalise(code: str) -> str | None:
    digits = code.replace(" ", "").replace("-", "")
    if len(digits) != DIGITS or not digits.isdigit():
        return None
    return digits


def matching_step(
    secret: str, code: str, *, for_time: datetime, after_step: int | None = None
) -> int | None:
    """The newest time step within ±VALID_WINDOW of `for_time` that `code` matches, if any.

    Steps at or before `after_step` are skipped: a code that was accepted once is spent.
    """
    digits = _normalise(code)
    if digits is None:
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS)
    current = totp.timecode(for_time)
    for step in range(current + VALID_WINDOW, current - VALID_WINDOW - 1, -1):
        if after_step is not None and step <= after_step:
            break
        if hmac.compare_digest(totp.generate_otp(step), digits):
            return step
    return None


async def _user(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> User:
    user = await session.scalar(select(User).where(User.id == user_id, User.org_id == org_id))
    if user is None:
        raise NotFound("No such user in this organization.")
    return user


async def enrol(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    actor: Actor | None = None,
) -> TotpEnrolment:
    """Start enrolment: a new secret, stored encrypted and not yet enabled until confirmed."""
    user = await _user(session, org_id, user_id)
    if user.totp_enabled:
        raise Conflict("Two-factor sign-in is already on; turn it off before enrolling again.")
    secret = pyotp.random_base32()
    user.totp_secret_encrypted = encrypt(secret)
    user.totp_last_step = None
    await record(
        session=session,
        actor=actor or Actor(org_id=org_id, user_id=user_id),
        action="mfa.enrol_started",
        resource_type="user",
        resource_id=user.id,
    )
    uri = pyotp.TOTP(secret, digits=DIGITS).provisioning_uri(name=user.email, issuer_name=ISSUER)
    return TotpEnrolment(provisioning_uri=uri, secret=secret)


async def confirm(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    code: str,
    now: datetime | None = None,
    actor: Actor | None = None,
) -> None:
    """Finish enrolment with a first valid code; turns two-factor sign-in on."""
    user = await _user(session, org_id, user_id)
    if user.totp_enabled:
        raise Conflict("Two-factor sign-in is already on.")
    if user.totp_secret_encrypted is None:
        raise ValidationFailed("Start two-factor enrolment first.", field="code")
    secret = decrypt(user.totp_secret_encrypted)
    step = matching_step(secret, code, for_time=now or utcnow(), after_step=user.totp_last_step)
    if step is None:
        raise ValidationFailed("That code is not valid; check the authenticator app.", field="code")
    user.totp_enabled = True
    user.totp_last_step = step
    await record(
        session=session,
        actor=actor or Actor(org_id=org_id, user_id=user_id),
        action="mfa.enabled",
        resource_type="user",
        resource_id=user.id,
        before={"totp_enabled": False},
        after={"totp_enabled": True},
    )


async def verify(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    code: str,
    now: datetime | None = None,
) -> bool:
    """Whether `code` is a fresh valid code for an enrolled user; an accepted code is spent."""
    user = await _user(session, org_id, user_id)
    if not user.totp_enabled or user.totp_secret_encrypted is None:
        return False
    secret = decrypt(user.totp_secret_encrypted)
    step = matching_step(secret, code, for_time=now or utcnow(), after_step=user.totp_last_step)
    if step is None:
        return False
    # Conditional UPDATE: of two concurrent sign-ins with the same code exactly one wins.
    result = await session.execute(
        update(User)
        .where(
            User.id == user.id,
            User.org_id == org_id,
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    accepted = getattr(result, "rowcount", 0) == 1
    if accepted:
        # The row already holds it; keep the loaded object in step without a second UPDATE.
        set_committed_value(user, "totp_last_step", step)
    return accepted


async def disable(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    actor: Actor | None = None,
) -> None:
    """Turn two-factor sign-in off and forget the secret."""
    user = await _user(session, org_id, user_id)
    was_enabled = user.totp_enabled
    user.totp_enabled = False
    user.totp_secret_encrypted = None
    user.totp_last_step = None
    await record(
        session=session,
        actor=actor or Actor(org_id=org_id, user_id=user_id),
        action="mfa.disabled",
        resource_type="user",
        resource_id=user.id,
        before={"totp_enabled": was_enabled},
        after={"totp_enabled": False},
    )
