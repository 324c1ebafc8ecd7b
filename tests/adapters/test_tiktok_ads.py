"""TikTok: the envelope (HTTP 200 errors), page_info paging, budgets as major-unit floats."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import httpx
import pytest

from adapters.tiktok_ads import TikTokAdsAdapter
from core.errors import AuthExpired, PlatformNotFound, RateLimited
from tests.adapters.fakes import TIKTOK, FakeTikTok
from tests.adapters.helpers import payload

REPORT = f"{TIKTOK}/report/integrated/get/"


@pytest.fixture
async def tiktok(http_settings, sleeps):
    adapter = TikTokAdsAdapter(http_settings, sleep=sleeps)
    yield adapter
    await adapter.aclose()


@pytest.fixture
def fake(router) -> FakeTikTok:
    fake = FakeTikTok()
    fake.install(router)
    return fake


async def test_http_200_rate_limit_is_retried(tiktok, fake, router, sleeps) -> None:
    router.get(REPORT).mock(
        side_effect=[
            httpx.Response(200, json=payload("tiktok/error_rate_limit.json")),
            httpx.Response(200, json=payload("tiktok/report_page1.json")),
            httpx.Response(200, json=payload("tiktok/report_page2.json")),
        ]
    )
    rows = await tiktok.get_metrics("7000001", None, date(2026, 10, 1), date(2026, 10, 2), "tok")
    assert [(row.day, row.spend) for row in rows] == [
        (date(2026, 10, 1), Decimal("12.34")),
        (date(2026, 10, 2), Decimal("0.07")),
    ]
    assert rows[0].conversions == Decimal("2")
    # Web Complete Payment value plus in-app purchase value; "-" (no data) on day two is 0.
    assert [row.conversion_value for row in rows] == [Decimal("120.30"), Decimal(0)]
    assert sleeps.waits == [1.0]


async def test_paging_asks_for_each_page(tiktok, fake, router) -> None:
    route = router.get(REPORT).mock(
        side_effect=[
            httpx.Response(200, json=payload("tiktok/report_page1.json")),
            httpx.Response(200, json=payload("tiktok/report_page2.json")),
        ]
    )
    await tiktok.get_metrics("7000001", "1800001", date(2026, 10, 1), date(2026, 10, 2), "tok")
    first, second = (call.request for call in route.calls)
    assert (first.url.params["page"], second.url.params["page"]) == ("1", "2")
    assert json.loads(first.url.params["dimensions"]) == ["campaign_id", "stat_time_day"]
    assert first.headers["Access-Token"] == "tok"
    assert "Authorization" not in first.headers


async def test_rate_limit_out_of_attempts_raises(tiktok, fake, router) -> None:
    router.get(REPORT).mock(
        return_value=httpx.Response(200, json=payload("tiktok/error_rate_limit.json"))
    )
    with pytest.raises(RateLimited):
        await tiktok.get_metrics("7000001", None, date(2026, 10, 1), date(2026, 10, 1), "tok")


async def test_revoked_token_is_auth_expired(tiktok, router, sleeps) -> None:
    router.get(f"{TIKTOK}/campaign/get/").mock(
        return_value=httpx.Response(200, json=payload("tiktok/error_token.json"))
    )
    router.get(f"{TIKTOK}/advertiser/info/").mock(
        return_value=httpx.Response(200, json=payload("tiktok/error_token.json"))
    )
    with pytest.raises(AuthExpired):
        await tiktok.list_campaigns("7000001", access_token="dead")
    assert sleeps.waits == []
    with pytest.raises(AuthExpired):
        await tiktok.refresh_token(refresh_token="anything")


async def test_budget_update_sends_major_units(tiktok, fake) -> None:
    result = await tiktok.update_budget("7000001", "1800001", Decimal("50.10"), access_token="t")
    assert fake.posts[-1] == {"advertiser_id": "7000001", "campaign_id": "1800001", "budget": 50.1}
    assert result.daily_budget == Decimal("50.10")


async def test_status_update_missing_id_is_a_failure(tiktok, fake, router) -> None:
    router.post(f"{TIKTOK}/campaign/status/update/").mock(
        return_value=httpx.Response(200, json=payload("tiktok/status_update_partial.json"))
    )
    with pytest.raises(PlatformNotFound):
        await tiktok.pause_campaign("7000001", "1800001", access_token="t")


async def test_auth_code_exchange(tiktok, router) -> None:
    route = router.post(f"{TIKTOK}/oauth2/access_token/").mock(
        return_value=httpx.Response(
            200,
            json={
                "code": 0,
                "message": "OK",
                "request_id": "r",
                "data": {"access_token": "act.123", "advertiser_ids": ["7000001"], "scope": [4, 5]},
            },
        )
    )
    tokens = await tiktok.authenticate(code="auth-code", redirect_uri="https://app/cb")
    assert tokens.access_token == "act.123"
    assert tokens.refresh_token is None
    assert json.loads(route.calls.last.request.content) == {
        "app_id": "tt-app",
        "secret": "tt-secret",
        "auth_code": "auth-code",
    }


async def test_get_campaign_filters_by_id_and_reads_major_units(tiktok, fake, router) -> None:
    fake.campaigns["1800001"]["budget"] = 500.0
    campaign = await tiktok.get_campaign("7000001", "1800001", access_token="t")
    assert (campaign.external_id, campaign.daily_budget) == ("1800001", Decimal("500"))
    listing = [c for c in router.calls if c.request.url.path.endswith("/campaign/get/")]
    params = listing[-1].request.url.params
    assert json.loads(params["filtering"]) == {"campaign_ids": ["1800001"]}
    assert params["advertiser_id"] == "7000001"
    assert listing[-1].request.headers["Access-Token"] == "t"
