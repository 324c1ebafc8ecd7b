"""arq's WorkerSettings for `adpilot worker`: the job functions and their shared resources.

The worker builds its own Database, platform registry and Bot at start-up (the same
composition as the web app), and one turn handler per configured chat channel.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import AsyncExitStack
from datetime import UTC
from typing import Any

from arq import cron, func
from arq.connections import RedisSettings

from adapters.file_stores import build_file_store
from adapters.registry import build_registry, shared_http_client
from bot.engine import Bot
from channels.base import ChatChannel
from channels.catalog import channel_ready
from channels.turns import JOB_NAME, JOB_TIMEOUT_SECONDS, TurnHandler, dump_job, load_job
from core.action_limits import ActionLimiter
from core.config import Settings, get_settings
from core.db import Database
from worker.approvals import expire_approvals
from worker.chat_channels import outbound_channels
from worker.chat_turns import MAX_TRIES, chat_turn
from worker.daily_summaries import send_daily_summaries
from worker.housekeeping import (
    expire_dead_letters,
    prune_delivery_ids,
    prune_sign_in_rows,
    prune_stripe_event_ids,
)
from worker.metrics_sync import JOB_NAME as SYNC_JOB_NAME
from worker.metrics_sync import JOB_TIMEOUT_SECONDS as SYNC_JOB_TIMEOUT
from worker.metrics_sync import MAX_TRIES as SYNC_MAX_TRIES
from worker.metrics_sync import enqueue_syncs, sync_account_job
from worker.notifications import JOB_NAME as NOTIFY_JOB
from worker.notifications import deliver_notifications, sweep_notifications
from worker.rules import evaluate_rules
from worker.token_refresh import refresh_expiring_tokens

log = logging.getLogger(__name__)

HEALTH_CHECK_KEY = "adpilot:worker:health-check"


class _NoJobArguments(logging.Filter):
    """arq logs each job's arguments (a chat message's text) as it starts; keep the job's name
    and timing, drop the arguments. The result line is kept: our jobs return outcomes only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("%6.2fs → ") and record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.msg = "%6.2fs → %s"
            record.args = args[:2]
        return True


def quiet_job_arguments() -> None:
    """Called by `adpilot worker`: message bodies never reach a log line."""
    worker_log = logging.getLogger("arq.worker")
    if not any(isinstance(f, _NoJobArguments) for f in worker_log.filters):
        worker_log.addFilter(_NoJobArguments())


def turn_handlers(
    settings: Settings,
    database: Database,
    chat_bot: Bot,
    channels: Mapping[str, ChatChannel],
) -> dict[str, TurnHandler]:
    """The channels whose turns this worker can run (imported only when configured)."""
    handlers: dict[str, TurnHandler] = {}
    if channel_ready(settings, "slack"):
        from channels.slack.conversation import build_conversation

        handlers["slack"] = build_conversation(settings, database, chat_bot).run
    from web_min.app import webhook_builders
    from web_min.observability import AppMetrics
    from web_min.rate_limit import RateLimiter

    inline = settings.model_copy(update={"chat_turns": "inline"})
    for name in ("telegram", "whatsapp"):
        if channel_ready(settings, name):
            # The same object the web mounts, used only for its turn processing here.
            webhook = webhook_builders()[name](
                settings=inline,
                database=database,
                chat_bot=chat_bot,
                limiter=RateLimiter(settings.redis_url),
                metrics=AppMetrics(),
                channels=channels,
            )
            handlers[name] = webhook.process_turn  # type: ignore[attr-defined]
    return handlers


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx.get("settings") or get_settings()
    database = Database(settings)
    stack = AsyncExitStack()
    ctx["exit_stack"] = stack
    # One HTTP client for every platform call the jobs make (worker/metrics_sync.py).
    platform_http = await stack.enter_async_context(shared_http_client(settings))
    registry = build_registry(
        settings,
        database,
        simulate_unconfigured=not settings.is_production,
        http_client=platform_http,
    )
    ctx["settings"] = settings
    ctx["database"] = database
    ctx["registry"] = registry
    ctx["channels"] = await outbound_channels(settings, database, stack)
    ctx["turn_handlers"] = turn_handlers(
        settings,
        database,
        Bot(
            database=database,
            registry=registry,
            settings=settings,
            file_store=build_file_store(settings),
            limiter=ActionLimiter.for_url(settings.redis_url),
        ),
        ctx["channels"],
    )
    log.info("worker ready; chat turns for: %s", ", ".join(ctx["turn_handlers"]) or "none")


