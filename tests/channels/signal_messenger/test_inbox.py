"""Signal end to end: the real app and lifespan, a loopback signal-cli-rest-api, the sandbox.

The app is built by `create_app` with Signal configured and run through its own lifespan, so
the receiver is the one `adpilot serve` starts. Frames are pushed by the mock API's websocket
exactly as signal-cli-rest-api pushes them; replies are read from what reached its /v2/send.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from adapters.sandbox import CampaignSpec, SandboxAdapter
from bot.engine import LINK_HELP, TurnContext
from channels.card_updates import NOT_OUR_CARD, refresh_copies
from channels.signal_messenger.app import SignalMessenger
from channels.signal_messenger.inbox import NUMBER_HIDDEN, UNSUPPORTED
from channels.signal_messenger.receiver import Backoff
from core.accounts.models import AdAccount
from core.approvals.models import CardMessage
from core.audit.service import Actor
from core.campaigns import service as campaigns
from core.campaigns.models import Campaign, CampaignStatus
from core.campaigns.schemas import CampaignCreate
from core.config import Settings
from core.db import Database
from core.events.models import ProcessedEvent
from core.orgs.models import Organization
from core.security import crypto
from core.users import identity
from core.users.models import ChannelIdentity, Role
from tests import factories
from tests.channels.signal_messenger import payloads as p
from tests.channels.signal_messenger.mock_api import GIVE_UP_SECONDS, FrameCounter, MockSignalApi
from web_min.app import create_app

FAST = Backoff(first=0.001, cap=0.01, stable=60.0)
OPS = "ops"
_CODE = re.compile(r"^Approval ([A-Z0-9]+): ")


@dataclass
class Shop:
    org_id: uuid.UUID
    manager_email: str
    admin_email: str
    campaign_id: uuid.UUID


@pytest.fixture
async def api() -> AsyncIterator[MockSignalApi]:
    server = MockSignalApi(p.BOT)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def signal_settings(settings: Settings, api: MockSignalApi) -> Settings:
    return settings.model_copy(update={"signal_api_url": api.url, "signal_number": p.BOT})


@pytest.fixture
async def app(
    signal_settings: Settings, database: Database, api: MockSignalApi
) -> AsyncIterator[FastAPI]:
    # `database` truncates what the test committed (PostgreSQL) when it ends.
    app = create_app(signal_settings)
    messenger: SignalMessenger = app.state.signal
    messenger.receiver.backoff = FAST
    messenger.receiver.on_frame = FrameCounter(messenger.receiver.on_frame)
    async with app.router.lifespan_context(app):
        await api.wait_for(connections=1)
        yield app
    await app.state.database.dispose()


def messenger_of(app: FastAPI) -> SignalMessenger:
    return app.state.signal  # type: ignore[no-any-return]


async def deliver(app: FastAPI, api: MockSignalApi, *frames: dict[str, Any] | str | bytes) -> None:
    """Push frames through the socket and wait until every one was read and answered."""
    messenger = messenger_of(app)
    counter = messenger.receiver.on_frame
    assert isinstance(counter, FrameCounter)
    target = counter.seen + len(frames)
    await api.push(*frames)
    await counter.wait_for(target)
    async with asyncio.timeout(GIVE_UP_SECONDS):
        await messenger.inbox.drain()


async def link(database: Database, org_id: uuid.UUID, user_id: uuid.UUID, number: str) -> None:
    async with database.system() as session:
        code = await identity.create_link_code(session=session, org_id=org_id, user_id=user_id)
        await identity.redeem_link_code(
            session=session, code=code, channel="signal", workspace="", external_user_id=number
        )


@pytest.fixture
async def shop(app: FastAPI) -> Shop:
    """An org with a manager and an admin on Signal, and a live sandbox campaign."""
    database: Database = app.state.database
    sandbox = SandboxAdapter(database)
    tokens = await sandbox.authenticate(code="signal-test", redirect_uri="http://localhost/")
    made = await sandbox.provision_account(
        name="Acme Sandbox",
        campaigns=[CampaignSpec(name="Summer Sale", daily_budget=Decimal(50))],
        history_days=1,
    )
    async with database.system() as session:
        org = await factories.org(session, name="Acme")
        manager = await factories.user(session, org, role=Role.MANAGER)
        admin = await factories.user(session, org, role=Role.ADMIN)
        account = AdAccount(
            org_id=org.id,
            platform="sandbox",
            external_id=made.account.external_id,
            name="Acme Sandbox",
            currency="USD",
            timezone="UTC",
            sync_status="ok",
            access_token_encrypted=crypto.encrypt(tokens.access_token),
            refresh_token_encrypted=crypto.encrypt_optional(tokens.refresh_token),
            token_expires_at=tokens.expires_at,
        )
        session.add(account)
        await session.flush()
        remote = made.campaigns[0]
        campaign = await campaigns.create(
            session=session,
            org_id=org.id,
            actor=Actor(org_id=org.id, user_id=admin.id, channel="cli", source="test"),
            campaign_in=CampaignCreate(
                ad_account_id=account.id,
                name=remote.name,
                external_id=remote.external_id,
                daily_budget=remote.daily_budget,
                status=CampaignStatus.ACTIVE,
            ),
        )
        org_id, manager_id, admin_id = org.id, manager.id, admin.id
        emails = (manager.email, admin.email)
    await link(database, org_id, manager_id, p.MANAGER)
    await link(database, org_id, admin_id, p.ADMIN)
    return Shop(org_id, emails[0], emails[1], campaign.id)


async def campaign_status(app: FastAPI, shop: Shop) -> CampaignStatus:
    async with app.state.database.system() as session:
        campaign = await session.scalar(select(Campaign).where(Campaign.id == shop.campaign_id))
    assert campaign is not None
    status: CampaignStatus = campaign.status
    return status


def last_card(api: MockSignalApi, recipient: str) -> tuple[str, str]:
    """(code, timestamp) of the last card sent to `recipient`."""
    for payload, stamp in reversed(list(zip(api.sent, api.stamps, strict=True))):
        match = _CODE.match(str(payload["message"]))
        if payload["recipients"] == [recipient] and match and stamp is not None:
            return match.group(1), stamp
    raise AssertionError("no card was sent there")


# --- the approval, end to end ------------------------------------------------------------------


async def test_a_pause_asked_in_a_direct_chat_is_approved_by_its_reply_code(
    app: FastAPI, api: MockSignalApi, shop: Shop
) -> None:
    await deliver(app, api, p.data_message(p.MANAGER, 'pause "Summer Sale"'))
    card = api.texts_to(p.MANAGER)[-1]
    code, card_stamp = last_card(api, p.MANAGER)
    assert f"Reply approve {code} to approve, or reject {code} to reject." in card
    assert await campaign_status(app, shop) is CampaignStatus.ACTIVE

    await deliver(app, api, p.data_message(p.MANAGER, f"approve {code}"))
    assert await campaign_status(app, shop) is CampaignStatus.PAUSED
    decision = api.messages_to(p.MANAGER)[-1]
    assert decision["message"].startswith(f"Approval {code}: Approved by {shop.manager_email}")
    assert "via Signal" in decision["message"]
    assert (decision["quote_timestamp"], decision["quote_author"]) == (int(card_stamp), p.BOT)
    # The copy is marked as showing the decision: a second refresh sends nothing more.
    sent = len(api.sent)
    refreshed = await refresh_copies(
        database=app.state.database,
        channels=app.state.channels,
        org_id=shop.org_id,
        action_id=await _action_of(app, card_stamp),
    )
    assert (refreshed, len(api.sent)) == (0, sent)


async def _action_of(app: FastAPI, stamp: str) -> uuid.UUID:
    async with app.state.database.system() as session:
        copy = await session.scalar(select(CardMessage).where(CardMessage.message_id == stamp))
    assert copy is not None
    action_id: uuid.UUID = copy.action_id
    return action_id


async def test_a_card_asked_in_a_group_is_decided_there_by_another_member(
    app: FastAPI, api: MockSignalApi, shop: Shop
) -> None:
    group = p.group_recipient(OPS)
    await deliver(app, api, p.data_message(p.MANAGER, '/pause "Summer Sale"', group=OPS))
    code, card_stamp = last_card(api, group)
    await deliver(app, api, p.data_message(p.ADMIN, f"no {code}", group=OPS))
    assert await campaign_status(app, shop) is CampaignStatus.ACTIVE
    decision = api.messages_to(group)[-1]
    assert decision["message"].startswith(f"Approval {code}: Rejected by {shop.admin_email}")
    assert decision["quote_timestamp"] == int(card_stamp)
    assert api.messages_to(p.ADMIN) == []  # everything happened in the group


async def test_a_code_typed_where_the_card_was_not_shown_decides_it_and_answers_there(
    app: FastAPI, api: MockSignalApi, shop: Shop
) -> None:
    await deliver(app, api, p.data_message(p.MANAGER, 'pause "Summer Sale"'))
    code, card_stamp = last_card(api, p.MANAGER)
    await deliver(app, api, p.data_message(p.ADMIN, f"yes {code}"))
    assert await campaign_status(app, shop) is CampaignStatus.PAUSED
    [answer] = api.texts_to(p.ADMIN)
    assert code in answer
    line = api.messages_to(p.MANAGER)[-1]  # the card's own chat gets the decision line
    assert line["quote_timestamp"] == int(card_stamp)
    assert f"Approved by {shop.admin_email} via Signal" in line["message"]


async def test_a_decision_elsewhere_reaches_the_signal_copy_as_a_line(
    app: FastAPI, api: MockSignalApi, shop: Shop
) -> None:
    """Decided on another channel (here the terminal): every Signal copy hears of it."""
    await deliver(app, api, p.data_message(p.MANAGER, 'pause "Summer Sale"'))
    code, card_stamp = last_card(api, p.MANAGER)
    async with app.state.database.system() as session:
        admin = await session.scalar(
            select(ChannelIdentity).where(ChannelIdentity.external_user_id == p.ADMIN)
        )
    assert admin is not None
    context = TurnContext(shop.org_id, admin.user_id, "console", "", "terminal")
    decided = await app.state.bot.handle_decision(context, code, True)
    assert not decided.is_error
    await refresh_copies(
        database=app.state.database,
        channels=app.state.channels,
        org_id=shop.org_id,
        action_id=await _action_of(app, card_stamp),
    )
    line = api.messages_to(p.MANAGER)[-1]
    assert line["message"].startswith(f"Approval {code}: Approved by {shop.admin_email}")
    assert "via the terminal" in line["message"]


async def test_a_code_of_a_card_this_org_never_showed_decides_nothing(
    app: FastAPI, api: MockSignalApi, shop: Shop
) -> None:
    """Short codes are unique per org only: a code must name a card shown to the sender's org."""
    database: Database = app.state.database
    await deliver(app, api, p.data_message(p.MANAGER, 'pause "Summer Sale"'))
    code, _ = last_card(api, p.MANAGER)
    async with database.system() as session:
        other = await factories.org(session, name="Globex")
        rival = await factories.user(session, other, role=Role.ADMIN)
        other_id, rival_id = other.id, rival.id
    await link(database, other_id, rival_id, p.STRANGER)
    await deliver(app, api, p.data_message(p.STRANGER, f"approve {code}"))
    assert api.texts_to(p.STRANGER) == [NOT_OUR_CARD]
    assert await campaign_status(app, shop) is CampaignStatus.ACTIVE
    await deliver(app, api, p.data_message(p.ADMIN, "approve ZZZZ"))
    assert api.texts_to(p.ADMIN) == [NOT_OUR_CARD]


