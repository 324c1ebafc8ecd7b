"""Google Ads: GAQL searchStream in micros, quota errors with retryDelay, mutates in micros."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from adapters.google_ads import GoogleAdsAdapter
from core.errors import InvalidRequest, PlatformNotFound, PlatformUnavailable, RateLimited
from tests.adapters.fakes import GOOGLE, FakeGoogle
from tests.adapters.helpers import payload

SEARCH = f"{GOOGLE}/customers/1234567890/googleAds:searchStream"


@pytest.fixture
async def google(http_settings, sleeps):
    adapter = GoogleAdsAdapter(http_settings, sleep=sleeps)
    yield adapter
    await adapter.aclose()


def test_authorization_url(google) -> None:
    url = urlparse(google.authorization_url(state="s1", redirect_uri="https://app/cb"))
    query = parse_qs(url.query)
    assert url.netloc == "accounts.google.com"
    assert query["scope"] == ["https://www.googleapis.com/auth/adwords"]
    assert query["access_type"] == ["offline"]
    assert query["state"] == ["s1"]


async def test_metrics_across_stream_batches_in_exact_micros(google, router) -> None:
    route = router.post(SEARCH).mock(
        return_value=httpx.Response(200, json=payload("google/search_stream_metrics.json"))
    )
    rows = await google.get_metrics("123-456-7890", None, date(2026, 10, 1), date(2026, 10, 2), "t")
    assert [row.spend for row in rows] == [Decimal("1.234567"), Decimal("50"), Decimal("0.999999")]
    assert rows[0].conversions == Decimal("1.5")
    assert rows[0].conversion_value == Decimal("45.25")
    assert rows[1].clicks == 0  # proto3 leaves zero fields out
    query = json.loads(route.calls.last.request.content)["query"]
    assert "segments.date BETWEEN '2026-10-01' AND '2026-10-02'" in query
    assert "metrics.cost_micros" in query


async def test_resource_exhausted_waits_retry_delay(google, router, sleeps) -> None:
    router.post(SEARCH).mock(
        side_effect=[
            httpx.Response(429, json=[payload("google/resource_exhausted.json")]),
            httpx.Response(200, json=payload("google/search_stream_metrics.json")),
        ]
    )
    rows = await google.get_metrics("1234567890", "111", date(2026, 10, 1), date(2026, 10, 2), "t")
    assert len(rows) == 3
    assert sleeps.waits == [30.0]


async def test_resource_exhausted_carries_the_wait_when_attempts_run_out(google, router) -> None:
    router.post(SEARCH).mock(
        return_value=httpx.Response(429, json=payload("google/resource_exhausted.json"))
    )
    with pytest.raises(RateLimited) as caught:
        await google.list_campaigns("1234567890", access_token="t")
    assert caught.value.retry_after == 30.0


async def test_error_midway_through_a_stream(google, router) -> None:
    broken = [
        payload("google/search_stream_metrics.json")[0],
        {"error": {"code": 503, "message": "The service is unavailable.", "status": "UNAVAILABLE"}},
    ]
    router.post(SEARCH).mock(return_value=httpx.Response(200, json=broken))
    with pytest.raises(PlatformUnavailable):
        await google.get_metrics("1234567890", None, date(2026, 10, 1), date(2026, 10, 2), "t")


async def test_budget_update_sends_micros(google, router) -> None:
    fake = FakeGoogle()
    fake.install(router)
    result = await google.update_budget("1234567890", "111", Decimal("123.45"), access_token="t")
    operation = fake.mutations[-1]["operations"][0]
    assert operation == {
        "updateMask": "amount_micros",
        "update": {
            "resourceName": "customers/1234567890/campaignBudgets/901",
            "amountMicros": "123450000",
        },
    }
    assert result.daily_budget == Decimal("123.45")


async def test_budget_finer_than_a_cent_is_refused(google, router) -> None:
    FakeGoogle().install(router)
    with pytest.raises(InvalidRequest):
        await google.update_budget("1234567890", "111", Decimal("1.001"), access_token="t")


async def test_partial_failure_is_an_error(google, router) -> None:
    FakeGoogle().install(router)
    router.post(f"{GOOGLE}/customers/1234567890/campaignBudgets:mutate").mock(
        return_value=httpx.Response(200, json=payload("google/partial_failure.json"))
    )
    with pytest.raises(InvalidRequest, match="too small"):
        await google.update_budget("1234567890", "111", Decimal("0.01"), access_token="t")


async def test_pause_sends_status_mask(google, router) -> None:
    fake = FakeGoogle()
    fake.install(router)
    await google.pause_campaign("1234567890", "222", access_token="t")
    operation = fake.mutations[-1]["operations"][0]
    assert operation["updateMask"] == "status"
    assert operation["update"]["status"] == "PAUSED"
    assert fake.mutations[-1]["validateOnly"] is False


async def test_get_campaign_is_one_gaql_row_with_its_budget(google, router) -> None:
    fake = FakeGoogle(budgets={"901": "500000000", "902": "20000000"})
    fake.install(router)
    campaign = await google.get_campaign("123-456-7890", "111", access_token="t")
    assert (campaign.external_id, campaign.status) == ("111", "ACTIVE")
    assert campaign.daily_budget == Decimal("500")
    query = json.loads(router.calls.last.request.content)["query"]
    assert query.endswith("FROM campaign WHERE campaign.id = 111")
    assert "campaign_budget.amount_micros" in query


async def test_get_campaign_refuses_a_non_numeric_id_without_a_call(google, router) -> None:
    FakeGoogle().install(router)
    with pytest.raises(PlatformNotFound):
        await google.get_campaign("1234567890", "111 OR campaign.id > 0", access_token="t")
    assert not router.calls


async def test_pkce_challenge_in_the_url_and_verifier_in_the_code_exchange(google, router) -> None:
    url = urlparse(
        google.authorization_url(state="s1", redirect_uri="https://app/cb", code_challenge="ch4l")
    )
    query = parse_qs(url.query)
    assert (query["code_challenge"], query["code_challenge_method"]) == (["ch4l"], ["S256"])
    route = router.post("https://oauth2.googleapis.com/token").mock(
        return_value=httpx.Response(200, json=payload("google/oauth_token.json"))
    )
    tokens = await google.authenticate(
        code="c0de", redirect_uri="https://app/cb", code_verifier="v"
    )
    assert tokens.access_token == "ya29.a0AfH6SM-new"
    form = parse_qs(route.calls.last.request.content.decode())
    assert form["code_verifier"] == ["v"]
    assert form["grant_type"] == ["authorization_code"]
    assert "code_challenge" not in parse_qs(
        urlparse(google.authorization_url(state="s", redirect_uri="https://app/cb")).query
    )
