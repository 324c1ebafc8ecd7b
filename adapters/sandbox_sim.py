"""The sandbox's deterministic traffic model: pure functions of (seed, hour, state), no I/O.

Per campaign: a mean-reverting random walk on demand (AR(1) in log space, evaluated from the
last 20 daily shocks so any day can be computed on its own), weekday seasonality, a diurnal
curve over the account's local hours, and "bad days" where conversion rate collapses so the
CPA spikes — what a CPA rule should catch. Same seed and state give the same numbers forever.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from adapters.money import quantum
from core.ports import MetricRow

Profile = Literal["steady", "volatile", "failing"]
PROFILES: tuple[Profile, ...] = ("steady", "volatile", "failing")

# Monday..Sunday demand multipliers (B2C-like: midweek strong, Saturday weakest).
WEEKDAY_SEASON = (1.00, 1.06, 1.08, 1.04, 0.96, 0.82, 0.88)
# Share of a day's delivery per local hour: quiet nights, a lunch bump, an evening peak.
_DIURNAL_RAW = (
    0.8,
    0.5,
    0.35,
    0.3,
    0.3,
    0.45,
    0.9,
    1.6,
    2.3,
    2.8,
    3.0,
    3.2,
    3.5,
    3.3,
    3.1,
    3.0,
    3.1,
    3.4,
    3.9,
    4.3,
    4.4,
    3.8,
    2.6,
    1.5,
)
DIURNAL = tuple(weight / sum(_DIURNAL_RAW) for weight in _DIURNAL_RAW)
# Rough units of each currency per US dollar, so CPMs and order values look local.
_CURRENCY_SCALE = {
    "JPY": 150,
    "KRW": 1350,
    "INR": 83,
    "BRL": 5,
    "MXN": 17,
    "SEK": 10,
    "NOK": 10,
    "DKK": 7,
    "PLN": 4,
    "CZK": 23,
    "HUF": 360,
    "IDR": 15600,
    "VND": 24500,
    "CLP": 900,
    "COP": 3900,
    "TWD": 32,
    "ZAR": 18,
    "TRY": 32,
    "THB": 36,
    "PHP": 56,
}
_WALK_MEMORY = 20
_WALK_DECAY = 0.8


@dataclass(frozen=True)
class ProfileShape:
    noise: float  # sd of the daily log-demand shock
    bad_day_rate: float  # chance a day's conversion rate collapses
    cvr_scale: float  # multiplier on the campaign's base conversion rate


SHAPES: dict[str, ProfileShape] = {
    "steady": ProfileShape(noise=0.08, bad_day_rate=0.06, cvr_scale=1.0),
    "volatile": ProfileShape(noise=0.2, bad_day_rate=0.15, cvr_scale=0.9),
    "failing": ProfileShape(noise=0.12, bad_day_rate=0.3, cvr_scale=0.35),
}


@dataclass(frozen=True)
class CampaignTraits:
    """Per-campaign constants drawn once from its seed."""

    cpm_usd: float
    ctr: float
    cvr: float
    order_value_usd: float
    utilisation: float


@dataclass(frozen=True)
class HourFigures:
    impressions: int
    clicks: int
    spend: Decimal
    conversions: Decimal
    conversion_value: Decimal


@lru_cache(maxsize=4096)
def traits(seed: int) -> CampaignTraits:
    rng = random.Random(f"traits:{seed}")
    return CampaignTraits(
        cpm_usd=rng.uniform(8.0, 24.0),
        ctr=rng.uniform(0.007, 0.02),
        cvr=rng.uniform(0.02, 0.05),
        order_value_usd=rng.uniform(60.0, 160.0),
        utilisation=rng.uniform(0.78, 0.97),
    )


@lru_cache(maxsize=65536)
def _shock(seed: int, ordinal: int) -> float:
    return random.Random(f"shock:{seed}:{ordinal}").gauss(0.0, 1.0)


@lru_cache(maxsize=65536)
def demand(seed: int, day: date, profile: str) -> float:
    """Weekday season times exp(AR(1) walk), around 1.0."""
    shape = SHAPES[profile]
    ordinal = day.toordinal()
    walk = sum((_WALK_DECAY**lag) * _shock(seed, ordinal - lag) for lag in range(_WALK_MEMORY))
    return WEEKDAY_SEASON[day.weekday()] * math.exp(shape.noise * walk)


def is_bad_day(seed: int, day: date, profile: str) -> bool:
    rng = random.Random(f"bad:{seed}:{day.toordinal()}")
    return rng.random() < SHAPES[profile].bad_day_rate


def _money(value: float, currency: str) -> Decimal:
    return Decimal(repr(value)).quantize(quantum(currency), rounding=ROUND_HALF_EVEN)


def _count(expected: float, rng: random.Random) -> int:
    # Unbiased integer rounding: the fractional part becomes a probability.
    return math.floor(expected + rng.random())


def hour_figures(
    *, seed: int, day: date, hour: int, daily_budget: Decimal, currency: str, profile: str
) -> HourFigures:
    """One delivering hour of one campaign."""
    trait = traits(seed)
    scale = _CURRENCY_SCALE.get(currency.upper(), 1)
    target = float(daily_budget) * trait.utilisation * demand(seed, day, profile)
    spend = min(target, float(daily_budget)) * DIURNAL[hour]
    rng = random.Random(f"hour:{seed}:{day.toordinal()}:{hour}")
    cpm = trait.cpm_usd * scale * rng.uniform(0.9, 1.1)
    impressions = _count(spend / cpm * 1000, rng)
    clicks = _count(impressions * trait.ctr * rng.uniform(0.85, 1.15), rng)
    cvr = trait.cvr * SHAPES[profile].cvr_scale
    if is_bad_day(seed, day, profile):
        cvr *= 0.25
    conversions = _count(clicks * cvr, rng)
    value = conversions * trait.order_value_usd * scale * rng.uniform(0.8, 1.2)
    return HourFigures(
        impressions=impressions,
        clicks=clicks,
        spend=_money(spend, currency) if impressions else Decimal(0),
        conversions=Decimal(conversions),
        conversion_value=_money(value, currency),
    )


@dataclass(frozen=True)
class Revision:
    """A campaign's state from `at` on (one sandbox history row)."""

    at: datetime
    status: str
    daily_budget: Decimal | None
    profile: str


