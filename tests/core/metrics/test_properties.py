"""Property tests: KPI math against an exact Fraction reference; DB sums against Python sums."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from core.metrics import service
from core.metrics.kpis import ALL_METRICS, Totals
from core.metrics.schemas import MetricIn, delta
from core.metrics.windows import day_start
from tests import factories

counts = st.integers(min_value=0, max_value=10**12)
micros = st.integers(min_value=0, max_value=10**15).map(lambda m: Decimal(m) / 10**6)
totals_strategy = st.builds(
    Totals,
    impressions=counts,
    clicks=counts,
    spend=micros,
    conversions=micros,
    conversion_value=micros,
)


def _reference(t: Totals) -> dict[str, Fraction | None]:
    def ratio(num: Fraction, den: Fraction, scale: int = 1) -> Fraction | None:
        return None if den == 0 else num / den * scale

    imp, clk = Fraction(t.impressions), Fraction(t.clicks)
    spend, conv, value = Fraction(t.spend), Fraction(t.conversions), Fraction(t.conversion_value)
    return {
        "ctr": ratio(clk, imp, 100),
        "cpc": ratio(spend, clk),
        "cpm": ratio(spend, imp, 1000),
        "cpa": ratio(spend, conv),
        "roas": ratio(value, spend),
        "conversion_rate": ratio(conv, clk, 100),
    }


def _close(actual: Decimal, expected: Fraction) -> bool:
    # Decimal division keeps 28 significant digits; allow a relative error far below that.
    error = abs(Fraction(actual) - expected)
    return error <= abs(expected) * Fraction(1, 10**24) + Fraction(1, 10**30)


@given(totals_strategy)
def test_derived_kpis_match_exact_reference(totals: Totals) -> None:
    for name, expected in _reference(totals).items():
        actual = totals.metric(name)
        if expected is None:
            assert actual is None, name
        else:
            assert actual is not None, name
            assert actual.is_finite(), name
            assert _close(actual, expected), (name, actual, expected)


@given(totals_strategy)
def test_zero_denominators_give_none_never_raise(totals: Totals) -> None:
    empty = Totals(spend=totals.spend, conversion_value=totals.conversion_value)
    assert empty.ctr is None
    assert empty.cpc is None
    assert empty.cpm is None
    assert empty.cpa is None
    assert empty.conversion_rate is None
    assert (empty.roas is None) == (empty.spend == 0)
    for name in ALL_METRICS:
        empty.metric(name)


@given(totals_strategy, totals_strategy, totals_strategy)
def test_addition_is_fieldwise_associative_and_commutative(a: Totals, b: Totals, c: Totals) -> None:
    assert a + b == b + a
    assert (a + b) + c == a + (b + c)
    assert (a + Totals()) == a
    assert (a + b).spend == a.spend + b.spend
    assert (a + b).impressions == a.impressions + b.impressions


@given(st.none() | micros, st.none() | micros)
def test_delta_percent_is_none_when_previous_is_zero_or_missing(
    current: Decimal | None, previous: Decimal | None
) -> None:
    result = delta(current, previous)
    if current is None or previous is None:
        assert result == delta(None, None)
        return
    assert result.absolute == current - previous
    if previous == 0:
        assert result.percent is None
    else:
        assert result.percent is not None
        assert _close(
            result.percent, (Fraction(current) - Fraction(previous)) / Fraction(previous) * 100
        )


FIRST = date(2026, 1, 1)
metric_rows = st.lists(
    st.tuples(
        st.integers(0, 2),  # campaign index
        st.integers(0, 9),  # day offset
        st.integers(0, 10**9),  # impressions
        st.integers(0, 10**6),  # clicks
        st.integers(0, 10**12).map(lambda m: Decimal(m) / 10**6),  # spend
        st.integers(0, 10**9).map(lambda m: Decimal(m) / 10**6),  # conversions
    ),
    max_size=40,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rows=metric_rows)
async def test_aggregation_equals_python_sum(
    session: AsyncSession, rows: list[tuple[int, int, int, int, Decimal, Decimal]]
) -> None:
    async with session.begin_nested() as savepoint:
        org = await factories.org(session)
        account = await factories.ad_account(session, org, timezone="Europe/Berlin")
        campaigns = [await factories.campaign(session, account) for _ in range(3)]
        inputs = [
            MetricIn(
                campaign_id=campaigns[index].id,
                platform=account.platform,
                recorded_at=day_start(FIRST + timedelta(days=offset), "Europe/Berlin"),
                org_id=org.id,
                impressions=impressions,
                clicks=clicks,
                spend=spend,
                conversions=conversions,
                conversion_value=spend * 3,
            )
            for index, offset, impressions, clicks, spend, conversions in rows
        ]
        await service.upsert(session=session, rows=inputs)
        # Reference: the last row per natural key wins, then plain Python sums.
        latest = {(row.campaign_id, row.recorded_at): row for row in inputs}
        expected: dict[str, Totals] = {}
        for row in latest.values():
            key = str(row.campaign_id)
            expected[key] = expected.get(key, Totals()) + Totals(
                row.impressions, row.clicks, row.spend, row.conversions, row.conversion_value
            )
        window = service.WindowSpec(name="lifetime", now=datetime(2026, 2, 1, tzinfo=UTC))
        got = await service.aggregate(session=session, org_id=org.id, window=window)
        assert {a.key: a.totals for a in got} == expected
        blended = await service.totals(session=session, org_id=org.id, window=window)
        assert blended == sum(expected.values(), Totals())
        await savepoint.rollback()
