"""SignalMessenger: Signal's channel, receiver and inbox built once, started by the app's lifespan.

Signal has no webhook route: the HTTP app starts the receive socket on start-up and stops it on
shutdown, and `/readyz` reports whether it is connected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import httpx

from bot.engine import Bot as ChatBot
from channels.base import ChatChannel
from channels.outbound import OutboundLimiter
from channels.signal_messenger.channel import SignalChannel
from channels.signal_messenger.inbox import SignalInbox
from channels.signal_messenger.receiver import Backoff, SignalReceiver, receive_url
from core.config import Settings
from core.db import Database
from web_min.observability import AppMetrics
from web_min.rate_limit import RateLimiter

log = logging.getLogger(__name__)


class SignalMessenger:
    def __init__(
        self,
        *,
        settings: Settings,
        database: Database,
        chat_bot: ChatBot,
        limiter: RateLimiter,
        metrics: AppMetrics,
        channels: Mapping[str, ChatChannel],
        backoff: Backoff | None = None,
        outbound: OutboundLimiter | None = None,
    ) -> None:
        assert settings.signal_api_url is not None
        assert settings.signal_number is not None
        self.http = httpx.AsyncClient(
            base_url=settings.signal_api_url,
            timeout=httpx.Timeout(settings.http_timeout_seconds, connect=10.0),
        )
        self.channel = SignalChannel(
            http=self.http,
            number=settings.signal_number,
            limiter=outbound or OutboundLimiter(settings.redis_url),
            metrics=metrics,
        )
        self.inbox = SignalInbox(
            database=database,
            chat_bot=chat_bot,
            channel=self.channel,
            channels=channels,
            limiter=limiter,
            metrics=metrics,
            own_number=settings.signal_number,
        )
        self.receiver = SignalReceiver(
            url=receive_url(settings.signal_api_url, settings.signal_number),
            on_frame=self.inbox.on_frame,
            metrics=metrics,
            backoff=backoff,
        )

    @property
    def connected(self) -> bool:
        return self.receiver.connected

    async def start(self) -> None:
        self.receiver.start()

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop reading, let the turns in flight finish (up to the grace), close the client."""
        await self.receiver.stop()
        try:
            await asyncio.wait_for(self.inbox.drain(), grace_seconds)
        except TimeoutError:
            log.warning("signal: shutting down with messages still being answered")
            self.inbox.abort()
        await self.http.aclose()
