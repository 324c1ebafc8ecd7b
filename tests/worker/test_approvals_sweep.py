"""The worker's approvals sweep: an overdue card expires and every copy of it is redrawn."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from bot.replies import Reply, card_from_action
from channels.base import ChatChannel
from channels.card_updates import post_reply
from core.approvals.models import ActionStatus, PendingAction
from core.base import utcnow
from core.db import Database
from tests.channels.test_card_updates import SLACK, TELEGRAM, FakeChannel, scene
from worker.approvals import expire_approvals


async def test_an_overdue_card_expires_and_its_copies_on_every_channel_say_so(
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
    ctx = {"database": database, "channels": channels}
    # Not overdue yet: the sweep leaves it alone.
    assert await expire_approvals(ctx) == 0
    assert telegram.edits == slack.edits == []

    async with database.system() as session:
        await session.execute(
            update(PendingAction)
            .where(PendingAction.id == world.action.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await expire_approvals(ctx) == 1

    for channel in (telegram, slack):
        [(message_id, card)] = channel.edits
        assert message_id == f"{channel.name}-card-1"
        assert card.status == "expired"
    async with database.system() as session:
        action = await session.get(PendingAction, world.action.id)
        assert action is not None
        assert action.status == ActionStatus.EXPIRED
    # Once closed and redrawn, a later sweep neither expires nor edits it again.
    assert await expire_approvals(ctx) == 0
    assert len(telegram.edits) == len(slack.edits) == 1


async def test_a_channel_that_cannot_redraw_does_not_reopen_the_card(
    database: Database,
) -> None:
    world = await scene(database)
    broken = FakeChannel("telegram", broken=True)
    await post_reply(
        database=database,
        channel=broken,
        org_id=world.org_id,
        address=TELEGRAM,
        reply=Reply(text="Needs approval", card=card_from_action(world.action)),
    )
    async with database.system() as session:
        await session.execute(
            update(PendingAction)
            .where(PendingAction.id == world.action.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await expire_approvals({"database": database, "channels": {"telegram": broken}}) == 1
    async with database.system() as session:
        action = await session.get(PendingAction, world.action.id)
        assert action is not None
        assert action.status == ActionStatus.EXPIRED
