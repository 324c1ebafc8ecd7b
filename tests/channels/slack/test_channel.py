"""SlackChannel against a loopback mock of the Web API (slack_sdk speaks aiohttp, not httpx)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from bot.replies import ApprovalCard, Chart, Reply
from channels.base import ChannelAddress, ChannelError, Failure
from channels.outbound import OutboundLimiter
from channels.slack.channel import SlackChannel
from tests.channels.slack.conftest import MockSlack


def channel_for(mock: MockSlack) -> SlackChannel:
    assert mock.server is not None
    client = AsyncWebClient(token="xoxb-test", base_url=str(mock.server.make_url("/api/")))
    return SlackChannel(client)


CARD = ApprovalCard(
    action_id="3f0e0f59-1c1b-4f53-9b44-0c4f0d7f3a10",
    short_code="4F2K",
    summary="Pause Summer Sale",
    approvers="an admin",
    expires_at=datetime(2026, 12, 1, tzinfo=UTC),
)


async def test_a_card_is_posted_in_the_thread_and_its_ts_is_the_message_id(
    slack: MockSlack,
) -> None:
    address = ChannelAddress("slack", "T1", "C111:1699.0001")
    posted = await channel_for(slack).post(address, Reply(text="Needs approval", card=CARD))
    assert [(message.message_id, message.shows_card) for message in posted] == [("1700.0001", True)]
    [sent] = slack.of("chat.postMessage")
    assert (sent["channel"], sent["thread_ts"]) == ("C111", "1699.0001")
    assert sent["text"] == "Approval 4F2K: Pause Summer Sale"
    assert sent["blocks"][-1]["elements"][0]["value"] == "4F2K"


async def test_a_chart_is_uploaded_beside_the_message(slack: MockSlack) -> None:
    chart = Chart(png=b"\x89PNG\r\n\x1a\n" + b"0" * 100, alt_text="Spend, last 7 days")
    await channel_for(slack).post(
        ChannelAddress("slack", "T1", "C111"), Reply(text="Report", chart=chart)
    )
    assert [name for name, _ in slack.calls] == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    assert slack.of("upload")[0]["bytes"] == 108
    assert slack.of("files.completeUploadExternal")[0]["channel_id"] == "C111"


async def test_a_decided_card_is_redrawn_without_buttons(slack: MockSlack) -> None:
    decided = CARD.model_copy(update={"status": "executed", "status_line": "Approved by Dana."})
    await channel_for(slack).edit_card(ChannelAddress("slack", "T1", "C111"), "1700.0001", decided)
    [update] = slack.of("chat.update")
    assert (update["channel"], update["ts"]) == ("C111", "1700.0001")
    assert all(block["type"] != "actions" for block in update["blocks"])


async def test_a_429_is_a_channel_error_with_the_wait(slack: MockSlack) -> None:
    slack.failures["chat.postMessage"] = web.json_response(
        {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "7"}
    )
    with pytest.raises(ChannelError) as refused:
        await channel_for(slack).post(ChannelAddress("slack", "T1", "C111"), Reply(text="x"))
    assert refused.value.retry_after == 7


async def test_a_revoked_token_is_a_channel_error_naming_it(slack: MockSlack) -> None:
    slack.failures["chat.postMessage"] = web.json_response({"ok": False, "error": "token_revoked"})
    with pytest.raises(ChannelError, match="token_revoked") as refused:
        await channel_for(slack).post(ChannelAddress("slack", "T1", "C111"), Reply(text="x"))
    assert refused.value.failure is Failure.TOKEN_REVOKED
    assert refused.value.permanent


@pytest.mark.parametrize(
    ("code", "failure"),
    [
        ("channel_not_found", Failure.CHAT_NOT_FOUND),
        ("is_archived", Failure.CHAT_NOT_FOUND),
        ("not_in_channel", Failure.BLOCKED),
        ("invalid_auth", Failure.TOKEN_REVOKED),
        ("msg_too_long", Failure.REFUSED),
    ],
)
async def test_slack_error_codes_become_failures_a_caller_can_act_on(
    slack: MockSlack, code: str, failure: Failure
) -> None:
    slack.failures["chat.postMessage"] = web.json_response({"ok": False, "error": code})
    outcomes: list[str] = []
    channel = channel_for(slack)
    channel.observe = outcomes.append
    with pytest.raises(ChannelError) as refused:
        await channel.post(ChannelAddress("slack", "T1", "C111"), Reply(text="x"))
    assert refused.value.failure is failure
    assert outcomes == [failure.value]


async def test_messages_to_one_channel_are_paced_and_other_channels_are_not(
    slack: MockSlack,
) -> None:
    channel = channel_for(slack)
    channel.limiter = OutboundLimiter(None, max_wait=0)
    outcomes: list[str] = []
    channel.observe = outcomes.append
    busy = ChannelAddress("slack", "T1", "C111")
    await channel.post(busy, Reply(text="1"))
    await channel.post(busy, Reply(text="2"))
    with pytest.raises(ChannelError) as paced:
        await channel.post(busy, Reply(text="3"))  # a third within 2 s: over ~1/s
    assert paced.value.failure is Failure.RATE_LIMITED
    assert paced.value.retry_after is not None
    await channel.post(ChannelAddress("slack", "T1", "C222"), Reply(text="elsewhere"))
    assert len(slack.of("chat.postMessage")) == 3
    assert outcomes == ["ok", "ok", "ok"]  # the paced one never reached Slack
