"""The Channel protocol: how a chat surface shows the bot's neutral Reply and hands text back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.replies import ApprovalCard, Reply


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


@dataclass(frozen=True)
class PostedMessage:
    """One message a channel posted; `shows_card` marks the one carrying the card's buttons."""

    message_id: str
    shows_card: bool = False


class ChannelError(Exception):
    """A chat platform refused or failed a call; `retry_after` when it asked us to wait."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@runtime_checkable
class ChatChannel(Protocol):
    """A chat surface the server talks to (Slack, Telegram, WhatsApp, Signal).

    `post` renders a Reply natively at an address (several messages where the platform's
    limits split it) and says which message carries the card; `edit_card` redraws a card
    already shown, e.g. after someone decided it on another channel.
    """

    name: str

    async def post(self, address: ChannelAddress, reply: Reply) -> list[PostedMessage]: ...

    async def edit_card(
        self, address: ChannelAddress, message_id: str, card: ApprovalCard
    ) -> None: ...
