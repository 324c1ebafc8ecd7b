"""AI generation quotas: race-free check-and-increment, refunds on failure, usage records."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.service import Actor, record
from core.base import utcnow
from core.billing.models import AIUsage
from core.billing.plans import PLANS, next_reset, period_start, plan_for
from core.errors import NotFound, QuotaExceeded
from core.orgs.models import Organization, PlanTier
from core.rbac import Permission, require
from core.users.models import User

SessionOpener = Callable[[], AbstractAsyncContextManager[AsyncSession]]

_ORGS = cast(Table, Organization.__table__)
_orgs = _ORGS.c


@dataclass(frozen=True)
class Reservation:
    """One counted generation: `used` includes it; refund it with release_generation()."""

    org_id: uuid.UUID
    period: date
    used: int
    limit: int
    resets_at: datetime


@dataclass(frozen=True)
class QuotaStatus:
    plan: PlanTier
    used: int
    limit: int
    resets_at: datetime

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


def _limit_sql() -> ColumnElement[Any]:
    """The plan table as a SQL CASE, so the limit is read in the same statement as the count."""
    return case(
        *((_orgs.plan == tier, plan.ai_generations_per_month) for tier, plan in PLANS.items()),
        else_=0,
    )


def _stale(period: date) -> ColumnElement[bool]:
    return or_(_orgs.ai_period_start.is_(None), _orgs.ai_period_start < period)


async def reserve_generation(
    *, session: AsyncSession, org_id: uuid.UUID, now: datetime | None = None
) -> Reservation:
    """Count one AI generation, or raise QuotaExceeded; one conditional UPDATE, so race-free.

    The month's reset happens in the same statement: a counter from an earlier month restarts
    at 1. Concurrent callers queue on the row lock and re-check the condition, so exactly
    `limit` of them can succeed in a month.
    """
    now = now or utcnow()
    period = period_start(now)
    stale = _stale(period)
    statement = (
        update(_ORGS)
        .where(_orgs.id == org_id, or_(stale, _orgs.ai_generations_used < _limit_sql()))
        .values(
            ai_generations_used=case((stale, 1), else_=_orgs.ai_generations_used + 1),
            ai_period_start=period,
        )
        .returning(_orgs.ai_generations_used, _orgs.plan)
    )
    row = (await session.execute(statement)).first()
    if row is None:
        status = await quota_status(session=session, org_id=org_id, now=now)
        raise QuotaExceeded(limit=status.limit, resets_at=status.resets_at)
    used, tier = row
    return Reservation(
        org_id=org_id,
        period=period,
        used=int(used),
        limit=plan_for(tier).ai_generations_per_month,
        resets_at=next_reset(now),
    )


async def release_generation(*, session: AsyncSession, reservation: Reservation) -> None:
    """Refund a reservation whose generation failed; a month that has moved on is left alone."""
    await session.execute(
        update(_ORGS)
        .where(
            _orgs.id == reservation.org_id,
            _orgs.ai_period_start == reservation.period,
            _orgs.ai_generations_used > 0,
        )
        .values(ai_generations_used=_orgs.ai_generations_used - 1)
    )


@asynccontextmanager
async def generation(
    *, sessions: SessionOpener, org_id: uuid.UUID, now: datetime | None = None
) -> AsyncIterator[Reservation]:
    """`async with generation(sessions=..., org_id=...)`: counts only if the block succeeds.

    The slot is reserved (and committed) before the block runs, so concurrent callers can
    never exceed the limit, and refunded if the block raises. `sessions` opens a committing
    transaction, e.g. `lambda: db.tenant(org_id)`; the slow AI call holds no row lock.
    """
    async with sessions() as session:
        reservation = await reserve_generation(session=session, org_id=org_id, now=now)
    try:
        yield reservation
    except BaseException:
        async with sessions() as session:
            await release_generation(session=session, reservation=reservation)
        raise


async def quota_status(
    *, session: AsyncSession, org_id: uuid.UUID, now: datetime | None = None
) -> QuotaStatus:
    """The org's plan, generations used this month (0 if the counter is from an earlier one)."""
    now = now or utcnow()
    row = (
        await session.execute(
            select(_orgs.plan, _orgs.ai_generations_used, _orgs.ai_period_start).where(
                _orgs.id == org_id
            )
        )
    ).first()
    if row is None:
        raise NotFound("No such organization.")
    tier, used, started = row
    current = started is not None and started >= period_start(now)
    return QuotaStatus(
        plan=PlanTier(tier),
        used=int(used) if current else 0,
        limit=plan_for(tier).ai_generations_per_month,
        resets_at=next_reset(now),
    )


async def record_usage(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    user_id: uuid.UUID | None,
    kind: str,
    model: str,
    input_tokens: int = 0,
    output_tokens: int = 0,
) -> AIUsage:
    """Record the tokens one AI call used (cost reporting; the quota counts generations)."""
    usage = AIUsage(
        org_id=org_id,
        user_id=user_id,
        kind=kind,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )
    session.add(usage)
    await session.flush()
    return usage


async def change_plan(
    *, session: AsyncSession, actor: Actor, plan: PlanTier, by: User | None = None
) -> Organization:
    """Move an org to another tier (audited); `by` must hold manage-billing when a user acts."""
    if by is not None:
        require(by, Permission.MANAGE_BILLING, org_id=actor.org_id)
    org = await session.get(Organization, actor.org_id)
    if org is None:
        raise NotFound("No such organization.")
    before = PlanTier(org.plan).value
    org.plan = plan
    await record(
        session=session,
        actor=actor,
        action="billing.plan_changed",
        resource_type="organization",
        resource_id=org.id,
        before={"plan": before},
        after={"plan": plan.value},
    )
    return org
