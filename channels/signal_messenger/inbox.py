"""Inbound Signal messages: filtered, de-duplicated, rate-limited, then one bot turn each.

`on_frame` runs inside the receive loop, so it only parses and schedules: each message becomes
a task, chained behind the previous message of the same conversation (replies keep the order
people wrote in), with at most `max_turns` turns running at once. Signal authenticates every
sender end to end (signal-cli decrypted the message), so the sender is verified once it is here.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import re
import uuid
from collections.abc import Mapping

from bot.engine import Bot as ChatBot
from bot.engine import TurnContext
from bot.replies import Reply
from channels.base import ChannelAddress, ChannelError, ChatChannel
from channels.card_updates import NOT_OUR_CARD, decide_on_card, post_reply, redraw_if_decided
from channels.signal_messenger.channel import CHANNEL, SignalChannel
from channels.signal_messenger.frames import SignalMessage, Skipped, parse_frame
from channels.signal_messenger.render import reply_code
from core.approvals import cards
from core.db import Database
from core.events.service import first_delivery
from web_min.observability import AppMetrics
from web_min.rate_limit import WEBHOOK_PER_SOURCE, RateLimiter, TooManyRequests

log = logging.getLogger(__name__)

UNSUPPORTED = (
    "I can only read text messages here. Type help to see what I can do, "
    'e.g. report 7d or pause "Summer Sale".'
)
NUMBER_HIDDEN = (
    "Signal did not share your phone number with me, and AdPilot links Signal accounts by "
    "number. In Signal, open Settings › Privacy › Phone number, set “Who can see my number” "
    "to Everyone, then send your message (or link CODE) again."
)
# In a group the bot answers only what is meant for it: a mention, a command, a reply code.
_COMMAND_PREFIX = re.compile(r"^\s*/|^\s*adpilot\b", re.IGNORECASE)


def event_id(message: SignalMessage) -> str:
    """The de-duplication key: sender and envelope timestamp, hashed (no number stored)."""
    return hashlib.sha256(f"{message.sender}|{message.timestamp}".encode()).hexdigest()


def addressed(message: SignalMessage) -> bool:
    """Every direct message is for the bot; in a group only what is meant for it."""
    if message.group is None or message.mentions_bot:
        return True
    if message.content != "text":
        return False
    return bool(_COMMAND_PREFIX.match(message.text)) or reply_code(message.text) is not None


class SignalInbox:
    def __init__(
        self,
        *,
        database: Database,
        chat_bot: ChatBot,
        channel: SignalChannel,
        channels: Mapping[str, ChatChannel],
        limiter: RateLimiter,
        metrics: AppMetrics,
        own_number: str,
        max_turns: int = 16,
        max_pending: int = 10_000,
    ) -> None:
        self.database = database
        self.chat_bot = chat_bot
        self.channel = channel
        self.channels = channels
        self.limiter = limiter
        self.metrics = metrics
        self.own_number = own_number
        self.max_pending = max_pending
        self._turns = asyncio.Semaphore(max_turns)
        self._tasks: set[asyncio.Task[None]] = set()
        self._tails: dict[str, asyncio.Task[None]] = {}

    def _count(self, outcome: str) -> None:
        self.metrics.webhook_events.labels(channel=CHANNEL, outcome=outcome).inc()

    # --- in the receive loop: parse and schedule, never wait -----------------------------------

    def on_frame(self, frame: str | bytes) -> None:
        parsed = parse_frame(frame, own_number=self.own_number)
        if isinstance(parsed, Skipped):
            self._skip(parsed)
            return
        if not addressed(parsed):
            self._skip(Skipped("ignored", "a group message not meant for the bot"))
            return
        if len(self._tasks) >= self.max_pending:
            self._count("overflow")
            log.error("signal: %d messages already waiting; one was dropped", len(self._tasks))
            return
        key = parsed.conversation_id
        task = asyncio.create_task(self._in_order(self._tails.get(key), parsed))
        self._tails[key] = task
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._finished, key))

    def _skip(self, skipped: Skipped) -> None:
        self._count(skipped.outcome)
        if skipped.outcome == "malformed":
            log.warning("signal frame skipped: %s", skipped.reason)  # the reason, never the body
        else:
            log.debug("signal frame ignored: %s", skipped.reason)

    def _finished(self, key: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._tails.get(key) is task:
            del self._tails[key]

    async def drain(self) -> None:
        """Wait for every message in flight (shutdown, tests, the benchmark)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def abort(self) -> None:
        """Cancel what is still in flight (shutdown past its grace)."""
        for task in set(self._tasks):
            task.cancel()

    async def _in_order(self, previous: asyncio.Task[None] | None, message: SignalMessage) -> None:
        if previous is not None:
            await asyncio.wait([previous])  # its outcome is its own; only the order matters
        async with self._turns:
            try:
                await self.handle(message)
            except Exception:
                self._count("failed")
                log.exception("signal message %s failed", event_id(message)[:12])

    # --- one message ---------------------------------------------------------------------------

    async def handle(self, message: SignalMessage) -> None:
        """De-duplicate, rate-limit, then answer one message (after it passed `addressed`)."""
        async with self.database.system() as session:
            first = await first_delivery(
                session=session, channel=CHANNEL, event_id=event_id(message)
            )
        if not first:
            self._count("duplicate")
            return
        try:
            await self.limiter.check(WEBHOOK_PER_SOURCE, CHANNEL, sender_key(message.sender))
        except TooManyRequests:
            self._count("rate_limited")
            return
        self._count("accepted")
        address = ChannelAddress(CHANNEL, "", message.conversation_id)
        if message.content != "text":
            if message.group is None:
                await self._post(address, Reply(text=UNSUPPORTED), None)
            return
        if message.source_number is None:
            await self._post(address, Reply(text=NUMBER_HIDDEN), None)
            return
        await self._turn(message, message.source_number, address)

    async def _turn(self, message: SignalMessage, number: str, address: ChannelAddress) -> None:
        context = await self.chat_bot.identify(
            channel=CHANNEL,
            workspace="",
            external_user_id=number,
            conversation_id=address.conversation_id,
        )
        if context is None:
            reply = await self.chat_bot.handle_unlinked(
                channel=CHANNEL,
                workspace="",
                external_user_id=number,
                text=message.text,
                display_name=message.source_name,
            )
            await self._post(address, reply, None)
            return
        decision = reply_code(message.text)
        if decision is not None:
            await self._decide(context, address, *decision)
            return
        reply = await self.chat_bot.handle_text(context, message.text)
        await self._post(address, reply, context.org_id)

    async def _decide(
        self, context: TurnContext, address: ChannelAddress, code: str, approve: bool
    ) -> None:
        """A typed reply code stands in for a button: it must name a card the org was shown."""
        async with self.database.tenant(context.org_id) as session:
            copy = await cards.find_copy_by_code(
                session=session,
                org_id=context.org_id,
                short_code=code,
                channel=address.channel,
                workspace=address.workspace,
                conversation_id=address.conversation_id,
            )
        if copy is None:
            await self._post(address, Reply(text=NOT_OUR_CARD, is_error=True), None)
            return
        shown_at = ChannelAddress(copy.channel, copy.workspace, copy.conversation_id)
        reply = await decide_on_card(
            database=self.database,
            chat_bot=self.chat_bot,
            context=context,
            address=shown_at,
            message_id=copy.message_id,
            code=code,
            approve=approve,
        )
        if reply.is_error or reply.card is None:
            await self._post(address, Reply(text=reply.text, is_error=reply.is_error), None)
            return
        # Every copy gets its decision line; this chat gets one from the redraw when the card
        # was shown here, and the outcome directly when it was shown elsewhere.
        await redraw_if_decided(
            database=self.database, channels=self.channels, org_id=context.org_id, reply=reply
        )
        if shown_at != address:
            await self._post(address, Reply(text=f"Approval {code}: {reply.text}"), None)

    async def _post(self, address: ChannelAddress, reply: Reply, org_id: uuid.UUID | None) -> None:
        """Post a reply (recording a card); a failure is logged without the conversation, which
        is a phone number for a direct chat."""
        try:
            if org_id is None:
                await self.channel.post(address, reply)
            else:
                await post_reply(
                    database=self.database,
                    channel=self.channel,
                    org_id=org_id,
                    address=address,
                    reply=reply,
                )
        except ChannelError as exc:
            log.warning("signal reply failed: %s", exc)


def sender_key(sender: str) -> str:
    """A sender as a rate-limit key: hashed, so no phone number lands in Redis."""
    return hashlib.sha256(sender.encode()).hexdigest()[:32]
