"""/settings/connections: OAuth connect per platform against respx token endpoints, every
refusal path, RBAC, CSRF, other orgs' ids, disconnect, and "sync now" (Redis and embedded)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, quote, urlparse

import httpx
import pytest
import respx
from arq import create_pool
from arq.connections import RedisSettings
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select, update

from adapters.sandbox import CampaignSpec, SandboxAdapter
from channels.turns import dump_job, load_job
from core.accounts import service as accounts
from core.accounts.models import AdAccount, OAuthState
from core.audit.models import AuditLog
from core.base import utcnow
from core.config import Settings
from core.db import Database
from core.ports import TokenSet
from core.security import crypto
from core.users.models import Role, User
from tests.adapters.fakes import META, TIKTOK, FakeGoogle, FakeMeta, FakeTikTok
from tests.adapters.helpers import payload
from tests.web_min.conftest import served, signed_in, web_user
from web_min.connection_sync import SyncTrigger

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
# Google's answer to a first consent with access_type=offline: a refresh token comes with it.
GOOGLE_TOKEN = {
    "access_token": "ya29.a0AfH6SMconnect",
    "expires_in": 3599,
    "refresh_token": "1//0gConnectRefresh",
    "scope": "https://www.googleapis.com/auth/adwords",
    "token_type": "Bearer",
}
CODE = "4/0AVG7fiQconnect-code"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Every real platform configured, so none is simulated here (public URL: the default)."""
    return settings.model_copy(
        update={
            "google_client_id": "gid.apps.googleusercontent.com",
            "google_client_secret": SecretStr("gsecret"),
            "google_developer_token": SecretStr("devtoken"),
            "meta_app_id": "meta-app",
            "meta_app_secret": SecretStr("meta-secret"),
            "tiktok_app_id": "tt-app",
            "tiktok_app_secret": SecretStr("tt-secret"),
        }
    )


@pytest.fixture
def platforms() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
async def admin(database: Database) -> User:
    return await web_user(database, role=Role.ADMIN)


async def _start(client: httpx.AsyncClient, csrf: str, platform: str) -> str:
    response = await client.post(
        f"/settings/connections/{platform}/start", data={"csrf_token": csrf}
    )
    assert response.status_code == 303
    return response.headers["location"]


def _query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlparse(url).query).items()}


async def _callback(client: httpx.AsyncClient, platform: str, **params: str) -> httpx.Response:
    return await client.get(f"/oauth/{platform}/callback", params=params)


async def _flashes_after(client: httpx.AsyncClient, response: httpx.Response) -> str:
    assert response.status_code == 303
    assert response.headers["location"] == "/settings/connections"
    page = await client.get("/settings/connections")
    assert page.status_code == 200
    return page.text


async def _pick(
    client: httpx.AsyncClient, csrf: str, response: httpx.Response, *external_ids: str
) -> httpx.Response:
    assert response.status_code == 303, response.text
    pick_path = response.headers["location"]
    page = await client.get(pick_path)
    assert page.status_code == 200
    for external_id in external_ids:
        assert f'value="{external_id}"' in page.text
    flow = _query(pick_path)["flow"]
    platform = pick_path.split("/")[3]
    return await client.post(
        f"/settings/connections/{platform}/pick",
        data={"csrf_token": csrf, "flow": flow, "account": list(external_ids)},
    )


async def _stored(database: Database, org_id: uuid.UUID) -> list[AdAccount]:
    async with database.tenant(org_id) as session:
        return list(await session.scalars(select(AdAccount).order_by(AdAccount.name)))


async def _audit(database: Database, org_id: uuid.UUID, action: str) -> list[AuditLog]:
    async with database.tenant(org_id) as session:
        return list(await session.scalars(select(AuditLog).where(AuditLog.action == action)))


# --- happy paths, one per platform ------------------------------------------------------------


