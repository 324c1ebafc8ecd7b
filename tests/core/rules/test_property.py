"""Property: SQL aggregation + engine fire exactly where a brute-force Python reference does."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from core.rules.flows import evaluate
from tests import factories
from tests.core.rules.conftest import NOW, save_rule

TODAY = NOW.date()
WINDOW_DAYS = {"today": (0, 0), "yesterday": (1, 1), "last_3d": (2, 0), "last_7d": (6, 0)}
METRICS = ["spend", "clicks", "conversions", "ctr", "cpc", "cpa", "roas", "cpm"]
OPS = [">", ">=", "<", "<=", "==", "!="]

day_row = st.fixed_dictionaries(
    {
        "impressions": st.integers(0, 2000),
        "clicks": st.integers(0, 100),
        "spend": st.integers(0, 200),
        "conversions": st.integers(0, 5),
        "value": st.integers(0, 400),
    }
)
campaign_data = st.fixed_dictionaries(
    {
        "platform": st.sampled_from(["google", "meta"]),
        "name": st.sampled_from(["Summer A", "Winter B", "Summer C"]),
        "days": st.dictionaries(st.integers(0, 7), day_row, min_size=2, max_size=6),
    }
)
leaf = st.fixed_dictionaries(
    {
        "metric": st.sampled_from(METRICS),
        "op": st.sampled_from(OPS),
        "window": st.sampled_from(list(WINDOW_DAYS)),
        "threshold": st.sampled_from(["0", "1", "2", "5", "20", "50", "100", "0.5"]),
    }
)
rule_data = st.fixed_dictionaries(
    {
        "combinator": st.sampled_from(["all", "any"]),
        "leaves": st.lists(leaf, min_size=1, max_size=3),
        "scope": st.sampled_from(["all", "meta", "summer"]),
        "blended": st.booleans(),
        "min_spend": st.sampled_from([None, 0, 50, 300]),
        "exclude_today": st.booleans(),
    }
)


def _sums(days: dict[int, dict[str, int]], window: str, exclude_today: bool) -> dict[str, int]:
    oldest, newest = WINDOW_DAYS[window]
    if exclude_today and window != "yesterday":
        oldest, newest = oldest + 1, newest + 1
    picked = [row for ago, row in days.items() if newest <= ago <= oldest]
    return {key: sum(row[key] for row in picked) for key in day_row_keys()}


def day_row_keys() -> tuple[str, ...]:
    return ("impressions", "clicks", "spend", "conversions", "value")


def _metric(name: str, s: dict[str, int]) -> Fraction | None:
    pairs = {
        "spend": (s["spend"], 1),
        "clicks": (s["clicks"], 1),
        "conversions": (s["conversions"], 1),
        "ctr": (100 * s["clicks"], s["impressions"]),
        "cpc": (s["spend"], s["clicks"]),
        "cpa": (s["spend"], s["conversions"]),
        "roas": (s["value"], s["spend"]),
        "cpm": (1000 * s["spend"], s["impressions"]),
    }
    top, bottom = pairs[name]
    return None if bottom == 0 else Fraction(top, bottom)


def _holds(op: str, left: Fraction | None, right: Fraction) -> bool:
    if left is None:
        return False
    outcomes: dict[str, bool] = {
        ">": left > right,
        ">=": left >= right,
        "<": left < right,
        "<=": left <= right,
        "==": left == right,
        "!=": left != right,
    }
    return outcomes[op]


def _merge(members: list[dict[int, dict[str, int]]]) -> dict[int, dict[str, int]]:
    merged: dict[int, dict[str, int]] = {}
    for days in members:
        for ago, row in days.items():
            into = merged.setdefault(ago, dict.fromkeys(day_row_keys(), 0))
            for key in day_row_keys():
                into[key] += row[key]
    return merged


def _reference_fires(rule: dict[str, Any], days: dict[int, dict[str, int]]) -> bool:
    if rule["min_spend"] is not None:
        # The guards read the widest window any condition uses.
        guard_window = max(
            {leaf["window"] for leaf in rule["leaves"]},
            key=["today", "yesterday", "last_3d", "last_7d"].index,
        )
        if _sums(days, guard_window, rule["exclude_today"])["spend"] < rule["min_spend"]:
            return False
    results = [
        _holds(
            leaf["op"],
            _metric(leaf["metric"], _sums(days, leaf["window"], rule["exclude_today"])),
            Fraction(Decimal(leaf["threshold"])),
        )
        for leaf in rule["leaves"]
    ]
    return bool(all(results) if rule["combinator"] == "all" else any(results))


def _in_scope(rule: dict[str, Any], campaign: dict[str, Any]) -> bool:
    if rule["scope"] == "meta":
        return bool(campaign["platform"] == "meta")
    if rule["scope"] == "summer":
        return "summer" in campaign["name"].lower()
    return True


def _spec(rule: dict[str, Any]) -> dict[str, Any]:
    exclude = rule["exclude_today"] and all(leaf["window"] != "today" for leaf in rule["leaves"])
    rule["exclude_today"] = exclude
    scope: dict[str, Any] = {"blended": rule["blended"], "label": "B"}
    if rule["scope"] == "meta":
        scope.update(kind="platform", platforms=["meta"])
    elif rule["scope"] == "summer":
        scope.update(kind="name_contains", contains="summer")
    guards: dict[str, Any] = {"exclude_today": exclude}
    if rule["min_spend"] is not None:
        guards["min_spend"] = rule["min_spend"]
    return {
        "name": "prop",
        "scope": scope,
        "conditions": {rule["combinator"]: [dict(leaf) for leaf in rule["leaves"]]},
        "guards": guards,
    }


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(campaigns=st.lists(campaign_data, min_size=1, max_size=4), rule=rule_data)
async def test_evaluation_equals_brute_force(
    session: AsyncSession, campaigns: list[dict[str, Any]], rule: dict[str, Any]
) -> None:
    # A fresh org per example keeps examples apart inside the one rolled-back transaction.
    organization = await factories.org(session)
    accounts = {
        platform: await factories.ad_account(session, organization, platform=platform)
        for platform in ("google", "meta")
    }
    spec = _spec(rule)
    expected: set[str] = set()
    members = []
    for data in campaigns:
        target = await factories.campaign(session, accounts[data["platform"]], name=data["name"])
        for ago, row in data["days"].items():
            await factories.daily_metrics(
                session,
                target,
                first_day=TODAY - timedelta(days=ago),
                days=1,
                impressions=row["impressions"],
                clicks=row["clicks"],
                spend=Decimal(row["spend"]),
                conversions=Decimal(row["conversions"]),
                conversion_value=Decimal(row["value"]),
            )
        if _in_scope(rule, data):
            members.append(data["days"])
            if not rule["blended"] and _reference_fires(rule, data["days"]):
                expected.add(str(target.id))
    if rule["blended"] and members and _reference_fires(rule, _merge(members)):
        expected.add("blended:B")
    await save_rule(session, organization, **spec)
    result = await evaluate(session=session, now=NOW, org_id=organization.id)
    assert {firing.scope_key for firing in result.firings} == expected


def test_reference_window_arithmetic() -> None:
    days = {0: dict.fromkeys(day_row_keys(), 1), 1: dict.fromkeys(day_row_keys(), 10)}
    assert _sums(days, "last_3d", False)["spend"] == 11
    assert _sums(days, "last_3d", True)["spend"] == 10
    assert _sums(days, "today", False)["spend"] == 1
