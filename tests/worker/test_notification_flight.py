"""The delivery job claims the next batch while the last one still sends, and keeps each
destination's messages in order across batches."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

from bot.replies import Reply
from channels.base import ChannelAddress, PostedMessage
from core.base import utcnow
from core.config import Settings
from core.db import Database
from core.notify import service as outbox
from core.notify.models import Notification
from tests.worker.outbox_fakes import ScriptedChannel, org_with_destinations, worker_ctx
from worker import notifications
from worker.notifications import deliver_notifications

ALERTS = {"alerts": True}
GIVE_UP_SECONDS = 20.0  # a guard against a hang, not a timing assert


async def _queue_in_order(
    database: Database, org_id: uuid.UUID, rows: list[tuple[uuid.UUID, str, str]]
) -> None:
    """(destination, conversation, text) rows, created in this order (the claim's order)."""
    start = utcnow()
    async with database.system() as session:
        for number, (destination_id, conversation, text) in enumerate(rows):
            session.add(
                Notification(
                    org_id=org_id,
                    destination_id=destination_id,
                    channel="telegram",
                    conversation_id=conversation,
                    kind="alerts",
                    payload={"text": text},
                    created_at=start + timedelta(milliseconds=number),
                )
            )


class GatedChannel(ScriptedChannel):
    """Posts to chat 100 wait for `open`; notes any two posts to one chat at the same time."""

    def __init__(self) -> None:
        super().__init__("telegram")
        self.open = asyncio.Event()
        self.sending: set[str] = set()
        self.overlaps: list[str] = []

    async def post(self, address: ChannelAddress, reply: Reply) -> list[PostedMessage]:
        chat = address.conversation_id
        if chat in self.sending:
            self.overlaps.append(reply.text)
        self.sending.add(chat)
        try:
            if chat == "100":
                await self.open.wait()
                # Long enough for a later row of this chat to start, were it not chained.
                await asyncio.sleep(0.1)
            return await super().post(address, reply)
        finally:
            self.sending.discard(chat)


async def test_the_next_batch_is_claimed_while_a_slow_destination_still_sends(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notifications, "BATCH_SIZE", 2)
    monkeypatch.setattr(notifications, "REFILL_BELOW", 2)
    world = await org_with_destinations(
        database, ("telegram", "100", ALERTS), ("telegram", "200", ALERTS)
    )
    slow, quick = world.destinations["telegram:100"], world.destinations["telegram:200"]
    await _queue_in_order(
        database,
        world.org_id,
        [(slow, "100", "a1"), (quick, "200", "b1"), (quick, "200", "b2"), (quick, "200", "b3")],
    )
    telegram = GatedChannel()
    original = telegram.post

    async def post(address: ChannelAddress, reply: Reply) -> list[PostedMessage]:
        posted = await original(address, reply)
        if reply.text == "b3":
            telegram.open.set()  # only now may chat 100 go: b2 and b3 came in a later batch
        return posted

    telegram.post = post  # type: ignore[method-assign]
    async with asyncio.timeout(GIVE_UP_SECONDS):
        sent = await deliver_notifications(worker_ctx(database, settings, telegram=telegram))
    assert sent == 4
    assert telegram.texts() == ["b1", "b2", "b3", "a1"]


async def test_one_destinations_rows_go_in_order_across_overlapping_batches(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notifications, "BATCH_SIZE", 1)
    monkeypatch.setattr(notifications, "REFILL_BELOW", 3)
    world = await org_with_destinations(database, ("telegram", "100", ALERTS))
    chat = world.destinations["telegram:100"]
    await _queue_in_order(
        database, world.org_id, [(chat, "100", "a1"), (chat, "100", "a2"), (chat, "100", "a3")]
    )
    telegram = GatedChannel()
    claims: list[int] = []
    claim_due = outbox.claim_due

    async def counted(**kwargs: Any) -> tuple[uuid.UUID, list[Notification]]:
        token, rows = await claim_due(**kwargs)
        claims.append(len(rows))
        if sum(claims) == 3:
            telegram.open.set()  # a1 is held until a2 and a3 are claimed and waiting
        return token, rows

    monkeypatch.setattr(outbox, "claim_due", counted)
    async with asyncio.timeout(GIVE_UP_SECONDS):
        sent = await deliver_notifications(worker_ctx(database, settings, telegram=telegram))
    assert sent == 3
    assert claims[:3] == [1, 1, 1]  # three batches, claimed while a1 was still out
    assert telegram.texts() == ["a1", "a2", "a3"]
    assert telegram.overlaps == []
