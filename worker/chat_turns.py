"""The `chat_turn` job: a chat message's work, queued by a webhook after verification."""

from __future__ import annotations

import logging
from typing import Any

from arq import Retry

from channels.base import ChannelError, Failure
from channels.turns import ChatTurn, TurnHandler

log = logging.getLogger(__name__)

# Waits a channel may ask for that are worth retrying the whole turn after.
_RETRYABLE = {Failure.RATE_LIMITED, Failure.UNREACHABLE}
MAX_TRIES = 4


async def chat_turn(ctx: dict[str, Any], job: dict[str, Any]) -> str:
    turn = ChatTurn.from_job(job)
    handlers: dict[str, TurnHandler] = ctx["turn_handlers"]
    handler = handlers.get(turn.channel)
    if handler is None:
        # The web took a message for a channel this worker has no settings for.
        log.error("chat turn for %s dropped: channel not configured in the worker", turn.channel)
        return "dropped"
    try:
        await handler(turn)
    except ChannelError as exc:
        tries = int(ctx.get("job_try", 1))
        if exc.failure in _RETRYABLE and tries < MAX_TRIES:
            wait = exc.retry_after if exc.retry_after is not None else 2.0**tries
            raise Retry(defer=wait) from exc
        log.warning("chat turn for %s failed: %s", turn.channel, exc.failure.value)
        return f"failed: {exc.failure.value}"
    return "answered"
