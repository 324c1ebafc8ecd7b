"""Telegram end to end through the real route, PTB and a respx-mocked Bot API (never the network).

Updates are shaped as Telegram sends them, with the secret token header Telegram echoes; the
Bot API calls are asserted at their real paths with PTB's form-encoded parameters.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from fastapi import FastAPI
from sqlalchemy import select

from bot.engine import Bot
from core.approvals import service
from core.campaigns.models import Campaign, CampaignStatus
from core.config import Settings, reset_settings_cache
from core.db import Database
from core.users import identity
from core.users.models import Role
from tests import factories
from tests.core.approvals.fakes import FakePlatform, registry_with
from web_min.app import MAX_BODY_BYTES, create_app

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
SECRET = "tg-secret_token-1"
API = "https://telegram.test"
ADMIN_TG, MANAGER_TG, STRANGER_TG = 4242, 4343, 9999
_update_ids = itertools.count(1000)


@pytest.fixture
def tg_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("ADPILOT_TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("ADPILOT_TELEGRAM_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("ADPILOT_TELEGRAM_API_URL", API)
    reset_settings_cache()
    return settings.model_copy(
        update={
            "telegram_bot_token": Settings().telegram_bot_token,
            "telegram_webhook_secret": Settings().telegram_webhook_secret,
            "telegram_api_url": API,
        }
    )


@dataclass
class TelegramApi:
    """The mocked Bot API: every method answered as Telegram does, message ids counting up."""

    router: respx.MockRouter
    message_ids: Iterator[int]

    def calls(self, method: str) -> list[dict[str, Any]]:
        route = self.router.routes[method]
        return [
            {key: values[0] for key, values in parse_qs(call.request.content.decode()).items()}
            for call in route.calls
        ]


def _message(chat_id: int, message_id: int, text: str) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "date": 1700000000,
        "chat": {"id": chat_id, "type": "private"},
        "from": {"id": 123456789, "is_bot": True, "first_name": "AdPilot"},
        "text": text,
    }


@pytest.fixture
def telegram_api() -> Iterator[TelegramApi]:
    ids = itertools.count(500)
    with respx.mock(base_url=f"{API}/bot{TOKEN}", assert_all_called=False) as router:
        router.post("/getMe", name="getMe").mock(
            return_value=httpx.Response(
                200,
                json={
                    "ok": True,
                    "result": {
                        "id": 123456789,
                        "is_bot": True,
                        "first_name": "AdPilot",
                        "username": "AdPilotBot",
                    },
                },
            )
        )

        def send(request: httpx.Request) -> httpx.Response:
            form = parse_qs(request.content.decode())
            chat = int(form["chat_id"][0])
            result = _message(chat, next(ids), form.get("text", [""])[0])
            return httpx.Response(200, json={"ok": True, "result": result})

        router.post("/sendMessage", name="sendMessage").mock(side_effect=send)
        router.post("/sendPhoto", name="sendPhoto").mock(side_effect=send)

        def edit(request: httpx.Request) -> httpx.Response:
            form = parse_qs(request.content.decode())
            result = _message(int(form["chat_id"][0]), int(form["message_id"][0]), form["text"][0])
            return httpx.Response(200, json={"ok": True, "result": result})

        router.post("/editMessageText", name="editMessageText").mock(side_effect=edit)
        router.post("/answerCallbackQuery", name="answerCallbackQuery").mock(
            return_value=httpx.Response(200, json={"ok": True, "result": True})
        )
        yield TelegramApi(router, ids)


@dataclass
class Shop:
    org_id: uuid.UUID
    admin_email: str
    campaign_id: uuid.UUID
    platform: FakePlatform


@pytest.fixture
async def app(tg_settings: Settings, database: Database) -> AsyncIterator[FastAPI]:
    # `database` truncates what the test committed (PostgreSQL) when it ends.
    app = create_app(tg_settings)
    yield app
    await app.state.telegram.application.shutdown()
    await app.state.database.dispose()


@pytest.fixture
async def shop(app: FastAPI, tg_settings: Settings) -> Shop:
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
        for person, tg_id in ((admin, ADMIN_TG), (manager, MANAGER_TG)):
            code = await identity.create_link_code(
                session=session, org_id=org.id, user_id=person.id
            )
            await identity.redeem_link_code(
                session=session,
                code=code,
                channel="telegram",
                workspace="",
                external_user_id=str(tg_id),
            )
    # The app's bot, on a platform that records what it is told.
    chat_bot = Bot(database=database, registry=registry_with(platform), settings=tg_settings)
    app.state.telegram.chat_bot = chat_bot
    return Shop(org.id, admin.email, campaign.id, platform)


def text_update(user_id: int, text: str, *, update_id: int | None = None) -> dict[str, Any]:
    return {
        "update_id": next(_update_ids) if update_id is None else update_id,
        "message": {
            "message_id": 11,
            "date": 1700000000,
            "text": text,
            "from": {"id": user_id, "is_bot": False, "first_name": "Dana", "username": "dana"},
            "chat": {"id": user_id, "type": "private", "first_name": "Dana"},
        },
    }


def button_update(user_id: int, data: str, *, message_id: int, chat_id: int) -> dict[str, Any]:
    return {
        "update_id": next(_update_ids),
        "callback_query": {
            "id": "4382bfdwdsb323b2d9",
            "chat_instance": "-1",
            "data": data,
            "from": {"id": user_id, "is_bot": False, "first_name": "Avery"},
            "message": _message(chat_id, message_id, "card"),
        },
    }


async def post(
    app: FastAPI, body: dict[str, Any] | bytes, *, secret: str | None = SECRET
) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://adpilot.test") as http:
        response = await http.post("/telegram/webhook", content=content, headers=headers)
    await app.state.telegram.drain()  # the turn runs after the ack; wait to look at it
    return response


async def test_a_pause_asked_in_one_chat_and_approved_in_another_pauses_and_redraws(
    app: FastAPI, shop: Shop, telegram_api: TelegramApi
) -> None:
    asked = await post(app, text_update(MANAGER_TG, '/pause "Summer Sale"'))
    assert (asked.status_code, asked.json()) == (200, {"ok": True})
    card_message = telegram_api.calls("sendMessage")[-1]
    assert card_message["chat_id"] == str(MANAGER_TG)
    keyboard = json.loads(card_message["reply_markup"])["inline_keyboard"][0]
    approve_data = keyboard[0]["callback_data"]
    assert [button["text"] for button in keyboard] == ["Approve", "Reject"]
    assert approve_data.startswith("ap:")
    assert len(approve_data.encode()) <= 64
    card_id = 500 + len(telegram_api.calls("sendMessage")) - 1
    # The admin taps Approve on the manager's card (as if forwarded to an ops group).
    tapped = await post(
        app, button_update(ADMIN_TG, approve_data, message_id=card_id, chat_id=MANAGER_TG)
    )
    assert tapped.status_code == 200
    [answer] = telegram_api.calls("answerCallbackQuery")
    assert answer["callback_query_id"] == "4382bfdwdsb323b2d9"
    assert [call.method for call in shop.platform.calls] == ["pause_campaign"]
    [edit] = telegram_api.calls("editMessageText")
    assert (edit["chat_id"], edit["message_id"]) == (str(MANAGER_TG), str(card_id))
    assert f"Approved by {shop.admin_email} via Telegram at" in edit["text"]
    assert "reply_markup" not in edit  # decided: the buttons are gone
    async with app.state.database.system() as session:
        campaign = await session.scalar(select(Campaign).where(Campaign.id == shop.campaign_id))
    assert campaign is not None
    assert campaign.status == CampaignStatus.PAUSED


async def test_a_redelivered_update_is_handled_once(
    app: FastAPI, shop: Shop, telegram_api: TelegramApi
) -> None:
    update = text_update(ADMIN_TG, "campaigns", update_id=777001)
    first, again = await post(app, update), await post(app, update)
    assert first.json() == {"ok": True}
    assert again.json() == {"ok": True, "duplicate": True}
    assert len(telegram_api.calls("sendMessage")) == 1


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x"])
async def test_a_missing_or_wrong_secret_is_401_and_reaches_nothing(
    app: FastAPI, shop: Shop, telegram_api: TelegramApi, secret: str | None
) -> None:
    response = await post(app, text_update(ADMIN_TG, "campaigns"), secret=secret)
    assert response.status_code == 401
    assert telegram_api.router.calls.call_count == 0


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'{"message": {}}',
        b'{"update_id": "7"}',
        b'{"update_id": true}',
        b"\xff\xfe",
        b'{"update_id": ' + b"9" * 5000 + b"}",
        b"[" * 200_000 + b"]" * 200_000,
    ],
)
async def test_malformed_updates_are_400(
    app: FastAPI, telegram_api: TelegramApi, body: bytes
) -> None:
    response = await post(app, body)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert telegram_api.router.calls.call_count == 0


async def test_an_oversized_update_is_413(app: FastAPI, telegram_api: TelegramApi) -> None:
    response = await post(app, b"{" + b" " * MAX_BODY_BYTES + b"}")
    assert response.status_code == 413


async def test_a_stranger_gets_linking_help_and_no_data(
    app: FastAPI, shop: Shop, telegram_api: TelegramApi
) -> None:
    response = await post(app, text_update(STRANGER_TG, "campaigns"))
    assert response.status_code == 200
    [sent] = telegram_api.calls("sendMessage")
    assert sent["chat_id"] == str(STRANGER_TG)
    assert "link" in sent["text"].lower()
    assert "Summer Sale" not in sent["text"]


async def test_a_button_we_did_not_send_is_answered_and_ignored(
    app: FastAPI, shop: Shop, telegram_api: TelegramApi
) -> None:
    await post(app, button_update(ADMIN_TG, "drop table", message_id=1, chat_id=ADMIN_TG))
    assert len(telegram_api.calls("answerCallbackQuery")) == 1
    assert shop.platform.calls == []


async def test_a_late_tap_answer_still_redraws_the_decided_card(
    app: FastAPI, shop: Shop, telegram_api: TelegramApi
) -> None:
    telegram_api.router.routes["answerCallbackQuery"].mock(
        return_value=httpx.Response(
            400,
            json={
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: query is too old and response timeout expired",
            },
        )
    )
    await post(app, text_update(MANAGER_TG, '/pause "Summer Sale"'))
    card_message = telegram_api.calls("sendMessage")[-1]
    approve_data = json.loads(card_message["reply_markup"])["inline_keyboard"][0][0][
        "callback_data"
    ]
    card_id = 500 + len(telegram_api.calls("sendMessage")) - 1
    await post(app, button_update(ADMIN_TG, approve_data, message_id=card_id, chat_id=MANAGER_TG))
    assert [call.method for call in shop.platform.calls] == ["pause_campaign"]
    [edit] = telegram_api.calls("editMessageText")
    assert f"Approved by {shop.admin_email} via Telegram" in edit["text"]


async def test_a_tap_by_a_stranger_decides_nothing(
    app: FastAPI, shop: Shop, telegram_api: TelegramApi
) -> None:
    await post(app, text_update(MANAGER_TG, '/pause "Summer Sale"'))
    card_message = telegram_api.calls("sendMessage")[-1]
    approve_data = json.loads(card_message["reply_markup"])["inline_keyboard"][0][0][
        "callback_data"
    ]
    await post(app, button_update(STRANGER_TG, approve_data, message_id=1, chat_id=MANAGER_TG))
    [answer] = telegram_api.calls("answerCallbackQuery")
    assert answer["text"].startswith("Link your AdPilot account first")
    assert shop.platform.calls == []
    assert telegram_api.calls("editMessageText") == []


async def test_a_tap_on_another_orgs_card_with_the_same_code_decides_nothing(
    app: FastAPI, shop: Shop, telegram_api: TelegramApi
) -> None:
    """Short codes are unique per org only: the tapped message must be the tapper org's card."""
    await post(app, text_update(MANAGER_TG, '/pause "Summer Sale"'))
    card_message = telegram_api.calls("sendMessage")[-1]
    approve_data = json.loads(card_message["reply_markup"])["inline_keyboard"][0][0][
        "callback_data"
    ]
    code = approve_data.split(":", 1)[1]
    card_id = 500 + len(telegram_api.calls("sendMessage")) - 1
    database: Database = app.state.database
    other_tg = 5151
    async with database.system() as session:
        other = await factories.org(session, name="Globex")
        other_admin = await factories.user(session, other, role=Role.ADMIN)
        other_account = await factories.ad_account(session, other)
        other_campaign = await factories.campaign(session, other_account, name="Globex Leads")
        shop.platform.adopt(other_campaign)
        link = await identity.create_link_code(
            session=session, org_id=other.id, user_id=other_admin.id
        )
        await identity.redeem_link_code(
            session=session, code=link, channel="telegram", workspace="", external_user_id="5151"
        )
    async with database.tenant(other.id) as session:
        theirs = await service.propose(
            session=session,
            org_id=other.id,
            kind="pause_campaign",
            arguments={"campaign_id": str(other_campaign.id)},
            summary="Pause Globex Leads",
            requested_by=other_admin,
            origin_channel="telegram",
        )
        theirs.short_code = code  # the same code in the other org
    tapped = button_update(other_tg, approve_data, message_id=card_id, chat_id=MANAGER_TG)
    await post(app, tapped)
    [answer] = telegram_api.calls("answerCallbackQuery")
    assert answer["text"] == "This card is not one of your organization's."
    assert shop.platform.calls == []
    assert telegram_api.calls("editMessageText") == []


async def test_an_update_that_fails_in_its_handler_is_counted_and_logged(
    app: FastAPI, shop: Shop, telegram_api: TelegramApi, caplog: pytest.LogCaptureFixture
) -> None:
    update = text_update(ADMIN_TG, "campaigns")
    update["message"]["chat"]["id"] = "not-a-number"
    response = await post(app, update)
    assert response.status_code == 200  # acked before the turn ran
    metrics = app.state.metrics.exposition().decode()
    assert 'adpilot_webhook_events_total{channel="telegram",outcome="failed"} 1.0' in metrics
    assert f"telegram update {update['update_id']} failed" in caplog.text
    assert telegram_api.calls("sendMessage") == []
