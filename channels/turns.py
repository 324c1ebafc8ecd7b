"""Chat turns after the ack: run in this process, or queued on Redis for `adpilot worker`.

A webhook only verifies, records and acks; the turn (who is speaking, the bot's reply, the
delivery) is a `ChatTurn` handed to a `TurnRunner`. `InlineTurns` runs it on a tracked task in
the web process (the embedded default, and fine for one small team). `QueuedTurns` enqueues it
as the arq job `chat_turn` (worker/chat_turns.py runs it), so a burst of messages never queues
the acks behind the bot's work, and the web and the worker scale apart.

The job id is the platform's own id of the message (Slack's trigger_id or event_id), so a
message enqueued twice is one job: arq refuses a second job with a live id.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings

from core.config import Settings
from core.db import Database
from core.events.service import forget_delivery

log = logging.getLogger(__name__)


def dump_job(job: dict[str, Any]) -> bytes:
    """Jobs cross Redis as JSON, never arq's default pickle: whoever can write to Redis must
    not be able to run code in the worker (worker/settings.py reads them the same way)."""
    return json.dumps(job, separators=(",", ":"), default=str).encode()


def load_job(raw: bytes) -> dict[str, Any]:
    loaded = json.loads(raw)
    if not isinstance(loaded, dict):
        raise ValueError("a job must be a JSON object")
    return loaded


JOB_NAME = "chat_turn"
# Long enough for a retried platform call and an LLM turn; short enough to free a stuck slot.
JOB_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class ChatTurn:
    """One inbound message's work, as plain strings (it crosses Redis as an arq job)."""

    channel: str
    kind: str
    key: str
    fields: dict[str, str] = field(default_factory=dict)

    def to_job(self) -> dict[str, Any]:
        return {"channel": self.channel, "kind": self.kind, "key": self.key, "fields": self.fields}

    @classmethod
    def from_job(cls, job: dict[str, Any]) -> ChatTurn:
        fields = job.get("fields") or {}
        return cls(
            channel=str(job["channel"]),
            kind=str(job["kind"]),
            key=str(job["key"]),
            fields={str(name): str(value) for name, value in fields.items()},
        )

    @property
    def job_id(self) -> str:
        return f"{JOB_NAME}:{self.channel}:{self.key}"


TurnHandler = Callable[[ChatTurn], Awaitable[None]]


class TurnRunner(Protocol):
    async def submit(self, turn: ChatTurn) -> None: ...

    async def drain(self) -> None:
        """Wait for turns this process still runs (shutdown, tests)."""
        ...


class InlineTurns:
    """Runs each turn on a task of this process; a failure is logged, never raised to Slack."""

    def __init__(self, handler: TurnHandler) -> None:
        self.handler = handler
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, turn: ChatTurn) -> None:
        task = asyncio.create_task(self._run(turn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, turn: ChatTurn) -> None:
        try:
            await self.handler(turn)
        except Exception:
            log.exception("chat turn failed", extra={"channel": turn.channel, "kind": turn.kind})

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def queued_turns(settings: Settings) -> QueuedTurns | None:
    """The queue when ADPILOT_CHAT_TURNS=queue (the settings refuse it without Redis)."""
    if settings.chat_turns == "queue" and settings.redis_url:
        return QueuedTurns(settings.redis_url)
    return None


class QueuedTurns:
    """Enqueues each turn as an arq job on Redis; `adpilot worker` runs them."""

    def __init__(self, redis_url: str) -> None:
        # Fail within the ack's budget (Slack waits 3 s), not after arq's default 5 retries.
        self.redis_settings = RedisSettings.from_dsn(redis_url)
        self.redis_settings.conn_retries = 0
        self.redis_settings.conn_timeout = 1
        self._pool: ArqRedis | None = None
        self._lock = asyncio.Lock()

    async def _redis(self) -> ArqRedis:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    self._pool = await create_pool(
                        self.redis_settings, job_serializer=dump_job, job_deserializer=load_job
                    )
        return self._pool

    async def submit_all(self, turns: list[ChatTurn], *, database: Database) -> bool:
        """Queue every turn, or none for good: on a failure the turns' delivery ids (their
        keys) are forgotten, so the platform's redelivery of what we did not ack is taken."""
        try:
            for turn in turns:
                await self.submit(turn)
        except Exception:
            log.exception("chat turns could not be queued", extra={"count": len(turns)})
            async with database.system() as session:
                for turn in turns:
                    await forget_delivery(session=session, channel=turn.channel, event_id=turn.key)
            return False
        return True

    async def submit(self, turn: ChatTurn) -> None:
        redis = await self._redis()
        job = await redis.enqueue_job(JOB_NAME, turn.to_job(), _job_id=turn.job_id)
        if job is None:
            log.info("chat turn already queued", extra={"channel": turn.channel})

    async def drain(self) -> None:
        """Nothing runs here; the queue outlives this process."""

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None
