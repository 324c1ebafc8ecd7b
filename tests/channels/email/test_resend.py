"""Email through Resend: the request Resend documents, its errors typed, no tracking."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
import respx
from pydantic import SecretStr

from bot.replies import ApprovalCard, Reply, Table
from channels.base import ChannelAddress, Failure
from channels.email.channel import EmailChannel
from channels.email.resend import Email, EmailError, ResendClient, resend_http
from channels.email.transactional import send_transactional
from core.config import Settings

API = "http://resend.test"
KEY = "re_test_123456789"
SENDER = "AdPilot <alerts@adpilot.example>"
TO = ChannelAddress("email", "", "ops@example.com")


@pytest.fixture
async def client() -> AsyncIterator[ResendClient]:
    async with resend_http(API, 5.0) as http:
        yield ResendClient(http, api_key=KEY, sender=SENDER)


def _error(status: int, name: str, message: str, **headers: str) -> httpx.Response:
    body = {"statusCode": status, "name": name, "message": message}
    return httpx.Response(status, json=body, headers=headers)


@respx.mock(base_url=API, assert_all_called=True)
async def test_an_alert_email_is_the_request_resend_documents(
    respx_mock: respx.MockRouter, client: ResendClient
) -> None:
    route = respx_mock.post("/emails").mock(
        return_value=httpx.Response(200, json={"id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"})
    )
    reply = Reply(
        text="CPA up 40% on <Spring Sale>",
        table=Table(columns=["campaign", "cpa"], rows=[["Spring Sale", "12.40"]]),
    )
    posted = await EmailChannel(client).post_once(TO, reply, idempotency_key="notification/abc")

    assert [message.message_id for message in posted] == ["49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"]
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["idempotency-key"] == "notification/abc"
    assert request.headers["user-agent"]  # Resend refuses requests without one (403)
    body = json.loads(request.content)
    assert set(body) == {"from", "to", "subject", "html", "text"}
    assert body["from"] == SENDER
    assert body["to"] == ["ops@example.com"]
    assert body["subject"] == "AdPilot: CPA up 40% on <Spring Sale>"
    assert "<p>CPA up 40% on &lt;Spring Sale&gt;</p>" in body["html"]
    assert "<td>Spring Sale</td><td>12.40</td>" in body["html"]
    assert "Spring Sale" in body["text"]
    assert "12.40" in body["text"]
    # No tracking: no images, no links we did not write.
    assert "<img" not in body["html"]
    assert "http" not in body["html"]


@respx.mock(base_url=API)
async def test_a_card_by_email_says_how_to_decide_in_chat(
    respx_mock: respx.MockRouter, client: ResendClient
) -> None:
    route = respx_mock.post("/emails").mock(return_value=httpx.Response(200, json={"id": "e1"}))
    card = ApprovalCard(
        action_id="00000000-0000-0000-0000-000000000001",
        short_code="K7Q2",
        summary="Pause Spring Sale",
        approvers="a manager or an admin",
        expires_at=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
    )
    [posted] = await EmailChannel(client).post_once(
        TO, Reply(text="Approval requested", card=card), idempotency_key="n/1"
    )
    assert posted.shows_card
    body = json.loads(route.calls.last.request.content)
    assert body["subject"] == "AdPilot: Approval K7Q2: Pause Spring Sale"
    assert "approve K7Q2" in body["text"]
    assert "approve K7Q2" in body["html"]


@pytest.mark.parametrize(
    ("response", "failure", "retry_after", "permanent"),
    [
        (_error(403, "invalid_api_key", "API key is invalid"), Failure.TOKEN_REVOKED, None, True),
        (_error(401, "missing_api_key", "Missing API key"), Failure.TOKEN_REVOKED, None, True),
        (
            _error(429, "rate_limit_exceeded", "Too many requests", **{"retry-after": "2"}),
            Failure.RATE_LIMITED,
            2.0,
            False,
        ),
        (
            _error(429, "daily_quota_exceeded", "Daily quota reached"),
            Failure.RATE_LIMITED,
            3600.0,
            False,
        ),
        (_error(422, "validation_error", "Invalid `to` field"), Failure.REFUSED, None, False),
        (_error(500, "application_error", "Internal"), Failure.UNREACHABLE, None, False),
    ],
)
async def test_resend_errors_are_typed(
    client: ResendClient,
    response: httpx.Response,
    failure: Failure,
    retry_after: float | None,
    permanent: bool,
) -> None:
    with respx.mock(base_url=API) as router:
        router.post("/emails").mock(return_value=response)
        with pytest.raises(EmailError) as caught:
            await EmailChannel(client).post_once(TO, Reply(text="hi"), idempotency_key="n/2")
    error = caught.value
    assert (error.failure, error.retry_after, error.permanent) == (failure, retry_after, permanent)
    assert error.name == response.json()["name"]
    assert "ops@example.com" not in str(error)  # the address never reaches a log line


async def test_an_unreachable_resend_is_a_typed_error(client: ResendClient) -> None:
    with respx.mock(base_url=API) as router:
        router.post("/emails").mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(EmailError) as caught:
            await client.send(
                Email(to="ops@example.com", subject="s", html="<p>h</p>", text="t"),
                idempotency_key="n/3",
            )
    assert caught.value.failure == Failure.UNREACHABLE


@respx.mock(base_url=API)
async def test_transactional_mail_goes_the_same_way_with_the_callers_key(
    respx_mock: respx.MockRouter, settings: Settings
) -> None:
    route = respx_mock.post("/emails").mock(return_value=httpx.Response(200, json={"id": "t1"}))
    configured = settings.model_copy(
        update={"resend_api_key": SecretStr(KEY), "resend_api_url": API, "email_from": SENDER}
    )
    email_id = await send_transactional(
        configured,
        to="new.user@example.com",
        subject="You are invited to AdPilot",
        html="<p>Join</p>",
        text="Join",
        idempotency_key="invite/42",
    )
    assert email_id == "t1"
    request = route.calls.last.request
    assert request.headers["idempotency-key"] == "invite/42"
    assert json.loads(request.content)["to"] == ["new.user@example.com"]


async def test_transactional_mail_without_configuration_is_refused_clearly(
    settings: Settings,
) -> None:
    with pytest.raises(EmailError, match="ADPILOT_RESEND_API_KEY"):
        await send_transactional(
            settings, to="a@example.com", subject="s", html="h", text="t", idempotency_key="k"
        )
