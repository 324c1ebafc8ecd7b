"""WhatsApp end to end through the real routes: signed notifications in, Graph calls out (respx).

Notifications are shaped as the Cloud API sends them and signed with the app secret as Meta
signs them; the campaign lives on the sandbox platform, which the app's own registry serves.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from adapters.sandbox import SandboxAdapter
from bot.replies import ApprovalCard, Reply
from channels.base import ChannelAddress, PostedMessage
from core.approvals import cards
from core.approvals.models import PendingAction
from core.campaigns.models import Campaign, CampaignStatus
from core.db import Database
from core.orgs.models import Organization
from core.users import identity
from core.users.models import ChannelIdentity, Role
from tests import factories
from tests.channels.whatsapp.conftest import (
    ADMIN_WA,
    MANAGER_WA,
    STRANGER_WA,
    VERIFY_TOKEN,
    GraphApi,
    Shop,
    button_reply,
    inbound,
    notification,
    post,
    sign,
    text,
    wamid,
)
from web_min.app import MAX_BODY_BYTES


@dataclass
class OtherChannel:
    """Another channel that showed the same card (a ChatChannel that records its redraws)."""

    name: str = "slack"
    edits: list[tuple[str, ApprovalCard]] = field(default_factory=list)

    async def post(self, address: ChannelAddress, reply: Reply) -> list[PostedMessage]:
        return []

    async def edit_card(self, address: ChannelAddress, message_id: str, card: ApprovalCard) -> None:
        self.edits.append((message_id, card))


async def get(app: FastAPI, **params: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://adpilot.test") as http:
        return await http.get("/whatsapp/webhook", params=params)


def webhook_events(app: FastAPI, outcome: str) -> float:
    value = app.state.metrics.registry.get_sample_value(
        "adpilot_webhook_events_total", {"channel": "whatsapp", "outcome": outcome}
    )
    return float(value or 0)


# --- the verification handshake --------------------------------------------------------------


async def test_the_handshake_echoes_the_challenge_as_plain_text(app: FastAPI) -> None:
    response = await get(
        app,
        **{
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )
    assert response.status_code == 200
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    ("mode", "token"),
    [
        ("subscribe", "wrong"),
        ("subscribe", VERIFY_TOKEN + "x"),
        ("subscribe", ""),
        ("x", VERIFY_TOKEN),
    ],
)
async def test_a_wrong_verify_token_or_mode_is_403(app: FastAPI, mode: str, token: str) -> None:
    response = await get(
        app, **{"hub.mode": mode, "hub.verify_token": token, "hub.challenge": "1158201444"}
    )
    assert response.status_code == 403
    assert "1158201444" not in response.text


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN},
        {"hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "<script>"},
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "9" * 257},
    ],
)
async def test_a_handshake_without_its_parameters_or_with_an_odd_challenge_is_400(
    app: FastAPI, params: dict[str, str]
) -> None:
    response = await get(app, **params)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"


# --- an approval end to end ------------------------------------------------------------------


async def test_a_pause_asked_and_tapped_on_whatsapp_pauses_the_sandbox_campaign_and_redraws(
    app: FastAPI, shop: Shop, graph: GraphApi
) -> None:
    asked = await post(app, text(ADMIN_WA, 'pause "Summer Sale"'))
    assert (asked.status_code, asked.json()) == (200, {"ok": True})
    [card] = graph.of_type("interactive")
    assert card["to"] == ADMIN_WA
    buttons = card["interactive"]["action"]["buttons"]
    assert [button["reply"]["title"] for button in buttons] == ["Approve", "Reject"]
    approve_id = buttons[0]["reply"]["id"]
    code = approve_id.removeprefix("ap:")
    assert approve_id == f"ap:{code}"
    assert buttons[1]["reply"]["id"] == f"rj:{code}"
    assert "Summer Sale" in card["interactive"]["body"]["text"]
    card_id = graph.id_of(card)
    # The same card is also shown on another channel: deciding here must redraw it there.
    other = OtherChannel()
    app.state.channels["slack"] = other
    database: Database = app.state.database
    async with database.tenant(shop.org_id) as session:
        action = await session.scalar(select(PendingAction).where(PendingAction.short_code == code))
        assert action is not None
        await cards.record_shown(
            session=session,
            org_id=shop.org_id,
            action_id=action.id,
            channel="slack",
            workspace="T1",
            conversation_id="C1",
            message_id="1700000000.000100",
        )

    tapped = await post(app, button_reply(ADMIN_WA, approve_id, "Approve", card_id=card_id))

    assert tapped.status_code == 200
    sandbox = SandboxAdapter(database)
    live = await sandbox.get_campaign(
        shop.account_external_id, shop.campaign_external_id, access_token=shop.sandbox_token
    )
    assert live.status == "PAUSED"
    async with database.system() as session:
        campaign = await session.get(Campaign, shop.campaign_id)
    assert campaign is not None
    assert campaign.status == CampaignStatus.PAUSED
    # WhatsApp cannot edit the card: a line quoting it says how it was decided.
    follow_up = graph.sent[-1]
    assert follow_up["type"] == "text"
    assert follow_up["context"] == {"message_id": card_id}
    assert f"Approval {code}" in follow_up["text"]["body"]
    assert f"Approved by {shop.admin_email} via WhatsApp" in follow_up["text"]["body"]
    [(message_id, redrawn)] = other.edits
    assert message_id == "1700000000.000100"
    assert redrawn.status == "executed"


async def test_a_card_decided_by_typing_approve_code_updates_the_card_copy(
    app: FastAPI, shop: Shop, graph: GraphApi
) -> None:
    await post(app, text(MANAGER_WA, 'pause "Summer Sale"'))
    [card] = graph.of_type("interactive")
    code = card["interactive"]["action"]["buttons"][0]["reply"]["id"].removeprefix("ap:")
    await post(app, text(ADMIN_WA, f"approve {code}"))
    quotes = [message for message in graph.to(MANAGER_WA) if "context" in message]
    [quote] = quotes
    assert quote["context"] == {"message_id": graph.id_of(card)}
    assert "Approved by" in quote["text"]["body"]


async def test_a_redelivered_message_is_handled_once(
    app: FastAPI, shop: Shop, graph: GraphApi
) -> None:
    message = text(ADMIN_WA, "help", message_id=wamid())
    first, again = await post(app, message), await post(app, message)
    assert first.json() == {"ok": True}
    assert again.json() == {"ok": True, "duplicate": True}
    assert len(graph.to(ADMIN_WA)) == 1
    assert webhook_events(app, "duplicate") == 1


async def test_two_deliveries_racing_each_other_are_handled_once(
    app: FastAPI, shop: Shop, graph: GraphApi
) -> None:
    message = text(ADMIN_WA, "help", message_id=wamid())
    answers = await asyncio.gather(*(post(app, message, drain=False) for _ in range(4)))
    await app.state.whatsapp.drain()
    assert sorted(answer.json().get("duplicate", False) for answer in answers) == [
        False,
        True,
        True,
        True,
    ]
    assert len(graph.to(ADMIN_WA)) == 1


async def test_a_long_reply_is_split_at_4096_characters(
    app: FastAPI, shop: Shop, graph: GraphApi
) -> None:
    app.state.whatsapp.inbound.chat_bot.handle_text = _long_answer
    await post(app, text(ADMIN_WA, "campaigns"))
    bodies = [message["text"]["body"] for message in graph.to(ADMIN_WA)]
    assert [len(body) for body in bodies] == [4096, 4096, 808]


async def _long_answer(*_: object) -> Reply:
    return Reply(text="x" * 9000)


# --- linking ------------------------------------------------------------------------------------


async def test_a_stranger_gets_linking_help_and_no_data_then_links_with_a_code(
    app: FastAPI, shop: Shop, graph: GraphApi
) -> None:
    await post(app, text(STRANGER_WA, "campaigns"))
    [help_text] = graph.to(STRANGER_WA)
    assert "link" in help_text["text"]["body"].lower()
    assert "Summer Sale" not in help_text["text"]["body"]
    database: Database = app.state.database
    async with database.system() as session:
        org = await session.get(Organization, shop.org_id)
        assert org is not None
        person = await factories.user(session, org, role=Role.USER)
        code = await identity.create_link_code(
            session=session, org_id=shop.org_id, user_id=person.id
        )
    await post(app, text(STRANGER_WA, f"link {code}"))
    assert graph.to(STRANGER_WA)[-1]["text"]["body"].startswith("Linked!")
    async with database.system() as session:
        linked = await session.scalar(
            select(ChannelIdentity).where(ChannelIdentity.user_id == person.id)
        )
    assert linked is not None
    assert (linked.channel, linked.external_user_id) == ("whatsapp", f"+{STRANGER_WA}")
    assert linked.display_name == "Dana Diaz"
    assert linked.last_inbound_at is not None  # the link message opened the window
    await post(app, text(STRANGER_WA, "campaigns"))
    answer = graph.to(STRANGER_WA)[-1]
    assert answer["type"] == "text"  # free-form: inside the window
    assert "Summer Sale" in answer["text"]["body"]


# --- buttons that must decide nothing ---------------------------------------------------------


async def test_a_tap_on_a_button_we_did_not_send_is_ignored(
    app: FastAPI, shop: Shop, graph: GraphApi
) -> None:
    await post(app, button_reply(ADMIN_WA, "drop table", "Approve", card_id=wamid()))
    assert graph.sent == []
    assert webhook_events(app, "ignored") == 1


async def test_a_tap_by_a_stranger_decides_nothing(
    app: FastAPI, shop: Shop, graph: GraphApi
) -> None:
    await post(app, text(MANAGER_WA, 'pause "Summer Sale"'))
    [card] = graph.of_type("interactive")
    approve_id = card["interactive"]["action"]["buttons"][0]["reply"]["id"]
    await post(app, button_reply(STRANGER_WA, approve_id, "Approve", card_id=graph.id_of(card)))
    [answer] = graph.to(STRANGER_WA)
    assert answer["text"]["body"].startswith("Link your AdPilot account first")
    async with app.state.database.system() as session:
        campaign = await session.get(Campaign, shop.campaign_id)
    assert campaign.status == CampaignStatus.ACTIVE


async def test_a_tap_on_a_message_that_is_not_the_card_decides_nothing(
    app: FastAPI, shop: Shop, graph: GraphApi
) -> None:
    """The tapped message must be a recorded card of the tapper's org with that code."""
    await post(app, text(ADMIN_WA, 'pause "Summer Sale"'))
    [card] = graph.of_type("interactive")
    approve_id = card["interactive"]["action"]["buttons"][0]["reply"]["id"]
    await post(app, button_reply(ADMIN_WA, approve_id, "Approve", card_id=wamid()))
    assert graph.sent[-1]["text"]["body"] == "This card is not one of your organization's."
    async with app.state.database.system() as session:
        campaign = await session.get(Campaign, shop.campaign_id)
    assert campaign.status == CampaignStatus.ACTIVE