async def test_google_connects_with_pkce_and_encrypted_tokens(
    client: httpx.AsyncClient, admin: User, database: Database, platforms: respx.MockRouter
) -> None:
    csrf = await signed_in(client, admin)
    consent = _query(await _start(client, csrf, "google"))
    assert consent["redirect_uri"] == "http://127.0.0.1:8000/oauth/google/callback"
    assert consent["code_challenge_method"] == "S256"
    token = platforms.post(GOOGLE_TOKEN_URL).mock(
        return_value=httpx.Response(200, json=GOOGLE_TOKEN)
    )
    FakeGoogle().install(platforms)

    answer = await _callback(client, "google", code=CODE, state=consent["state"])
    picked = await _pick(client, csrf, answer, "1234567890")

    page = await _flashes_after(client, picked)
    assert "Connected Acme" in page
    form = parse_qs(token.calls.last.request.content.decode())
    assert form["code"] == [CODE]
    verifier = form["code_verifier"][0]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    assert challenge.rstrip(b"=").decode() == consent["code_challenge"]
    [account] = await _stored(database, admin.org_id)
    assert (account.platform, account.external_id, account.name) == ("google", "1234567890", "Acme")
    assert account.access_token_encrypted is not None
    assert "ya29" not in account.access_token_encrypted
    assert accounts.tokens_of(account).access_token == GOOGLE_TOKEN["access_token"]
    assert accounts.tokens_of(account).refresh_token == GOOGLE_TOKEN["refresh_token"]
    [entry] = await _audit(database, admin.org_id, "ad_account.connected")
    assert entry.resource_id == str(account.id)
    assert entry.user_id == admin.id


async def test_meta_connects_with_a_long_lived_token(
    client: httpx.AsyncClient, admin: User, database: Database, platforms: respx.MockRouter
) -> None:
    csrf = await signed_in(client, admin)
    consent = _query(await _start(client, csrf, "meta"))
    assert "code_challenge" not in consent
    exchange = platforms.post(f"{META}/oauth/access_token").mock(
        side_effect=[
            httpx.Response(200, json={"access_token": "EAAshort", "token_type": "bearer"}),
            httpx.Response(200, json=payload("meta/oauth_token.json")),
        ]
    )
    FakeMeta().install(platforms)

    answer = await _callback(client, "meta", code="AQDmeta-code", state=consent["state"])
    assert "Connected Acme" in await _flashes_after(
        client, await _pick(client, csrf, answer, "555")
    )

    assert parse_qs(exchange.calls[0].request.content.decode())["code"] == ["AQDmeta-code"]
    [account] = await _stored(database, admin.org_id)
    assert (account.platform, account.external_id, account.timezone) == (
        "meta",
        "555",
        "Europe/Berlin",
    )
    assert (
        accounts.tokens_of(account).access_token == payload("meta/oauth_token.json")["access_token"]
    )


async def test_tiktok_connects_with_its_auth_code(
    client: httpx.AsyncClient, admin: User, database: Database, platforms: respx.MockRouter
) -> None:
    csrf = await signed_in(client, admin)
    consent = _query(await _start(client, csrf, "tiktok"))
    assert consent["app_id"] == "tt-app"
    exchange = platforms.post(f"{TIKTOK}/oauth2/access_token/").mock(
        return_value=httpx.Response(200, json=payload("tiktok/oauth_access_token.json"))
    )
    FakeTikTok().install(platforms)

    # TikTok sends the code as `auth_code`.
    answer = await _callback(client, "tiktok", auth_code="tt-auth-code", state=consent["state"])
    assert "Connected Acme" in await _flashes_after(
        client, await _pick(client, csrf, answer, "7000001")
    )
    assert exchange.calls.last.request.read().find(b"tt-auth-code") > 0
    [account] = await _stored(database, admin.org_id)
    assert (account.platform, account.external_id) == ("tiktok", "7000001")
    assert accounts.tokens_of(account).access_token == "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c"


