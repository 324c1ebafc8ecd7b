"""What happens after a WhatsApp notification was acked: turns for messages, records for statuses.

Text becomes a command or free text for the bot (`link CODE` for a number nobody linked yet);
a reply-button tap decides the card it was on; a status callback moves the recorded outbound
message forward. Every message a linked person sends reopens the 24-hour window. Messages the
bot cannot read (stickers, locations, media) get one polite line; reactions get nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.engine import LINK_HELP, Bot, TurnContext
from bot.replies import Reply
from channels.base import ChannelAddress, ChatChannel
from channels.card_updates import decide_on_card, deliver, refresh_copies
from channels.phone_numbers import InvalidPhoneNumber, to_e164
from channels.turns import ChatTurn
from channels.whatsapp.channel import CHANNEL, WhatsAppChannel
from channels.whatsapp.payloads import Context, InboundMessage, MessagesValue, Status
from channels.whatsapp.render import parse_button_id
from core.base import utcnow
from core.db import Database
from core.deliveries import service as deliveries
from core.users import identity
from web_min.observability import AppMetrics
from web_min.rate_limit import WEBHOOK_PER_SOURCE, RateLimiter, TooManyRequests

log = logging.getLogger(__name__)
WORKSPACE = ""  # one business number per deployment, as Telegram has one bot
CANNOT_READ = (
    "I can only read text messages and button taps here. Type `help` to see what I can do."
)
LINK_FIRST = "Link your AdPilot account first: send `link CODE`."
# Nothing a person needs an answer to: an emoji on a message, a number change notice.
SILENT_TYPES = frozenset({"reaction", "system", "ephemeral", "request_welcome"})
CALLBACK_STATUSES = frozenset({"sent", "delivered", "read", "failed"})


@dataclass(frozen=True)
class Work:
    """One new (not yet seen) message or status of an acked notification."""

    value: MessagesValue
    message: InboundMessage | None = None
    status: Status | None = None

    @property
    def event_id(self) -> str:
        if self.message is not None:
            return self.message.id
        assert self.status is not None
        return f"{self.status.id}:{self.status.status}"


def to_turn(item: Work) -> ChatTurn:
    """A new message or status as a queued turn: the models as the JSON Meta sent."""
    fields = {"value": item.value.model_dump_json(by_alias=True)}
    if item.message is not None:
        fields["message"] = item.message.model_dump_json(by_alias=True)
    elif item.status is not None:
        fields["status"] = item.status.model_dump_json(by_alias=True)
    return ChatTurn(channel=CHANNEL, kind="event", key=item.event_id, fields=fields)


def from_turn(turn: ChatTurn) -> Work:
    value = MessagesValue.model_validate_json(turn.fields["value"])
    if "message" in turn.fields:
        return Work(value, message=InboundMessage.model_validate_json(turn.fields["message"]))
    return Work(value, status=Status.model_validate_json(turn.fields["status"]))


def sent_at(timestamp: str | None, now: datetime) -> datetime:
    """When the person wrote (a string of Unix seconds), never later than now."""
    try:
        written = datetime.fromtimestamp(int(timestamp or ""), UTC)
    except (ValueError, OverflowError, OSError):
        return now
    return min(written, now)


class InboundHandler:
    def __init__(
        self,
        *,
        database: Database,
        chat_bot: Bot,
        channel: WhatsAppChannel,
        channels: Mapping[str, ChatChannel],
        limiter: RateLimiter,
        metrics: AppMetrics,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database = database
        self.chat_bot = chat_bot
        self.channel = channel
        self.channels = channels
        self.limiter = limiter
        self.metrics = metrics
        self.now = now

    def _count(self, outcome: str) -> None:
        self.metrics.webhook_events.labels(channel=CHANNEL, outcome=outcome).inc()

    async def handle(self, work: list[Work]) -> None:
        """Each item on its own: one failing item neither stops nor repeats the others."""
        for item in work:
            try:
                if item.message is not None:
                    await self.on_message(item.value, item.message)
                elif item.status is not None:
                    await self.on_status(item.status)
            except Exception as exc:
                self._count("failed")
                # The type only: a driver's message can carry the parameters (phone numbers).
                log.error("whatsapp event %s failed: %s", item.event_id, type(exc).__name__)

    async def on_message(self, value: MessagesValue, message: InboundMessage) -> None:
        try:
            number = to_e164(message.sender or "", assume_plus=True)
        except InvalidPhoneNumber:
            self._count("ignored")  # a username-only sender has no number to answer yet
            return
        if not await self._source_allowed(number):
            return
        address = ChannelAddress(CHANNEL, WORKSPACE, number)
        context = await self._identify(number)
        if context is not None:
            await self._note_inbound(context.org_id, number, message.timestamp)
        if message.type == "text" and message.text is not None:
            name = value.display_name(message.sender)
            await self._on_text(address, context, message.text.body, name, message.timestamp)
        elif message.type == "interactive" and _button_reply(message) is not None:
            await self._on_tap(address, context, _button_reply(message), message)
        elif message.type == "button" and message.button is not None:
            # A template's quick-reply button: ours carry a decision, others read as text.
            if parse_button_id(message.button.payload) is not None:
                await self._on_tap(address, context, message.button.payload, message)
            else:
                await self._on_text(address, context, message.button.text, None, None)
        elif message.type in SILENT_TYPES:
            self._count("ignored")
        else:
            await deliver(
                database=self.database,
                channel=self.channel,
                org_id=None,
                address=address,
                reply=Reply(text=CANNOT_READ),
            )

    async def _source_allowed(self, number: str) -> bool:
        try:
            await self.limiter.check(WEBHOOK_PER_SOURCE, CHANNEL, number)
        except TooManyRequests:
            self._count("rate_limited")
            return False
        return True

    async def _identify(self, number: str) -> TurnContext | None:
        return await self.chat_bot.identify(
            channel=CHANNEL, workspace=WORKSPACE, external_user_id=number, conversation_id=number
        )

    async def _note_inbound(self, org_id: uuid.UUID, number: str, timestamp: str | None) -> None:
        now = self.now()
        async with self.database.tenant(org_id) as session:
            await identity.note_inbound(
                session=session,
                org_id=org_id,
                channel=CHANNEL,
                workspace=WORKSPACE,
                external_user_id=number,
                at=sent_at(timestamp, now),
            )

    async def _on_text(
        self,
        address: ChannelAddress,
        context: TurnContext | None,
        text: str,
        display_name: str | None,
        timestamp: str | None,
    ) -> None:
        number = address.conversation_id
        if context is None:
            reply = await self.chat_bot.handle_unlinked(
                channel=CHANNEL,
                workspace=WORKSPACE,
                external_user_id=number,
                text=text,
                display_name=display_name,
            )
            # `link CODE` may have linked the number just now: then this message opened the
            # window. (The linking help itself means nobody was linked: no second lookup.)
            linked = None if reply.text == LINK_HELP else await self._identify(number)
            if linked is not None:
                await self._note_inbound(linked.org_id, number, timestamp)
            await deliver(
                database=self.database,
                channel=self.channel,
                org_id=None,
                address=address,
                reply=reply,
            )
            return
        reply = await self.chat_bot.handle_text(context, text)
        await deliver(
            database=self.database,
            channel=self.channel,
            org_id=context.org_id,
            address=address,
            reply=reply,
        )
        card = reply.card
        if card is not None and card.status != "pending" and not reply.is_error:
            # `approve CODE` typed (the answer to a template): every copy shows the outcome.
            await refresh_copies(
                database=self.database,
                channels=self.channels,
                org_id=context.org_id,
                action_id=uuid.UUID(card.action_id),
            )

    async def _on_tap(
        self,
        address: ChannelAddress,
        context: TurnContext | None,
        button_id: str | None,
        message: InboundMessage,
    ) -> None:
        parsed = parse_button_id(button_id)
        card_message_id = _tapped_message(message.context)
        if parsed is None or card_message_id is None:
            self._count("ignored")  # not a button we sent
            return
        if context is None:
            await deliver(
                database=self.database,
                channel=self.channel,
                org_id=None,
                address=address,
                reply=Reply(text=LINK_FIRST, is_error=True),
            )
            return
        code, approve = parsed
        reply = await decide_on_card(
            database=self.database,
            chat_bot=self.chat_bot,
            context=context,
            address=address,
            message_id=card_message_id,
            code=code,
            approve=approve,
        )
        redrawn = 0
        if reply.card is not None and not reply.is_error:
            redrawn = await refresh_copies(
                database=self.database,
                channels=self.channels,
                org_id=context.org_id,
                action_id=uuid.UUID(reply.card.action_id),
            )
        if redrawn == 0:
            # Refused, or nothing to redraw (e.g. a second approval still due): say so in words.
            answer = Reply(text=reply.text, is_error=reply.is_error)
            await deliver(
                database=self.database,
                channel=self.channel,
                org_id=context.org_id,
                address=address,
                reply=answer,
            )

    async def on_status(self, status: Status) -> None:
        if status.status not in CALLBACK_STATUSES:
            self._count("ignored")
            return
        number = _number_or_none(status.recipient_id)
        org_id = await self._org_of(status.id, number)
        if org_id is None:
            self._count("ignored")  # a message to someone nobody linked: not tracked
            return
        error = status.errors[0] if status.errors else None
        async with self.database.tenant(org_id) as session:
            await deliveries.record_status(
                session=session,
                org_id=org_id,
                channel=CHANNEL,
                conversation_id=number or "",
                message_id=status.id,
                status=status.status,
                error_code=error.code if error else None,
                error_title=error.title if error else None,
            )
        if status.status == deliveries.FAILED:
            code = error.code if error else None
            log.warning("whatsapp message %s was not delivered: code %s", status.id, code)

    async def _org_of(self, message_id: str, number: str | None) -> uuid.UUID | None:
        """The org that sent the message; by the recipient's identity when the callback beat
        the send path's own record."""
        async with self.database.system() as session:
            org_id = await deliveries.org_of_message(
                session=session, channel=CHANNEL, message_id=message_id
            )
            if org_id is not None or number is None:
                return org_id
            contact = await identity.known_contact(
                session=session, channel=CHANNEL, workspace=WORKSPACE, external_user_id=number
            )
        return contact.org_id if contact is not None else None


def _tapped_message(context: Context | None) -> str | None:
    return context.id if context is not None and context.id else None


def _number_or_none(raw: str | None) -> str | None:
    try:
        return to_e164(raw, assume_plus=True) if raw else None
    except InvalidPhoneNumber:
        return None


def _button_reply(message: InboundMessage) -> str | None:
    reply = message.interactive.button_reply if message.interactive is not None else None
    return reply.id if reply is not None else None
