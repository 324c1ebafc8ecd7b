"""SlackChannel against a loopback mock of the Web API (slack_sdk speaks aiohttp, not httpx)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from slack_sdk.web.async_client import AsyncWebClient

from bot.replies import ApprovalCard, Chart, Reply
from channels.base import ChannelAddress, ChannelError
from channels.slack.channel import SlackChannel


@dataclass
class MockSlack:
    """Answers as Slack does; records each call's method and parameters."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failures: dict[str, web.Response] = field(default_factory=dict)
    server: TestServer | None = None

    def of(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.read()
        if request.content_type == "application/json":
            params: dict[str, Any] = json.loads(raw or b"{}")
        else:
            params = {key: values[0] for key, values in parse_qs(raw.decode()).items()}
        params.update(request.query)  # some methods send their arguments as query parameters
        self.calls.append((method, params))
        if method in self.failures:
            return self.failures[method]
        assert self.server is not None
        answers: dict[str, dict[str, Any]] = {
            "chat.postMessage": {"ok": True, "channel": params.get("channel"), "ts": "1700.0001"},
            "chat.update": {"ok": True, "channel": params.get("channel"), "ts": params.get("ts")},
            "files.getUploadURLExternal": {
                "ok": True,
                "upload_url": str(self.server.make_url("/upload/v1/abc")),
                "file_id": "F123",
            },
            "files.completeUploadExternal": {"ok": True, "files": [{"id": "F123"}]},
        }
        return web.json_response(answers.get(method, {"ok": False, "error": "unknown_method"}))

    async def upload(self, request: web.Request) -> web.Response:
        self.calls.append(("upload", {"bytes": len(await request.read())}))
        return web.Response(text="OK - 1234")


@pytest.fixture
async def slack() -> AsyncIterator[MockSlack]:
    mock = MockSlack()
    app = web.Application()
    app.router.add_post("/api/{method}", mock.handle)
    app.router.add_post("/upload/v1/abc", mock.upload)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    mock.server = server
    yield mock
    await server.close()


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
    with pytest.raises(ChannelError, match="gone for us: token_revoked"):
        await channel_for(slack).post(ChannelAddress("slack", "T1", "C111"), Reply(text="x"))
