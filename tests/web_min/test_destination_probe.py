"""A destination's test message goes through the real channel (platforms mocked by respx)."""

from __future__ import annotations

import json

import httpx
import respx
from pydantic import SecretStr

from core.config import Settings
from core.notify.models import Destination
from core.security.crypto import encrypt
from web_min.destination_probe import send_test

HOOK = "https://hooks.slack.com/services/T0001/B0002/abcdefSECRET"


def _webhook(settings: Settings) -> Destination:
    return Destination(
        channel="slack_webhook",
        conversation_id="T0001/B0002",
        secret=encrypt(HOOK, settings=settings),
        kinds={"alerts": True},
    )


@respx.mock(assert_all_called=True)
async def test_a_webhook_test_posts_to_the_decrypted_url(
    respx_mock: respx.MockRouter, settings: Settings
) -> None:
    route = respx_mock.post(HOOK).mock(return_value=httpx.Response(200, text="ok"))
    result = await send_test(
        destination=_webhook(settings), settings=settings, served={}, sender="dana@example.com"
    )
    assert result.ok
    assert result.text == "Test message sent to Slack incoming webhook T0001/B0002."
    body = json.loads(route.calls.last.request.content)
    assert "AdPilot test message, sent by dana@example.com" in body["text"]


@respx.mock(assert_all_called=True)
async def test_a_refused_webhook_reports_slacks_reason_without_the_secret(
    respx_mock: respx.MockRouter, settings: Settings
) -> None:
    respx_mock.post(HOOK).mock(return_value=httpx.Response(404, text="no_service"))
    result = await send_test(
        destination=_webhook(settings), settings=settings, served={}, sender="dana@example.com"
    )
    assert not result.ok
    assert "404 no_service" in result.text
    assert "SECRET" not in result.text


async def test_a_channel_this_server_does_not_serve_says_what_to_configure(
    settings: Settings,
) -> None:
    telegram = Destination(channel="telegram", conversation_id="-100123", kinds={"alerts": True})
    result = await send_test(
        destination=telegram, settings=settings, served={}, sender="dana@example.com"
    )
    assert not result.ok
    assert "ADPILOT_TELEGRAM_BOT_TOKEN" in result.text


@respx.mock(base_url="http://resend.test", assert_all_called=True)
async def test_an_email_test_goes_through_resend(
    respx_mock: respx.MockRouter, settings: Settings
) -> None:
    route = respx_mock.post("/emails").mock(return_value=httpx.Response(200, json={"id": "em-1"}))
    configured = settings.model_copy(
        update={
            "resend_api_key": SecretStr("re_test"),
            "resend_api_url": "http://resend.test",
            "email_from": "AdPilot <alerts@example.com>",
        }
    )
    email = Destination(channel="email", conversation_id="ops@example.com", kinds={"alerts": True})
    result = await send_test(
        destination=email, settings=configured, served={}, sender="dana@example.com"
    )
    assert result.ok, result.text
    assert json.loads(route.calls.last.request.content)["to"] == ["ops@example.com"]
