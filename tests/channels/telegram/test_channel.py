"""TelegramChannel against the Bot API's real failure answers: 429, blocked, unchanged edits."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import respx
from telegram import Bot

from bot.replies import Reply
from channels.base import ChannelAddress, ChannelError, Failure
from channels.telegram.channel import TelegramChannel

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
API = "https://telegram.test"
CHAT = ChannelAddress("telegram", "", "42")
SENT = {
    "ok": True,
    "result": {"message_id": 7, "date": 0, "chat": {"id": 42, "type": "private"}, "text": "x"},
}


def too_many(seconds: int) -> httpx.Response:
    return httpx.Response(
        429,
        json={
            "ok": False,
            "error_code": 429,
            "description": f"Too Many Requests: retry after {seconds}",
            "parameters": {"retry_after": seconds},
        },
    )


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=f"{API}/bot{TOKEN}", assert_all_called=False) as router:
        yield router


def channel() -> TelegramChannel:
    return TelegramChannel(Bot(TOKEN, base_url=f"{API}/bot"))


async def test_a_short_429_is_waited_out_and_the_message_sent_once(api: respx.MockRouter) -> None:
    route = api.post("/sendMessage").mock(side_effect=[too_many(1), httpx.Response(200, json=SENT)])
    posted = await channel().post(CHAT, Reply(text="Report"))
    assert [message.message_id for message in posted] == ["7"]
    assert route.call_count == 2


async def test_a_long_429_goes_back_to_the_caller_with_the_wait(api: respx.MockRouter) -> None:
    route = api.post("/sendMessage").mock(return_value=too_many(60))
    with pytest.raises(ChannelError) as refused:
        await channel().post(CHAT, Reply(text="Report"))
    assert refused.value.retry_after == 60
    assert route.call_count == 1


async def test_a_user_who_blocked_the_bot_is_a_typed_error(api: respx.MockRouter) -> None:
    api.post("/sendMessage").mock(
        return_value=httpx.Response(
            403,
            json={
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot was blocked by the user",
            },
        )
    )
    with pytest.raises(ChannelError, match="blocked"):
        await channel().post(CHAT, Reply(text="Report"))


async def test_an_edit_to_the_same_content_is_not_an_error(api: respx.MockRouter) -> None:
    from datetime import UTC, datetime

    from bot.replies import ApprovalCard

    api.post("/editMessageText").mock(
        return_value=httpx.Response(
            400,
            json={
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: message is not modified: specified new message "
                "content and reply markup are exactly the same",
            },
        )
    )
    card = ApprovalCard(
        action_id="3f0e0f59-1c1b-4f53-9b44-0c4f0d7f3a10",
        short_code="4F2K",
        summary="Pause Summer Sale",
        approvers="an admin",
        expires_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    await channel().edit_card(CHAT, "7", card)


@pytest.mark.parametrize(
    ("status", "description", "failure"),
    [
        (403, "Forbidden: bot was blocked by the user", Failure.BLOCKED),
        (403, "Forbidden: bot was kicked from the group chat", Failure.BLOCKED),
        (400, "Bad Request: chat not found", Failure.CHAT_NOT_FOUND),
        (401, "Unauthorized", Failure.TOKEN_REVOKED),
        (400, "Bad Request: message text is empty", Failure.REFUSED),
    ],
)
async def test_bot_api_refusals_become_failures_a_caller_can_act_on(
    api: respx.MockRouter, status: int, description: str, failure: Failure
) -> None:
    api.post("/sendMessage").mock(
        return_value=httpx.Response(
            status, json={"ok": False, "error_code": status, "description": description}
        )
    )
    outcomes: list[str] = []
    sender = TelegramChannel(Bot(TOKEN, base_url=f"{API}/bot"), observe=outcomes.append)
    with pytest.raises(ChannelError) as refused:
        await sender.post(CHAT, Reply(text="Report"))
    assert refused.value.failure is failure
    assert outcomes == [failure.value]
