"""set-webhook registers our route with the secret token, and refuses URLs Telegram would."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from pydantic import SecretStr

from channels.telegram.setup import set_webhook, webhook_url
from core.config import Settings
from core.errors import ValidationFailed

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"


async def test_set_webhook_sends_the_url_and_the_secret_token() -> None:
    settings = Settings(
        telegram_bot_token=SecretStr(TOKEN),
        telegram_webhook_secret=SecretStr("tg-secret_1"),
        telegram_api_url="https://telegram.test",
    )
    with respx.mock(base_url=f"https://telegram.test/bot{TOKEN}") as api:
        api.post("/getMe").mock(
            return_value=httpx.Response(
                200,
                json={"ok": True, "result": {"id": 1, "is_bot": True, "first_name": "AdPilot"}},
            )
        )
        route = api.post("/setWebhook").mock(
            return_value=httpx.Response(200, json={"ok": True, "result": True})
        )
        await set_webhook(settings, "https://ads.example.com/telegram/webhook")
    sent = {
        key: values[0]
        for key, values in parse_qs(route.calls.last.request.content.decode()).items()
    }
    assert sent["url"] == "https://ads.example.com/telegram/webhook"
    assert sent["secret_token"] == "tg-secret_1"
    assert json.loads(sent["allowed_updates"]) == ["message", "callback_query"]


@pytest.mark.parametrize(
    "url",
    [
        "http://ads.example.com/telegram/webhook",
        "https://ads.example.com:8080/telegram/webhook",
        "https://ads.example.com/slack/events",
        "not a url",
    ],
)
def test_urls_telegram_would_refuse_are_refused_here(url: str) -> None:
    with pytest.raises(ValidationFailed):
        webhook_url(url)


async def test_without_settings_it_says_which_to_set() -> None:
    with pytest.raises(ValidationFailed, match="ADPILOT_TELEGRAM_BOT_TOKEN"):
        await set_webhook(Settings(), "https://ads.example.com/telegram/webhook")
