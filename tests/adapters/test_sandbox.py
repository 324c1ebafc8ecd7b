"""The sandbox platform on SQLite and PostgreSQL: state sticks, metrics are deterministic."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from adapters import build_registry, get_adapter
from adapters.sandbox import CampaignSpec, SandboxAdapter
from core.errors import InvalidRequest, NotFound, PlatformNotFound
from core.ports import CampaignChanges

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
TOKEN = "sbx"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def _provision(sandbox: SandboxAdapter, **kwargs):
    return await sandbox.provision_account(
        name=kwargs.pop("name", "Acme"),
        history_days=kwargs.pop("history_days", 28),
        campaigns=kwargs.pop(
            "campaigns",
            [
                CampaignSpec(name="Brand", daily_budget=Decimal("200")),
                CampaignSpec(name="Prospecting", daily_budget=Decimal("150"), profile="failing"),
            ],
        ),
        **kwargs,
    )


async def test_pause_sticks_across_instances_and_in_metrics(database) -> None:
    clock = Clock(NOW)
    sandbox = SandboxAdapter(database, clock=clock)
    made = await _provision(sandbox)
    account, brand = made.account.external_id, made.campaigns[0].external_id
    await sandbox.pause_campaign(account, brand, access_token=TOKEN)
    clock.now = NOW + timedelta(days=3)

    other = SandboxAdapter(database.worker_sessions, clock=clock)  # a new process, same rows
    [listed] = [
        c for c in await other.list_campaigns(account, access_token=TOKEN) if c.external_id == brand
    ]
    assert listed.status == "PAUSED"
    rows = await other.get_metrics(account, brand, date(2026, 11, 18), date(2026, 11, 22), TOKEN)
    by_day = {row.day: row for row in rows}
    assert set(by_day) == {date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20)}
    hours = await other.get_hourly_metrics(account, brand, NOW.date(), NOW.date(), TOKEN)
    assert max(row.hour for row in hours if row.hour is not None) == 15  # the pause at 15:30

    await other.resume_campaign(account, brand, access_token=TOKEN)
    clock.now = NOW + timedelta(days=5)
    rows = await other.get_metrics(account, brand, date(2026, 11, 21), date(2026, 11, 24), TOKEN)
    assert [row.day for row in rows] == [date(2026, 11, 23), date(2026, 11, 24)]


async def test_metrics_are_deterministic_and_hourly_adds_up(database) -> None:
    sandbox = SandboxAdapter(database, clock=Clock(NOW))
    made = await _provision(sandbox, seed=42)
    account = made.account.external_id
    start, end = date(2026, 11, 1), date(2026, 11, 19)
    daily = await sandbox.get_metrics(account, None, start, end, TOKEN)
    assert daily == await sandbox.get_metrics(account, None, start, end, TOKEN)
    hourly = await sandbox.get_hourly_metrics(account, None, start, end, TOKEN)
    for row in daily:
        hours = [
            h
            for h in hourly
            if (h.campaign_external_id, h.day) == (row.campaign_external_id, row.day)
        ]
        assert sum(h.spend for h in hours) == row.spend
        assert sum(h.clicks for h in hours) == row.clicks
        assert row.spend <= Decimal("200.24")  # within budget, give or take hourly cents
    night = sum(h.spend for h in hourly if h.hour == 3)
    evening = sum(h.spend for h in hourly if h.hour == 20)
    assert evening > 5 * night


async def test_bad_days_spike_cpa(database) -> None:
    sandbox = SandboxAdapter(database, clock=Clock(NOW))
    made = await _provision(sandbox, seed=7, history_days=90)
    account = made.account.external_id
    brand, failing = (c.external_id for c in made.campaigns)
    rows = await sandbox.get_metrics(account, None, date(2026, 8, 23), date(2026, 11, 19), TOKEN)

    def cpa(campaign: str) -> list[Decimal]:
        return [
            r.spend / r.conversions
            for r in rows
            if r.campaign_external_id == campaign and r.conversions
        ]

    brand_cpa, failing_cpa = sorted(cpa(brand)), sorted(cpa(failing))
    median = brand_cpa[len(brand_cpa) // 2]
    assert brand_cpa[-1] > 2 * median  # occasional bad days a CPA rule should catch
    assert failing_cpa[len(failing_cpa) // 2] > Decimal("1.5") * median


async def test_budget_change_moves_spend_from_then_on(database) -> None:
    clock = Clock(NOW)
    sandbox = SandboxAdapter(database, clock=clock)
    made = await _provision(sandbox, seed=3)
    account, brand = made.account.external_id, made.campaigns[0].external_id
    before = await sandbox.get_metrics(account, brand, date(2026, 11, 1), date(2026, 11, 19), TOKEN)
    await sandbox.update_budget(account, brand, Decimal("20"), access_token=TOKEN)
    clock.now = NOW + timedelta(days=4)
    after = await sandbox.get_metrics(account, brand, date(2026, 11, 1), date(2026, 11, 23), TOKEN)
    assert after[: len(before)] == before  # history does not change
    assert all(row.spend <= Decimal("20.10") for row in after if row.day >= date(2026, 11, 21))


async def test_zero_decimal_currency_and_local_days(database) -> None:
    sandbox = SandboxAdapter(database, clock=Clock(NOW))
    made = await _provision(
        sandbox,
        name="Tokyo",
        currency="JPY",
        timezone="Asia/Tokyo",
        campaigns=[CampaignSpec(name="JP", daily_budget=Decimal("30000"))],
    )
    rows = await sandbox.get_metrics(
        made.account.external_id, None, date(2026, 11, 10), date(2026, 11, 12), TOKEN
    )
    assert rows
    assert all(row.spend == row.spend.to_integral_value() for row in rows)
    assert all(row.currency == "JPY" for row in rows)
    with pytest.raises(InvalidRequest):
        await sandbox.update_budget(
            made.account.external_id,
            made.campaigns[0].external_id,
            Decimal("100.5"),
            access_token=TOKEN,
        )


async def test_errors_look_like_a_platform(database) -> None:
    sandbox = SandboxAdapter(database, clock=Clock(NOW))
    made = await _provision(sandbox)
    account, brand = made.account.external_id, made.campaigns[0].external_id
    with pytest.raises(PlatformNotFound):
        await sandbox.pause_campaign(account, "sbxc-nope", access_token=TOKEN)
    with pytest.raises(PlatformNotFound):
        await sandbox.list_campaigns("sbx-nope", access_token=TOKEN)
    await sandbox.update_campaign(
        account, brand, CampaignChanges(status="ARCHIVED"), access_token=TOKEN
    )
    with pytest.raises(InvalidRequest):
        await sandbox.resume_campaign(account, brand, access_token=TOKEN)


async def test_registry_and_get_adapter(database, settings) -> None:
    registry = build_registry(settings, database)
    assert registry.names() == ["google", "meta", "sandbox", "tiktok"]
    assert registry.get("sandbox").name == "sandbox"
    assert get_adapter("sandbox", settings=settings, database=database).name == "sandbox"
    with pytest.raises(NotFound, match="google, meta, sandbox, tiktok"):
        get_adapter("bing", settings=settings)
