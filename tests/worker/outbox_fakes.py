"""A chat channel that records what it posts and fails on cue, and a scene with destinations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from bot.replies import ApprovalCard, Reply
from channels.base import ChannelAddress, ChannelError, PostedMessage
from core.config import Settings
from core.db import Database
from core.notify.models import Destination
from tests import factories


@dataclass
class ScriptedChannel:
    """Implements ChatChannel; each post takes the next scripted error, if any, else succeeds."""

    name: str
    errors: list[ChannelError] = field(default_factory=list)
    posted: list[tuple[ChannelAddress, Reply]] = field(default_factory=list)
    attempts: int = 0

    async def post(self, address: ChannelAddress, reply: Reply) -> list[PostedMessage]:
        self.attempts += 1
        if self.errors:
            raise self.errors.pop(0)
        self.posted.append((address, reply))
        number = len(self.posted)
        messages = [PostedMessage(f"{self.name}-{number}")]
        if reply.card is not None:
            messages.append(PostedMessage(f"{self.name}-card-{number}", shows_card=True))
        return messages

    async def edit_card(self, address: ChannelAddress, message_id: str, card: ApprovalCard) -> None:
        return None

    def texts(self) -> list[str]:
        return [reply.text for _, reply in self.posted]


@dataclass
class Outbox:
    org_id: uuid.UUID
    destinations: dict[str, uuid.UUID]


async def org_with_destinations(
    database: Database,
    *destinations: tuple[str, str, dict[str, Any]],
    timezone: str = "UTC",
    notifications: dict[str, Any] | None = None,
) -> Outbox:
    """An org and its destinations, in order: (channel, conversation id, kinds)."""
    async with database.system() as session:
        org = await factories.org(session, timezone=timezone)
        org.settings = {"notifications": notifications or {}}
        ids: dict[str, uuid.UUID] = {}
        for channel, conversation, kinds in destinations:
            row = Destination(
                org_id=org.id, channel=channel, conversation_id=conversation, kinds=kinds
            )
            session.add(row)
            await session.flush()
            ids[f"{channel}:{conversation}"] = row.id
    return Outbox(org.id, ids)


def worker_ctx(database: Database, settings: Settings, **channels: Any) -> dict[str, Any]:
    return {"database": database, "settings": settings, "channels": channels}