async def test_sandbox_consent_comes_straight_back_and_connects(
    client: httpx.AsyncClient, admin: User, database: Database
) -> None:
    made = await SandboxAdapter(database).provision_account(name="Demo Shoes", history_days=2)
    csrf = await signed_in(client, admin)
    consent = await _start(client, csrf, "sandbox")
    assert consent.startswith("http://127.0.0.1:8000/oauth/sandbox/callback?")

    answer = await client.get(consent.removeprefix("http://127.0.0.1:8000"))
    external_id = made.account.external_id
    assert "Connected Demo Shoes" in await _flashes_after(
        client, await _pick(client, csrf, answer, external_id)
    )
    page = await client.get("/settings/connections")
    assert "Demo Shoes" in page.text
    assert "Not synced yet" in page.text


# --- refusals ----------------------------------------------------------------------------------


async def test_state_mismatch_is_refused_without_calling_the_platform(
    client: httpx.AsyncClient, admin: User, database: Database, platforms: respx.MockRouter
) -> None:
    csrf = await signed_in(client, admin)
    await _start(client, csrf, "google")
    token = platforms.post(GOOGLE_TOKEN_URL).mock(
        return_value=httpx.Response(200, json=GOOGLE_TOKEN)
    )
    answer = await _callback(client, "google", code=CODE, state="not-the-state-we-sent")
    assert "does not match a connection started here" in await _flashes_after(client, answer)
    assert not token.called
    assert await _stored(database, admin.org_id) == []


async def test_replayed_state_is_refused(
    client: httpx.AsyncClient, admin: User, database: Database, platforms: respx.MockRouter
) -> None:
    csrf = await signed_in(client, admin)
    consent = _query(await _start(client, csrf, "google"))
    token = platforms.post(GOOGLE_TOKEN_URL).mock(
        return_value=httpx.Response(200, json=GOOGLE_TOKEN)
    )
    FakeGoogle().install(platforms)
    first = await _callback(client, "google", code=CODE, state=consent["state"])
    assert first.headers["location"].startswith("/settings/connections/google/pick?")

    again = await _callback(client, "google", code=CODE, state=consent["state"])
    assert "was already used" in await _flashes_after(client, again)
    assert token.call_count == 1


async def test_expired_state_is_refused(
    client: httpx.AsyncClient, admin: User, database: Database, platforms: respx.MockRouter
) -> None:
    csrf = await signed_in(client, admin)
    consent = _query(await _start(client, csrf, "google"))
    async with database.tenant(admin.org_id) as session:
        await session.execute(update(OAuthState).values(expires_at=utcnow() - timedelta(seconds=1)))
    token = platforms.post(GOOGLE_TOKEN_URL).mock(
        return_value=httpx.Response(200, json=GOOGLE_TOKEN)
    )
    answer = await _callback(client, "google", code=CODE, state=consent["state"])
    assert "expired" in await _flashes_after(client, answer)
    assert not token.called


