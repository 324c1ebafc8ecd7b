"""Revoking a grant at the platform: Google's revoke endpoint and Meta's DELETE /me/permissions,
against respx with the platforms' own answers; one attempt, short timeout, no token in a log."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from adapters.google_ads import GoogleAdsAdapter
from adapters.meta_ads import MetaAdsAdapter
from adapters.sandbox import SandboxAdapter
from adapters.tiktok_ads import TikTokAdsAdapter
from core.config import Settings
from core.db import Database
from core.errors import InvalidRequest, PlatformUnavailable
from core.ports import RevokeAnswer, TokenRevoker, TokenSet
from tests.adapters.fakes import META
from tests.adapters.helpers import payload

GOOGLE_REVOKE = "https://oauth2.googleapis.com/revoke"
PERMISSIONS = f"{META}/me/permissions"
GOOGLE_TOKENS = TokenSet(
    access_token="ya29.a0AfB_byC-revoke-access-abcdefghijklmnop",
    refresh_token="1//0gRevokeRefreshTOKENabcdefghijklmnop",
)
META_TOKENS = TokenSet(access_token="EAAGm0PX4ZCpsBAKZCqzRevokeLongLivedTokenZBZAabc123")


@pytest.fixture
async def google(http_settings: Settings) -> AsyncIterator[GoogleAdsAdapter]:
    adapter = GoogleAdsAdapter(http_settings)
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def meta(http_settings: Settings) -> AsyncIterator[MetaAdsAdapter]:
    adapter = MetaAdsAdapter(http_settings)
    yield adapter
    await adapter.aclose()


async def test_google_revokes_the_refresh_token_as_a_form(
    google: GoogleAdsAdapter, router: respx.MockRouter
) -> None:
    route = router.post(GOOGLE_REVOKE).mock(return_value=httpx.Response(200))
    assert await google.revoke_tokens(GOOGLE_TOKENS) is RevokeAnswer.REVOKED
    sent = route.calls.last.request
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    # The refresh token ends the whole grant; it travels in the body, never in the URL.
    assert parse_qs(sent.content.decode()) == {"token": [GOOGLE_TOKENS.refresh_token]}
    assert str(GOOGLE_TOKENS.refresh_token) not in str(sent.url)


async def test_google_without_a_refresh_token_revokes_the_access_token(
    google: GoogleAdsAdapter, router: respx.MockRouter
) -> None:
    route = router.post(GOOGLE_REVOKE).mock(return_value=httpx.Response(200))
    only_access = TokenSet(access_token=GOOGLE_TOKENS.access_token)
    assert await google.revoke_tokens(only_access) is RevokeAnswer.REVOKED
    assert parse_qs(route.calls.last.request.content.decode()) == {
        "token": [GOOGLE_TOKENS.access_token]
    }


async def test_google_invalid_token_is_already_invalid(
    google: GoogleAdsAdapter, router: respx.MockRouter
) -> None:
    router.post(GOOGLE_REVOKE).mock(
        return_value=httpx.Response(400, json=payload("google/revoke_invalid_token.json"))
    )
    assert await google.revoke_tokens(GOOGLE_TOKENS) is RevokeAnswer.ALREADY_INVALID


async def test_google_other_refusal_raises(
    google: GoogleAdsAdapter, router: respx.MockRouter
) -> None:
    router.post(GOOGLE_REVOKE).mock(
        return_value=httpx.Response(400, json={"error": "unsupported_token_type"})
    )
    with pytest.raises(InvalidRequest):
        await google.revoke_tokens(GOOGLE_TOKENS)


async def test_google_5xx_is_tried_once_and_raises(
    google: GoogleAdsAdapter, router: respx.MockRouter
) -> None:
    route = router.post(GOOGLE_REVOKE).mock(return_value=httpx.Response(503))
    with pytest.raises(PlatformUnavailable):
        await google.revoke_tokens(GOOGLE_TOKENS)
    assert route.call_count == 1


async def test_google_timeout_raises_unavailable(
    google: GoogleAdsAdapter, router: respx.MockRouter
) -> None:
    router.post(GOOGLE_REVOKE).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(PlatformUnavailable, match="timed out"):
        await google.revoke_tokens(GOOGLE_TOKENS)


async def test_google_revoke_url_is_a_setting(
    http_settings: Settings, router: respx.MockRouter
) -> None:
    local = http_settings.model_copy(
        update={"google_oauth_revoke_url": "http://127.0.0.1:9/oauth/revoke"}
    )
    route = router.post("http://127.0.0.1:9/oauth/revoke").mock(return_value=httpx.Response(200))
    async with GoogleAdsAdapter(local) as adapter:
        assert await adapter.revoke_tokens(GOOGLE_TOKENS) is RevokeAnswer.REVOKED
    assert route.called


async def test_meta_deletes_every_permission_with_a_bearer_header(
    meta: MetaAdsAdapter, router: respx.MockRouter
) -> None:
    route = router.delete(PERMISSIONS).mock(
        return_value=httpx.Response(200, json=payload("meta/permissions_deleted.json"))
    )
    assert await meta.revoke_tokens(META_TOKENS) is RevokeAnswer.REVOKED
    sent = route.calls.last.request
    assert sent.headers["authorization"] == f"Bearer {META_TOKENS.access_token}"
    assert META_TOKENS.access_token not in str(sent.url)


async def test_meta_expired_token_is_already_invalid(
    meta: MetaAdsAdapter, router: respx.MockRouter
) -> None:
    router.delete(PERMISSIONS).mock(
        return_value=httpx.Response(400, json=payload("meta/error_190.json"))
    )
    assert await meta.revoke_tokens(META_TOKENS) is RevokeAnswer.ALREADY_INVALID


async def test_meta_success_false_is_not_a_revocation(
    meta: MetaAdsAdapter, router: respx.MockRouter
) -> None:
    router.delete(PERMISSIONS).mock(return_value=httpx.Response(200, json={"success": False}))
    with pytest.raises(PlatformUnavailable, match="without confirming"):
        await meta.revoke_tokens(META_TOKENS)


async def test_meta_5xx_raises(meta: MetaAdsAdapter, router: respx.MockRouter) -> None:
    route = router.delete(PERMISSIONS).mock(return_value=httpx.Response(500, text="oops"))
    with pytest.raises(PlatformUnavailable):
        await meta.revoke_tokens(META_TOKENS)
    assert route.call_count == 1


def test_only_platforms_with_a_documented_revoke_offer_it(http_settings: Settings) -> None:
    assert isinstance(GoogleAdsAdapter(http_settings), TokenRevoker)
    assert isinstance(MetaAdsAdapter(http_settings), TokenRevoker)
    # TikTok's Business API documents no revoke endpoint we could verify (docs/decisions.md).
    assert not isinstance(TikTokAdsAdapter(http_settings), TokenRevoker)


async def test_sandbox_ends_its_simulated_grant(database: Database) -> None:
    sandbox = SandboxAdapter(database)
    assert await sandbox.revoke_tokens(TokenSet(access_token="sbx")) is RevokeAnswer.REVOKED


async def test_no_token_in_any_log_record(
    google: GoogleAdsAdapter,
    meta: MetaAdsAdapter,
    router: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    router.post(GOOGLE_REVOKE).mock(side_effect=[httpx.Response(200), httpx.Response(503)])
    router.delete(PERMISSIONS).mock(
        side_effect=[
            httpx.Response(200, json={"success": True}),
            httpx.Response(400, json=payload("meta/error_190.json")),
        ]
    )
    with caplog.at_level(logging.DEBUG):
        await google.revoke_tokens(GOOGLE_TOKENS)
        with pytest.raises(PlatformUnavailable):
            await google.revoke_tokens(GOOGLE_TOKENS)
        await meta.revoke_tokens(META_TOKENS)
        await meta.revoke_tokens(META_TOKENS)
    assert caplog.records, "the adapters log their calls at DEBUG"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (
        GOOGLE_TOKENS.access_token,
        GOOGLE_TOKENS.refresh_token,
        META_TOKENS.access_token,
    ):
        assert secret
        assert secret not in logged