async def test_a_refused_decision_is_answered_and_leaves_the_card_as_it_was(
    app: FastAPI, api: MockSignalApi, shop: Shop
) -> None:
    database: Database = app.state.database
    async with database.system() as session:
        org = await session.get(Organization, shop.org_id)
        assert org is not None
        plain = await factories.user(session, org, role=Role.USER)
        plain_id = plain.id
    await link(database, shop.org_id, plain_id, p.STRANGER)
    await deliver(app, api, p.data_message(p.MANAGER, 'pause "Summer Sale"'))
    code, _ = last_card(api, p.MANAGER)
    sent_to_manager = len(api.messages_to(p.MANAGER))
    await deliver(app, api, p.data_message(p.STRANGER, f"approve {code}"))
    [refusal] = api.texts_to(p.STRANGER)
    assert "may not approve" in refusal
    assert await campaign_status(app, shop) is CampaignStatus.ACTIVE
    assert len(api.messages_to(p.MANAGER)) == sent_to_manager


# --- who may talk, and what is ignored ---------------------------------------------------------


async def test_a_stranger_gets_linking_help_then_links_their_e164_number(
    app: FastAPI, api: MockSignalApi, shop: Shop
) -> None:
    database: Database = app.state.database
    await deliver(app, api, p.data_message(p.STRANGER, "campaigns"))
    assert api.texts_to(p.STRANGER) == [LINK_HELP]
    async with database.system() as session:
        org = await session.get(Organization, shop.org_id)
        assert org is not None
        person = await factories.user(session, org, role=Role.USER)
        code = await identity.create_link_code(
            session=session, org_id=shop.org_id, user_id=person.id
        )
        person_id = person.id
    frame = p.data_message(p.STRANGER, f"link {code}")
    frame["envelope"]["sourceNumber"] = "+49 151 99999999"  # stored in one normal form
    await deliver(app, api, frame)
    assert api.texts_to(p.STRANGER)[-1].startswith("Linked!")
    async with database.system() as session:
        linked = await session.scalar(
            select(ChannelIdentity)
            .where(ChannelIdentity.channel == "signal")
            .where(ChannelIdentity.user_id == person_id)
        )
    assert linked is not None
    assert linked.external_user_id == p.STRANGER
    await deliver(app, api, p.data_message(p.STRANGER, "campaigns"))
    assert "Summer Sale" in api.texts_to(p.STRANGER)[-1]


