"""Email as an outbound ChatChannel: an address's conversation id is the mailbox."""

from __future__ import annotations

import hashlib

from bot.replies import ApprovalCard, Reply
from channels.base import ChannelAddress, PostedMessage
from channels.email.render import email_of
from channels.email.resend import ResendClient


class EmailChannel:
    name = "email"

    def __init__(self, client: ResendClient) -> None:
        self.client = client

    async def post(self, address: ChannelAddress, reply: Reply) -> list[PostedMessage]:
        # Without a caller's key, the content is the key: the same email twice within Resend's
        # 24 hours is one email.
        content = reply.model_dump_json(exclude={"chart"})  # a chart is not emailed
        digest = hashlib.sha256(f"{address.conversation_id}\n{content}".encode())
        return await self.post_once(address, reply, idempotency_key=f"reply/{digest.hexdigest()}")

    async def post_once(
        self, address: ChannelAddress, reply: Reply, *, idempotency_key: str
    ) -> list[PostedMessage]:
        """Post with the caller's idempotency key (the outbox passes the notification id)."""
        email = email_of(reply, to=address.conversation_id)
        email_id = await self.client.send(email, idempotency_key=idempotency_key)
        return [PostedMessage(email_id, shows_card=reply.card is not None)]

    async def edit_card(self, address: ChannelAddress, message_id: str, card: ApprovalCard) -> None:
        """A sent email cannot change; the decision is visible in chat and in the web app."""