async def test_a_second_tap_on_a_decided_card_says_so_and_changes_nothing(
    app: FastAPI, shop: Shop, graph: GraphApi
) -> None:
    await post(app, text(ADMIN_WA, 'pause "Summer Sale"'))
    [card] = graph.of_type("interactive")
    buttons = card["interactive"]["action"]["buttons"]
    card_id = graph.id_of(card)
    await post(app, button_reply(ADMIN_WA, buttons[0]["reply"]["id"], "Approve", card_id=card_id))
    await post(app, button_reply(ADMIN_WA, buttons[1]["reply"]["id"], "Reject", card_id=card_id))
    last = graph.sent[-1]["text"]["body"]
    assert "already" in last.lower()
    async with app.state.database.system() as session:
        campaign = await session.get(Campaign, shop.campaign_id)
    assert campaign.status == CampaignStatus.PAUSED


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "sha256=",
        "sha256=" + "0" * 64,
        "sha1=5d7e3c9b",
        sign(b"another body"),
        sign(b"", secret="not-the-app-secret"),
        "sha256=é".encode("latin-1"),
    ],
)
async def test_a_missing_or_wrong_signature_is_401_and_reaches_nothing(
    app: FastAPI, shop: Shop, graph: GraphApi, signature: str | bytes | None
) -> None:
    body = text(ADMIN_WA, "campaigns")
    response = await post(app, body, signature=signature)
    assert response.status_code == 401
    assert graph.router.calls.call_count == 0
    assert webhook_events(app, "forged") == 1
    assert webhook_events(app, "accepted") == 0


