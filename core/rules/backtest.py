"""Replay a rule over history: each day is judged as if it were the end of that day.

The org's metric rows are read once (one query) into per-campaign prefix sums; every
simulated day then resolves its windows exactly as the live cycle would and reuses the
engine. Cooldowns, pauses and budget changes carry over from day to day in the simulation.
"""

from __future__ import annotations

import bisect
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import BigInteger, cast, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from core.base import utcnow
from core.metrics.models import CampaignMetric
from core.metrics.windows import day_start, today_in
from core.orgs.models import Organization
from core.rules import service
from core.rules.aggregate import load_campaigns, resolve
from core.rules.engine import CampaignFacts, Firing, Raw, judge
from core.rules.flows import compile_rule
from core.rules.schemas import WindowKey

_M = CampaignMetric.__table__.c
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class BacktestHit:
    day: date
    scope_key: str
    campaign: str
    message: str
    observed: dict[str, str]
    action: str | None


@dataclass
class BacktestResult:
    rule_name: str
    first_day: date
    last_day: date
    campaigns: int
    hits: list[BacktestHit] = field(default_factory=list)

    @property
    def days_fired(self) -> list[date]:
        return sorted({hit.day for hit in self.hits})


class _Series:
    """One campaign's rows in time order with running sums, for O(log n) window totals."""

    def __init__(self) -> None:
        self.times: list[datetime] = []
        self.sums: list[tuple[int, int, int, int, int]] = [(0, 0, 0, 0, 0)]

    def add(self, moment: datetime, values: tuple[int, int, int, int, int]) -> None:
        last = self.sums[-1]
        self.times.append(moment)
        self.sums.append(tuple(a + b for a, b in zip(last, values, strict=True)))  # type: ignore[arg-type]

    def raw(self, start: datetime, end: datetime) -> Raw:
        low = bisect.bisect_left(self.times, start)
        high = bisect.bisect_left(self.times, end)
        first, last = self.sums[low], self.sums[high]
        return (
            last[0] - first[0],
            last[1] - first[1],
            last[2] - first[2],
            last[3] - first[3],
            last[4] - first[4],
        )


async def _load_series(
    session: AsyncSession, org_id: uuid.UUID, start: datetime, end: datetime
) -> dict[uuid.UUID, _Series]:
    query = (
        select(
            _M.campaign_id,
            _M.recorded_at,
            cast(_M.impressions, BigInteger),
            cast(_M.clicks, BigInteger),
            # Raw integer micros: the column type would turn them into Decimal amounts.
            type_coerce(_M.spend_micros, BigInteger),
            type_coerce(_M.conversions_micros, BigInteger),
            type_coerce(_M.conversion_value_micros, BigInteger),
        )
        .where(_M.org_id == org_id, _M.recorded_at >= start, _M.recorded_at < end)
        .order_by(_M.campaign_id, _M.recorded_at)
    )
    series: dict[uuid.UUID, _Series] = defaultdict(_Series)
    for row in await session.execute(query):
        values = (int(row[2]), int(row[3]), int(row[4]), int(row[5]), int(row[6]))
        series[row[0]].add(row[1], values)
    return series


def _bounds(
    keys: set[WindowKey], timezones: set[str], moments: list[datetime]
) -> tuple[datetime, datetime]:
    windows = [resolve(k, tz=tz, now=m) for k in keys for tz in timezones for m in moments]
    return min(w.start for w in windows), max(w.end for w in windows)


def _simulate(firing: Firing, campaigns: dict[uuid.UUID, CampaignFacts]) -> None:
    """Carry a firing's effect into the following days (a paused campaign stays paused)."""
    action = firing.action
    if action is None or firing.campaign_id is None:
        return
    campaign = campaigns[firing.campaign_id]
    if action.kind == "pause_campaign":
        campaign.status = "paused"
    elif action.kind == "resume_campaign":
        campaign.status = "active"
    elif action.kind == "set_budget":
        campaign.daily_budget = Decimal(action.arguments["daily_budget"])


async def backtest(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    rule_ref: str | uuid.UUID,
    days: int = 30,
    now: datetime | None = None,
) -> BacktestResult:
    """Which days and campaigns the rule would have fired on over the last `days` days."""
    rule = compile_rule(await service.get_rule(session=session, org_id=org_id, rule_ref=rule_ref))
    organization = await session.get(Organization, org_id)
    org_tz = organization.timezone if organization else "UTC"
    today = today_in(org_tz, now or utcnow())
    day_list = [today - timedelta(days=offset) for offset in range(days, 0, -1)]
    moments = [day_start(d + timedelta(days=1), org_tz) - _TICK for d in day_list]
    campaigns = await load_campaigns(session, org_filter=[org_id], statuses=("active", "paused"))
    # History cannot tell which campaigns were live: all start in the state the rule acts on.
    start_status = "paused" if rule.spec.action.type == "resume" else "active"
    for campaign in campaigns.values():
        campaign.status = start_status
        campaign.daily_budget = campaign.baseline_daily_budget or campaign.daily_budget
    result = BacktestResult(rule.name, day_list[0], day_list[-1], len(campaigns))
    if not campaigns:
        return result
    keys = rule.windows
    timezones = {c.timezone for c in campaigns.values()}
    ends = [day_start(d + timedelta(days=1), tz) - _TICK for d in day_list for tz in timezones]
    start, end = _bounds(keys, timezones, ends)
    series = await _load_series(session, org_id, start, end)
    last_fired: dict[tuple[uuid.UUID, str], datetime] = {}
    for day, moment in zip(day_list, moments, strict=True):
        _fill_day(campaigns, series, keys, day)
        for firing in judge(rule, campaigns.values(), now=moment, last_fired=last_fired):
            last_fired[(rule.id, firing.scope_key)] = moment
            result.hits.append(_hit(day, firing, campaigns))
            _simulate(firing, campaigns)
    return result


def _fill_day(
    campaigns: dict[uuid.UUID, CampaignFacts],
    series: dict[uuid.UUID, _Series],
    keys: set[WindowKey],
    day: date,
) -> None:
    empty = _Series()
    for campaign in campaigns.values():
        rows = series.get(campaign.id, empty)
        # The end of `day` where the campaign's account lives, as the live cycle would see it.
        moment = day_start(day + timedelta(days=1), campaign.timezone) - _TICK
        for key in keys:
            window = resolve(key, tz=campaign.timezone, now=moment)
            campaign.raw[key] = rows.raw(window.start, window.end)


def _hit(day: date, firing: Firing, campaigns: dict[uuid.UUID, CampaignFacts]) -> BacktestHit:
    name = campaigns[firing.campaign_id].name if firing.campaign_id else firing.scope_key
    return BacktestHit(
        day=day,
        scope_key=firing.scope_key,
        campaign=name,
        message=firing.message,
        observed=dict(firing.observed),
        action=firing.action.summary if firing.action else None,
    )
