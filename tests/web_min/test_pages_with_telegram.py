"""The pages with Telegram served (Bot API mocked by respx): a test message goes out through the
web process's own Telegram channel, and a decision on the web redraws the card's Telegram copy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from fastapi import FastAPI

from core.approvals import cards
from core.config import Settings, reset_settings_cache
from core.db import Database
from core.notify.models import Destination
from tests.web_min.conftest import signed_in
from tests.web_min.sandbox_shop import propose_card, shop_with_team
from web_min.app import create_app

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
API = "https://telegram.test"
GROUP = -1001234567890


@pytest.fixture
def tg_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("ADPILOT_TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("ADPILOT_TELEGRAM_WEBHOOK_SECRET", "tg-secret_token-1")
    monkeypatch.setenv("ADPILOT_TELEGRAM_API_URL", API)
    reset_settings_cache()
    configured = Settings()
    return settings.model_copy(
        update={
            "telegram_bot_token": configured.telegram_bot_token,
            "telegram_webhook_secret": configured.telegram_webhook_secret,
            "telegram_api_url": API,
            "telegram_bot_username": "AdPilotBot",
        }
    )


def _message(chat_id: int, message_id: int, text: str) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "date": 1700000000,
        "chat": {"id": chat_id, "type": "supergroup", "title": "Ads"},
        "from": {"id": 123456789, "is_bot": True, "first_name": "AdPilot"},
        "text": text,
    }


def _form(request: httpx.Request) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(request.content.decode()).items()}


@pytest.fixture
def telegram_api() -> Iterator[respx.MockRouter]:
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
            form = _form(request)
            result = _message(int(form["chat_id"]), 700, form.get("text", ""))
            return httpx.Response(200, json={"ok": True, "result": result})

        def edit(request: httpx.Request) -> httpx.Response:
            form = _form(request)
            result = _message(int(form["chat_id"]), int(form["message_id"]), form["text"])
            return httpx.Response(200, json={"ok": True, "result": result})

        router.post("/sendMessage", name="sendMessage").mock(side_effect=send)
        router.post("/editMessageText", name="editMessageText").mock(side_effect=edit)
        yield router


@pytest.fixture
async def tg_client(
    tg_settings: Settings, database: Database, telegram_api: respx.MockRouter
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    # With the lifespan: its shutdown closes the bot the pages started (getMe) and the database.
    app = create_app(tg_settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
    ):
        yield app, http


async def test_a_telegram_test_message_works_before_any_update_arrived(
    tg_client: tuple[FastAPI, httpx.AsyncClient],
    database: Database,
    telegram_api: respx.MockRouter,
) -> None:
    _, client = tg_client
    shop = await shop_with_team(database)
    async with database.system() as session:
        group = Destination(
            org_id=shop.org.id,
            channel="telegram",
            conversation_id=str(GROUP),
            kinds={"alerts": True},
        )
        session.add(group)
        await session.flush()
        group_id = group.id
    csrf = await signed_in(client, shop.admin)

    linking = await client.post("/settings/channels/link-code", data={"csrf_token": csrf})
    assert "to <strong>@AdPilotBot</strong>" in linking.text
    response = await client.post(
        f"/settings/channels/destinations/{group_id}/test", data={"csrf_token": csrf}
    )

    assert response.status_code == 303
    assert "Test message sent to Telegram chat" in (await client.get("/settings/channels")).text
    [sent] = telegram_api.routes["sendMessage"].calls
    form = _form(sent.request)
    assert form["chat_id"] == str(GROUP)
    assert "AdPilot test message" in form["text"]


async def test_approving_on_the_web_redraws_the_cards_telegram_copy(
    tg_client: tuple[FastAPI, httpx.AsyncClient],
    database: Database,
    telegram_api: respx.MockRouter,
) -> None:
    _, client = tg_client
    shop = await shop_with_team(database)
    card = await propose_card(database, shop, shop.member)
    async with database.tenant(shop.org.id) as session:
        await cards.record_shown(
            session=session,
            org_id=shop.org.id,
            action_id=card.id,
            channel="telegram",
            workspace="",
            conversation_id=str(GROUP),
            message_id="612",
        )
    csrf = await signed_in(client, shop.manager)

    response = await client.post(
        f"/settings/rules/approvals/{card.id}/approve", data={"csrf_token": csrf}
    )

    assert response.status_code == 303
    [edited] = telegram_api.routes["editMessageText"].calls
    form = _form(edited.request)
    assert (form["chat_id"], form["message_id"]) == (str(GROUP), "612")
    assert f"by {shop.manager.email} via" in form["text"]