async def test_a_body_signed_with_another_secret_is_401(
    app: FastAPI, shop: Shop, graph: GraphApi
) -> None:
    content = json.dumps(text(ADMIN_WA, "campaigns")).encode()
    response = await post(app, content, signature=sign(content, secret="f" * 32))
    assert response.status_code == 401
    assert graph.router.calls.call_count == 0


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'"whatsapp"',
        b'{"entry": []}',
        b'{"object": "whatsapp_business_account"}',
        b'{"object": "whatsapp_business_account", "entry": "x"}',
        b'{"object": "whatsapp_business_account", "entry": [{"changes": []}]}',
        b"\xff\xfe",
        b"[" * 200_000 + b"]" * 200_000,
    ],
)
async def test_malformed_notifications_are_400(app: FastAPI, graph: GraphApi, body: bytes) -> None:
    response = await post(app, body)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert graph.router.calls.call_count == 0


@pytest.mark.parametrize(
    "message",
    [
        {"from": ADMIN_WA, "id": 42, "timestamp": "1", "type": "text", "text": {"body": "hi"}},
        {"from": ADMIN_WA, "timestamp": "1", "type": "text", "text": {"body": "hi"}},
        {"from": ADMIN_WA, "id": "wamid.x", "type": "text", "text": {"body": ["hi"]}},
        {"from": ADMIN_WA, "id": "wamid.x", "type": "text", "text": "hi"},
    ],
)
async def test_a_message_of_the_wrong_shape_is_400(
    app: FastAPI, graph: GraphApi, message: dict[str, object]
) -> None:
    response = await post(app, notification({"messages": [message]}))
    assert response.status_code == 400
    assert graph.router.calls.call_count == 0


