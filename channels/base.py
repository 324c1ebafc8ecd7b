"""The Channel protocol: how a chat surface shows the bot's neutral Reply and hands text back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.replies import Reply


@dataclass(frozen=True)
class ChannelAddress:
    """Where a conversation lives on a channel: the bot's TurnContext is built from this."""

    channel: str
    workspace: str
    conversation_id: str


@runtime_checkable
class Channel(Protocol):
    """One chat surface. `send` renders a Reply natively; `receive` waits for the next text."""

    name: str

    async def send(self, reply: Reply) -> None: ...

    async def receive(self) -> str | None:
        """The next message from the person; None when the conversation is over."""
        ...
