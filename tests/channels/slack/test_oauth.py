"""Install to many workspaces: bolt's OAuth v2 flow on our stores, against a loopback Slack."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from aiohttp import web
from fastapi import FastAPI
from pydantic import SecretStr
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import func, select, update

from bot.replies import ApprovalCard
from channels.base import ChannelAddress, ChannelError
from channels.slack import SCOPES
from channels.slack.channel import SlackChannel
from channels.slack.installations import DatabaseInstallationStore, DatabaseOAuthStateStore
from core.audit.models import AuditLog
from core.base import utcnow
from core.config import Settings
from core.db import Database
from core.events.models import SlackInstallation, SlackOAuthState
from core.logging_setup import quiet_http_clients
from core.orgs.models import Organization
from core.security.crypto import get_cipher
from core.users.identity import EMAIL_LINK_TEAMS_SETTING
from core.users.models import ChannelIdentity
from tests import factories
from tests.channels.slack.conftest import MockSlack
from web_min.app import create_app

SIGNING_SECRET = "8f742231b10e8888abcd99aaabbb85a5"
CLIENT_ID = "1234567890.9876543210"
CLIENT_SECRET = "0123456789abcdef0123456789abcdef"
INSTALLED_TEAM = "T9TK3CUKW"  # the team in the mock's oauth.v2.access answer
INSTALLED_TOKEN = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"


@pytest.fixture
async def app(settings: Settings, database: Database, slack: MockSlack) -> AsyncIterator[FastAPI]:
    assert slack.server is not None
    configured = settings.model_copy(
        update={
            "slack_signing_secret": SecretStr(SIGNING_SECRET),
            "slack_client_id": CLIENT_ID,
            "slack_client_secret": SecretStr(CLIENT_SECRET),
            "slack_redirect_uri": "https://ads.example.com/slack/oauth_redirect",
            "slack_api_url": str(slack.server.make_url("/api/")),
        }
    )
    app = create_app(configured)
    yield app
    await app.state.database.dispose()


def http(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="https://adpilot.test")


async def start_install(client: httpx.AsyncClient) -> tuple[str, str]:
    """GET /slack/install: the authorize URL's state and the browser cookie bolt set."""
    page = await client.get("/slack/install")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    href = page.text.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    query = parse_qs(urlsplit(href).query)
    return query["state"][0], page.cookies["slack-app-oauth-state"]


async def test_the_install_page_asks_for_exactly_our_scopes_with_a_stored_single_use_state(
    app: FastAPI, database: Database
) -> None:
    async with http(app) as client:
        page = await client.get("/slack/install")
    href = page.text.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    url = urlsplit(href)
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://slack.com/oauth/v2/authorize"
    assert query["client_id"] == [CLIENT_ID]
    assert query["scope"][0].split(",") == list(SCOPES)
    assert query["redirect_uri"] == ["https://ads.example.com/slack/oauth_redirect"]
    state = query["state"][0]
    cookie = page.headers["set-cookie"]
    assert "slack-app-oauth-state=" in cookie
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    assert "slack-edge.com" not in page.text  # no third-party image on our page
    async with database.system() as session:
        stored = list(await session.scalars(select(SlackOAuthState.state_hash)))
    # Kept as a hash: whoever reads the table cannot finish someone else's install.
    assert len(stored) == 1
    assert state not in stored[0]


async def test_a_completed_install_stores_the_token_encrypted_and_serves_that_workspace(
    app: FastAPI, database: Database, slack: MockSlack
) -> None:
    async with http(app) as client:
        state, _ = await start_install(client)
        done = await client.get(
            "/slack/oauth_redirect", params={"code": "1234.5678.abcd", "state": state}
        )
    assert done.status_code == 200
    (exchange,) = slack.of("oauth.v2.access")
    assert exchange["code"] == "1234.5678.abcd"
    basic = dict(slack.tokens)["oauth.v2.access"].removeprefix("Basic ")
    assert base64.b64decode(basic).decode() == f"{CLIENT_ID}:{CLIENT_SECRET}"
    async with database.system() as session:
        row = await session.scalar(select(SlackInstallation))
    assert row is not None
    assert (row.team_id, row.team_name, row.bot_user_id) == (
        INSTALLED_TEAM,
        "Slack Softball Team",
        "U0KRQLJ9H",
    )
    assert row.bot_id == "BBOT"  # from auth.test, as bolt does it
    assert INSTALLED_TOKEN not in row.bot_token_encrypted
    assert get_cipher(app.state.settings).decrypt(row.bot_token_encrypted) == INSTALLED_TOKEN

    # A command from the new workspace is answered with that workspace's own token.
    await signed_command(app, slack, team=INSTALLED_TEAM, user="UNEW", text="help")
    await slack.wait_for("response_url")
    # Later, outside any request (a card decided on another channel), the same token is used.
    channel: SlackChannel = app.state.slack.channel
    await channel.edit_card(ChannelAddress("slack", INSTALLED_TEAM, "C42"), "1700.0001", _card())
    assert ("chat.update", INSTALLED_TOKEN) in slack.tokens