async def test_an_oversized_notification_is_413(app: FastAPI, graph: GraphApi) -> None:
    body = b'{"object": "whatsapp_business_account", "entry": [], "pad": "' + b" " * MAX_BODY_BYTES
    response = await post(app, body + b'"}')
    assert response.status_code == 413
    assert graph.router.calls.call_count == 0


@pytest.mark.parametrize(
    ("message", "answered"),
    [
        (
            {"type": "sticker", "sticker": {"mime_type": "image/webp", "sha256": "x", "id": "1"}},
            True,
        ),
        ({"type": "location", "location": {"latitude": 52.52, "longitude": 13.4}}, True),
        ({"type": "image", "image": {"mime_type": "image/jpeg", "sha256": "x", "id": "2"}}, True),
        ({"type": "contacts", "contacts": [{"name": {"formatted_name": "A"}}]}, True),
        (
            {
                "type": "unsupported",
                "errors": [{"code": 131051, "title": "Message type unknown"}],
            },
            True,
        ),
        ({"type": "reaction", "reaction": {"message_id": "wamid.x", "emoji": "👍"}}, False),
        ({"type": "some_future_type", "some_future_type": {"x": 1}}, True),
    ],
)
async def test_messages_the_bot_cannot_read_get_a_polite_line_or_nothing(
    app: FastAPI, shop: Shop, graph: GraphApi, message: dict[str, object], answered: bool
) -> None:
    response = await post(app, inbound(ADMIN_WA, message))
    assert response.status_code == 200
    sent = graph.to(ADMIN_WA)
    if answered:
        [line] = sent
        assert line["text"]["body"].startswith("I can only read text messages and button taps")
    else:
        assert sent == []
    assert webhook_events(app, "failed") == 0


async def test_a_message_for_another_business_number_is_not_answered(
    app: FastAPI, shop: Shop, graph: GraphApi
) -> None:
    body = text(ADMIN_WA, "help")
    body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999999999"
    response = await post(app, body)
    assert response.status_code == 200
    assert graph.sent == []


async def test_another_kind_of_notification_is_acked_and_ignored(
    app: FastAPI, graph: GraphApi
) -> None:
    response = await post(app, {"object": "page", "entry": [{"id": "1", "changes": []}]})
    assert (response.status_code, response.json()) == (200, {"ok": True, "ignored": True})
    assert graph.sent == []


async def test_a_sender_without_a_phone_number_is_ignored(
    app: FastAPI, shop: Shop, graph: GraphApi
) -> None:
    message = {"id": wamid(), "timestamp": "1", "type": "text", "text": {"body": "help"}}
    message["user_id"] = "US.13491208655302741918"  # a username-only sender (2026)
    response = await post(app, notification({"messages": [message]}))
    assert response.status_code == 200
    assert graph.sent == []


async def test_a_turn_that_fails_after_the_ack_is_counted_and_logged_without_the_number(
    app: FastAPI, shop: Shop, graph: GraphApi, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(*_: object) -> Reply:
        raise RuntimeError(f"boom for +{ADMIN_WA}")

    app.state.whatsapp.inbound.chat_bot.handle_text = explode
    response = await post(app, text(ADMIN_WA, "campaigns"))
    assert response.status_code == 200
    assert webhook_events(app, "failed") == 1
    assert "RuntimeError" in caplog.text
    assert ADMIN_WA not in caplog.text


async def test_a_sender_over_the_per_person_limit_is_not_answered(
    app: FastAPI, shop: Shop, graph: GraphApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from limits import parse

    monkeypatch.setattr("channels.whatsapp.inbound.WEBHOOK_PER_SOURCE", parse("2/minute"))
    for _ in range(3):
        await post(app, text(ADMIN_WA, "help"))
    assert len(graph.to(ADMIN_WA)) == 2
    assert webhook_events(app, "rate_limited") == 1
