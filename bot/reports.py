"""Read tools: campaigns, performance, account overview and period comparison as Replies."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import charts
from bot.calls import call_tool
from bot.deps import BotDeps
from bot.replies import Chart, Reply, Table
from core.campaigns import lookup
from core.campaigns import service as campaigns
from core.metrics import service as metrics
from core.metrics.kpis import Totals
from core.metrics.windows import Window, resolve_window
from core.orgs import service as orgs
from core.orgs.models import Organization
from core.rbac import Permission, require
from core.users.models import User

TOTALS_COLUMNS = ["spend", "clicks", "conv.", "CPA", "ROAS", "CTR"]


def money(value: Decimal | None, currency: str = "") -> str:
    if value is None:
        return "–"
    text = f"{value:,.2f}"
    return f"{text} {currency}".strip()


def _number(value: Decimal | None, digits: int = 2, suffix: str = "") -> str:
    return "–" if value is None else f"{value:,.{digits}f}{suffix}"


def totals_cells(totals: Totals, currency: str) -> list[str]:
    return [
        money(totals.spend, currency),
        f"{totals.clicks:,}",
        _number(totals.conversions, 1),
        money(totals.cpa, currency),
        _number(totals.roas, 2, "x"),
        _number(totals.ctr, 2, "%"),
    ]


async def _org_window(
    session: AsyncSession, deps: BotDeps, window: str
) -> tuple[Organization, Window]:
    org = await orgs.get(session=session, org_id=deps.org_id)
    return org, resolve_window(window, tz=org.timezone)


async def list_campaigns(deps: BotDeps, *, platform: str | None = None) -> Reply:
    """List the org's campaigns (optionally one platform) with status and daily budget."""

    async def work(session: AsyncSession, user: User) -> Reply:
        require(user, Permission.VIEW)
        found = await campaigns.list_campaigns(
            session=session, org_id=deps.org_id, platform=platform, include_archived=False
        )
        if not found:
            where = f" on {platform}" if platform else ""
            return Reply(text=f"No campaigns{where} yet.")
        rows = [
            [c.name, c.platform, str(c.status.value), money(c.daily_budget, c.currency)]
            for c in found
        ]
        table = Table(columns=["campaign", "platform", "status", "daily budget"], rows=rows)
        return Reply(text=f"{len(found)} campaign(s):", table=table)

    return await call_tool(deps, "list_campaigns", {"platform": platform}, work)


async def account_overview(
    deps: BotDeps, *, window: str = "7d", platform: str | None = None
) -> Reply:
    """Spend, conversions, CPA and ROAS per platform and in total over a window."""

    async def work(session: AsyncSession, user: User) -> Reply:
        require(user, Permission.VIEW)
        org, span = await _org_window(session, deps, window)
        groups = await metrics.aggregate(
            session=session,
            org_id=deps.org_id,
            window=window,
            group_by="platform",
            platform=platform,
        )
        total = sum((group.totals for group in groups), Totals())
        rows = [[group.label, *totals_cells(group.totals, org.currency)] for group in groups]
        rows.append(["total", *totals_cells(total, org.currency)])
        series = await metrics.series(
            session=session, org_id=deps.org_id, window=window, group_by="org", platform=platform
        )
        title = f"Last {span.days} day(s), {span.first_day} to {span.last_day}"
        return Reply(
            text=f"*{title}*: spent {money(total.spend, org.currency)}, "
            f"{_number(total.conversions, 1)} conversions, CPA {money(total.cpa, org.currency)}.",
            table=Table(columns=["platform", *TOTALS_COLUMNS], rows=rows),
            chart=_chart(series, org.currency, title),
        )

    return await call_tool(deps, "account_overview", {"window": window, "platform": platform}, work)


async def campaign_performance(deps: BotDeps, *, campaign: str, window: str = "7d") -> Reply:
    """One campaign's figures over a window, with a daily spend/CPA chart."""

    async def work(session: AsyncSession, user: User) -> Reply:
        require(user, Permission.VIEW)
        _org, span = await _org_window(session, deps, window)
        target = await lookup.find(session=session, org_id=deps.org_id, query=campaign)
        groups = await metrics.aggregate(
            session=session,
            org_id=deps.org_id,
            window=window,
            group_by="campaign",
            campaign_ids=[target.id],
        )
        totals = groups[0].totals if groups else Totals()
        series = await metrics.series(
            session=session,
            org_id=deps.org_id,
            window=window,
            group_by="campaign",
            campaign_ids=[target.id],
        )
        title = f"{target.name} ({target.platform}), last {span.days} day(s)"
        return Reply(
            text=f"*{title}* — status {target.status.value}.",
            table=Table(columns=TOTALS_COLUMNS, rows=[totals_cells(totals, target.currency)]),
            chart=_chart(series, target.currency, title),
        )

    return await call_tool(
        deps, "campaign_performance", {"campaign": campaign, "window": window}, work
    )


async def compare_periods(
    deps: BotDeps, *, window: str = "7d", platform: str | None = None
) -> Reply:
    """This window against the equally long window before it, per platform, with % changes."""

    async def work(session: AsyncSession, user: User) -> Reply:
        require(user, Permission.VIEW)
        org, span = await _org_window(session, deps, window)
        comparisons = await metrics.compare(
            session=session,
            org_id=deps.org_id,
            window=window,
            group_by="platform",
            platform=platform,
        )
        rows = []
        for item in comparisons:
            rows.append(
                [
                    item.label,
                    money(item.current.spend, org.currency),
                    _pct(item.deltas["spend"].percent),
                    money(item.current.cpa, org.currency),
                    _pct(item.deltas["cpa"].percent),
                    _pct(item.deltas["conversions"].percent),
                ]
            )
        columns = ["platform", "spend", "Δ spend", "CPA", "Δ CPA", "Δ conv."]
        return Reply(
            text=f"Last {span.days} day(s) against the {span.days} before:",
            table=Table(columns=columns, rows=rows),
        )

    return await call_tool(deps, "compare_periods", {"window": window, "platform": platform}, work)


def _pct(value: Decimal | None) -> str:
    return "–" if value is None else f"{value:+.1f}%"


def _chart(series: list[Any], currency: str, title: str) -> Chart | None:
    """A daily spend/CPA line chart, or None with fewer than two days of data."""
    if len(series) < 2:
        return None
    days = [point.day for point in series]
    spend = [float(point.totals.spend) for point in series]
    cpa = [None if point.totals.cpa is None else float(point.totals.cpa) for point in series]
    png = charts.line_chart_png([("spend", spend), ("CPA", cpa)])
    alt = (
        f"{title}: daily spend from {money(Decimal(str(min(spend))), currency)} to "
        + money(Decimal(str(max(spend))), currency)
        + f" over {len(days)} days"
    )
    return Chart(png=png, alt_text=alt)
