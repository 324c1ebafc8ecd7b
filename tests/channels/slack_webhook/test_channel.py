"""Slack incoming webhooks: the URL's shape is checked, the JSON Slack takes, its errors typed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from bot.replies import Reply
from channels.base import ChannelAddress, ChannelError, Failure
from channels.slack_webhook.channel import (
    InvalidWebhookUrl,
    SlackWebhookChannel,
    check_webhook_url,
    webhook_label,
)

BASE = "http://hooks.slack.test/services/"
URL = f"{BASE}T0001/B0002/XXXXXXXXXXXXXXXXXXXXXXXX"


@pytest.fixture
async def channel() -> AsyncIterator[SlackWebhookChannel]:
    async with httpx.AsyncClient() as http:
        yield SlackWebhookChannel(http, base=BASE)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/services/T0001/B0002/secret",
        f"{BASE}T0001/B0002",
        f"{BASE}T0001/B0002/secret/extra",
        f"{BASE}not-a-team/B0002/secret",
        "",
    ],
)
def test_only_incoming_webhook_urls_of_the_base_are_taken(url: str) -> None:
    with pytest.raises(InvalidWebhookUrl) as caught:
        check_webhook_url(url, base=BASE)
    assert "secret" not in str(caught.value)  # the refusal never echoes the URL


def test_the_default_base_is_slacks() -> None:
    real = "https://hooks.slack.com/services/T0001/B0002/abcDEF123"
    assert check_webhook_url(real, base="https://hooks.slack.com/services/") == real
    assert webhook_label(real) == "T0001/B0002"


@respx.mock(assert_all_called=True)
async def test_a_reply_is_posted_as_text_and_blocks(
    respx_mock: respx.MockRouter, channel: SlackWebhookChannel
) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200, text="ok"))
    [posted] = await channel.post(
        ChannelAddress("slack_webhook", "", URL), Reply(text="CPA up on *Spring Sale*")
    )
    assert posted.message_id == "T0001/B0002"  # no secret in what is stored
    body = json.loads(route.calls.last.request.content)
    assert body == {
        "text": "CPA up on *Spring Sale*",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "CPA up on *Spring Sale*"}}
        ],
    }


@pytest.mark.parametrize(
    ("status", "word", "failure", "permanent"),
    [
        (404, "no_service", Failure.TOKEN_REVOKED, True),
        (403, "invalid_token", Failure.TOKEN_REVOKED, True),
        (410, "channel_is_archived", Failure.CHAT_NOT_FOUND, True),
        (400, "invalid_payload", Failure.REFUSED, False),
        (500, "rollup_error", Failure.UNREACHABLE, False),
    ],
)
async def test_slack_refusals_are_typed(
    channel: SlackWebhookChannel, status: int, word: str, failure: Failure, permanent: bool
) -> None:
    with respx.mock() as router:
        router.post(URL).mock(return_value=httpx.Response(status, text=word))
        with pytest.raises(ChannelError) as caught:
            await channel.post(ChannelAddress("slack_webhook", "", URL), Reply(text="hi"))
    assert (caught.value.failure, caught.value.permanent) == (failure, permanent)
    assert "XXXX" not in str(caught.value)


async def test_a_429_carries_slacks_retry_after(channel: SlackWebhookChannel) -> None:
    with respx.mock() as router:
        router.post(URL).mock(
            return_value=httpx.Response(429, text="rate_limited", headers={"Retry-After": "30"})
        )
        with pytest.raises(ChannelError) as caught:
            await channel.post(ChannelAddress("slack_webhook", "", URL), Reply(text="hi"))
    assert (caught.value.failure, caught.value.retry_after) == (Failure.RATE_LIMITED, 30.0)


async def test_a_url_of_another_host_is_never_called(channel: SlackWebhookChannel) -> None:
    with respx.mock() as router, pytest.raises(ChannelError) as caught:
        await channel.post(
            ChannelAddress("slack_webhook", "", "http://127.0.0.1:9/services/T1/B2/x"),
            Reply(text="hi"),
        )
    assert router.calls.call_count == 0
    assert caught.value.failure == Failure.REFUSED