def campaign_rows(
    *,
    campaign_id: str,
    seed: int,
    revisions: list[Revision],
    currency: str,
    zone: ZoneInfo,
    start_date: date,
    end_date: date,
    now: datetime,
    hourly: bool,
) -> list[MetricRow]:
    """Rows for one campaign: only completed hours in which it was ACTIVE with a budget."""
    starts = [revision.at for revision in revisions]
    profile = revisions[0].profile if revisions[0].profile in PROFILES else "steady"
    rows: list[MetricRow] = []
    day = start_date
    while day <= end_date:
        hours: list[MetricRow] = []
        for hour in range(24):
            begins = datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)
            if begins + timedelta(hours=1) > now:
                break
            index = bisect.bisect_right(starts, begins) - 1
            if index < 0:
                continue
            state = revisions[index]
            if state.status != "ACTIVE" or not state.daily_budget:
                continue
            figures = hour_figures(
                seed=seed,
                day=day,
                hour=hour,
                daily_budget=state.daily_budget,
                currency=currency,
                profile=profile,
            )
            if figures.impressions:
                hours.append(_row(campaign_id, day, hour, figures, currency))
        rows.extend(hours if hourly else _day_total(hours))
        day += timedelta(days=1)
    return rows


def _row(
    campaign_id: str, day: date, hour: int | None, figures: HourFigures, currency: str
) -> MetricRow:
    return MetricRow(
        campaign_external_id=campaign_id,
        day=day,
        hour=hour,
        impressions=figures.impressions,
        clicks=figures.clicks,
        spend=figures.spend,
        conversions=figures.conversions,
        conversion_value=figures.conversion_value,
        currency=currency,
    )


def _day_total(hours: list[MetricRow]) -> list[MetricRow]:
    if not hours:
        return []
    first = hours[0]
    return [
        first.model_copy(
            update={
                "hour": None,
                "impressions": sum(row.impressions for row in hours),
                "clicks": sum(row.clicks for row in hours),
                "spend": sum((row.spend for row in hours), Decimal(0)),
                "conversions": sum((row.conversions for row in hours), Decimal(0)),
                "conversion_value": sum((row.conversion_value for row in hours), Decimal(0)),
            }
        )
    ]
