"""The HTTP composition root: `create_app(settings)` builds the Database, the platform registry and
the Bot once, and mounts the routes and the edge middleware.

`adpilot serve` runs it with uvicorn (`web_min.app:app_factory`). Chat channels mount their
routes here as they arrive; with none configured the app serves health and metrics.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Protocol

import structlog
from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from adapters.file_stores import build_file_store
from adapters.registry import build_registry
from bot.engine import Bot
from channels.base import ChatChannel
from channels.catalog import channel_ready
from core.action_limits import ActionLimiter
from core.config import Settings, get_settings
from core.db import Database
from core.gc_tuning import freeze_startup_heap
from core.logging_setup import configure_logging
from web_min import (
    admin,
    auth_pages,
    billing,
    channels_page,
    connections,
    downloads,
    errors,
    health,
    rules_page,
    team,
)
from web_min.middleware import BodyLimitMiddleware, RequestContextMiddleware
from web_min.observability import AppMetrics
from web_min.pages import STATIC_DIR, FlashMiddleware
from web_min.rate_limit import RateLimiter
from worker.local_scheduler import LocalScheduler, claim_schedule

# Webhook payloads are small (Slack, Telegram, WhatsApp stay well under 100 KiB).
MAX_BODY_BYTES = 1024 * 1024
SHUTDOWN_GRACE_SECONDS = 20.0

log = logging.getLogger(__name__)


def configure_structlog() -> None:
    """Access lines as JSON through the stdlib root handlers, so the secret filter applies."""
    structlog.configure(
        processors=[
            structlog.stdlib.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    database = Database(settings)
    simulate = not settings.is_production
    registry = build_registry(settings, database, simulate_unconfigured=simulate)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for receiver in app.state.receivers.values():
            await receiver.start()
        outbox_clients = AsyncExitStack()
        scheduler, schedule_lock = None, None
        if settings.redis_url is None and settings.embedded_schedule:
            schedule_lock = claim_schedule(settings.database_url)
            if schedule_lock is None:
                log.warning("another AdPilot process runs this database's schedule; not here")
            else:
                scheduler = embedded_scheduler(app, outbox_clients)
                scheduler.start()
        # Start-up is over: what lives now lives as long as the process (see gc_tuning).
        freeze_startup_heap()
        yield
        if scheduler is not None:
            await scheduler.stop()
        if schedule_lock is not None:
            schedule_lock.release()
        await outbox_clients.aclose()
        for receiver in app.state.receivers.values():
            await receiver.stop()
        slack = getattr(app.state, "slack", None)
        if slack is not None:
            await slack.aclose()
        telegram = getattr(app.state, "telegram", None)
        if telegram is not None:
            await telegram.drain()
            # Bot.shutdown returns at once when the bot never started (no getMe yet).
            await telegram.application.bot.shutdown()
        whatsapp = getattr(app.state, "whatsapp", None)
        if whatsapp is not None:
            await whatsapp.aclose(SHUTDOWN_GRACE_SECONDS)  # acked notifications finish first
        await database.dispose()

    app = FastAPI(
        title="AdPilot",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.registry = registry
    app.state.file_store = build_file_store(settings)
    app.state.action_limiter = ActionLimiter.for_url(settings.redis_url)
    app.state.bot = Bot(
        database=database,
        registry=registry,
        settings=settings,
        file_store=app.state.file_store,
        limiter=app.state.action_limiter,
    )
    app.state.metrics = AppMetrics()
    app.state.limiter = RateLimiter(settings.redis_url)
    errors.install(app)
    app.include_router(health.router)
    app.include_router(downloads.build_router())
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(auth_pages.router)
    app.include_router(billing.router)
    app.include_router(connections.router)
    app.include_router(channels_page.router)
    app.include_router(rules_page.router)
    app.include_router(team.router)
    app.include_router(admin.router)
    mount_channels(app, settings)
    add_receivers(app, settings)
    # Outermost last: the request id and access line cover the body limit's refusals too.
    app.add_middleware(FlashMiddleware, settings=settings)
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=app.state.metrics,
        error_page=errors.server_error_page(),
    )
    return app


class ChannelWebhook(Protocol):
    """What a channel's inbound side gives the app: its ChatChannel and its routes."""

    @property
    def channel(self) -> ChatChannel: ...

    def router(self) -> APIRouter: ...


def webhook_builders() -> dict[str, Callable[..., ChannelWebhook]]:
    # Imported only for a configured channel: each pulls in its platform SDK.
    def telegram(**deps: Any) -> ChannelWebhook:
        from channels.telegram.webhook import TelegramWebhook

        return TelegramWebhook(**deps)

    def slack(**deps: Any) -> ChannelWebhook:
        from channels.slack.app import SlackWebhook

        return SlackWebhook(**deps)

    def whatsapp(**deps: Any) -> ChannelWebhook:
        from channels.whatsapp.webhook import WhatsAppWebhook

        return WhatsAppWebhook(**deps)

    return {"telegram": telegram, "slack": slack, "whatsapp": whatsapp}


def mount_channels(app: FastAPI, settings: Settings) -> None:
    """Each configured chat channel's routes; `app.state.channels` maps names to ChatChannels.

    A channel's webhook object also stays on `app.state.<name>` (shutdown closes Telegram's and
    drains WhatsApp's).
    """
    channels: dict[str, ChatChannel] = {}
    app.state.channels = channels
    for name, build in webhook_builders().items():
        if not channel_ready(settings, name):
            continue
        webhook = build(
            settings=settings,
            database=app.state.database,
            chat_bot=app.state.bot,
            limiter=app.state.limiter,
            metrics=app.state.metrics,
            channels=channels,
        )
        channels[name] = webhook.channel
        setattr(app.state, name, webhook)
        app.include_router(webhook.router())


class ChannelReceiver(Protocol):
    """A channel that holds a connection open to its platform instead of taking webhooks."""

    @property
    def channel(self) -> ChatChannel: ...

    @property
    def connected(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def add_receivers(app: FastAPI, settings: Settings) -> None:
    """Channels that receive over a connection of their own (Signal's websocket): built here,
    started and stopped by the lifespan, reported by /readyz (`app.state.receivers`)."""
    receivers: dict[str, ChannelReceiver] = {}
    app.state.receivers = receivers
    if channel_ready(settings, "signal"):
        from channels.signal_messenger.app import SignalMessenger

        messenger = SignalMessenger(
            settings=settings,
            database=app.state.database,
            chat_bot=app.state.bot,
            limiter=app.state.limiter,
            metrics=app.state.metrics,
            channels=app.state.channels,
        )
        receivers["signal"] = messenger
        app.state.channels["signal"] = messenger.channel
        app.state.signal = messenger


def embedded_scheduler(app: FastAPI, clients: AsyncExitStack) -> LocalScheduler:
    """Without Redis there is no arq worker: the worker's cron jobs run in this process, with
    the app's chat channels plus the outbox's post-only ones (email, Slack webhooks)."""
    from worker.chat_channels import notification_channels
    from worker.settings import WorkerSettings

    ctx: dict[str, Any] = {
        "settings": app.state.settings,
        "database": app.state.database,
        "registry": app.state.registry,
        "channels": {**app.state.channels, **notification_channels(app.state.settings, clients)},
    }
    return LocalScheduler(WorkerSettings.cron_jobs, ctx)


def app_factory() -> FastAPI:
    """What uvicorn calls in each worker process."""
    settings = get_settings()
    configure_logging(settings.log_level)
    configure_structlog()
    return create_app(settings)
