"""The Channel protocol: how a chat surface shows the bot's neutral Reply and hands text back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
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


class Failure(StrEnum):
    """Why a chat platform call failed, in terms a caller can act on."""

    RATE_LIMITED = "rate_limited"  # wait `retry_after`, then try again
    TOKEN_REVOKED = "token_revoked"  # noqa: S105 - uninstalled or revoked: reconnect
    CHAT_NOT_FOUND = "chat_not_found"  # the conversation is gone (deleted, archived)
    BLOCKED = "blocked"  # the person blocked the bot, or it was removed from the chat
    OUTSIDE_WINDOW = "outside_window"  # WhatsApp: free-form text outside the 24 h window
    UNREACHABLE = "unreachable"  # network or platform outage: retry with backoff
    REFUSED = "refused"  # the platform said no for another reason: do not retry as is


# Failures that will not heal by retrying the same destination: try the next one.
PERMANENT_FAILURES = frozenset(
    {Failure.TOKEN_REVOKED, Failure.CHAT_NOT_FOUND, Failure.BLOCKED, Failure.OUTSIDE_WINDOW}
)


class ChannelError(Exception):
    """A chat platform refused or failed a call; `retry_after` when it asked us to wait.

    `failure` says what the caller can do; a subclass may fix it with `default_failure`.
    """

    default_failure: Failure | None = None

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        failure: Failure | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        if failure is None:
            failure = self.default_failure
        if failure is None:
            failure = Failure.RATE_LIMITED if retry_after is not None else Failure.REFUSED
        self.failure = failure

    @property
    def permanent(self) -> bool:
        return self.failure in PERMANENT_FAILURES


# Counts each outbound call by its outcome ("ok" or a Failure value), for /metrics.
OutboundObserver = Callable[[str], None]


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
