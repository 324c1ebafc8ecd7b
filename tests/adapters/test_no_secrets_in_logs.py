"""No app secret, token or auth code reaches a log record on any adapter's OAuth and token paths.

Each path runs with the root logger at DEBUG (so httpx's own lines are captured when they are
let through) under three set-ups: the production one (`configure_logging`), and each of its two
layers alone (HTTP client loggers quiet; scrubbing filter only), so that each layer is shown to
hold on its own. Error paths log their exception the way the worker does (`log.exception`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from adapters.google_ads import GoogleAdsAdapter
from adapters.meta_ads import MetaAdsAdapter
from adapters.tiktok_ads import TikTokAdsAdapter
from core.config import Settings
from core.errors import AuthExpired, CoreError, InvalidRequest, PlatformUnavailable
from core.logging_setup import (
    HTTP_CLIENT_LOGGERS,
    SecretScrubber,
    configure_logging,
    install_secret_filter,
    quiet_http_clients,
)
from tests.adapters.fakes import GOOGLE, META, TIKTOK
from tests.adapters.helpers import payload

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
log = logging.getLogger("tests.worker")

# Values shaped like the real ones, so a leak would look like one.
GOOGLE_CLIENT_SECRET = "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"
GOOGLE_DEVELOPER_TOKEN = "aBcD3fGhIjKlMnOpQrStUv"
GOOGLE_CODE = "4/0AeaYSHB-EXAMPLEcodeXYZ123"
GOOGLE_REFRESH = "1//0gEXAMPLErefreshTOKENabcdefghijklmnopqrstuvwxyz"
GOOGLE_ACCESS = "ya29.a0AfB_byC-EXAMPLE-access-token-abcdefghijklmnop"
META_APP_SECRET = "3c1f9e2b7a6d4c8e0f5a9b3d7e1c2a4f"
META_CODE = "AQDx1y2z3EXAMPLEcodeFromTheRedirect"
META_SHORT = "EAAGm0PX4ZCpsBAShortLivedTokenZBZAxyz789"
META_LONG = "EAAGm0PX4ZCpsBAKZCqzRz5qEXAMPLEZCLongLivedTokenZBZAabc123"
TIKTOK_APP_SECRET = "f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4"
TIKTOK_CODE = "c0ffee1234auth5678code90abcdef"
TIKTOK_ACCESS = "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c"
SECRETS = [
    GOOGLE_CLIENT_SECRET,
    GOOGLE_DEVELOPER_TOKEN,
    GOOGLE_CODE,
    GOOGLE_REFRESH,
    GOOGLE_ACCESS,
    META_APP_SECRET,
    META_CODE,
    META_SHORT,
    META_LONG,
    TIKTOK_APP_SECRET,
    TIKTOK_CODE,
    TIKTOK_ACCESS,
]

Scenario = Callable[[Any], Awaitable[None]]


@pytest.fixture
def settings() -> Settings:
    return Settings(
        google_client_id="123-abc.apps.googleusercontent.com",
        google_client_secret=SecretStr(GOOGLE_CLIENT_SECRET),
        google_developer_token=SecretStr(GOOGLE_DEVELOPER_TOKEN),
        meta_app_id="1234567890123456",
        meta_app_secret=SecretStr(META_APP_SECRET),
        tiktok_app_id="7123456789012345678",
        tiktok_app_secret=SecretStr(TIKTOK_APP_SECRET),
        http_max_attempts=2,
    )


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put back the logger levels and handler filters a set-up changed."""
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in HTTP_CLIENT_LOGGERS}
    filters = {handler: list(handler.filters) for handler in root.handlers}
    root_level = root.level
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    for handler, kept in filters.items():
        handler.filters[:] = kept
    root.setLevel(root_level)


