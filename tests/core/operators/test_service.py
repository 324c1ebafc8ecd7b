"""The operator's cross-org views, on the worker session (BYPASSRLS on PostgreSQL)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from core.base import utcnow
from core.billing.plans import period_start
from core.operators import service as operators
from core.orgs.models import PlanTier
from core.users.models import Role
from tests import factories


async def test_org_usage_counts_people_accounts_and_this_months_ai(
    system_session: AsyncSession,
) -> None:
    current = await factories.org(system_session, name="Current", plan=PlanTier.STARTER)
    await factories.user(system_session, current, role=Role.ADMIN)
    quiet = await factories.user(system_session, current)
    quiet.is_active = False
    await factories.ad_account(system_session, current)
    current.ai_generations_used, current.ai_period_start = 7, period_start(utcnow())
    stale = await factories.org(system_session, name="Stale")
    stale.ai_generations_used, stale.ai_period_start = 49, date(2020, 1, 1)
    await system_session.flush()

    usage = {row.name: row for row in await operators.org_usage(session=system_session)}
    assert (usage["Current"].active_users, usage["Current"].ad_accounts) == (1, 1)
    assert (usage["Current"].ai_used, usage["Current"].ai_limit) == (7, 500)
    # A counter from an earlier month is this month's zero, as billing reads it.
    assert (usage["Stale"].ai_used, usage["Stale"].ai_limit) == (0, 50)


async def test_sync_health_puts_failures_first_and_keeps_one_scrubbed_line(
    system_session: AsyncSession,
) -> None:
    org = await factories.org(system_session)
    fine = await factories.ad_account(system_session, org)
    fine.sync_status, fine.last_synced_at = "ok", utcnow()
    broken = await factories.ad_account(system_session, org, platform="meta")
    broken.sync_status = "error"
    broken.last_error = "GET /act_1?access_token=EAAGm0PX4ZCpsBAKZA failed\ntraceback"
    await system_session.flush()

    health = await operators.sync_health(session=system_session)
    assert [a.sync_status for a in health.accounts] == ["error", "ok"]
    assert health.by_status == {"error": 1, "ok": 1}
    shown = health.accounts[0].last_error or ""
    assert "traceback" not in shown
    assert "EAAGm0PX4ZCpsBAKZA" not in shown
