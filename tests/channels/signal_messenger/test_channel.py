"""SignalChannel against respx on POST /v2/send, with the API's real answers and refusals."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from bot.replies import ApprovalCard, Chart, Reply
from channels.base import ChannelAddress, ChannelError, PostedMessage
from channels.signal_messenger.channel import SignalChannel
from channels.signal_messenger.errors import (
    DEFAULT_RATE_LIMIT_WAIT_SECONDS,
    SignalError,
    SignalRateLimited,
    SignalUnavailable,
    SignalUnregistered,
)
from tests.channels.signal_messenger import payloads as p
from web_min.observability import AppMetrics

API = "http://signal-api.test:8080"
DIRECT = ChannelAddress("signal", "", p.ADMIN)
GROUP = ChannelAddress("signal", "", p.group_recipient("ops"))
CARD = ApprovalCard(
    action_id="6f1c2a0e-8c1e-4e8e-9a55-0c9f4f0b1a11",
    short_code="4F2K",
    summary="Pause Summer Sale",
    approvers="a manager or an admin",
    expires_at=datetime(2026, 12, 1, 14, 0, tzinfo=UTC),
)
# What signal-cli says (through the API's 400) when the number has no Signal account.
UNREGISTERED = {"error": f"The user {p.STRANGER} is not registered."}
RATE_LIMITED = {
    "error": "Failed to send message due to rate limiting. Use the attached challenge tokens to "
    "lift the rate limit restrictions via the '/v1/accounts/{number}/rate-limit-challenge' "
    "endpoint.",
    "challenge_tokens": ["8c2d4b5a-1f6e-4c3b-9a2d-7e6f5a4b3c2d"],
    "account": p.BOT,
}


@pytest.fixture
def metrics() -> AppMetrics:
    return AppMetrics()


@pytest.fixture
async def channel(metrics: AppMetrics) -> AsyncIterator[SignalChannel]:
    async with httpx.AsyncClient(base_url=API, timeout=5) as http:
        yield SignalChannel(http=http, number=p.BOT, metrics=metrics)


def bodies(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


def outbound(metrics: AppMetrics, status: str) -> float:
    value = metrics.registry.get_sample_value(
        "adpilot_outbound_calls_total", {"channel": "signal", "status": status}
    )
    return value or 0.0


@respx.mock(base_url=API, assert_all_called=False)
async def test_a_reply_with_chart_and_card_is_three_sends_the_card_last(
    respx_mock: respx.MockRouter, channel: SignalChannel, metrics: AppMetrics
) -> None:
    stamps = iter(["1700000000101", "1700000000102", "1700000000103"])
    route = respx_mock.post("/v2/send").mock(
        side_effect=lambda _: httpx.Response(201, json={"timestamp": next(stamps)})
    )
    chart = Chart(png=b"\x89PNG\r\n\x1a\n", alt_text="Spend by day")
    posted = await channel.post(DIRECT, Reply(text="Here it is", chart=chart, card=CARD))
    assert posted == [
        PostedMessage("1700000000101"),
        PostedMessage("1700000000102"),
        PostedMessage("1700000000103", shows_card=True),
    ]
    text, picture, card = bodies(route)
    assert text == {
        "number": p.BOT,
        "recipients": [p.ADMIN],
        "message": "Here it is",
        "text_mode": "normal",
    }
    assert picture["message"] == "Spend by day"
    assert picture["base64_attachments"][0].startswith("data:image/png;filename=chart.png;base64,")
    assert card["message"].endswith("Reply approve 4F2K to approve, or reject 4F2K to reject.")
    assert outbound(metrics, "ok") == 3


@respx.mock(base_url=API, assert_all_called=False)
async def test_groups_are_sent_to_as_the_api_names_them(
    respx_mock: respx.MockRouter, channel: SignalChannel
) -> None:
    route = respx_mock.post("/v2/send").mock(
        return_value=httpx.Response(201, json={"timestamp": "1700000000201"})
    )
    await channel.post(GROUP, Reply(text="campaigns"))
    [body] = bodies(route)
    assert body["recipients"] == [p.group_recipient("ops")]


@respx.mock(base_url=API, assert_all_called=False)
async def test_the_list_answer_of_newer_api_releases_is_read_too(
    respx_mock: respx.MockRouter, channel: SignalChannel, caplog: pytest.LogCaptureFixture
) -> None:
    answer = [
        {
            "timestamp": "1700000000301",
            "errors": {
                "recipients": [
                    {"number": p.MANAGER, "uuid": p.UUIDS[p.MANAGER], "reason": "IDENTITY_FAILURE"}
                ]
            },
        }
    ]
    respx_mock.post("/v2/send").mock(return_value=httpx.Response(201, json=answer))
    assert await channel.send(p.group_recipient("ops"), "hi") == "1700000000301"
    assert "not delivered to 1 recipient(s): ['IDENTITY_FAILURE']" in caplog.text
    assert p.MANAGER not in caplog.text


@respx.mock(base_url=API, assert_all_called=False)
async def test_a_card_copy_is_updated_with_a_decision_line_quoting_it(
    respx_mock: respx.MockRouter, channel: SignalChannel
) -> None:
    route = respx_mock.post("/v2/send").mock(
        return_value=httpx.Response(201, json={"timestamp": "1700000000401"})
    )
    decided = CARD.model_copy(
        update={"status": "rejected", "status_line": "Rejected by dana@acme.test at 14:02 UTC."}
    )
    await channel.edit_card(GROUP, "1700000000103", decided)
    [body] = bodies(route)
    assert body["message"] == "Approval 4F2K: Rejected by dana@acme.test at 14:02 UTC."
    assert (body["quote_timestamp"], body["quote_author"]) == (1700000000103, p.BOT)
    assert "edit_timestamp" not in body


@pytest.mark.parametrize(
    ("response", "error", "status"),
    [
        (httpx.Response(400, json=UNREGISTERED), SignalUnregistered, "unregistered"),
        (
            httpx.Response(
                400, json={"error": "Unable to complete request due to untrusted recipient keys"}
            ),
            SignalError,
            "refused",
        ),
        (httpx.Response(400, json={"error": "Group not found"}), SignalError, "refused"),
        (httpx.Response(429, json=RATE_LIMITED), SignalRateLimited, "rate_limited"),
        (httpx.Response(500, text="Internal Server Error"), SignalUnavailable, "unavailable"),
        (httpx.Response(502, text="<html>bad gateway</html>"), SignalUnavailable, "unavailable"),
        (httpx.Response(201, text="not json"), SignalUnavailable, "unavailable"),
        (httpx.Response(201, json={"timestamp": None}), SignalUnavailable, "unavailable"),
        (httpx.Response(201, json=[]), SignalUnavailable, "unavailable"),
    ],
)
async def test_send_failures_are_typed_channel_errors_that_name_no_number(
    metrics: AppMetrics,
    response: httpx.Response,
    error: type[SignalError],
    status: str,
) -> None:
    with respx.mock(base_url=API) as router:
        router.post("/v2/send").mock(return_value=response)
        async with httpx.AsyncClient(base_url=API) as http:
            channel = SignalChannel(http=http, number=p.BOT, metrics=metrics)
            with pytest.raises(error) as caught:
                await channel.send(p.STRANGER, "hello")
    assert type(caught.value) is error
    assert isinstance(caught.value, ChannelError)
    assert p.STRANGER not in str(caught.value)
    assert outbound(metrics, status) >= 1


async def test_a_captcha_rate_limit_waits_a_minute_and_is_not_retried_inline(
    metrics: AppMetrics,
) -> None:
    with respx.mock(base_url=API) as router:
        route = router.post("/v2/send").mock(return_value=httpx.Response(429, json=RATE_LIMITED))
        async with httpx.AsyncClient(base_url=API) as http:
            channel = SignalChannel(http=http, number=p.BOT, metrics=metrics)
            with pytest.raises(SignalRateLimited) as caught:
                await channel.send(p.ADMIN, "hello")
    assert caught.value.retry_after == DEFAULT_RATE_LIMIT_WAIT_SECONDS
    assert route.call_count == 1
    assert "8c2d4b5a" not in str(caught.value)  # challenge tokens stay out of errors and logs


async def test_a_short_413_with_retry_after_is_waited_out_and_sent_once_more(
    metrics: AppMetrics,
) -> None:
    with respx.mock(base_url=API) as router:
        route = router.post("/v2/send").mock(
            side_effect=[
                httpx.Response(413, headers={"Retry-After": "0"}, json={"error": "Rate limit"}),
                httpx.Response(201, json={"timestamp": "1700000000501"}),
            ]
        )
        async with httpx.AsyncClient(base_url=API) as http:
            channel = SignalChannel(http=http, number=p.BOT, metrics=metrics)
            assert await channel.send(p.ADMIN, "hello") == "1700000000501"
    assert route.call_count == 2
    assert (outbound(metrics, "rate_limited"), outbound(metrics, "ok")) == (1, 1)


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("cut")],
)
async def test_an_unreachable_or_silent_api_is_unavailable_and_never_resent(
    metrics: AppMetrics, failure: Exception
) -> None:
    with respx.mock(base_url=API) as router:
        route = router.post("/v2/send").mock(side_effect=failure)
        async with httpx.AsyncClient(base_url=API) as http:
            channel = SignalChannel(http=http, number=p.BOT, metrics=metrics)
            with pytest.raises(SignalUnavailable):
                await channel.send(p.ADMIN, "hello")
    # A timeout may have sent the message already: sending again could post it twice.
    assert route.call_count == 1
    assert outbound(metrics, "unavailable") == 1
