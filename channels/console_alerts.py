"""The terminal as an alert destination: what the schedule pushes while someone chats.

`adpilot chat` runs the worker's cron jobs beside the conversation (embedded mode). Alerts,
approval cards and summaries addressed to the console conversation of the person at this
terminal are printed between their turns; anything for someone else is refused as unreachable,
so the outbox keeps it (and in time falls back to the org's next destination).
"""

from __future__ import annotations

import uuid

from rich.rule import Rule
from rich.text import Text

from bot.replies import ApprovalCard, Reply
from channels.base import ChannelAddress, ChannelError, Failure, PostedMessage
from channels.console import ConsoleChannel


class ConsoleAlerts:
    """A ChatChannel named "console" that prints to this terminal for one conversation."""

    name = "console"

    def __init__(self, terminal: ConsoleChannel, conversation_id: str) -> None:
        self.terminal = terminal
        self.conversation_id = conversation_id

    def _check(self, address: ChannelAddress) -> None:
        if address.conversation_id != self.conversation_id:
            raise ChannelError(
                "that console conversation is not open in this terminal",
                failure=Failure.UNREACHABLE,
            )

    async def post(self, address: ChannelAddress, reply: Reply) -> list[PostedMessage]:
        self._check(address)
        console = self.terminal.console
        # The prompt is waiting on its own line: start below it, and show it again after.
        console.print()
        console.print(Rule("AdPilot · pushed by your rules", style="magenta", align="left"))
        self.terminal.show(reply)
        console.print(Text(self.terminal.prompt, style="dim"), end="")
        message_id = f"console-{uuid.uuid4().hex[:12]}"
        return [PostedMessage(message_id, shows_card=reply.card is not None)]

    async def edit_card(self, address: ChannelAddress, message_id: str, card: ApprovalCard) -> None:
        self._check(address)
        # A terminal cannot redraw what it printed: the new state is a line of its own.
        line = card.status_line or card.status.capitalize()
        self.terminal.console.print(Text(f"\nAction {card.short_code} · {line}", style="dim"))
