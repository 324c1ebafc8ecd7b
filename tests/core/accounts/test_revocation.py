"""Disconnect hands back the tokens it deleted; revoking at the platform turns every answer,
failure and hang into an outcome, never an exception."""

from __future__ import annotations

import asyncio
from typing import cast

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.tiktok_ads import TikTokAdsAdapter
from core.accounts import manage
from core.accounts import service as accounts
from core.accounts.models import AdAccount
from core.accounts.revocation import Revocation, RevokeOutcome, revoke_at_platform
from core.audit.service import Actor
from core.config import Settings
from core.errors import PlatformUnavailable
from core.ports import AdPlatform, RevokeAnswer, TokenSet
from tests import factories

HELD = TokenSet(access_token="at-held-123", refresh_token="rt-held-456")


class Revoker:
    """A platform that offers revoking, answering or failing as told."""

    name = "fake"

    def __init__(self, answer: RevokeAnswer | BaseException | None = None) -> None:
        self.answer = answer
        self.asked: list[TokenSet] = []

    async def revoke_tokens(self, tokens: TokenSet) -> RevokeAnswer:
        self.asked.append(tokens)
        if self.answer is None:
            await asyncio.Event().wait()  # never answers
        if isinstance(self.answer, BaseException):
            raise self.answer
        assert self.answer is not None
        return self.answer


async def _ask(
    platform: Revoker, tokens: TokenSet | None = HELD, wait_seconds: float = 5
) -> Revocation:
    # Only revoke_tokens (and name) is reached; the rest of AdPlatform is never called.
    return await revoke_at_platform(
        platform=cast(AdPlatform, platform), tokens=tokens, wait_seconds=wait_seconds
    )


async def _connected(session: AsyncSession) -> tuple[Actor, AdAccount]:
    org = await factories.org(session)
    account = await factories.ad_account(session, org, platform="google")
    await accounts.store_tokens(session=session, account_id=account.id, tokens=HELD)
    # store_tokens is a bulk UPDATE; reload as a later unit of work (the web route's) would.
    await session.refresh(account)
    return Actor(org_id=org.id, user_id=None, channel="web"), account


async def test_disconnect_returns_the_tokens_it_deleted(session: AsyncSession) -> None:
    actor, account = await _connected(session)
    gone = await manage.disconnect(session=session, actor=actor, account_id=account.id)
    assert gone.tokens is not None
    assert (gone.tokens.access_token, gone.tokens.refresh_token) == ("at-held-123", "rt-held-456")
    assert gone.account.access_token_encrypted is None
    again = await manage.disconnect(session=session, actor=actor, account_id=account.id)
    assert again.tokens is None


async def test_unreadable_tokens_are_deleted_with_nothing_to_revoke(session: AsyncSession) -> None:
    actor, account = await _connected(session)
    await session.execute(
        update(AdAccount)
        .where(AdAccount.id == account.id)
        .values(access_token_encrypted="not-a-fernet-token")
    )
    gone = await manage.disconnect(session=session, actor=actor, account_id=account.id)
    assert gone.tokens is None
    assert gone.account.access_token_encrypted is None


async def test_each_answer_becomes_its_outcome() -> None:
    revoked = await _ask(Revoker(RevokeAnswer.REVOKED))
    assert revoked.outcome is RevokeOutcome.REVOKED
    invalid = await _ask(Revoker(RevokeAnswer.ALREADY_INVALID))
    assert invalid.outcome is RevokeOutcome.ALREADY_INVALID


async def test_failures_and_surprises_are_outcomes_with_a_reason() -> None:
    down = await _ask(Revoker(PlatformUnavailable("google answered HTTP 503.")))
    assert (down.outcome, down.reason) == (RevokeOutcome.FAILED, "google answered HTTP 503.")
    odd = await _ask(Revoker(KeyError("at-held-123")))
    # The exception's text could hold anything; only its kind is kept.
    assert (odd.outcome, odd.reason) == (RevokeOutcome.FAILED, "unexpected KeyError")


async def test_a_platform_that_never_answers_is_cut_off() -> None:
    hung = await _ask(Revoker(None), wait_seconds=0.05)
    assert (hung.outcome, hung.reason) == (RevokeOutcome.FAILED, "no answer within 0.05 s")


async def test_nothing_held_asks_no_one_and_tiktok_is_not_offered() -> None:
    platform = Revoker(RevokeAnswer.REVOKED)
    nothing = await _ask(platform, tokens=None)
    assert nothing.outcome is RevokeOutcome.NOTHING_HELD
    assert platform.asked == []
    async with TikTokAdsAdapter(Settings()) as tiktok_adapter:
        tiktok = await revoke_at_platform(platform=tiktok_adapter, tokens=HELD, wait_seconds=5)
    assert tiktok.outcome is RevokeOutcome.NOT_OFFERED