def _set_up(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in HTTP_CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    if mode == "production":
        configure_logging(logging.DEBUG)  # caplog's handler is a root handler: it gets the filter
    elif mode == "quiet-only":
        quiet_http_clients()
    elif mode == "filter-only":
        install_secret_filter(caplog.handler)


def _leaks(records: list[logging.LogRecord]) -> list[str]:
    found = []
    for record in records:
        text = record.getMessage()
        if record.exc_info:
            text += record.exc_text or logging.Formatter().formatException(record.exc_info)
        found += [
            f"{secret!r} in {record.name}: {text[:200]}" for secret in SECRETS if secret in text
        ]
    return found


async def _expect_logged(error: type[CoreError], call: Awaitable[object]) -> None:
    """Run a call that must fail with `error`, log it as the worker does, check its message."""
    with pytest.raises(error) as caught:
        await call
    log.exception("job failed: %s", caught.value)
    assert not [secret for secret in SECRETS if secret in str(caught.value)]


async def google_paths(router: Any, settings: Settings) -> None:
    token = router.post(GOOGLE_TOKEN_URL).mock(
        side_effect=[
            httpx.Response(200, json=payload("google/oauth_refresh_token.json")),
            httpx.Response(200, json=payload("google/oauth_refresh_token.json")),
            httpx.Response(400, json=payload("google/invalid_grant.json")),
        ]
    )
    router.get(f"{GOOGLE}/customers:listAccessibleCustomers").mock(
        return_value=httpx.Response(200, json={"resourceNames": ["customers/1234567890"]})
    )
    router.post(f"{GOOGLE}/customers/1234567890/googleAds:searchStream").mock(
        return_value=httpx.Response(503, json={"error": {"code": 503, "status": "UNAVAILABLE"}})
    )
    async with GoogleAdsAdapter(settings, sleep=_no_sleep) as google:
        await google.authenticate(code=GOOGLE_CODE, redirect_uri="https://app.test/cb")
        await google.refresh_token(refresh_token=GOOGLE_REFRESH)
        await _expect_logged(AuthExpired, google.refresh_token(refresh_token=GOOGLE_REFRESH))
        await _expect_logged(PlatformUnavailable, google.list_accounts(access_token=GOOGLE_ACCESS))
    assert token.call_count == 3


async def meta_paths(router: Any, settings: Settings) -> None:
    token = router.post(f"{META}/oauth/access_token").mock(
        side_effect=[
            httpx.Response(200, json={"access_token": META_SHORT, "token_type": "bearer"}),
            httpx.Response(200, json=payload("meta/oauth_token.json")),
            httpx.Response(200, json=payload("meta/oauth_token.json")),
            httpx.Response(400, json=payload("meta/error_bad_code.json")),
        ]
    )
    router.get(f"{META}/me/adaccounts").mock(side_effect=httpx.ConnectError("connection refused"))
    async with MetaAdsAdapter(settings, sleep=_no_sleep) as meta:
        await meta.authenticate(code=META_CODE, redirect_uri="https://app.test/cb")
        await meta.refresh_token(refresh_token=META_LONG)
        await _expect_logged(
            InvalidRequest, meta.authenticate(code=META_CODE, redirect_uri="https://app.test/cb")
        )
        await _expect_logged(PlatformUnavailable, meta.list_accounts(access_token=META_LONG))
    assert token.call_count == 4


async def tiktok_paths(router: Any, settings: Settings) -> None:
    router.post(f"{TIKTOK}/oauth2/access_token/").mock(
        return_value=httpx.Response(200, json=payload("tiktok/oauth_access_token.json"))
    )
    lookup = router.get(f"{TIKTOK}/oauth2/advertiser/get/").mock(
        side_effect=[
            httpx.Response(200, json=payload("tiktok/oauth_advertiser_get.json")),
            httpx.Response(200, json=payload("tiktok/error_bad_secret.json")),
        ]
    )
    router.get(f"{TIKTOK}/advertiser/info/").mock(
        return_value=httpx.Response(200, json=payload("tiktok/advertiser_info.json"))
    )
    async with TikTokAdsAdapter(settings, sleep=_no_sleep) as tiktok:
        tokens = await tiktok.authenticate(code=TIKTOK_CODE, redirect_uri="https://app.test/cb")
        assert tokens.access_token == TIKTOK_ACCESS
        accounts = await tiktok.list_accounts(access_token=TIKTOK_ACCESS)
        assert [account.currency for account in accounts] == ["PLN"]
        await _expect_logged(InvalidRequest, tiktok.list_accounts(access_token=TIKTOK_ACCESS))
    # The advertiser lookup does carry the secret in its query (the API takes it nowhere
    # else), which is exactly why nothing may log that URL.
    assert lookup.calls[0].request.url.params["secret"] == TIKTOK_APP_SECRET


async def _no_sleep(_seconds: float) -> None:
    return None


PATHS = {"google": google_paths, "meta": meta_paths, "tiktok": tiktok_paths}


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("mode", ["production", "quiet-only", "filter-only"])
@pytest.mark.parametrize("platform", sorted(PATHS))
async def test_oauth_and_token_paths_log_no_secret(
    platform: str, mode: str, router, settings, caplog
) -> None:
    _set_up(mode, caplog)
    await PATHS[platform](router, settings)
    records = caplog.records
    # The paths did log (the adapters' own request lines and the failures), so the check bites.
    assert any(record.name == "adapters.base" for record in records)
    assert any(record.name == "tests.worker" and record.exc_info for record in records)
    if mode == "filter-only":
        # httpx's request lines were let through and had to be scrubbed.
        assert any(record.name == "httpx" for record in records)
    assert _leaks(records) == []


@pytest.mark.usefixtures("restore_logging")
async def test_unprotected_logging_would_leak_the_tiktok_secret(router, settings, caplog) -> None:
    """The hazard the set-up guards against is real: httpx logs the query string at INFO."""
    _set_up("none", caplog)
    await tiktok_paths(router, settings)
    assert any(TIKTOK_APP_SECRET in leak for leak in _leaks(caplog.records))


def test_every_root_handler_gets_the_filter_once(restore_logging) -> None:
    root = logging.getLogger()
    extra = logging.StreamHandler()
    root.addHandler(extra)
    try:
        configure_logging("INFO")
        configure_logging("INFO")
        for handler in root.handlers:
            assert sum(isinstance(f, SecretScrubber) for f in handler.filters) == 1
        assert all(logging.getLogger(name).level == logging.WARNING for name in HTTP_CLIENT_LOGGERS)
    finally:
        root.removeHandler(extra)
