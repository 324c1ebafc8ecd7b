"""Per-conversation agent history: pydantic-ai's message JSON in conversations.history, trimmed."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic_ai import ModelMessagesTypeAdapter
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    RetryPromptPart,
    ToolReturnPart,
    UserPromptPart,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.deps import BotDeps
from core.base import utcnow
from core.conversations.models import Conversation


async def _conversation(session: AsyncSession, deps: BotDeps) -> Conversation | None:
    return await session.scalar(
        select(Conversation).where(
            Conversation.org_id == deps.org_id,
            Conversation.channel == deps.channel,
            Conversation.workspace == deps.workspace,
            Conversation.external_id == deps.conversation_id,
        )
    )


async def load(*, session: AsyncSession, deps: BotDeps) -> list[ModelMessage]:
    """The stored history of this conversation; unreadable history starts afresh."""
    row = await _conversation(session, deps)
    if row is None or not row.history:
        return []
    try:
        return list(ModelMessagesTypeAdapter.validate_json(row.history))
    except ValueError:
        # A history written by an incompatible version is not worth failing a turn over.
        return []


def _starts_turn(message: ModelMessage) -> bool:
    """A request carrying the user's prompt and no tool results: a safe place to cut."""
    if not isinstance(message, ModelRequest):
        return False
    has_prompt = any(isinstance(part, UserPromptPart) for part in message.parts)
    has_returns = any(isinstance(part, ToolReturnPart | RetryPromptPart) for part in message.parts)
    return has_prompt and not has_returns


def trim(messages: Sequence[ModelMessage], keep: int) -> list[ModelMessage]:
    """At most `keep` newest messages, cut at a turn start so no tool call loses its return."""
    if len(messages) <= keep:
        return list(messages)
    first = len(messages) - keep
    for index in range(first, len(messages)):
        if _starts_turn(messages[index]):
            return list(messages[index:])
    return []


async def save(
    *, session: AsyncSession, deps: BotDeps, messages: Sequence[ModelMessage], keep: int
) -> None:
    """Store the trimmed history (creating the conversation row on first use)."""
    data = ModelMessagesTypeAdapter.dump_json(trim(messages, keep))
    row = await _conversation(session, deps)
    if row is None:
        row = Conversation(
            org_id=deps.org_id,
            channel=deps.channel,
            workspace=deps.workspace,
            external_id=deps.conversation_id,
        )
        session.add(row)
    row.history = data
    row.updated_at = utcnow()
    await session.flush()