async def shutdown(ctx: dict[str, Any]) -> None:
    stack: AsyncExitStack | None = ctx.get("exit_stack")
    if stack is not None:
        await stack.aclose()
    database: Database | None = ctx.get("database")
    if database is not None:
        await database.dispose()


class WorkerSettings:
    functions = (
        func(chat_turn, name=JOB_NAME, timeout=JOB_TIMEOUT_SECONDS, max_tries=MAX_TRIES),
        func(
            sync_account_job, name=SYNC_JOB_NAME, timeout=SYNC_JOB_TIMEOUT, max_tries=SYNC_MAX_TRIES
        ),
        func(deliver_notifications, name=NOTIFY_JOB, timeout=900, max_tries=1),
        func(sweep_notifications, timeout=120, max_tries=1),
    )
    # Unique: with several workers, each minute's sweep runs once (arq keys it by its time).
    cron_jobs = (
        cron(expire_approvals, second=0, unique=True, timeout=120),
        cron(prune_delivery_ids, hour=2, minute=0, second=0, unique=True, timeout=600),
        cron(evaluate_rules, minute=set(range(0, 60, 5)), second=30, unique=True, timeout=240),
        # Daily summaries: every 15 min, each org's when its own local 06:00 has come.
        cron(send_daily_summaries, minute={0, 15, 30, 45}, second=0, unique=True, timeout=600),
        cron(expire_dead_letters, hour=2, minute=0, second=0, unique=True, timeout=600),
        cron(prune_sign_in_rows, hour=2, minute=30, second=0, unique=True, timeout=600),
        cron(prune_stripe_event_ids, hour=2, minute=15, second=0, unique=True, timeout=600),
        # Metrics sync fan-out (one job per account) and tokens renewed ahead of expiry.
        cron(enqueue_syncs, minute={0, 15, 30, 45}, second=0, unique=True, timeout=300),
        cron(refresh_expiring_tokens, minute=set(range(0, 60, 5)), second=30, unique=True),
        # The outbox: delivered every 5 s; rows stuck in flight re-queued every minute.
        cron(deliver_notifications, second=set(range(0, 60, 5)), unique=True, timeout=900),
        cron(sweep_notifications, second=30, unique=True, timeout=120),
    )
    # Cron times are UTC whatever the host's zone; per-org local times are the jobs' own work.
    timezone = UTC
    on_startup = startup
    on_shutdown = shutdown
    job_serializer = staticmethod(dump_job)
    job_deserializer = staticmethod(load_job)
    # A re-enqueued message id is refused while its result is kept: one answer per message.
    keep_result = 3600
    # Jobs mostly wait on platforms and chat APIs; each platform's own limit bounds the sync
    # load (worker/platform_slots.py), so a sync burst does not need its own cap here.
    max_jobs = 50
    # Chat replies wait on this; 0.1 s keeps them prompt without a busy loop.
    poll_delay = 0.1
    health_check_key = HEALTH_CHECK_KEY
    health_check_interval = 30
    # SIGTERM (a deploy) lets running jobs finish for this long before cancelling them.
    job_completion_wait = 20


def redis_settings(settings: Settings) -> RedisSettings:
    if not settings.redis_url:
        raise RuntimeError("the worker needs ADPILOT_REDIS_URL")
    return RedisSettings.from_dsn(settings.redis_url)
