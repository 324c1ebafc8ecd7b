"""Cards across channels: record where each card is posted, redraw every copy once decided.

A card asked for on Telegram and approved on Slack lives in two messages. Whoever decided it
(a button, `approve CODE`, a rule, the expiry sweep) calls `refresh_copies`, which edits each
message still showing an older state, on the channel it was posted to.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping

from bot.engine import Bot, TurnContext
from bot.replies import Reply, card_from_action, decision_line
from channels.base import ChannelAddress, ChannelError, ChatChannel, PostedMessage
from core.approvals import cards
from core.approvals.models import CardMessage, PendingAction
from core.db import Database
from core.users.models import User

log = logging.getLogger(__name__)


async def post_reply(
    *,
    database: Database,
    channel: ChatChannel,
    org_id: uuid.UUID,
    address: ChannelAddress,
    reply: Reply,
) -> list[PostedMessage]:
    """Post a reply; a card's message is recorded so a later decision can redraw it."""
    posted = await channel.post(address, reply)
    if reply.card is None:
        return posted
    action_id = uuid.UUID(reply.card.action_id)
    async with database.tenant(org_id) as session:
        for message in posted:
            if message.shows_card:
                await cards.record_shown(
                    session=session,
                    org_id=org_id,
                    action_id=action_id,
                    channel=address.channel,
                    workspace=address.workspace,
                    conversation_id=address.conversation_id,
                    message_id=message.message_id,
                )
    return posted


async def deliver(
    *,
    database: Database,
    channel: ChatChannel,
    org_id: uuid.UUID | None,
    address: ChannelAddress,
    reply: Reply,
) -> None:
    """Post a reply from a webhook's turn; a platform failure is logged, not raised.

    `org_id` None: the speaker is not linked (linking help), so there is no card to record.
    """
    try:
        if org_id is None:
            await channel.post(address, reply)
        else:
            await post_reply(
                database=database, channel=channel, org_id=org_id, address=address, reply=reply
            )
    except ChannelError as exc:
        # No conversation id: on WhatsApp and Signal it is the person's phone number.
        log.warning("%s reply failed: %s", channel.name, exc)


NOT_OUR_CARD = "This card is not one of your organization's."


async def decide_on_card(
    *,
    database: Database,
    chat_bot: Bot,
    context: TurnContext,
    address: ChannelAddress,
    message_id: str,
    code: str,
    approve: bool,
    threaded: bool = False,
) -> Reply:
    """A button tap: it decides the card it is on, so that message must be a recorded card of
    the tapper's org with this code (short codes are unique per org only)."""
    async with database.tenant(context.org_id) as session:
        shown = await cards.find_shown(
            session=session,
            org_id=context.org_id,
            channel=address.channel,
            workspace=address.workspace,
            conversation_id=address.conversation_id,
            message_id=message_id,
            threaded=threaded,
        )
    if shown is None or shown.short_code != code:
        return Reply(text=NOT_OUR_CARD, is_error=True)
    return await chat_bot.handle_decision(context, code, approve)


async def redraw_if_decided(
    *,
    database: Database,
    channels: Mapping[str, ChatChannel],
    org_id: uuid.UUID,
    reply: Reply,
) -> None:
    """After a decision: every copy of the card, on every channel, shows who decided it."""
    if reply.card is not None and not reply.is_error:
        await refresh_copies(
            database=database,
            channels=channels,
            org_id=org_id,
            action_id=uuid.UUID(reply.card.action_id),
        )


async def refresh_copies(
    *,
    database: Database,
    channels: Mapping[str, ChatChannel],
    org_id: uuid.UUID,
    action_id: uuid.UUID,
) -> int:
    """Redraw every message that still shows an older state of the action; edits made."""
    async with database.tenant(org_id) as session:
        action = await session.get(PendingAction, action_id)
        if action is None or action.org_id != org_id:
            return 0
        copies = await cards.copies_to_update(session=session, org_id=org_id, action_id=action_id)
        decider = await session.get(User, action.decided_by) if action.decided_by else None
        card = card_from_action(
            action, status_line=decision_line(action, decider=decider.email if decider else None)
        )
        status = str(action.status)
    edited = 0
    for copy in copies:
        channel = channels.get(copy.channel)
        if channel is None:
            continue  # not served by this process; the copy stays stale until one that does
        address = ChannelAddress(copy.channel, copy.workspace, copy.conversation_id)
        try:
            await channel.edit_card(address, copy.message_id, card)
        except ChannelError as exc:
            # One channel's failure (a deleted message, a revoked token) must not stop the rest.
            log.warning("could not redraw card %s on %s: %s", action.short_code, copy.channel, exc)
            continue
        async with database.tenant(org_id) as session:
            mine = await session.get(CardMessage, copy.id)
            if mine is not None:
                await cards.mark_shown(session=session, card=mine, status=status)
        edited += 1
    return edited