async def test_a_sender_who_hides_their_number_is_told_how_to_share_it(
    app: FastAPI, api: MockSignalApi, shop: Shop
) -> None:
    hidden = "e5f6a7b8-5555-4eee-8fff-56789abcdef0"
    await deliver(app, api, p.data_message(None, "campaigns", uuid=hidden))
    assert api.texts_to(hidden) == [NUMBER_HIDDEN]


async def test_receipts_typing_sync_and_the_bots_own_number_are_ignored(
    app: FastAPI, api: MockSignalApi, shop: Shop
) -> None:
    await deliver(
        app,
        api,
        p.receipt(p.ADMIN),
        p.typing(p.ADMIN),
        p.sync_sent("campaigns", p.ADMIN),
        p.data_message(p.BOT, "campaigns"),
        p.data_message(p.BOT, "campaigns", group=OPS),
        p.reaction(p.ADMIN, 1_800_000_000_000),
    )
    assert api.sent == []
    metrics = app.state.metrics.exposition().decode()
    assert 'adpilot_webhook_events_total{channel="signal",outcome="ignored"} 6.0' in metrics


async def test_a_group_hears_the_bot_only_when_it_is_meant(
    app: FastAPI, api: MockSignalApi, shop: Shop
) -> None:
    group = p.group_recipient(OPS)
    await deliver(
        app,
        api,
        p.data_message(p.ADMIN, "lunch at noon?", group=OPS),
        p.sticker(p.ADMIN, group=OPS),
        p.data_message(p.ADMIN, "campaigns", group=OPS),  # a word, not addressed to the bot
    )
    assert api.sent == []
    await deliver(
        app,
        api,
        p.data_message(p.ADMIN, "\ufffc campaigns", group=OPS, mentions=[p.mention(p.BOT)]),
        p.data_message(p.ADMIN, "/campaigns", group=OPS),
        p.data_message(p.ADMIN, "adpilot campaigns", group=OPS),
    )
    texts = api.texts_to(group)
    assert len(texts) == 3
    assert all("Summer Sale" in text for text in texts)


