"""Rows as the platforms really send them: every figure read right, every gap a typed error.

A missing identity field or currency is a `PlatformSchemaError` (not retried, the offending row
kept for the dead letter), never a `KeyError`, an id of "None" or an assumed "USD". TikTok's "-"
means "no data" and reads as 0; TikTok's purchase value is requested and mapped.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import httpx
import pytest

from adapters.google_ads import GoogleAdsAdapter
from adapters.meta_ads import MetaAdsAdapter
from adapters.tiktok_ads import TikTokAdsAdapter
from core.errors import PlatformSchemaError
from tests.adapters.fakes import GOOGLE, META, TIKTOK
from tests.adapters.helpers import payload

DAY = date(2026, 10, 1)
TIKTOK_REPORT = f"{TIKTOK}/report/integrated/get/"
TIKTOK_INFO = f"{TIKTOK}/advertiser/info/"
META_ACCOUNT = f"{META}/act_555"
META_INSIGHTS = f"{META}/act_555/insights"
GOOGLE_SEARCH = f"{GOOGLE}/customers/1234567890/googleAds:searchStream"


@pytest.fixture
async def tiktok(http_settings, sleeps):
    async with TikTokAdsAdapter(http_settings, sleep=sleeps) as adapter:
        yield adapter


@pytest.fixture
async def meta(http_settings, sleeps):
    async with MetaAdsAdapter(http_settings, sleep=sleeps) as adapter:
        yield adapter


@pytest.fixture
async def google(http_settings, sleeps):
    async with GoogleAdsAdapter(http_settings, sleep=sleeps) as adapter:
        yield adapter


def _answer(name: str) -> httpx.Response:
    return httpx.Response(200, json=payload(name))


# --- TikTok -----------------------------------------------------------------------------------


async def test_tiktok_purchase_value_is_requested_and_mapped(tiktok, router) -> None:
    router.get(TIKTOK_INFO).mock(return_value=_answer("tiktok/advertiser_info.json"))
    report = router.get(TIKTOK_REPORT).mock(
        return_value=_answer("tiktok/report_purchase_value.json")
    )
    rows = await tiktok.get_metrics("7000001", None, DAY, DAY, "tok")
    requested = json.loads(report.calls.last.request.url.params["metrics"])
    assert {"total_complete_payment_rate", "total_purchase_value"} <= set(requested)
    by_campaign = {row.campaign_external_id: row for row in rows}
    web, app, idle = by_campaign["1800001"], by_campaign["1800002"], by_campaign["1800003"]
    assert web.conversion_value == Decimal("199.96")  # web Complete Payment value
    assert app.conversion_value == Decimal("89.97")  # in-app Purchase value; web value "-"
    assert (idle.conversions, idle.conversion_value) == (Decimal(0), Decimal(0))  # all "-"
    assert (idle.spend, idle.impressions, idle.clicks) == (Decimal("3.10"), 410, 2)
    assert {row.currency for row in rows} == {"PLN"}  # the advertiser's, not a default


async def test_tiktok_hourly_rows_read_the_hour(tiktok, router) -> None:
    router.get(TIKTOK_INFO).mock(return_value=_answer("tiktok/advertiser_info.json"))
    report = router.get(TIKTOK_REPORT).mock(return_value=_answer("tiktok/report_hourly.json"))
    [row] = await tiktok.get_hourly_metrics("7000001", None, DAY, DAY, "tok")
    assert (row.day, row.hour, row.spend, row.conversion_value) == (
        DAY,
        14,
        Decimal("1.25"),
        Decimal(0),
    )
    dimensions = json.loads(report.calls.last.request.url.params["dimensions"])
    assert dimensions == ["campaign_id", "stat_time_hour"]


async def test_tiktok_row_without_its_day_is_a_schema_error(tiktok, router, sleeps) -> None:
    router.get(TIKTOK_INFO).mock(return_value=_answer("tiktok/advertiser_info.json"))
    report = router.get(TIKTOK_REPORT).mock(
        return_value=_answer("tiktok/report_missing_stat_time_day.json")
    )
    with pytest.raises(PlatformSchemaError, match=r"dimensions\.stat_time_day") as caught:
        await tiktok.get_metrics("7000001", None, DAY, DAY, "tok")
    assert caught.value.retryable is False
    assert (
        caught.value.payload
        == payload("tiktok/report_missing_stat_time_day.json")["data"]["list"][0]
    )
    assert report.call_count == 1  # not retried
    assert sleeps.waits == []


async def test_tiktok_figure_that_is_not_a_number_is_a_schema_error(tiktok, router) -> None:
    router.get(TIKTOK_INFO).mock(return_value=_answer("tiktok/advertiser_info.json"))
    router.get(TIKTOK_REPORT).mock(return_value=_answer("tiktok/report_bad_figure.json"))
    with pytest.raises(PlatformSchemaError, match=r"metrics\.spend: Value error, not a number"):
        await tiktok.get_metrics("7000001", None, DAY, DAY, "tok")


async def test_tiktok_advertiser_without_currency_fails_clearly(tiktok, router) -> None:
    router.get(TIKTOK_INFO).mock(return_value=_answer("tiktok/advertiser_info_no_currency.json"))
    router.get(f"{TIKTOK}/oauth2/advertiser/get/").mock(
        return_value=_answer("tiktok/oauth_advertiser_get.json")
    )
    report = router.get(TIKTOK_REPORT).mock(return_value=_answer("tiktok/report_page1.json"))
    with pytest.raises(PlatformSchemaError, match="currency: Field required"):
        await tiktok.get_metrics("7000001", None, DAY, DAY, "tok")
    with pytest.raises(PlatformSchemaError, match="currency: Field required"):
        await tiktok.list_accounts(access_token="tok")
    assert report.call_count == 0  # no figures read in a currency we do not know


# --- Meta -------------------------------------------------------------------------------------


async def test_meta_figures_are_in_the_accounts_currency(meta, router) -> None:
    account = router.get(META_ACCOUNT).mock(return_value=_answer("meta/account_pln.json"))
    router.get(META_INSIGHTS).mock(return_value=_answer("meta/insights_pln.json"))
    [row] = await meta.get_metrics("555", None, DAY, DAY, "tok")
    assert row.currency == "PLN"
    assert (row.spend, row.impressions, row.clicks) == (Decimal("412.87"), 20410, 388)
    # omni_purchase is the first kind present; purchase counts the same events again.
    assert (row.conversions, row.conversion_value) == (Decimal(9), Decimal("1845.5"))
    assert account.calls.last.request.url.params["fields"] == "currency,timezone_name"


async def test_meta_account_without_currency_fails_clearly(meta, router) -> None:
    router.get(META_ACCOUNT).mock(return_value=_answer("meta/account_no_currency.json"))
    insights = router.get(META_INSIGHTS).mock(return_value=_answer("meta/insights_pln.json"))
    with pytest.raises(PlatformSchemaError, match=r"Meta ad account 555.*currency: Field required"):
        await meta.get_metrics("555", None, DAY, DAY, "tok")
    assert insights.call_count == 0


async def test_meta_row_without_campaign_id_is_a_schema_error(meta, router, sleeps) -> None:
    router.get(META_ACCOUNT).mock(return_value=_answer("meta/account_usd.json"))
    router.get(META_INSIGHTS).mock(return_value=_answer("meta/insights_missing_campaign_id.json"))
    with pytest.raises(PlatformSchemaError, match="campaign_id: Field required") as caught:
        await meta.get_metrics("555", None, DAY, DAY, "tok")
    # Only the offending row is kept, not the page (whose paging URLs can carry the token).
    assert caught.value.payload == payload("meta/insights_missing_campaign_id.json")["data"][1]
    assert sleeps.waits == []


async def test_meta_hourly_rows_read_the_hour(meta, router) -> None:
    router.get(META_ACCOUNT).mock(return_value=_answer("meta/account_usd.json"))
    router.get(META_INSIGHTS).mock(return_value=_answer("meta/insights_hourly.json"))
    [row] = await meta.get_hourly_metrics("555", None, DAY, DAY, "tok")
    assert (row.hour, row.clicks, row.conversions) == (14, 3, Decimal(0))


async def test_meta_hourly_row_without_its_hour_is_a_schema_error(meta, router) -> None:
    router.get(META_ACCOUNT).mock(return_value=_answer("meta/account_usd.json"))
    router.get(META_INSIGHTS).mock(return_value=_answer("meta/insights_pln.json"))
    with pytest.raises(PlatformSchemaError, match="hourly_stats_aggregated_by_advertiser"):
        await meta.get_hourly_metrics("555", None, DAY, DAY, "tok")


async def test_meta_ad_account_listing_needs_currency_and_timezone(meta, router) -> None:
    router.get(f"{META}/me/adaccounts").mock(
        return_value=httpx.Response(
            200,
            json={
                "data": [{"id": "act_555", "account_id": "555", "name": "Acme PL"}],
                "paging": {"cursors": {"before": "a", "after": "a"}},
            },
        )
    )
    with pytest.raises(PlatformSchemaError, match=r"currency: Field required.*timezone_name"):
        await meta.list_accounts(access_token="tok")


# --- Google -----------------------------------------------------------------------------------


async def test_google_row_without_campaign_id_is_a_schema_error(google, router) -> None:
    router.post(GOOGLE_SEARCH).mock(
        return_value=_answer("google/search_stream_missing_campaign_id.json")
    )
    with pytest.raises(PlatformSchemaError, match=r"campaign\.id: Field required") as caught:
        await google.get_metrics("1234567890", None, DAY, DAY, "t")
    assert caught.value.payload["campaign"] == {
        "resourceName": "customers/1234567890/campaigns/111"
    }


async def test_google_row_without_currency_is_a_schema_error(google, router) -> None:
    router.post(GOOGLE_SEARCH).mock(return_value=_answer("google/search_stream_no_currency.json"))
    with pytest.raises(PlatformSchemaError, match=r"customer\.currencyCode: Field required"):
        await google.get_metrics("1234567890", None, DAY, DAY, "t")


async def test_google_hourly_rows_with_zero_fields_left_out(google, router) -> None:
    router.post(GOOGLE_SEARCH).mock(return_value=_answer("google/search_stream_hourly.json"))
    first, second = await google.get_hourly_metrics("1234567890", None, DAY, DAY, "t")
    assert (first.hour, first.spend, first.conversion_value, first.currency) == (
        14,
        Decimal("2.5"),
        Decimal(30),
        "EUR",
    )
    assert (second.hour, second.spend, second.clicks, second.impressions) == (15, 0, 0, 3)


async def test_google_customer_without_currency_is_not_listed_as_usd(google, router) -> None:
    router.get(f"{GOOGLE}/customers:listAccessibleCustomers").mock(
        return_value=httpx.Response(200, json={"resourceNames": ["customers/1234567890"]})
    )
    router.post(GOOGLE_SEARCH).mock(return_value=_answer("google/customer_no_currency.json"))
    with pytest.raises(PlatformSchemaError, match=r"customer\.currencyCode: Field required"):
        await google.list_accounts(access_token="t")


# --- campaign listings ------------------------------------------------------------------------


async def test_campaign_rows_without_an_id_are_schema_errors(tiktok, meta, google, router) -> None:
    router.get(TIKTOK_INFO).mock(return_value=_answer("tiktok/advertiser_info.json"))
    router.get(f"{TIKTOK}/campaign/get/").mock(
        return_value=httpx.Response(
            200,
            json={
                "code": 0,
                "message": "OK",
                "request_id": "r",
                "data": {
                    "list": [{"campaign_name": "Spark", "operation_status": "ENABLE"}],
                    "page_info": {"page": 1, "page_size": 1000, "total_number": 1, "total_page": 1},
                },
            },
        )
    )
    router.get(META_ACCOUNT).mock(return_value=_answer("meta/account_usd.json"))
    router.get(f"{META}/act_555/campaigns").mock(
        return_value=httpx.Response(
            200, json={"data": [{"name": "Prospecting", "status": "ACTIVE"}], "paging": {}}
        )
    )
    router.post(GOOGLE_SEARCH).mock(
        return_value=httpx.Response(
            200,
            json=[
                {
                    "results": [
                        {
                            "customer": {"currencyCode": "USD"},
                            "campaign": {"name": "Brand", "status": "ENABLED"},
                        }
                    ],
                    "requestId": "c1",
                }
            ],
        )
    )
    with pytest.raises(PlatformSchemaError, match="campaign_id: Field required"):
        await tiktok.list_campaigns("7000001", access_token="tok")
    with pytest.raises(PlatformSchemaError, match="id: Field required"):
        await meta.list_campaigns("555", access_token="tok")
    with pytest.raises(PlatformSchemaError, match=r"campaign\.id: Field required"):
        await google.list_campaigns("1234567890", access_token="t")
