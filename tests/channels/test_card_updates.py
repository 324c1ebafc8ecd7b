"""A card posted on two channels is redrawn on both once decided, whoever decided it where."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from bot.replies import ApprovalCard, Reply, card_from_action
from channels.base import ChannelAddress, ChannelError, ChatChannel, PostedMessage
from channels.card_updates import post_reply, refresh_copies
from core.approvals import cards, flows, service
from core.approvals.models import PendingAction
from core.db import Database
from core.users.models import Role, User
from tests import factories
from tests.core.approvals.fakes import FakePlatform, registry_with


@dataclass
class FakeChannel:
    """Implements ChatChannel; remembers what it posted and edited, or fails every edit."""

    name: str
    broken: bool = False
    posted: list[tuple[ChannelAddress, Reply]] = field(default_factory=list)
    edits: list[tuple[str, ApprovalCard]] = field(default_factory=list)

    async def post(self, address: ChannelAddress, reply: Reply) -> list[PostedMessage]:
        self.posted.append((address, reply))
        number = len(self.posted)
        return [
            PostedMessage(f"{self.name}-text-{number}"),
            PostedMessage(f"{self.name}-card-{number}", shows_card=reply.card is not None),
        ]

    async def edit_card(self, address: ChannelAddress, message_id: str, card: ApprovalCard) -> None:
        if self.broken:
            raise ChannelError("message to edit not found")
        self.edits.append((message_id, card))


@dataclass
class Scene:
    org_id: uuid.UUID
    admin: User
    action: PendingAction
    platform: FakePlatform


async def scene(database: Database) -> Scene:
    async with database.system() as session:
        org = await factories.org(session)
        admin = await factories.user(session, org, role=Role.ADMIN)
        manager = await factories.user(session, org, role=Role.MANAGER)
        account = await factories.ad_account(session, org)
        campaign = await factories.campaign(session, account)
        platform = FakePlatform(name=account.platform)
        platform.adopt(campaign)
    async with database.tenant(org.id) as session:
        action = await service.propose(
            session=session,
            org_id=org.id,
            kind="pause_campaign",
            arguments={"campaign_id": str(campaign.id)},
            summary="Pause Summer Sale",
            requested_by=manager,
            origin_channel="telegram",
        )
    return Scene(org.id, admin, action, platform)


TELEGRAM = ChannelAddress("telegram", "", "-1001")
SLACK = ChannelAddress("slack", "T1", "C1")


async def test_a_card_asked_on_telegram_and_approved_on_slack_is_redrawn_on_both(
    database: Database,
) -> None:
    world = await scene(database)
    telegram, slack = FakeChannel("telegram"), FakeChannel("slack")
    channels: dict[str, ChatChannel] = {"telegram": telegram, "slack": slack}
    reply = Reply(text="Needs approval", card=card_from_action(world.action))
    for channel, address in ((telegram, TELEGRAM), (slack, SLACK)):
        await post_reply(
            database=database, channel=channel, org_id=world.org_id, address=address, reply=reply
        )
    async with database.tenant(world.org_id) as session:
        await flows.decide(
            session=session,
            org_id=world.org_id,
            action_ref=world.action.short_code,
            user=world.admin,
            approve=True,
            channel="slack",
            registry=registry_with(world.platform),
        )
    edited = await refresh_copies(
        database=database, channels=channels, org_id=world.org_id, action_id=world.action.id
    )
    assert edited == 2
    for channel in (telegram, slack):
        [(message_id, card)] = channel.edits
        assert message_id == f"{channel.name}-card-1"  # the card's message, not the text's
        assert card.status == "executed"
        assert card.status_line is not None
        assert re.fullmatch(
            rf"Approved by {re.escape(world.admin.email)} via Slack at \d\d:\d\d UTC\. Done\.",
            card.status_line,
        )
    # Every copy shows the outcome now: a second refresh edits nothing.
    assert (
        await refresh_copies(
            database=database, channels=channels, org_id=world.org_id, action_id=world.action.id
        )
        == 0
    )


async def test_a_failing_or_absent_channel_leaves_its_copy_stale_and_the_rest_redrawn(
    database: Database,
) -> None:
    world = await scene(database)
    telegram, slack = FakeChannel("telegram", broken=True), FakeChannel("slack")
    reply = Reply(text="Needs approval", card=card_from_action(world.action))
    for channel, address in ((telegram, TELEGRAM), (slack, SLACK)):
        await post_reply(
            database=database, channel=channel, org_id=world.org_id, address=address, reply=reply
        )
    async with database.tenant(world.org_id) as session:
        await flows.decide(
            session=session,
            org_id=world.org_id,
            action_ref=world.action.short_code,
            user=world.admin,
            approve=False,
            channel="telegram",
            registry=registry_with(world.platform),
        )
    # Slack redrawn; Telegram's edit fails; WhatsApp is not served by this process at all.
    edited = await refresh_copies(
        database=database,
        channels={"telegram": telegram, "slack": slack},
        org_id=world.org_id,
        action_id=world.action.id,
    )
    assert edited == 1
    assert slack.edits[0][1].status == "rejected"
    assert slack.edits[0][1].status_line is not None
    assert slack.edits[0][1].status_line.startswith(f"Rejected by {world.admin.email} via Telegram")
    async with database.tenant(world.org_id) as session:
        stale = await cards.copies_to_update(
            session=session, org_id=world.org_id, action_id=world.action.id
        )
    assert [copy.channel for copy in stale] == ["telegram"]


async def test_a_reply_without_a_card_records_nothing(database: Database) -> None:
    world = await scene(database)
    channel = FakeChannel("telegram")
    await post_reply(
        database=database,
        channel=channel,
        org_id=world.org_id,
        address=TELEGRAM,
        reply=Reply(text="3 campaigns"),
    )
    async with database.tenant(world.org_id) as session:
        await flows.decide(
            session=session,
            org_id=world.org_id,
            action_ref=world.action.short_code,
            user=world.admin,
            approve=False,
            channel="telegram",
            registry=registry_with(world.platform),
        )
    # Decided, but no message ever showed its card: nothing to redraw.
    assert (
        await refresh_copies(
            database=database,
            channels={"telegram": channel},
            org_id=world.org_id,
            action_id=world.action.id,
        )
        == 0
    )
    assert channel.edits == []