@pytest.mark.parametrize(
    "frame",
    [p.sticker(p.ADMIN), p.photo(p.ADMIN)],
    ids=["sticker", "attachment"],
)
async def test_stickers_and_bare_attachments_are_answered_politely(
    app: FastAPI, api: MockSignalApi, shop: Shop, frame: dict[str, Any]
) -> None:
    await deliver(app, api, frame)
    assert api.texts_to(p.ADMIN) == [UNSUPPORTED]


@pytest.mark.parametrize(
    "frame",
    [
        "{not json",
        b"\xff\xfe",
        "[" * 50_000 + "]" * 50_000,
        '{"error": "Couldn\'t get receive channel"}',
        '{"envelope": {"timestamp": "soon"}, "account": "+4915100000001"}',
        '{"envelope": {}, "account": "+4915100000001"}',
        "[]",
    ],
)
async def test_bad_frames_are_logged_without_their_body_and_the_receiver_goes_on(
    app: FastAPI,
    api: MockSignalApi,
    shop: Shop,
    frame: str | bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await deliver(app, api, frame, p.data_message(p.ADMIN, "campaigns"))
    assert "signal frame skipped" in caplog.text
    body = frame.decode(errors="replace") if isinstance(frame, bytes) else frame
    assert body[:12] not in caplog.text
    assert api.connections == 1  # the same socket, still reading
    assert "Summer Sale" in api.texts_to(p.ADMIN)[-1]  # the next message was answered


# --- exactly once across reconnects, rate limits, failures -------------------------------------


async def test_a_dropped_socket_reconnects_and_a_redelivery_is_handled_once(
    app: FastAPI, api: MockSignalApi, shop: Shop
) -> None:
    frames = [p.data_message(p.ADMIN, f"campaigns {n}") for n in range(6)]
    await deliver(app, api, *frames[:4])
    await api.drop()
    await api.wait_for(connections=2)
    # After the reconnect the API hands over what it had not seen acknowledged: 2 and 3 again.
    await deliver(app, api, *frames[2:])
    answers = api.texts_to(p.ADMIN)
    assert len(answers) == 6  # one answer per message: none lost, none twice
    async with app.state.database.system() as session:
        recorded = await session.scalars(
            select(ProcessedEvent.event_id).where(ProcessedEvent.channel == "signal")
        )
        assert len(set(recorded)) == 6
    metrics = app.state.metrics.exposition().decode()
    assert 'adpilot_webhook_events_total{channel="signal",outcome="duplicate"} 2.0' in metrics
    assert 'adpilot_channel_reconnects_total{channel="signal"}' in metrics


async def test_one_chat_is_answered_in_the_order_it_wrote(
    app: FastAPI, api: MockSignalApi, shop: Shop
) -> None:
    await deliver(
        app,
        api,
        p.data_message(p.ADMIN, "help"),
        p.data_message(p.ADMIN, "campaigns"),
        p.data_message(p.ADMIN, "help"),
    )
    first, second, third = api.texts_to(p.ADMIN)
    assert first == third
    assert second.startswith("1 campaign(s)")
    assert "campaign(s)" not in first


async def test_a_flooding_sender_is_rate_limited_per_sender(
    app: FastAPI, api: MockSignalApi, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    from limits import parse

    from channels.signal_messenger import inbox

    monkeypatch.setattr(inbox, "WEBHOOK_PER_SOURCE", parse("2/minute"))
    await deliver(app, api, *[p.data_message(p.ADMIN, "help") for _ in range(4)])
    await deliver(app, api, p.data_message(p.MANAGER, "help"))
    assert len(api.texts_to(p.ADMIN)) == 2
    assert len(api.texts_to(p.MANAGER)) == 1
    metrics = app.state.metrics.exposition().decode()
    assert 'adpilot_webhook_events_total{channel="signal",outcome="rate_limited"} 2.0' in metrics


async def test_a_reply_the_api_refuses_is_logged_without_the_number(
    app: FastAPI, api: MockSignalApi, shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.channels.signal_messenger.mock_api import Failure

    api.failures.append(Failure(400, {"error": f"The user {p.ADMIN} is not registered."}))
    await deliver(app, api, p.data_message(p.ADMIN, "help"))
    assert "signal reply failed: the recipient's number is not registered on Signal" in caplog.text
    assert p.ADMIN not in caplog.text
    metrics = app.state.metrics.exposition().decode()
    assert 'adpilot_outbound_calls_total{channel="signal",status="unregistered"} 1.0' in metrics


async def test_a_turn_that_fails_is_counted_and_the_next_one_still_runs(
    app: FastAPI,
    api: MockSignalApi,
    shop: Shop,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = app.state.bot
    original = bot.handle_text
    calls = 0

    async def flaky(context: TurnContext, text: str) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return await original(context, text)

    monkeypatch.setattr(bot, "handle_text", flaky)
    await deliver(app, api, p.data_message(p.ADMIN, "help"), p.data_message(p.ADMIN, "help"))
    assert len(api.texts_to(p.ADMIN)) == 1
    metrics = app.state.metrics.exposition().decode()
    assert 'adpilot_webhook_events_total{channel="signal",outcome="failed"} 1.0' in metrics
    assert p.ADMIN not in caplog.text