async def test_another_browser_sessions_callback_is_refused(
    client: httpx.AsyncClient,
    web_app: FastAPI,
    admin: User,
    database: Database,
    platforms: respx.MockRouter,
) -> None:
    csrf = await signed_in(client, admin)
    consent = _query(await _start(client, csrf, "google"))
    token = platforms.post(GOOGLE_TOKEN_URL).mock(
        return_value=httpx.Response(200, json=GOOGLE_TOKEN)
    )
    FakeGoogle().install(platforms)
    transport = httpx.ASGITransport(app=web_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        await signed_in(other, admin)  # the same person, another browser
        answer = await _callback(other, "google", code=CODE, state=consent["state"])
        assert "another browser session" in await _flashes_after(other, answer)
    assert not token.called
    # The browser that started it still finishes.
    mine = await _callback(client, "google", code=CODE, state=consent["state"])
    assert mine.headers["location"].startswith("/settings/connections/google/pick?")


async def test_cancelled_consent_comes_back_with_a_message(
    client: httpx.AsyncClient, admin: User, database: Database, platforms: respx.MockRouter
) -> None:
    csrf = await signed_in(client, admin)
    consent = _query(await _start(client, csrf, "google"))
    token = platforms.post(GOOGLE_TOKEN_URL).mock(
        return_value=httpx.Response(200, json=GOOGLE_TOKEN)
    )
    answer = await _callback(client, "google", error="access_denied", state=consent["state"])
    assert "You cancelled connecting Google Ads" in await _flashes_after(client, answer)
    # The cancelled handshake is spent: its state cannot be used afterwards.
    later = await _callback(client, "google", code=CODE, state=consent["state"])
    assert "was already used" in await _flashes_after(client, later)
    assert not token.called


async def test_a_refused_code_is_a_message_and_never_logged(
    client: httpx.AsyncClient,
    admin: User,
    database: Database,
    platforms: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    csrf = await signed_in(client, admin)
    consent = _query(await _start(client, csrf, "google"))
    platforms.post(GOOGLE_TOKEN_URL).mock(
        return_value=httpx.Response(400, json=payload("google/invalid_grant.json"))
    )
    with caplog.at_level(logging.DEBUG):
        answer = await _callback(client, "google", code=CODE, state=consent["state"])
        page = await _flashes_after(client, answer)
    assert "Google Ads refused the sign-in" in page
    assert "Traceback" not in page
    # Everything the app and its adapters logged (the test client's own request lines aside).
    logged = "\n".join(
        record.getMessage()
        for record in caplog.records
        if not (record.name == "httpx" and "http://testserver" in record.getMessage())
    )
    assert "refused" in logged or "consent exchange failed" in logged
    for secret in (CODE, quote(CODE, safe=""), consent["state"]):
        assert secret not in logged
    assert await _stored(database, admin.org_id) == []


async def test_a_pick_is_saved_once_and_only_offered_accounts(
    client: httpx.AsyncClient, admin: User, database: Database, platforms: respx.MockRouter
) -> None:
    csrf = await signed_in(client, admin)
    consent = _query(await _start(client, csrf, "google"))
    platforms.post(GOOGLE_TOKEN_URL).mock(return_value=httpx.Response(200, json=GOOGLE_TOKEN))
    FakeGoogle().install(platforms)
    answer = await _callback(client, "google", code=CODE, state=consent["state"])
    flow = _query(answer.headers["location"])["flow"]
    smuggled = await client.post(
        "/settings/connections/google/pick",
        data={"csrf_token": csrf, "flow": flow, "account": ["999"]},
    )
    assert "not part of this sign-in" in await _flashes_after(client, smuggled)
    assert await _stored(database, admin.org_id) == []


async def test_unknown_platform_is_404(client: httpx.AsyncClient, admin: User) -> None:
    csrf = await signed_in(client, admin)
    started = await client.post("/settings/connections/myspace/start", data={"csrf_token": csrf})
    assert started.status_code == 404
    assert (await _callback(client, "myspace", code="c", state="s")).status_code == 404


async def test_anonymous_is_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/settings/connections")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


# --- RBAC, CSRF, other orgs --------------------------------------------------------------------


async def _connected_account(
    database: Database, org_id: uuid.UUID, *, platform: str = "sandbox", external_id: str = "x1"
) -> AdAccount:
    async with database.tenant(org_id) as session:
        account = AdAccount(
            org_id=org_id, platform=platform, external_id=external_id, name=f"Shop {external_id}"
        )
        session.add(account)
        await session.flush()
        await accounts.store_tokens(
            session=session,
            account_id=account.id,
            tokens=TokenSet(access_token="sbx-at-secret", refresh_token="sbx-rt-secret"),
        )
    return account


async def test_plain_user_sees_the_list_and_gets_403_on_every_action(
    client: httpx.AsyncClient, web_app: FastAPI, database: Database
) -> None:
    plain = await web_user(database, role=Role.USER)
    account = await _connected_account(database, plain.org_id)
    csrf = await signed_in(client, plain)
    page = await client.get("/settings/connections")
    assert page.status_code == 200
    assert "Shop x1" in page.text
    assert "Disconnect" not in page.text
    for path in (
        "/settings/connections/sandbox/start",
        f"/settings/connections/{account.id}/sync",
        f"/settings/connections/{account.id}/disconnect",
        "/settings/connections/sandbox/pick",
    ):
        response = await client.post(path, data={"csrf_token": csrf})
        assert response.status_code == 403, path
    assert (await _callback(client, "sandbox", code="c", state="s")).status_code == 403
    [still] = await _stored(database, plain.org_id)
    assert still.access_token_encrypted is not None


async def test_missing_csrf_is_403(
    client: httpx.AsyncClient, admin: User, database: Database
) -> None:
    account = await _connected_account(database, admin.org_id)
    await signed_in(client, admin)
    for path in (
        "/settings/connections/sandbox/start",
        f"/settings/connections/{account.id}/sync",
        f"/settings/connections/{account.id}/disconnect",
        "/settings/connections/sandbox/pick",
    ):
        response = await client.post(path, data={})
        assert response.status_code == 403, path
    [still] = await _stored(database, admin.org_id)
    assert still.access_token_encrypted is not None


async def test_another_orgs_account_id_is_404(
    client: httpx.AsyncClient, admin: User, database: Database
) -> None:
    stranger = await web_user(database, role=Role.ADMIN)
    theirs = await _connected_account(database, stranger.org_id)
    csrf = await signed_in(client, admin)
    for action in ("sync", "disconnect"):
        response = await client.post(
            f"/settings/connections/{theirs.id}/{action}", data={"csrf_token": csrf}
        )
        assert response.status_code == 404, action
    bad = await client.post("/settings/connections/not-a-uuid/sync", data={"csrf_token": csrf})
    assert bad.status_code == 404
    [untouched] = await _stored(database, stranger.org_id)
    assert untouched.access_token_encrypted is not None


# --- disconnect and sync -----------------------------------------------------------------------


async def test_disconnect_deletes_tokens_stops_syncing_and_audits(
    client: httpx.AsyncClient, admin: User, database: Database
) -> None:
    account = await _connected_account(database, admin.org_id)
    csrf = await signed_in(client, admin)
    response = await client.post(
        f"/settings/connections/{account.id}/disconnect", data={"csrf_token": csrf}
    )
    assert "tokens are deleted" in await _flashes_after(client, response)
    [gone] = await _stored(database, admin.org_id)
    assert gone.access_token_encrypted is None
    assert gone.refresh_token_encrypted is None
    assert gone.sync_status == "disconnected"
    async with database.system() as session:
        assert account.id not in {found for found, _ in await accounts.syncable(session=session)}
    [entry] = await _audit(database, admin.org_id, "ad_account.disconnected")
    assert (entry.resource_id, entry.user_id) == (str(account.id), admin.id)
    assert "sbx-at-secret" not in str(entry.before) + str(entry.after)


async def test_sync_now_in_the_embedded_mode_runs_here(
    client: httpx.AsyncClient, web_app: FastAPI, admin: User, database: Database
) -> None:
    made = await SandboxAdapter(database).provision_account(
        name="Embedded Shop",
        history_days=3,
        campaigns=[CampaignSpec(name="Brand", daily_budget=Decimal("40"))],
    )
    account = await _connected_account(database, admin.org_id, external_id=made.account.external_id)
    csrf = await signed_in(client, admin)
    response = await client.post(
        f"/settings/connections/{account.id}/sync", data={"csrf_token": csrf}
    )
    assert "in this process (embedded mode" in await _flashes_after(client, response)
    await SyncTrigger.for_app(web_app).wait_idle()
    [synced] = await _stored(database, admin.org_id)
    assert synced.sync_status == "ok"
    assert synced.last_synced_at is not None


@pytest.fixture
async def queued_client(settings: Settings, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with served(settings.model_copy(update={"redis_url": redis_url})) as http:
        yield http


async def test_sync_now_enqueues_exactly_one_job_on_redis(
    queued_client: httpx.AsyncClient, database: Database, redis_url: str
) -> None:
    admin = await web_user(database, role=Role.ADMIN)
    account = await _connected_account(database, admin.org_id)
    csrf = await signed_in(queued_client, admin)
    first = await queued_client.post(
        f"/settings/connections/{account.id}/sync", data={"csrf_token": csrf}
    )
    assert "queued" in await _flashes_after(queued_client, first)
    second = await queued_client.post(
        f"/settings/connections/{account.id}/sync", data={"csrf_token": csrf}
    )
    assert "already queued" in await _flashes_after(queued_client, second)
    pool = await create_pool(
        RedisSettings.from_dsn(redis_url), job_serializer=dump_job, job_deserializer=load_job
    )
    try:
        jobs = await pool.queued_jobs()
    finally:
        await pool.aclose()
    assert [(job.function, job.kwargs) for job in jobs] == [
        ("sync_account", {"account_id": str(account.id)})
    ]


async def test_tokens_of_a_connection_never_reach_the_page(
    client: httpx.AsyncClient, admin: User, database: Database
) -> None:
    await _connected_account(database, admin.org_id)
    await signed_in(client, admin)
    page = await client.get("/settings/connections")
    assert "sbx-at-secret" not in page.text
    async with database.tenant(admin.org_id) as session:
        stored = (await session.scalars(select(AdAccount))).one()
    assert stored.access_token_encrypted not in page.text
    assert crypto.decrypt(stored.access_token_encrypted or "") == "sbx-at-secret"


async def test_a_disconnected_account_reconnects_with_new_tokens(
    client: httpx.AsyncClient, admin: User, database: Database
) -> None:
    made = await SandboxAdapter(database).provision_account(name="Again Shop", history_days=1)
    account = await _connected_account(database, admin.org_id, external_id=made.account.external_id)
    csrf = await signed_in(client, admin)
    await client.post(f"/settings/connections/{account.id}/disconnect", data={"csrf_token": csrf})
    refused = await client.post(
        f"/settings/connections/{account.id}/sync", data={"csrf_token": csrf}
    )
    assert "is disconnected" in await _flashes_after(client, refused)

    consent = await _start(client, csrf, "sandbox")
    answer = await client.get(consent.removeprefix("http://127.0.0.1:8000"))
    await _pick(client, csrf, answer, made.account.external_id)

    [again] = await _stored(database, admin.org_id)
    assert again.id == account.id
    assert again.sync_status == "pending"
    assert accounts.tokens_of(again).access_token.startswith("sbx-at-")
    [entry] = await _audit(database, admin.org_id, "ad_account.reconnected")
    assert entry.resource_id == str(account.id)


async def test_a_manager_may_look_but_not_connect(
    client: httpx.AsyncClient, database: Database
) -> None:
    manager = await web_user(database, role=Role.MANAGER)
    csrf = await signed_in(client, manager)
    assert (await client.get("/settings/connections")).status_code == 200
    started = await client.post("/settings/connections/sandbox/start", data={"csrf_token": csrf})
    assert started.status_code == 403


# --- revoking the grant at the platform on disconnect -------------------------------------------

GOOGLE_REVOKE_URL = "https://oauth2.googleapis.com/revoke"
META_PERMISSIONS_URL = f"{META}/me/permissions"


async def _connected_on(
    database: Database, org_id: uuid.UUID, platform: str, tokens: TokenSet
) -> AdAccount:
    async with database.tenant(org_id) as session:
        account = AdAccount(org_id=org_id, platform=platform, external_id="77", name="Shop 77")
        session.add(account)
        await session.flush()
        await accounts.store_tokens(session=session, account_id=account.id, tokens=tokens)
    return account


async def _disconnect_and_read(
    client: httpx.AsyncClient,
    database: Database,
    admin: User,
    account: AdAccount,
    *,
    csrf: str | None = None,
) -> tuple[str, list[AuditLog]]:
    csrf = csrf or await signed_in(client, admin)
    response = await client.post(
        f"/settings/connections/{account.id}/disconnect", data={"csrf_token": csrf}
    )
    page = await _flashes_after(client, response)
    [gone] = await _stored(database, admin.org_id)
    assert gone.access_token_encrypted is None
    assert gone.refresh_token_encrypted is None
    assert gone.sync_status == "disconnected"
    return page, await _audit(database, admin.org_id, "ad_account.revoked_at_platform")


GOOGLE_HELD = TokenSet(access_token="ya29.a0AfH6SMheld", refresh_token="1//0gHeldRefresh")
META_HELD = TokenSet(access_token="EAAGm0PX4ZCpsBAheldLongLivedToken")


async def test_disconnect_revokes_the_google_grant_and_says_so(
    client: httpx.AsyncClient, admin: User, database: Database, platforms: respx.MockRouter
) -> None:
    account = await _connected_on(database, admin.org_id, "google", GOOGLE_HELD)
    revoke = platforms.post(GOOGLE_REVOKE_URL).mock(return_value=httpx.Response(200))
    page, [entry] = await _disconnect_and_read(client, database, admin, account)
    assert parse_qs(revoke.calls.last.request.content.decode()) == {
        "token": [GOOGLE_HELD.refresh_token]
    }
    assert "Google Ads confirmed that AdPilot&#39;s access is revoked" in page
    assert entry.after == {"platform": "google", "outcome": "revoked"}
    assert (entry.resource_id, entry.user_id) == (str(account.id), admin.id)
    [disconnected] = await _audit(database, admin.org_id, "ad_account.disconnected")
    assert disconnected.resource_id == str(account.id)


async def test_an_already_invalid_google_token_is_reported_as_ended(
    client: httpx.AsyncClient, admin: User, database: Database, platforms: respx.MockRouter
) -> None:
    account = await _connected_on(database, admin.org_id, "google", GOOGLE_HELD)
    platforms.post(GOOGLE_REVOKE_URL).mock(
        return_value=httpx.Response(400, json=payload("google/revoke_invalid_token.json"))
    )
    page, [entry] = await _disconnect_and_read(client, database, admin, account)
    assert "Google Ads reports the access had already ended" in page
    assert entry.after == {"platform": "google", "outcome": "already_invalid"}


async def test_meta_5xx_leaves_tokens_deleted_and_the_page_says_unconfirmed(
    client: httpx.AsyncClient, admin: User, database: Database, platforms: respx.MockRouter
) -> None:
    account = await _connected_on(database, admin.org_id, "meta", META_HELD)
    revoke = platforms.delete(META_PERMISSIONS_URL).mock(return_value=httpx.Response(503))
    page, [entry] = await _disconnect_and_read(client, database, admin, account)
    assert revoke.call_count == 1
    assert "Meta Ads did not confirm revoking the access" in page
    assert "remove AdPilot from the connected apps" in page
    assert entry.after == {
        "platform": "meta",
        "outcome": "failed",
        "reason": "meta answered HTTP 503.",
    }


async def test_meta_success_is_confirmed(
    client: httpx.AsyncClient, admin: User, database: Database, platforms: respx.MockRouter
) -> None:
    account = await _connected_on(database, admin.org_id, "meta", META_HELD)
    platforms.delete(META_PERMISSIONS_URL).mock(
        return_value=httpx.Response(200, json=payload("meta/permissions_deleted.json"))
    )
    page, [entry] = await _disconnect_and_read(client, database, admin, account)
    assert "Meta Ads confirmed that AdPilot&#39;s access is revoked" in page
    assert entry.after == {"platform": "meta", "outcome": "revoked"}


@pytest.fixture
def quick_revoke(settings: Settings) -> Settings:
    return settings.model_copy(update={"platform_revoke_timeout_seconds": 0.2})


@pytest.fixture
async def quick_client(quick_revoke: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with served(quick_revoke) as http:
        yield http


async def test_a_hanging_platform_is_cut_off_and_tokens_stay_deleted(
    quick_client: httpx.AsyncClient, admin: User, database: Database, platforms: respx.MockRouter
) -> None:
    hang = asyncio.Event()  # never set: the platform never answers

    async def never_answers(request: httpx.Request) -> httpx.Response:
        await hang.wait()
        raise AssertionError("unreachable")

    account = await _connected_on(database, admin.org_id, "google", GOOGLE_HELD)
    platforms.post(GOOGLE_REVOKE_URL).mock(side_effect=never_answers)
    page, [entry] = await _disconnect_and_read(quick_client, database, admin, account)
    assert "did not confirm revoking the access (no answer within 0.2 s)" in page
    assert entry.after == {
        "platform": "google",
        "outcome": "failed",
        "reason": "no answer within 0.2 s",
    }


async def test_a_google_timeout_is_reported(
    client: httpx.AsyncClient, admin: User, database: Database, platforms: respx.MockRouter
) -> None:
    account = await _connected_on(database, admin.org_id, "google", GOOGLE_HELD)
    platforms.post(GOOGLE_REVOKE_URL).mock(side_effect=httpx.ConnectTimeout("slow"))
    page, [entry] = await _disconnect_and_read(client, database, admin, account)
    assert "Google Ads did not confirm revoking the access (google timed out.)" in page
    assert entry.after is not None
    assert entry.after["outcome"] == "failed"


async def test_tiktok_is_only_deleted_here_and_the_user_is_told_where_to_remove_it(
    client: httpx.AsyncClient, admin: User, database: Database, platforms: respx.MockRouter
) -> None:
    account = await _connected_on(
        database, admin.org_id, "tiktok", TokenSet(access_token="9f8e7d6c5b4a3928tiktokheld")
    )
    anything_tiktok = platforms.route(host="business-api.tiktok.com")
    page, [entry] = await _disconnect_and_read(client, database, admin, account)
    assert not anything_tiktok.called
    assert "TikTok Ads offers no way for us to revoke the access" in page
    assert "authorized apps in your TikTok Ads account settings" in page
    assert entry.after == {"platform": "tiktok", "outcome": "not_offered"}


async def test_disconnecting_twice_revokes_nothing_the_second_time(
    client: httpx.AsyncClient, admin: User, database: Database, platforms: respx.MockRouter
) -> None:
    account = await _connected_on(database, admin.org_id, "google", GOOGLE_HELD)
    revoke = platforms.post(GOOGLE_REVOKE_URL).mock(return_value=httpx.Response(200))
    csrf = await signed_in(client, admin)
    await _disconnect_and_read(client, database, admin, account, csrf=csrf)
    page, entries = await _disconnect_and_read(client, database, admin, account, csrf=csrf)
    assert revoke.call_count == 1
    assert len(entries) == 1
    assert "tokens are deleted and it no longer syncs." in page


async def test_no_token_reaches_a_log_line_on_any_revoke_outcome(
    client: httpx.AsyncClient,
    admin: User,
    database: Database,
    platforms: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    google = await _connected_on(database, admin.org_id, "google", GOOGLE_HELD)
    platforms.post(GOOGLE_REVOKE_URL).mock(return_value=httpx.Response(502))
    with caplog.at_level(logging.DEBUG):
        await _disconnect_and_read(client, database, admin, google)
    assert any("revoking at google failed" in r.getMessage() for r in caplog.records)
    logged = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    for secret in (GOOGLE_HELD.access_token, GOOGLE_HELD.refresh_token):
        assert secret
        assert secret not in logged


async def test_the_local_delete_is_committed_before_the_platform_is_asked(
    client: httpx.AsyncClient, admin: User, database: Database, platforms: respx.MockRouter
) -> None:
    account = await _connected_on(database, admin.org_id, "google", GOOGLE_HELD)
    seen: list[str | None] = []

    async def look_then_answer(request: httpx.Request) -> httpx.Response:
        # Another connection: it sees only what the disconnect has committed.
        async with database.system() as session:
            stored = await session.get(AdAccount, account.id)
            assert stored is not None
            seen.append(stored.access_token_encrypted)
        return httpx.Response(200)

    platforms.post(GOOGLE_REVOKE_URL).mock(side_effect=look_then_answer)
    _, [entry] = await _disconnect_and_read(client, database, admin, account)
    assert seen == [None]
    assert entry.after == {"platform": "google", "outcome": "revoked"}
