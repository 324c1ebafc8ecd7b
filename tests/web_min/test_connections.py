"""/settings/connections: OAuth connect per platform against respx token endpoints, every
refusal path, RBAC, CSRF, other orgs' ids, disconnect, and "sync now" (Redis and embedded)."""

from __future__ import annotations

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
from tests.web_min.conftest import signed_in, web_user
from web_min.app import create_app
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
    client, admin, database, platforms
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


async def test_meta_connects_with_a_long_lived_token(client, admin, database, platforms) -> None:
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


async def test_tiktok_connects_with_its_auth_code(client, admin, database, platforms) -> None:
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


async def test_sandbox_consent_comes_straight_back_and_connects(client, admin, database) -> None:
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
    client, admin, database, platforms
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


async def test_replayed_state_is_refused(client, admin, database, platforms) -> None:
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


async def test_expired_state_is_refused(client, admin, database, platforms) -> None:
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
    client, web_app, admin, database, platforms
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
    client, admin, database, platforms
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
    client, admin, database, platforms, caplog
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
    client, admin, database, platforms
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


async def test_unknown_platform_is_404(client, admin) -> None:
    csrf = await signed_in(client, admin)
    started = await client.post("/settings/connections/myspace/start", data={"csrf_token": csrf})
    assert started.status_code == 404
    assert (await _callback(client, "myspace", code="c", state="s")).status_code == 404


async def test_anonymous_is_sent_to_sign_in(client) -> None:
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
    client, web_app, database
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


async def test_missing_csrf_is_403(client, admin, database) -> None:
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


async def test_another_orgs_account_id_is_404(client, admin, database) -> None:
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


async def test_disconnect_deletes_tokens_stops_syncing_and_audits(client, admin, database) -> None:
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


async def test_sync_now_in_the_embedded_mode_runs_here(client, web_app, admin, database) -> None:
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
    app = create_app(settings.model_copy(update={"redis_url": redis_url}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_sync_now_enqueues_exactly_one_job_on_redis(
    queued_client, database, redis_url
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


async def test_tokens_of_a_connection_never_reach_the_page(client, admin, database) -> None:
    await _connected_account(database, admin.org_id)
    await signed_in(client, admin)
    page = await client.get("/settings/connections")
    assert "sbx-at-secret" not in page.text
    async with database.tenant(admin.org_id) as session:
        stored = (await session.scalars(select(AdAccount))).one()
    assert stored.access_token_encrypted not in page.text
    assert crypto.decrypt(stored.access_token_encrypted or "") == "sbx-at-secret"


async def test_a_disconnected_account_reconnects_with_new_tokens(client, admin, database) -> None:
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


async def test_a_manager_may_look_but_not_connect(client, database) -> None:
    manager = await web_user(database, role=Role.MANAGER)
    csrf = await signed_in(client, manager)
    assert (await client.get("/settings/connections")).status_code == 200
    started = await client.post("/settings/connections/sandbox/start", data={"csrf_token": csrf})
    assert started.status_code == 403