async def test_a_replayed_state_installs_nothing_the_second_time(
    app: FastAPI, database: Database, slack: MockSlack
) -> None:
    async with http(app) as client:
        state, cookie = await start_install(client)
        params = {"code": "1234.5678.abcd", "state": state}
        first = await client.get("/slack/oauth_redirect", params=params)
    # Bolt clears the cookie on success; a replay that kept it is stopped by the state store.
    async with http(app) as replayer:
        replay = await replayer.get(
            "/slack/oauth_redirect",
            params=params,
            headers={"cookie": f"slack-app-oauth-state={cookie}"},
        )
    assert first.status_code == 200
    assert replay.status_code == 401
    assert len(slack.of("oauth.v2.access")) == 1


async def test_a_callback_without_the_browser_cookie_or_with_an_expired_state_is_refused(
    app: FastAPI, database: Database, slack: MockSlack
) -> None:
    async with http(app) as client:
        state, _ = await start_install(client)
        async with http(app) as other_browser:
            stranger = await other_browser.get(
                "/slack/oauth_redirect", params={"code": "c", "state": state}
            )
        assert stranger.status_code == 400  # another browser: bolt's invalid_browser
        async with database.system() as session:
            await session.execute(
                update(SlackOAuthState).values(expires_at=utcnow() - timedelta(seconds=1))
            )
        late = await client.get("/slack/oauth_redirect", params={"code": "c", "state": state})
    assert late.status_code == 401
    assert slack.of("oauth.v2.access") == []
    async with database.system() as session:
        assert await session.scalar(select(func.count()).select_from(SlackInstallation)) == 0


async def test_a_refused_code_exchange_installs_nothing_and_never_logs_the_code(
    app: FastAPI, database: Database, slack: MockSlack, caplog: pytest.LogCaptureFixture
) -> None:
    slack.failures["oauth.v2.access"] = web.json_response({"ok": False, "error": "invalid_code"})
    quiet_http_clients()  # as every composition root does; the SDKs log bodies at DEBUG
    caplog.set_level(logging.DEBUG)
    async with http(app) as client:
        state, _ = await start_install(client)
        done = await client.get(
            "/slack/oauth_redirect", params={"code": "secret-code-4711", "state": state}
        )
    assert done.status_code == 401
    assert "secret-code-4711" not in caplog.text
    assert "invalid_code" in caplog.text
    async with database.system() as session:
        assert await session.scalar(select(func.count()).select_from(SlackInstallation)) == 0


async def test_a_cancelled_consent_comes_back_with_a_page_and_installs_nothing(
    app: FastAPI, database: Database, slack: MockSlack
) -> None:
    async with http(app) as client:
        state, _ = await start_install(client)
        back = await client.get(
            "/slack/oauth_redirect", params={"error": "access_denied", "state": state}
        )
    assert back.status_code == 200
    assert "text/html" in back.headers["content-type"]
    assert slack.of("oauth.v2.access") == []


async def test_an_uninstall_forgets_the_workspace_token(
    app: FastAPI, database: Database, slack: MockSlack
) -> None:
    store = DatabaseInstallationStore(database, get_cipher(app.state.settings))
    await install(store, team="T777")
    body = json.dumps(
        {
            "token": "legacy",
            "team_id": "T777",
            "api_app_id": "A0KRD7HC3",
            "event": {"type": "app_uninstalled", "event_ts": "1700000000.000100"},
            "type": "event_callback",
            "event_id": "Ev0UNINSTALL",
            "event_time": 1700000000,
        }
    ).encode()
    response = await post_signed(app, body, "application/json")
    assert response.status_code == 200
    for _ in range(500):
        if await store.bot_token("T777") is None:
            break
        await _tick()
    assert await store.bot_token("T777") is None
    with pytest.raises(ChannelError, match="not installed"):
        await app.state.slack.channel.edit_card(
            ChannelAddress("slack", "T777", "C1"), "1.2", _card()
        )


async def test_a_reinstall_replaces_the_token_in_place(
    database: Database, settings: Settings
) -> None:
    store = DatabaseInstallationStore(database, get_cipher(settings))
    await install(store, team="T1", token="xoxb-old")
    await install(store, team="T1", token="xoxb-new")
    assert await store.bot_token("T1") == "xoxb-new"
    async with database.system() as session:
        assert await session.scalar(select(func.count()).select_from(SlackInstallation)) == 1


