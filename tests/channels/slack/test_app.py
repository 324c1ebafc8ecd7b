"""POST /slack/events end to end: signed as Slack signs, Web API and response_url on loopback."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import select

from bot.engine import Bot
from core.approvals.models import CardMessage
from core.config import Settings
from core.db import Database
from core.users import identity
from core.users.models import Role
from tests import factories
from tests.channels.slack.conftest import MockSlack
from tests.core.approvals.fakes import FakePlatform, registry_with
from web_min.app import create_app

SIGNING_SECRET = "8f742231b10e8888abcd99aaabbb85a5"
TEAM = "T111"
_events = itertools.count(1)


@pytest.fixture
async def app(settings: Settings, database: Database, slack: MockSlack) -> AsyncIterator[FastAPI]:
    assert slack.server is not None
    configured = settings.model_copy(
        update={
            "slack_bot_token": SecretStr("xoxb-test-token"),
            "slack_signing_secret": SecretStr(SIGNING_SECRET),
            "slack_api_url": str(slack.server.make_url("/api/")),
        }
    )
    app = create_app(configured)
    yield app
    await app.state.database.dispose()


@dataclass
class Team:
    org_id: uuid.UUID
    admin_email: str
    platform: FakePlatform


@pytest.fixture
async def team(app: FastAPI) -> Team:
    database: Database = app.state.database
    async with database.system() as session:
        org = await factories.org(session)
        admin = await factories.user(session, org, role=Role.ADMIN)
        manager = await factories.user(session, org, role=Role.MANAGER)
        account = await factories.ad_account(session, org)
        campaign = await factories.campaign(
            session, account, name="Summer Sale", daily_budget=Decimal(50)
        )
        platform = FakePlatform(name=account.platform)
        platform.adopt(campaign)
        for person, slack_user in ((admin, "UADMIN"), (manager, "UMANAGER")):
            code = await identity.create_link_code(
                session=session, org_id=org.id, user_id=person.id
            )
            await identity.redeem_link_code(
                session=session,
                code=code,
                channel="slack",
                workspace=TEAM,
                external_user_id=slack_user,
            )
    settings = app.state.settings
    app.state.slack.chat_bot = Bot(
        database=database, registry=registry_with(platform), settings=settings
    )
    return Team(org.id, admin.email, platform)


async def send(
    app: FastAPI,
    body: bytes,
    content_type: str,
    *,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    retry: int | None = None,
) -> httpx.Response:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers: dict[str, str] = {
        "content-type": content_type,
        "x-slack-request-timestamp": ts,
        "x-slack-signature": str(
            SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
        ),
    }
    if retry is not None:
        headers["x-slack-retry-num"] = str(retry)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://adpilot.test") as http:
        return await http.post("/slack/events", content=body, headers=headers)


def command(slack: MockSlack, user: str, text: str) -> bytes:
    assert slack.server is not None
    return urlencode(
        {
            "token": "legacy",
            "team_id": TEAM,
            "team_domain": "acme",
            "channel_id": "C111",
            "channel_name": "ads",
            "user_id": user,
            "user_name": "dana",
            "command": "/adpilot",
            "text": text,
            "response_url": str(slack.server.make_url("/respond")),
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
            "api_app_id": "A111",
        }
    ).encode()


def button(slack: MockSlack, user: str, code: str, message_ts: str) -> bytes:
    assert slack.server is not None
    payload = {
        "type": "block_actions",
        "api_app_id": "A111",
        "trigger_id": "111.222.x",
        "user": {"id": user, "username": "avery", "name": "avery", "team_id": TEAM},
        "team": {"id": TEAM, "domain": "acme"},
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": "C111",
            "is_ephemeral": False,
        },
        "channel": {"id": "C111", "name": "ads"},
        "message": {"ts": message_ts, "text": "card", "blocks": []},
        "response_url": str(slack.server.make_url("/respond")),
        "actions": [
            {
                "action_id": "adpilot_approve",
                "block_id": f"approval:{code}",
                "type": "button",
                "value": code,
                "text": {"type": "plain_text", "text": "Approve"},
                "action_ts": "1596530385.194939",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def mention(user: str, text: str, event_id: str) -> bytes:
    return json.dumps(
        {
            "type": "event_callback",
            "team_id": TEAM,
            "api_app_id": "A111",
            "event_id": event_id,
            "event_time": 1595926230,
            "event": {
                "type": "app_mention",
                "user": user,
                "text": f"<@UBOT> {text}",
                "ts": "1595926230.009600",
                "channel": "C111",
                "event_ts": "1595926230.009600",
                "team": TEAM,
            },
        }
    ).encode()


FORM = "application/x-www-form-urlencoded"


async def card_recorded(app: FastAPI, message_ts: str) -> None:
    """The card is recorded just after Slack accepted the message; a tap before that would be
    refused as not ours (no person taps that fast, a test does)."""
    database: Database = app.state.database
    for _ in range(500):
        async with database.system() as session:
            found = await session.scalar(
                select(CardMessage.id).where(CardMessage.message_id == message_ts)
            )
        if found is not None:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no card recorded for message {message_ts}")


async def test_a_slash_command_is_acked_and_answered_through_response_url(
    app: FastAPI, team: Team, slack: MockSlack
) -> None:
    response = await send(app, command(slack, "UADMIN", "campaigns"), FORM)
    assert response.status_code == 200
    [answer] = await slack.wait_for("response_url")
    assert "Summer Sale" in json.dumps(answer)


async def test_a_pause_card_approved_by_button_pauses_and_is_redrawn(
    app: FastAPI, team: Team, slack: MockSlack
) -> None:
    await send(app, command(slack, "UMANAGER", 'pause "Summer Sale"'), FORM)
    [posted] = await slack.wait_for("chat.postMessage")
    assert posted["channel"] == "C111"
    approve = posted["blocks"][-1]["elements"][0]
    code = approve["value"]
    await card_recorded(app, "1700.0001")
    await send(app, button(slack, "UADMIN", code, "1700.0001"), FORM)
    [update] = await slack.wait_for("chat.update")
    assert (update["channel"], update["ts"]) == ("C111", "1700.0001")
    assert f"Approved by {team.admin_email} via Slack" in json.dumps(update["blocks"])
    assert [call.method for call in team.platform.calls] == ["pause_campaign"]


async def test_a_tap_on_a_message_that_is_no_card_of_ours_decides_nothing(
    app: FastAPI, team: Team, slack: MockSlack
) -> None:
    await send(app, command(slack, "UMANAGER", 'pause "Summer Sale"'), FORM)
    [posted] = await slack.wait_for("chat.postMessage")
    code = posted["blocks"][-1]["elements"][0]["value"]
    await send(app, button(slack, "UADMIN", code, "9999.0001"), FORM)
    [whisper] = await slack.wait_for("response_url")
    assert whisper["text"] == "This card is not one of your organization's."
    assert team.platform.calls == []


async def test_a_retried_event_is_answered_once(app: FastAPI, team: Team, slack: MockSlack) -> None:
    body = mention("UADMIN", "campaigns", "Ev0001")
    first = await send(app, body, "application/json")
    again = await send(app, body, "application/json", retry=1)
    assert (first.status_code, again.status_code) == (200, 200)
    await slack.wait_for("chat.postMessage")
    assert len(slack.of("chat.postMessage")) == 1
    assert slack.of("chat.postMessage")[0]["thread_ts"] == "1595926230.009600"
    # The reply is counted in /metrics as one successful outbound Slack call. The mock sees the
    # call before our client has read its answer and counted it, so wait for the count to land.
    counted = 'adpilot_outbound_calls_total{channel="slack",status="ok"} 1.0'
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://adpilot.test") as http:
        for _ in range(250):  # a bounded wait (5 s), not a timing expectation
            metrics = (await http.get("/metrics")).text
            if counted in metrics:
                break
            await asyncio.sleep(0.02)
    assert counted in metrics


@pytest.mark.parametrize(
    ("secret", "age"), [("0" * 32, 0), (SIGNING_SECRET, 6 * 60)], ids=["forged", "stale"]
)
async def test_a_forged_or_stale_request_is_401_and_reaches_nothing(
    app: FastAPI, team: Team, slack: MockSlack, secret: str, age: int
) -> None:
    response = await send(
        app,
        command(slack, "UADMIN", "campaigns"),
        FORM,
        secret=secret,
        timestamp=int(time.time()) - age,
    )
    assert response.status_code == 401
    assert slack.calls == []


async def test_a_stranger_gets_linking_help_and_no_data(
    app: FastAPI, team: Team, slack: MockSlack
) -> None:
    await send(app, command(slack, "USTRANGER", "campaigns"), FORM)
    [answer] = await slack.wait_for("response_url")
    assert "link" in answer["text"].lower()
    assert "Summer Sale" not in json.dumps(answer)


async def test_unknown_interactions_are_acked_and_ignored(
    app: FastAPI, team: Team, slack: MockSlack
) -> None:
    payload = {"type": "view_closed", "team": {"id": TEAM}, "user": {"id": "UADMIN"}}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    response = await send(app, body, FORM)
    assert response.status_code == 200
    assert team.platform.calls == []
