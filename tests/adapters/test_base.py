"""The shared retry policy and the refresh-on-AuthExpired helper."""

from __future__ import annotations

import httpx
import pytest

from adapters.base import call_with_refresh, parse_retry_after, retrying
from adapters.google_ads import GoogleAdsAdapter
from core.config import Settings
from core.errors import (
    AuthExpired,
    InvalidRequest,
    PlatformPermissionDenied,
    PlatformUnavailable,
    RateLimited,
)
from core.ports import TokenSet
from tests.adapters.conftest import SleepRecorder
from tests.adapters.helpers import payload

LIST = "https://googleads.googleapis.com/v26/customers:listAccessibleCustomers"
SEARCH = "https://googleads.googleapis.com/v26/customers/1234567890/googleAds:searchStream"
TOKEN = "https://oauth2.googleapis.com/token"


async def _run(settings: Settings, sleeps: SleepRecorder, errors: list[Exception]) -> int:
    calls = 0
    async for attempt in retrying(settings, sleep=sleeps):
        with attempt:
            calls += 1
            if errors:
                raise errors.pop(0)
    return calls


async def test_rate_limit_wait_is_honoured(http_settings, sleeps) -> None:
    errors: list[Exception] = [RateLimited("slow down", retry_after=7)]
    assert await _run(http_settings, sleeps, errors) == 2
    assert sleeps.waits == [7]


async def test_unavailable_backs_off_with_jitter_and_gives_up(http_settings, sleeps) -> None:
    errors: list[Exception] = [PlatformUnavailable("down") for _ in range(5)]
    with pytest.raises(PlatformUnavailable):
        await _run(http_settings, sleeps, errors)
    assert len(sleeps.waits) == http_settings.http_max_attempts - 1
    assert all(0 <= wait <= 30 for wait in sleeps.waits)


@pytest.mark.parametrize(
    "error", [InvalidRequest("bad"), PlatformPermissionDenied("no"), AuthExpired("expired")]
)
async def test_final_errors_are_not_retried(http_settings, sleeps, error) -> None:
    with pytest.raises(type(error)):
        await _run(http_settings, sleeps, [error])
    assert sleeps.waits == []


async def test_long_waits_go_to_the_caller(http_settings, sleeps) -> None:
    with pytest.raises(RateLimited) as caught:
        await _run(http_settings, sleeps, [RateLimited("daily quota", retry_after=3600)])
    assert caught.value.retry_after == 3600
    assert sleeps.waits == []


def test_retry_after_header_forms() -> None:
    assert parse_retry_after("12") == 12
    assert parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT", now=1792567670) == 10
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


async def test_http_429_with_retry_after_then_success(http_settings, sleeps, router) -> None:
    router.get(LIST).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "3"}, json={}),
            httpx.Response(200, json={"resourceNames": []}),
        ]
    )
    adapter = GoogleAdsAdapter(http_settings, sleep=sleeps)
    assert await adapter.list_accounts(access_token="t") == []
    assert sleeps.waits == [3]
    await adapter.aclose()


async def test_refresh_on_auth_expired_then_success(http_settings, sleeps, router) -> None:
    seen: list[str] = []

    def listing(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"] == "Bearer old":
            return httpx.Response(401, json=payload("google/unauthenticated.json"))
        return httpx.Response(200, json={"resourceNames": []})

    router.get(LIST).mock(side_effect=listing)
    token_route = router.post(TOKEN).mock(
        return_value=httpx.Response(200, json=payload("google/oauth_token.json"))
    )
    stored: list[TokenSet] = []

    async def save(tokens: TokenSet) -> None:
        stored.append(tokens)

    adapter = GoogleAdsAdapter(http_settings, sleep=sleeps)
    result = await call_with_refresh(
        lambda token: adapter.list_accounts(access_token=token),
        adapter=adapter,
        tokens=TokenSet(access_token="old", refresh_token="1//refresh"),
        on_refresh=save,
    )
    assert result == []
    assert seen == ["Bearer old", "Bearer ya29.a0AfH6SM-new"]
    form = token_route.calls.last.request.content.decode()
    assert "grant_type=refresh_token" in form
    assert "refresh_token=1%2F%2Frefresh" in form
    assert stored[0].access_token == "ya29.a0AfH6SM-new"
    assert stored[0].refresh_token == "1//refresh"  # Google does not resend it; we keep it
    await adapter.aclose()


async def test_revoked_refresh_token_is_auth_expired(http_settings, sleeps, router) -> None:
    router.get(LIST).mock(
        return_value=httpx.Response(401, json=payload("google/unauthenticated.json"))
    )
    router.post(TOKEN).mock(
        return_value=httpx.Response(400, json=payload("google/invalid_grant.json"))
    )
    adapter = GoogleAdsAdapter(http_settings, sleep=sleeps)
    with pytest.raises(AuthExpired, match="invalid_grant"):
        await call_with_refresh(
            lambda token: adapter.list_accounts(access_token=token),
            adapter=adapter,
            tokens=TokenSet(access_token="old", refresh_token="revoked"),
        )
    await adapter.aclose()


async def test_without_refresh_token_auth_expired_goes_up(http_settings, sleeps, router) -> None:
    router.get(LIST).mock(
        return_value=httpx.Response(401, json=payload("google/unauthenticated.json"))
    )
    adapter = GoogleAdsAdapter(http_settings, sleep=sleeps)
    with pytest.raises(AuthExpired):
        await call_with_refresh(
            lambda token: adapter.list_accounts(access_token=token),
            adapter=adapter,
            tokens=TokenSet(access_token="old"),
        )
    await adapter.aclose()


async def test_timeouts_are_unavailable_and_retried(http_settings, sleeps, router) -> None:
    router.get(LIST).mock(
        side_effect=[httpx.ConnectTimeout("slow"), httpx.Response(200, json={"resourceNames": []})]
    )
    adapter = GoogleAdsAdapter(http_settings, sleep=sleeps)
    assert await adapter.list_accounts(access_token="t") == []
    assert len(sleeps.waits) == 1
    await adapter.aclose()
