"""AI generation quotas: check-and-increment, monthly reset, refunds, races on real databases."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.models import AuditLog
from core.audit.service import Actor
from core.billing import service as quota
from core.billing.models import AIUsage
from core.db import Database
from core.errors import PermissionDenied, QuotaExceeded
from core.orgs.models import Organization, PlanTier
from core.users.models import Role
from tests import factories

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
NEXT_MONTH = datetime(2026, 12, 2, 9, tzinfo=UTC)


async def counter(session: AsyncSession, org_id: uuid.UUID) -> tuple[int, date | None]:
    row = (
        await session.execute(
            select(Organization.ai_generations_used, Organization.ai_period_start).where(
                Organization.id == org_id
            )
        )
    ).one()
    return int(row[0]), row[1]


async def test_reserve_counts_up_to_the_limit_then_raises(session: AsyncSession) -> None:
    org = await factories.org(session, plan=PlanTier.FREE)
    for expected in range(1, 51):
        reservation = await quota.reserve_generation(session=session, org_id=org.id, now=NOW)
        assert reservation.used == expected
        assert reservation.limit == 50
    with pytest.raises(QuotaExceeded) as info:
        await quota.reserve_generation(session=session, org_id=org.id, now=NOW)
    assert info.value.limit == 50
    assert info.value.resets_at == datetime(2026, 12, 1, tzinfo=UTC)
    assert "2026-12-01" in info.value.message
    assert await counter(session, org.id) == (50, date(2026, 11, 1))


async def test_the_limit_follows_the_plan(session: AsyncSession) -> None:
    org = await factories.org(session, plan=PlanTier.STARTER)
    reservation = await quota.reserve_generation(session=session, org_id=org.id, now=NOW)
    assert reservation.limit == 500
    status = await quota.quota_status(session=session, org_id=org.id, now=NOW)
    assert (status.plan, status.used, status.limit, status.remaining) == (
        PlanTier.STARTER,
        1,
        500,
        499,
    )


async def test_a_new_month_resets_the_counter(session: AsyncSession) -> None:
    org = await factories.org(session)
    for _ in range(50):
        await quota.reserve_generation(session=session, org_id=org.id, now=NOW)
    status = await quota.quota_status(session=session, org_id=org.id, now=NEXT_MONTH)
    assert status.used == 0
    assert status.resets_at == datetime(2027, 1, 1, tzinfo=UTC)

    reservation = await quota.reserve_generation(session=session, org_id=org.id, now=NEXT_MONTH)
    assert reservation.used == 1
    assert reservation.period == date(2026, 12, 1)
    assert await counter(session, org.id) == (1, date(2026, 12, 1))


async def test_a_refund_gives_the_slot_back_in_the_same_month_only(session: AsyncSession) -> None:
    org = await factories.org(session)
    first = await quota.reserve_generation(session=session, org_id=org.id, now=NOW)
    await quota.reserve_generation(session=session, org_id=org.id, now=NOW)
    await quota.release_generation(session=session, reservation=first)
    assert (await counter(session, org.id))[0] == 1

    late = await quota.reserve_generation(session=session, org_id=org.id, now=NOW)
    await quota.reserve_generation(session=session, org_id=org.id, now=NEXT_MONTH)
    # The month moved on after `late` was reserved: refunding it must not eat December's count.
    await quota.release_generation(session=session, reservation=late)
    assert await counter(session, org.id) == (1, date(2026, 12, 1))


async def test_downgraded_org_over_its_new_limit_is_refused(session: AsyncSession) -> None:
    org = await factories.org(session, plan=PlanTier.STARTER)
    for _ in range(60):
        await quota.reserve_generation(session=session, org_id=org.id, now=NOW)
    org.plan = PlanTier.FREE
    await session.flush()
    with pytest.raises(QuotaExceeded) as info:
        await quota.reserve_generation(session=session, org_id=org.id, now=NOW)
    assert info.value.limit == 50


async def test_record_usage_stores_tokens_and_model(session: AsyncSession) -> None:
    org = await factories.org(session)
    user = await factories.user(session, org)
    usage = await quota.record_usage(
        session=session,
        org_id=org.id,
        user_id=user.id,
        kind="ad_copy",
        model="openai:gpt-5-mini",
        input_tokens=812,
        output_tokens=240,
    )
    stored = await session.scalar(select(AIUsage).where(AIUsage.id == usage.id))
    assert stored is not None
    assert (stored.kind, stored.model, stored.input_tokens, stored.output_tokens) == (
        "ad_copy",
        "openai:gpt-5-mini",
        812,
        240,
    )


async def test_change_plan_needs_manage_billing_and_is_audited(session: AsyncSession) -> None:
    org = await factories.org(session)
    manager = await factories.user(session, org, role=Role.MANAGER)
    admin = await factories.user(session, org, role=Role.ADMIN)
    actor = Actor(org_id=org.id, user_id=manager.id, channel="web")
    with pytest.raises(PermissionDenied):
        await quota.change_plan(session=session, actor=actor, plan=PlanTier.PRO, by=manager)
    admin_actor = Actor(org_id=org.id, user_id=admin.id, channel="web")
    await quota.change_plan(session=session, actor=admin_actor, plan=PlanTier.PRO, by=admin)
    reservation = await quota.reserve_generation(session=session, org_id=org.id, now=NOW)
    assert reservation.limit == 5_000
    entry = await session.scalar(select(AuditLog).where(AuditLog.org_id == org.id))
    assert entry is not None
    assert (entry.action, entry.before, entry.after) == (
        "billing.plan_changed",
        {"plan": "free"},
        {"plan": "pro"},
    )


# --- committed for real, concurrent callers -------------------------------------------------


async def new_org(database: Database, plan: PlanTier = PlanTier.FREE) -> uuid.UUID:
    async with database.system() as session:
        return (await factories.org(session, plan=plan)).id


async def committed_count(database: Database, org_id: uuid.UUID) -> int:
    async with database.tenant(org_id) as session:
        return (await counter(session, org_id))[0]


async def test_60_concurrent_reservations_against_50_exactly_50_win(database: Database) -> None:
    org_id = await new_org(database)

    async def attempt() -> bool:
        try:
            async with database.tenant(org_id) as session:
                await quota.reserve_generation(session=session, org_id=org_id, now=NOW)
        except QuotaExceeded:
            return False
        return True

    outcomes = await asyncio.gather(*(attempt() for _ in range(60)))
    assert outcomes.count(True) == 50
    assert outcomes.count(False) == 10
    assert await committed_count(database, org_id) == 50


async def test_concurrent_month_rollover_resets_once(database: Database) -> None:
    org_id = await new_org(database)
    for _ in range(50):
        async with database.tenant(org_id) as session:
            await quota.reserve_generation(session=session, org_id=org_id, now=NOW)

    async def attempt() -> int:
        async with database.tenant(org_id) as session:
            reservation = await quota.reserve_generation(
                session=session, org_id=org_id, now=NEXT_MONTH
            )
            return reservation.used

    used = await asyncio.gather(*(attempt() for _ in range(20)))
    # Had two callers both "reset", two would see used == 1 and the count would be short.
    assert sorted(used) == list(range(1, 21))
    assert await committed_count(database, org_id) == 20


class GenerationFailed(Exception):
    pass


async def test_generation_counts_only_successful_blocks(database: Database) -> None:
    org_id = await new_org(database)
    # Only a reservation raises the counter, so the highest value a reservation returned is
    # the counter's peak over the whole run.
    peak_reserved = 0
    sampled: list[int] = []
    running = True

    async def attempt(n: int) -> str:
        nonlocal peak_reserved
        try:
            async with quota.generation(
                sessions=lambda: database.tenant(org_id), org_id=org_id, now=NOW
            ) as reservation:
                peak_reserved = max(peak_reserved, reservation.used)
                await asyncio.sleep(0)  # the AI call; others run meanwhile
                if n % 3 == 0:
                    raise GenerationFailed
        except GenerationFailed:
            return "failed"
        except QuotaExceeded:
            return "refused"
        return "ok"

    async def observe() -> None:
        """An outside reader of the committed counter while the callers race."""
        while running:
            sampled.append(await committed_count(database, org_id))
            await asyncio.sleep(0)

    observer = asyncio.create_task(observe())
    outcomes = await asyncio.gather(*(attempt(n) for n in range(90)))
    running = False
    await observer
    ok = outcomes.count("ok")
    assert 0 < ok <= 50
    assert outcomes.count("failed") > 0
    assert outcomes.count("refused") > 0
    # The limit held at every moment, not only at the end.
    assert ok <= peak_reserved <= 50
    assert sampled
    assert max(sampled) <= 50
    # Only successes stay counted.
    assert await committed_count(database, org_id) == ok


async def test_generation_refunds_on_cancellation(database: Database) -> None:
    org_id = await new_org(database)
    started = asyncio.Event()

    async def slow_generation() -> None:
        async with quota.generation(sessions=lambda: database.tenant(org_id), org_id=org_id):
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(slow_generation())
    await started.wait()
    assert await committed_count(database, org_id) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await committed_count(database, org_id) == 0
