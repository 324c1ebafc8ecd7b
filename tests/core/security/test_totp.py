"""TOTP enrolment, ±1 step tolerance and the replay guard, on fixed clocks (no sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.models import AuditLog
from core.errors import Conflict, NotFound, ValidationFailed
from core.security import totp
from core.security.crypto import decrypt
from core.users.models import User
from tests import factories

NOW = datetime(2026, 11, 25, 12, 0, 10, tzinfo=UTC)
STEP = timedelta(seconds=30)


def code_at(secret: str, moment: datetime) -> str:
    return pyotp.TOTP(secret).at(moment)


async def enrolled(session: AsyncSession) -> tuple[User, str]:
    org = await factories.org(session)
    user = await factories.user(session, org)
    enrolment = await totp.enrol(session=session, org_id=org.id, user_id=user.id)
    await totp.confirm(
        session=session,
        org_id=org.id,
        user_id=user.id,
        code=code_at(enrolment.secret, NOW - 2 * STEP),
        now=NOW - 2 * STEP,
    )
    return user, enrolment.secret


async def test_enrol_stores_the_secret_encrypted_and_returns_a_uri(session: AsyncSession) -> None:
    org = await factories.org(session)
    user = await factories.user(session, org, email="mfa@example.com")
    enrolment = await totp.enrol(session=session, org_id=org.id, user_id=user.id)

    uri = urlparse(enrolment.provisioning_uri)
    assert uri.scheme == "otpauth"
    assert uri.netloc == "totp"
    assert "mfa%40example.com" in uri.path or "mfa@example.com" in uri.path
    query = parse_qs(uri.query)
    assert query["secret"] == [enrolment.secret]
    assert query["issuer"] == ["AdPilot"]
    assert enrolment.secret not in repr(enrolment)

    stored = await session.scalar(select(User).where(User.id == user.id))
    assert stored is not None
    assert stored.totp_secret_encrypted is not None
    assert enrolment.secret not in stored.totp_secret_encrypted
    assert decrypt(stored.totp_secret_encrypted) == enrolment.secret
    assert stored.totp_enabled is False


async def test_unconfirmed_enrolment_does_not_verify(session: AsyncSession) -> None:
    org = await factories.org(session)
    user = await factories.user(session, org)
    enrolment = await totp.enrol(session=session, org_id=org.id, user_id=user.id)
    code = code_at(enrolment.secret, NOW)
    assert not await totp.verify(
        session=session, org_id=org.id, user_id=user.id, code=code, now=NOW
    )


async def test_confirm_rejects_a_wrong_code_and_enables_on_a_right_one(
    session: AsyncSession,
) -> None:
    org = await factories.org(session)
    user = await factories.user(session, org)
    enrolment = await totp.enrol(session=session, org_id=org.id, user_id=user.id)
    wrong = f"{(int(code_at(enrolment.secret, NOW)) + 1) % 1_000_000:06d}"
    with pytest.raises(ValidationFailed):
        await totp.confirm(session=session, org_id=org.id, user_id=user.id, code=wrong, now=NOW)
    assert user.totp_enabled is False

    await totp.confirm(
        session=session,
        org_id=org.id,
        user_id=user.id,
        code=code_at(enrolment.secret, NOW),
        now=NOW,
    )
    assert user.totp_enabled is True
    assert user.totp_last_step == pyotp.TOTP(enrolment.secret).timecode(NOW)
    with pytest.raises(Conflict):
        await totp.enrol(session=session, org_id=org.id, user_id=user.id)
    actions = list(await session.scalars(select(AuditLog.action).where(AuditLog.org_id == org.id)))
    assert sorted(actions) == ["mfa.enabled", "mfa.enrol_started"]


@pytest.mark.parametrize("offset", [-1, 0, 1])
async def test_verify_accepts_one_step_either_side(session: AsyncSession, offset: int) -> None:
    user, secret = await enrolled(session)
    code = code_at(secret, NOW + offset * STEP)
    assert await totp.verify(
        session=session, org_id=user.org_id, user_id=user.id, code=code, now=NOW
    )


@pytest.mark.parametrize("offset", [-2, 2, 10])
async def test_verify_rejects_codes_outside_the_window(session: AsyncSession, offset: int) -> None:
    user, secret = await enrolled(session)
    code = code_at(secret, NOW + offset * STEP)
    assert not await totp.verify(
        session=session, org_id=user.org_id, user_id=user.id, code=code, now=NOW
    )


async def test_a_used_code_is_rejected_as_a_replay(session: AsyncSession) -> None:
    user, secret = await enrolled(session)
    code = code_at(secret, NOW)
    assert await totp.verify(
        session=session, org_id=user.org_id, user_id=user.id, code=code, now=NOW
    )
    # Same code, still inside its window a few seconds later: spent.
    assert not await totp.verify(
        session=session, org_id=user.org_id, user_id=user.id, code=code, now=NOW + STEP
    )
    stored = await session.scalar(select(User.totp_last_step).where(User.id == user.id))
    assert stored == pyotp.TOTP(secret).timecode(NOW)


async def test_an_older_code_after_a_newer_one_is_rejected(session: AsyncSession) -> None:
    user, secret = await enrolled(session)
    newer = code_at(secret, NOW + STEP)
    older = code_at(secret, NOW - STEP)
    assert await totp.verify(
        session=session, org_id=user.org_id, user_id=user.id, code=newer, now=NOW
    )
    assert not await totp.verify(
        session=session, org_id=user.org_id, user_id=user.id, code=older, now=NOW
    )
    # The next step's code is fresh again.
    assert await totp.verify(
        session=session,
        org_id=user.org_id,
        user_id=user.id,
        code=code_at(secret, NOW + 2 * STEP),
        now=NOW + 2 * STEP,
    )


async def test_stale_in_memory_state_cannot_replay(session: AsyncSession) -> None:
    """The guard is the conditional UPDATE, not the loaded object: a stale copy loses."""
    user, secret = await enrolled(session)
    code = code_at(secret, NOW)
    assert await totp.verify(
        session=session, org_id=user.org_id, user_id=user.id, code=code, now=NOW
    )
    # Pretend another request loaded the user before the first sign-in stored its step.
    user.totp_last_step = None
    await session.flush()
    await session.execute(
        update(User)
        .where(User.id == user.id)
        .values(totp_last_step=pyotp.TOTP(secret).timecode(NOW))
        .execution_options(synchronize_session=False)
    )
    assert not await totp.verify(
        session=session, org_id=user.org_id, user_id=user.id, code=code, now=NOW
    )


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 5x"])
async def test_malformed_codes_are_rejected(session: AsyncSession, code: str) -> None:
    user, _secret = await enrolled(session)
    assert not await totp.verify(
        session=session, org_id=user.org_id, user_id=user.id, code=code, now=NOW
    )


async def test_codes_with_spaces_are_accepted(session: AsyncSession) -> None:
    user, secret = await enrolled(session)
    code = code_at(secret, NOW)
    assert await totp.verify(
        session=session,
        org_id=user.org_id,
        user_id=user.id,
        code=f"{code[:3]} {code[3:]}",
        now=NOW,
    )


async def test_disable_forgets_the_secret(session: AsyncSession) -> None:
    user, secret = await enrolled(session)
    await totp.disable(session=session, org_id=user.org_id, user_id=user.id)
    assert user.totp_enabled is False
    assert user.totp_secret_encrypted is None
    assert not await totp.verify(
        session=session,
        org_id=user.org_id,
        user_id=user.id,
        code=code_at(secret, NOW),
        now=NOW,
    )


async def test_another_orgs_user_is_not_found(session: AsyncSession) -> None:
    user, _secret = await enrolled(session)
    other = await factories.org(session)
    with pytest.raises(NotFound):
        await totp.verify(session=session, org_id=other.id, user_id=user.id, code="123456")