async def test_a_state_is_consumed_once_even_by_concurrent_callbacks(database: Database) -> None:
    store = DatabaseOAuthStateStore(database)
    state = await store.async_issue()
    results = await asyncio.gather(*(store.async_consume(state) for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    assert await store.async_consume("") is False


# -- identity by verified email ---------------------------------------------------------------


async def test_a_confirmed_email_in_a_trusted_workspace_links_at_the_first_message(
    app: FastAPI, database: Database, slack: MockSlack
) -> None:
    org_id, email = await org_with_user(database, trusted=["T9TK3CUKW"])
    await install(DatabaseInstallationStore(database, get_cipher(app.state.settings)))
    slack.users["UDANA"] = slack_user("UDANA", email, confirmed=True)

    await signed_command(app, slack, team=INSTALLED_TEAM, user="UDANA", text="campaigns")

    (answer,) = await slack.wait_for("response_url")
    assert "link" not in answer["text"].lower()
    async with database.system() as session:
        linked = await session.scalar(
            select(ChannelIdentity).where(ChannelIdentity.external_user_id == "UDANA")
        )
        audit = await session.scalar(
            select(AuditLog).where(AuditLog.action == "identity.link", AuditLog.org_id == org_id)
        )
    assert linked is not None
    assert linked.org_id == org_id
    assert audit is not None
    assert (audit.after or {}).get("method") == "verified_email"


@pytest.mark.parametrize(
    ("trusted", "confirmed"),
    [
        ([], True),  # the org never allowed email linking
        (["TOTHER"], True),  # it trusts another workspace, not this one
        (["T9TK3CUKW"], False),  # Slack has not confirmed the address
    ],
)
async def test_an_email_is_not_enough_without_trust_and_confirmation(
    app: FastAPI,
    database: Database,
    slack: MockSlack,
    trusted: list[str],
    confirmed: bool,
) -> None:
    _, email = await org_with_user(database, trusted=trusted)
    await install(DatabaseInstallationStore(database, get_cipher(app.state.settings)))
    slack.users["UMAL"] = slack_user("UMAL", email, confirmed=confirmed)

    await signed_command(app, slack, team=INSTALLED_TEAM, user="UMAL", text="campaigns")

    (answer,) = await slack.wait_for("response_url")
    assert "link" in answer["text"].lower()
    async with database.system() as session:
        assert await session.scalar(select(func.count()).select_from(ChannelIdentity)) == 0


# -- helpers ------------------------------------------------------------------------------------


async def _tick() -> None:
    await asyncio.sleep(0.02)


def _card() -> ApprovalCard:
    return ApprovalCard(
        action_id="0b0e4d0a-3c56-4a07-9a4b-0c0c2d7b8d11",
        short_code="4F2K",
        summary="Pause Summer Sale",
        approvers="admins and managers",
        expires_at=utcnow() + timedelta(hours=1),
        status="approved",
        status_line="Paused by Dana via Telegram at 14:02 UTC.",
    )


async def install(
    store: DatabaseInstallationStore, *, team: str = INSTALLED_TEAM, token: str = INSTALLED_TOKEN
) -> None:
    from slack_sdk.oauth.installation_store.models.installation import Installation

    await store.async_save(
        Installation(
            app_id="A0KRD7HC3",
            team_id=team,
            team_name="Acme",
            bot_token=token,
            bot_id="BBOT",
            bot_user_id="UBOT",
            bot_scopes=list(SCOPES),
            user_id="UINSTALLER",
            installed_at=time.time(),
        )
    )


async def org_with_user(database: Database, *, trusted: list[str]) -> tuple[uuid.UUID, str]:
    async with database.system() as session:
        org = await factories.org(session)
        user = await factories.user(session, org)
        organization = await session.get(Organization, org.id)
        assert organization is not None
        organization.settings = {EMAIL_LINK_TEAMS_SETTING: trusted}
        return org.id, user.email


def slack_user(user_id: str, email: str, *, confirmed: bool) -> dict[str, object]:
    """The `user` object of a real users.info answer (trimmed to what matters here)."""
    return {
        "id": user_id,
        "team_id": INSTALLED_TEAM,
        "name": "dana",
        "deleted": False,
        "is_bot": False,
        "is_email_confirmed": confirmed,
        "profile": {"email": email.upper(), "display_name": "Dana", "real_name": "Dana Q"},
    }


async def post_signed(app: FastAPI, body: bytes, content_type: str) -> httpx.Response:
    ts = str(int(time.time()))
    headers = {
        "content-type": content_type,
        "x-slack-request-timestamp": ts,
        "x-slack-signature": str(
            SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=ts, body=body)
        ),
    }
    async with http(app) as client:
        return await client.post("/slack/events", content=body, headers=headers)


async def signed_command(
    app: FastAPI, slack: MockSlack, *, team: str, user: str, text: str
) -> None:
    assert slack.server is not None
    body = urlencode(
        {
            "team_id": team,
            "team_domain": "softball",
            "channel_id": "C111",
            "channel_name": "ads",
            "user_id": user,
            "command": "/adpilot",
            "text": text,
            "response_url": str(slack.server.make_url("/respond")),
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
            "api_app_id": "A0KRD7HC3",
        }
    ).encode()
    response = await post_signed(app, body, "application/x-www-form-urlencoded")
    assert response.status_code == 200
