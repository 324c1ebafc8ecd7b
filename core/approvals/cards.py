"""Where approval cards were shown: each message is recorded, so a decision updates every copy.

Channels call `record_shown` after they post a card; whoever decides the action (a person on
any channel, a rule, the expiry sweep) asks `copies_to_update` for the messages still showing
an older state, edits them, and calls `mark_shown`.
"""

from __future__ import annotations

import uuid

from sqlalchemy import case, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals.models import CardMessage, PendingAction
from core.errors import NotFound


async def record_shown(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    action_id: uuid.UUID,
    channel: str,
    workspace: str,
    conversation_id: str,
    message_id: str,
) -> CardMessage:
    """Remember one message that shows the card; the same message recorded twice is one row."""
    action = await session.scalar(
        select(PendingAction).where(PendingAction.id == action_id, PendingAction.org_id == org_id)
    )
    if action is None:
        raise NotFound("No such action in this organization.")
    where = (
        CardMessage.channel == channel,
        CardMessage.workspace == workspace,
        CardMessage.conversation_id == conversation_id,
        CardMessage.message_id == message_id,
    )
    existing = await session.scalar(select(CardMessage).where(*where))
    if existing is not None:
        return existing
    card = CardMessage(
        org_id=org_id,
        action_id=action_id,
        channel=channel,
        workspace=workspace,
        conversation_id=conversation_id,
        message_id=message_id,
        shown_status=str(action.status),
    )
    try:
        async with session.begin_nested():
            session.add(card)
    except IntegrityError:
        # Recorded by a concurrent delivery of the same message a moment ago.
        raced = await session.scalar(select(CardMessage).where(*where))
        if raced is None:
            raise
        return raced
    return card


async def find_shown(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    channel: str,
    workspace: str,
    conversation_id: str,
    message_id: str,
    threaded: bool = False,
) -> PendingAction | None:
    """The org's action whose card is that message; None for any other message.

    `threaded`: the platform's conversation ids may carry a thread after a colon (Slack's
    `C111:1699.0001`), so a card posted in a thread of `conversation_id` matches too.
    """
    same_conversation = CardMessage.conversation_id == conversation_id
    if threaded:
        in_thread = CardMessage.conversation_id.startswith(f"{conversation_id}:", autoescape=True)
        same_conversation = or_(same_conversation, in_thread)
    query = (
        select(PendingAction)
        .join(CardMessage, CardMessage.action_id == PendingAction.id)
        .where(
            CardMessage.org_id == org_id,
            PendingAction.org_id == org_id,
            CardMessage.channel == channel,
            CardMessage.workspace == workspace,
            same_conversation,
            CardMessage.message_id == message_id,
        )
    )
    return await session.scalar(query)


async def find_copy_by_code(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    short_code: str,
    channel: str,
    workspace: str,
    conversation_id: str,
) -> CardMessage | None:
    """A recorded message showing the org's card with this code; the one in the given
    conversation when there is one. None when the org never showed such a card anywhere.

    For channels without buttons (Signal), where a typed code stands in for the tap.
    """
    here = case(
        (
            (CardMessage.channel == channel)
            & (CardMessage.workspace == workspace)
            & (CardMessage.conversation_id == conversation_id),
            0,
        ),
        else_=1,
    )
    query = (
        select(CardMessage)
        .join(PendingAction, PendingAction.id == CardMessage.action_id)
        .where(
            CardMessage.org_id == org_id,
            PendingAction.org_id == org_id,
            PendingAction.short_code == short_code,
        )
        .order_by(here, CardMessage.created_at, CardMessage.id)
        .limit(1)
    )
    return await session.scalar(query)


async def copies_to_update(
    *, session: AsyncSession, org_id: uuid.UUID, action_id: uuid.UUID
) -> list[CardMessage]:
    """Every message of the action that still shows a status other than the action's now."""
    query = (
        select(CardMessage)
        .join(PendingAction, PendingAction.id == CardMessage.action_id)
        .where(
            CardMessage.org_id == org_id,
            CardMessage.action_id == action_id,
            PendingAction.org_id == org_id,
            CardMessage.shown_status != PendingAction.status,
        )
        .order_by(CardMessage.created_at, CardMessage.id)
    )
    return list(await session.scalars(query))


async def mark_shown(*, session: AsyncSession, card: CardMessage, status: str) -> None:
    """The message now shows `status` (after the channel edited it)."""
    card.shown_status = status
    await session.flush()
