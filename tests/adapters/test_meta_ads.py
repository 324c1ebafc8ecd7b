"""Meta: insights paging, conversions from actions, error codes, budgets in minor units."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs

import httpx
import pytest

from adapters.meta_ads import MetaAdsAdapter
from core.errors import AuthExpired, PlatformNotFound, PlatformPermissionDenied, RateLimited
from tests.adapters.fakes import META
from tests.adapters.helpers import payload

INSIGHTS = f"{META}/act_555/insights"
ACCOUNT = f"{META}/act_555"


@pytest.fixture
async def meta(http_settings, sleeps):
    adapter = MetaAdsAdapter(http_settings, sleep=sleeps)
    yield adapter
    await adapter.aclose()


@pytest.fixture
def account(router):
    """The ad account the insights belong to (its currency is asked of it)."""
    return router.get(ACCOUNT).mock(
        return_value=httpx.Response(200, json=payload("meta/account_usd.json"))
    )


async def test_insights_follow_cursors_and_read_actions(meta, router, account) -> None:
    route = router.get(INSIGHTS).mock(
        side_effect=[
            httpx.Response(200, json=payload("meta/insights_page1.json")),
            httpx.Response(200, json=payload("meta/insights_page2.json")),
        ]
    )
    rows = await meta.get_metrics("act_555", "6001", date(2026, 10, 1), date(2026, 10, 2), "tok")
    assert [row.day for row in rows] == [date(2026, 10, 1), date(2026, 10, 2)]
    assert rows[0].spend == Decimal("19.99")
    assert rows[0].conversions == Decimal("3")  # overlapping purchase kinds are not added up
    assert rows[0].conversion_value == Decimal("120.3")
    assert rows[1].spend == Decimal("0.1")
    first, second = (call.request for call in route.calls)
    assert json.loads(first.url.params["time_range"]) == {
        "since": "2026-10-01",
        "until": "2026-10-02",
    }
    assert first.url.params["time_increment"] == "1"
    assert json.loads(first.url.params["filtering"])[0]["value"] == ["6001"]
    assert second.url.params["after"] == "MQZDZD"
    assert "access_token" not in str(second.url)  # token travels in the header only
    assert second.headers["Authorization"] == "Bearer tok"


async def test_code_190_is_auth_expired_and_not_retried(meta, router, account, sleeps) -> None:
    router.get(INSIGHTS).mock(return_value=httpx.Response(400, json=payload("meta/error_190.json")))
    with pytest.raises(AuthExpired):
        await meta.get_metrics("555", None, date(2026, 10, 1), date(2026, 10, 1), "tok")
    assert sleeps.waits == []


async def test_throttle_uses_business_use_case_wait(meta, router, account, sleeps) -> None:
    usage = {
        "555": [
            {
                "type": "ads_insights",
                "call_count": 100,
                "total_cputime": 12,
                "total_time": 30,
                "estimated_time_to_regain_access": 1,
            }
        ]
    }
    router.get(INSIGHTS).mock(
        side_effect=[
            httpx.Response(
                400,
                json=payload("meta/error_17.json"),
                headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
            ),
            httpx.Response(200, json=payload("meta/insights_page2.json")),
        ]
    )
    rows = await meta.get_metrics("555", None, date(2026, 10, 2), date(2026, 10, 2), "tok")
    assert len(rows) == 1
    assert sleeps.waits == [60.0]


async def test_budget_change_throttle_waits_an_hour(meta, router, sleeps) -> None:
    router.get(f"{META}/act_555").mock(return_value=httpx.Response(200, json={"currency": "USD"}))
    router.get(f"{META}/6001").mock(
        return_value=httpx.Response(
            200,
            json={
                "id": "6001",
                "account_id": "555",
                "name": "P",
                "status": "ACTIVE",
                "daily_budget": "5000",
            },
        )
    )
    router.post(f"{META}/6001").mock(
        return_value=httpx.Response(400, json=payload("meta/error_17.json"))
    )
    with pytest.raises(RateLimited) as caught:
        await meta.update_budget("555", "6001", Decimal("60"), access_token="tok")
    assert caught.value.retry_after == 3600


@pytest.mark.parametrize(
    ("currency", "amount", "sent"),
    [("USD", Decimal("19.99"), "1999"), ("JPY", Decimal("500"), "500")],
)
async def test_budget_update_sends_minor_units(meta, router, currency, amount, sent) -> None:
    router.get(f"{META}/act_556").mock(
        return_value=httpx.Response(200, json={"currency": currency})
    )
    router.get(f"{META}/7001").mock(
        return_value=httpx.Response(200, json=payload("meta/campaign_jpy.json"))
    )
    update = router.post(f"{META}/7001").mock(
        return_value=httpx.Response(200, json={"success": True})
    )
    result = await meta.update_budget("act_556", "7001", amount, access_token="tok")
    assert parse_qs(update.calls.last.request.content.decode()) == {"daily_budget": [sent]}
    assert result.daily_budget == amount


async def test_jpy_budget_reads_as_whole_yen(meta, router) -> None:
    router.get(f"{META}/act_556").mock(return_value=httpx.Response(200, json={"currency": "JPY"}))
    router.get(f"{META}/act_556/campaigns").mock(
        return_value=httpx.Response(
            200,
            json={
                "data": [payload("meta/campaign_jpy.json")],
                "paging": {"cursors": {"after": "x"}},
            },
        )
    )
    [campaign] = await meta.list_campaigns("556", access_token="tok")
    assert campaign.daily_budget == Decimal("500")
    assert campaign.currency == "JPY"


async def test_permission_error_is_final(meta, router, sleeps) -> None:
    router.get(f"{META}/me/adaccounts").mock(
        return_value=httpx.Response(
            403,
            json={
                "error": {
                    "message": "(#200) Requires ads_read permission",
                    "type": "OAuthException",
                    "code": 200,
                    "fbtrace_id": "x",
                }
            },
        )
    )
    with pytest.raises(PlatformPermissionDenied):
        await meta.list_accounts(access_token="tok")
    assert sleeps.waits == []


async def test_code_exchange_then_long_lived_token(meta, router) -> None:
    route = router.post(f"{META}/oauth/access_token").mock(
        side_effect=[
            httpx.Response(200, json={"access_token": "short", "token_type": "bearer"}),
            httpx.Response(
                200, json={"access_token": "long", "token_type": "bearer", "expires_in": 5183944}
            ),
        ]
    )
    before = datetime.now(UTC)
    tokens = await meta.authenticate(code="c0de", redirect_uri="https://app/cb")
    after = datetime.now(UTC)
    assert tokens.access_token == "long"
    # The long-lived token's 60 days from the moment of the exchange (float seconds: 1 ms slack).
    lifetime, slack = timedelta(seconds=5183944), timedelta(milliseconds=1)
    assert tokens.expires_at is not None
    code_form = parse_qs(route.calls[0].request.content.decode())
    assert code_form == {
        "client_id": ["meta-app"],
        "redirect_uri": ["https://app/cb"],
        "client_secret": ["meta-secret"],
        "code": ["c0de"],
    }
    exchange_form = parse_qs(route.calls[1].request.content.decode())
    assert exchange_form["fb_exchange_token"] == ["short"]
    assert exchange_form["grant_type"] == ["fb_exchange_token"]
    # Nothing secret rides in a URL.
    assert [str(call.request.url) for call in route.calls] == [f"{META}/oauth/access_token"] * 2
    assert before + lifetime - slack <= tokens.expires_at <= after + lifetime + slack


async def test_get_campaign_reads_one_object_in_minor_units(meta, router) -> None:
    router.get(f"{META}/act_555").mock(return_value=httpx.Response(200, json={"currency": "USD"}))
    read = router.get(f"{META}/6001").mock(
        return_value=httpx.Response(
            200,
            json={
                "id": "6001",
                "account_id": "555",
                "name": "Summer Sale",
                "status": "PAUSED",
                "objective": "OUTCOME_SALES",
                "daily_budget": "50000",
            },
        )
    )
    campaign = await meta.get_campaign("555", "6001", access_token="tok")
    assert (campaign.status, campaign.daily_budget) == ("PAUSED", Decimal("500"))
    sent = read.calls.last.request.url.params
    assert sent["fields"] == "id,account_id,name,status,objective,daily_budget,lifetime_budget"


async def test_get_campaign_of_another_account_is_not_found(meta, router) -> None:
    router.get(f"{META}/act_555").mock(return_value=httpx.Response(200, json={"currency": "USD"}))
    router.get(f"{META}/6001").mock(
        return_value=httpx.Response(
            200, json={"id": "6001", "account_id": "999", "name": "x", "status": "ACTIVE"}
        )
    )
    with pytest.raises(PlatformNotFound, match="not in 555"):
        await meta.get_campaign("555", "6001", access_token="tok")


async def test_a_sync_asks_the_accounts_currency_once(meta, router, account) -> None:
    router.get(f"{ACCOUNT}/campaigns").mock(
        return_value=httpx.Response(200, json={"data": [], "paging": {"cursors": {}}})
    )
    router.get(INSIGHTS).mock(
        return_value=httpx.Response(200, json=payload("meta/insights_page2.json"))
    )
    await meta.list_campaigns("act_555", access_token="tok")
    await meta.get_metrics("act_555", None, date(2026, 10, 2), date(2026, 10, 2), "tok")
    # One adapter serves one sync: the currency is asked once, not once per call.
    assert account.call_count == 1
