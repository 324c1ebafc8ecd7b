"""Run a tool in one org-scoped transaction and audit the call, including failed attempts."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.deps import BotDeps
from bot.replies import Reply
from bot.text_input import clean
from core.audit.service import record
from core.errors import CoreError
from core.users import service as users
from core.users.models import User

log = logging.getLogger(__name__)

Work = Callable[[AsyncSession, User], Awaitable[Reply]]


def _jsonable(arguments: dict[str, Any]) -> dict[str, Any]:
    return {key: _scrubbed(value) for key, value in arguments.items()}


def _scrubbed(value: Any) -> Any:
    # Cleaned again here, nested values too: the agent's arguments never passed the message
    # edge, and a NUL anywhere in jsonb would make PostgreSQL refuse the audit row itself.
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(str(key)): _scrubbed(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(item) for item in value]
    return value


async def call_tool(deps: BotDeps, tool: str, arguments: dict[str, Any], work: Work) -> Reply:
    """Run `work` in one org-scoped transaction and audit the call; failures are audited too."""
    try:
        async with deps.transaction() as session:
            user = await users.get(session=session, org_id=deps.org_id, user_id=deps.user_id)
            reply = await work(session, user)
            await _audit(session, deps, tool, arguments, outcome="ok")
            return reply
    except CoreError as exc:
        # The work rolled back with its transaction; the attempt is still worth a record.
        async with deps.transaction() as session:
            await _audit(session, deps, tool, arguments, outcome=exc.code)
        raise
    except Exception:
        # An unexpected failure is the attempt most worth a record: audit it, then re-raise.
        await _audit_failure(deps, tool, arguments)
        raise


async def _audit_failure(deps: BotDeps, tool: str, arguments: dict[str, Any]) -> None:
    try:
        async with deps.transaction() as session:
            await _audit(session, deps, tool, arguments, outcome="error")
    except Exception:
        # The original error matters more than its audit row; both reach the log.
        log.exception("could not audit the failed call of %s", tool)


# audit_logs.resource_id is String(64); a Signal group id (`group.` + 88 base64 characters) is
# longer, and PostgreSQL refuses the row (and with it the turn) rather than cutting it.
_RESOURCE_ID_CHARS = 64


async def _audit(
    session: AsyncSession, deps: BotDeps, tool: str, arguments: dict[str, Any], *, outcome: str
) -> None:
    await record(
        session=session,
        actor=deps.actor,
        action=f"bot.tool.{tool}",
        resource_type="bot_tool",
        resource_id=deps.conversation_id[:_RESOURCE_ID_CHARS] or None,
        after={"arguments": _jsonable(arguments), "outcome": outcome},
    )


async def audited(
    deps: BotDeps, tool: str, arguments: dict[str, Any], work: Callable[[], Awaitable[Reply]]
) -> Reply:
    """Audit a tool that must not hold a transaction open while it works (slow model calls)."""
    try:
        reply = await work()
    except CoreError as exc:
        async with deps.transaction() as session:
            await _audit(session, deps, tool, arguments, outcome=exc.code)
        raise
    async with deps.transaction() as session:
        await _audit(session, deps, tool, arguments, outcome="error" if reply.is_error else "ok")
    return reply
