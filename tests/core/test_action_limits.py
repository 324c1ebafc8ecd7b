"""The action limits table: per user and per org, moving window, on memory and on Redis."""

from __future__ import annotations

import uuid

import pytest

from core.action_limits import ACTION_LIMITS, ActionKind, ActionLimited, ActionLimiter


def test_the_table_is_the_products() -> None:
    assert {kind: (item.amount, item.get_expiry()) for kind, item in ACTION_LIMITS.items()} == {
        ActionKind.CAMPAIGN_CHANGE: (60, 60),
        ActionKind.ANALYTICS: (100, 60),
        ActionKind.AI: (10, 60),
        ActionKind.ADMIN: (30, 60),
    }


async def _exhaust(
    limiter: ActionLimiter, kind: ActionKind, org: uuid.UUID, user: uuid.UUID
) -> None:
    for _ in range(ACTION_LIMITS[kind].amount):
        await limiter.check(kind, org_id=org, user_id=user)


async def test_per_user_then_per_org_in_memory() -> None:
    await _per_user_then_per_org(ActionLimiter.for_url(None))


async def test_per_user_then_per_org_on_redis(redis_url: str) -> None:
    await _per_user_then_per_org(ActionLimiter.for_url(redis_url))


async def _per_user_then_per_org(limiter: ActionLimiter) -> None:
    org, dana, sam = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await _exhaust(limiter, ActionKind.AI, org, dana)
    with pytest.raises(ActionLimited) as refused:
        await limiter.check(ActionKind.AI, org_id=org, user_id=dana)
    assert refused.value.scope == "user"
    assert 1 <= refused.value.retry_after <= 60
    assert "at most 10 a minute per person" in refused.value.message
    # Other kinds and other orgs count apart.
    await limiter.check(ActionKind.ANALYTICS, org_id=org, user_id=dana)
    await limiter.check(ActionKind.AI, org_id=uuid.uuid4(), user_id=uuid.uuid4())
    # Sam has used nothing, but the org has used its ten.
    with pytest.raises(ActionLimited) as refused:
        await limiter.check(ActionKind.AI, org_id=org, user_id=sam)
    assert refused.value.scope == "org"


async def test_an_unreachable_store_lets_actions_through() -> None:
    limiter = ActionLimiter.for_url("redis://127.0.0.1:1/0")
    for _ in range(ACTION_LIMITS[ActionKind.AI].amount + 1):
        await limiter.check(ActionKind.AI, org_id=uuid.uuid4(), user_id=uuid.uuid4())
