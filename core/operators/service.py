"""Cross-org views for the installation's operator: orgs and quotas, sync health, dead letters.

Every function reads across orgs, so it takes a worker-role session (`Database.system()`); the
web edge logs each read with the operator's name, and audit-logs each action.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts.models import AdAccount
from core.audit.service import Actor, record
from core.base import utcnow
from core.billing.plans import next_reset, period_start, plan_for
from core.events import dead_letters
from core.events.models import DeadLetterJob
from core.orgs.models import Organization, PlanTier
from core.redaction import redact
from core.users.models import User

# A page shows at most this many rows; an installation with more orgs pages through them.
PAGE_SIZE = 100


@dataclass(frozen=True)
class OrgUsage:
    org_id: uuid.UUID
    name: str
    slug: str
    plan: PlanTier
    subscription_status: str | None
    active_users: int
    ad_accounts: int
    ai_used: int
    ai_limit: int
    created_at: datetime


async def org_usage(
    *, session: AsyncSession, offset: int = 0, now: datetime | None = None
) -> list[OrgUsage]:
    """Every org with its plan, people, ad accounts and this month's AI generations."""
    now = now or utcnow()
    people = (
        select(User.org_id, func.count().label("n"))
        .where(User.is_active.is_(True))
        .group_by(User.org_id)
        .subquery()
    )
    accounts = (
        select(AdAccount.org_id, func.count().label("n")).group_by(AdAccount.org_id).subquery()
    )
    rows = await session.execute(
        select(Organization, func.coalesce(people.c.n, 0), func.coalesce(accounts.c.n, 0))
        .outerjoin(people, people.c.org_id == Organization.id)
        .outerjoin(accounts, accounts.c.org_id == Organization.id)
        .order_by(Organization.created_at.desc(), Organization.id)
        .offset(max(offset, 0))
        .limit(PAGE_SIZE)
    )
    month = period_start(now)
    usage: list[OrgUsage] = []
    for org, active_users, ad_accounts in rows:
        # A counter from an earlier month is this month's zero (as billing.quota_status reads it).
        current = org.ai_period_start is not None and org.ai_period_start >= month
        usage.append(
            OrgUsage(
                org_id=org.id,
                name=org.name,
                slug=org.slug,
                plan=PlanTier(org.plan),
                subscription_status=org.subscription_status,
                active_users=int(active_users),
                ad_accounts=int(ad_accounts),
                ai_used=org.ai_generations_used if current else 0,
                ai_limit=plan_for(org.plan).ai_generations_per_month,
                created_at=org.created_at,
            )
        )
    return usage


def quota_resets_at(now: datetime | None = None) -> datetime:
    return next_reset(now or utcnow())


@dataclass(frozen=True)
class AccountHealth:
    account_id: uuid.UUID
    org_name: str
    platform: str
    name: str
    sync_status: str
    last_synced_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class SyncHealth:
    accounts: list[AccountHealth]
    by_status: dict[str, int]


# Problems first: an operator opens this page to find what is broken.
_STATUS_ORDER = {"auth_error": 0, "error": 1, "never": 2, "ok": 3}


async def sync_health(*, session: AsyncSession) -> SyncHealth:
    """Each ad account's sync state (failing ones first) and how many are in each state."""
    rows = await session.execute(
        select(AdAccount, Organization.name).join(Organization, Organization.id == AdAccount.org_id)
    )
    accounts = [
        AccountHealth(
            account_id=account.id,
            org_name=org_name,
            platform=account.platform,
            name=account.name,
            sync_status=account.sync_status,
            last_synced_at=account.last_synced_at,
            # The first line is enough to triage; platform errors can echo request details.
            last_error=redact(account.last_error.splitlines()[0])[:300]
            if account.last_error
            else None,
        )
        for account, org_name in rows
    ]
    accounts.sort(
        key=lambda a: (
            _STATUS_ORDER.get(a.sync_status, 1),
            a.last_synced_at or datetime.min.replace(tzinfo=utcnow().tzinfo),
        )
    )
    return SyncHealth(
        accounts=accounts[:PAGE_SIZE], by_status=dict(Counter(a.sync_status for a in accounts))
    )


Enqueue = Callable[[str, str, dict[str, Any]], Awaitable[None]]


async def retry_dead_letter(
    *, session: AsyncSession, letter_id: uuid.UUID, enqueue: Enqueue, operator: Actor
) -> DeadLetterJob:
    """Claim the letter and queue its job again (`enqueue(job_name, job_id, arguments)`).

    Claimed and enqueued in one transaction, as `adpilot dead-letters retry` does: a failed
    enqueue rolls the claim back. Audit-logged in the letter's org (it is that org's job) or,
    for an org-less job, in the operator's own org.
    """
    letter = await dead_letters.mark_retried(session=session, letter_id=letter_id)
    await enqueue(letter.job_name, f"retry:{letter.id}", dict(letter.arguments))
    org_id = letter.org_id or operator.org_id
    await record(
        session=session,
        actor=Actor(
            org_id=org_id, user_id=operator.user_id, channel="operator", source=operator.source
        ),
        action="operator.dead_letter_retry",
        resource_type="dead_letter",
        resource_id=letter.id,
        after={"job_name": letter.job_name, "attempts": letter.attempts},
    )
    return letter


async def org_names(*, session: AsyncSession) -> dict[uuid.UUID, str]:
    """Every org's name by id: the audit search's org filter and the dead letters' labels."""
    rows = await session.execute(select(Organization.id, Organization.name))
    return {org_id: name for org_id, name in rows}
