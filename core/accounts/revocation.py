"""Revoking a disconnected account's grant at its platform: best effort, after the local delete.

The local deletion has already committed when this runs; here the platform is asked once,
within a short timeout, and the answer is audited as its own entry. Never a token in a log.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import service as audit
from core.audit.service import Actor
from core.errors import CoreError
from core.ports import AdPlatform, RevokeAnswer, TokenRevoker, TokenSet

log = logging.getLogger(__name__)

AUDIT_ACTION = "ad_account.revoked_at_platform"


class RevokeOutcome(StrEnum):
    REVOKED = "revoked"
    ALREADY_INVALID = "already_invalid"
    FAILED = "failed"
    # The platform offers us no way to end the grant (TikTok): the user removes the app there.
    NOT_OFFERED = "not_offered"
    # Nothing was stored, so there was nothing to revoke.
    NOTHING_HELD = "nothing_held"


@dataclass(frozen=True)
class Revocation:
    outcome: RevokeOutcome
    reason: str | None = None


async def revoke_at_platform(
    *, platform: AdPlatform, tokens: TokenSet | None, wait_seconds: float
) -> Revocation:
    """Ask the platform once to end the grant; every failure becomes an outcome, never raised."""
    if tokens is None:
        return Revocation(RevokeOutcome.NOTHING_HELD)
    if not isinstance(platform, TokenRevoker):
        return Revocation(RevokeOutcome.NOT_OFFERED)
    try:
        async with asyncio.timeout(wait_seconds):
            answer = await platform.revoke_tokens(tokens)
    except TimeoutError:
        reason = f"no answer within {wait_seconds:g} s"
    except CoreError as exc:
        reason = exc.message
    except Exception as exc:  # best effort: any surprise is reported, not raised
        reason = f"unexpected {type(exc).__name__}"
    else:
        if answer is RevokeAnswer.REVOKED:
            return Revocation(RevokeOutcome.REVOKED)
        return Revocation(RevokeOutcome.ALREADY_INVALID)
    log.warning("revoking at %s failed: %s", platform.name, reason)
    return Revocation(RevokeOutcome.FAILED, reason)


async def record(
    *,
    session: AsyncSession,
    actor: Actor,
    account_id: uuid.UUID,
    platform_name: str,
    revocation: Revocation,
) -> None:
    """Audit what the platform answered, beside the disconnect's own entry."""
    after: dict[str, object] = {"platform": platform_name, "outcome": revocation.outcome.value}
    if revocation.reason is not None:
        after["reason"] = revocation.reason
    await audit.record(
        session=session,
        actor=actor,
        action=AUDIT_ACTION,
        resource_type="ad_account",
        resource_id=account_id,
        after=after,
    )
