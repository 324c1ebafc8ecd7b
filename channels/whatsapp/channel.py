"""WhatsAppChannel: the ChatChannel for WhatsApp, free-form inside the 24-hour window, a
template outside it.

A conversation id is the person's number in E.164 (WhatsApp chats are one-to-one here), the
same string their linked identity is stored under. Before sending, the channel looks up when
that person last wrote: within 24 hours the reply goes as is (text, image, reply buttons);
otherwise, or when Graph answers 131047 because the window closed unnoticed, the whole reply goes
as the org's approved template. Every message sent to a linked person is recorded with its
wamid, so status callbacks can mark it delivered, read or failed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from limits import parse

from bot.replies import ApprovalCard, Reply
from channels.base import ChannelAddress, PostedMessage
from channels.outbound import OutboundLimiter, Window
from channels.whatsapp.errors import OutsideServiceWindow, TemplateRejected
from channels.whatsapp.graph import GraphClient
from channels.whatsapp.render import (
    card_message,
    decision_text,
    image_message,
    recipient,
    reply_texts,
    template_message,
    text_message,
)
from channels.whatsapp.templates import Template, template_for
from core.base import utcnow
from core.db import Database
from core.deliveries import service as deliveries
from core.errors import ValidationFailed
from core.orgs.models import Organization
from core.users import identity
from core.users.identity import KnownContact

CHANNEL = "whatsapp"
SERVICE_WINDOW = timedelta(hours=24)
# Meta's limits: 80 messages/s per business number by default; to one person about one per
# 6 s on average, bursts of up to 45 allowed (so 45 per 270 s). 131056 past these is retried.
PER_NUMBER = parse("80/second")
PER_RECIPIENT = parse("45 per 270 seconds")


class WhatsAppChannel:
    name = CHANNEL

    def __init__(
        self,
        graph: GraphClient,
        database: Database,
        limiter: OutboundLimiter | None = None,
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.graph = graph
        self.database = database
        self.limiter = limiter
        self.now = now

    def windows(self, to: str) -> list[Window]:
        # The pacing store keys name the person by a digest, not by their number.
        person = hashlib.sha256(to.encode()).hexdigest()[:24]
        return [
            (PER_NUMBER, (CHANNEL, "number", self.graph.phone_number_id)),
            (PER_RECIPIENT, (CHANNEL, "to", person)),
        ]

    def in_window(self, contact: KnownContact) -> bool:
        last = contact.last_inbound_at
        return last is not None and self.now() - last < SERVICE_WINDOW

    async def post(self, address: ChannelAddress, reply: Reply) -> list[PostedMessage]:
        contact = await self._contact(address)

        async def free_form() -> list[PostedMessage]:
            return await self._free_form(address, contact, reply)

        pending_card = reply.card is not None and reply.card.status == "pending"
        return await self._in_window_or_template(
            address, contact, free_form, reply.as_plain_text(), shows_card=pending_card
        )

    async def edit_card(self, address: ChannelAddress, message_id: str, card: ApprovalCard) -> None:
        """WhatsApp cannot edit a sent message: a short line quoting the card says the outcome."""
        contact = await self._contact(address)
        line = decision_text(card)
        quote = text_message(recipient(address.conversation_id), line, quoting=message_id)

        async def follow_up() -> list[PostedMessage]:
            return [PostedMessage(await self._send(address, contact, quote))]

        await self._in_window_or_template(address, contact, follow_up, line, shows_card=False)

    async def _in_window_or_template(
        self,
        address: ChannelAddress,
        contact: KnownContact | None,
        free_form: Callable[[], Awaitable[list[PostedMessage]]],
        text: str,
        *,
        shows_card: bool,
    ) -> list[PostedMessage]:
        # Someone nobody linked only ever hears from us right after writing: free-form.
        if contact is None or self.in_window(contact):
            try:
                return await free_form()
            except OutsideServiceWindow:
                # The window closed unnoticed (a missed message, clock skew): say it all again
                # as the template, even if a first part of a long reply went through.
                pass
        template = await self._template(contact)
        message = template_message(recipient(address.conversation_id), template, text)
        return [PostedMessage(await self._send(address, contact, message), shows_card=shows_card)]

    async def _free_form(
        self, address: ChannelAddress, contact: KnownContact | None, reply: Reply
    ) -> list[PostedMessage]:
        to = recipient(address.conversation_id)
        posted = [
            PostedMessage(await self._send(address, contact, text_message(to, chunk)))
            for chunk in reply_texts(reply)
        ]
        if reply.chart is not None:
            media_id = await self.graph.upload_media(
                reply.chart.png, mime_type="image/png", filename="chart.png"
            )
            image = image_message(to, media_id, reply.chart.alt_text)
            posted.append(PostedMessage(await self._send(address, contact, image)))
        if reply.card is not None:
            card = card_message(to, reply.card)
            wamid = await self._send(address, contact, card)
            posted.append(PostedMessage(wamid, shows_card=True))
        return posted

    async def _send(
        self, address: ChannelAddress, contact: KnownContact | None, message: dict[str, object]
    ) -> str:
        """One paced message; recorded for status callbacks when the person is linked."""
        if self.limiter is not None:
            await self.limiter.acquire(self.windows(recipient(address.conversation_id)))
        wamid = await self.graph.send_message(message)
        if contact is not None:
            async with self.database.tenant(contact.org_id) as session:
                await deliveries.record_status(
                    session=session,
                    org_id=contact.org_id,
                    channel=CHANNEL,
                    conversation_id=address.conversation_id,
                    message_id=wamid,
                    status=deliveries.ACCEPTED,
                )
        return wamid

    async def _contact(self, address: ChannelAddress) -> KnownContact | None:
        async with self.database.system() as session:
            return await identity.known_contact(
                session=session,
                channel=CHANNEL,
                workspace=address.workspace,
                external_user_id=address.conversation_id,
            )

    async def _template(self, contact: KnownContact | None) -> Template:
        org_settings = None
        if contact is not None:
            async with self.database.tenant(contact.org_id) as session:
                org = await session.get(Organization, contact.org_id)
                org_settings = org.settings if org is not None else None
        try:
            return template_for(org_settings)
        except ValidationFailed as exc:
            raise TemplateRejected(exc.message) from exc
