"""GET + POST /whatsapp/webhook: Meta's verification handshake, then signed notifications.

GET answers Meta's subscription check: `hub.mode=subscribe` and the verify token (compared in
constant time) get `hub.challenge` echoed back as text/plain; a wrong token is 403. POST checks
`X-Hub-Signature-256` (HMAC-SHA256 of the raw body under the app secret, constant time) before
anything is parsed, validates the notification's shape, records every message id and status
for de-duplication (Meta retries for days), acks at once, and handles the new items after the
response on a tracked task (`drain()` waits for them: shutdown, tests, the benchmark).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import ValidationError

from bot.engine import Bot as ChatBot
from channels.base import ChatChannel
from channels.outbound import OutboundLimiter
from channels.turns import ChatTurn, queued_turns
from channels.whatsapp.channel import CHANNEL, WhatsAppChannel
from channels.whatsapp.graph import GraphClient
from channels.whatsapp.inbound import InboundHandler, Work, from_turn, to_turn
from channels.whatsapp.payloads import MessagesValue, Notification
from core.config import Settings
from core.db import Database
from core.events.service import first_delivery
from web_min.observability import AppMetrics
from web_min.rate_limit import UNVERIFIED_PER_IP, RateLimiter

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Hub-Signature-256"
BUSINESS_ACCOUNT = "whatsapp_business_account"
# Meta's challenge is a number; anything else is not echoed (this is a reflection endpoint).
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{1,256}")


def signature(app_secret: bytes, body: bytes) -> str:
    """The header value Meta sends with `body`: `sha256=` and the hex HMAC."""
    return "sha256=" + hmac.new(app_secret, body, hashlib.sha256).hexdigest()


def bad_request(detail: str) -> JSONResponse:
    return JSONResponse({"error": "bad_request", "detail": detail}, status_code=400)


class WhatsAppWebhook:
    def __init__(
        self,
        *,
        settings: Settings,
        database: Database,
        chat_bot: ChatBot,
        limiter: RateLimiter,
        metrics: AppMetrics,
        channels: Mapping[str, ChatChannel],
    ) -> None:
        assert settings.whatsapp_app_secret is not None
        assert settings.whatsapp_verify_token is not None
        assert settings.whatsapp_access_token is not None
        assert settings.whatsapp_phone_number_id is not None
        self.app_secret = settings.whatsapp_app_secret.get_secret_value().encode()
        self.verify_token = settings.whatsapp_verify_token.get_secret_value().encode()
        self.phone_number_id = settings.whatsapp_phone_number_id
        self.limiter = limiter
        self.metrics = metrics
        self.database = database
        self.graph = GraphClient(
            base_url=settings.whatsapp_api_url,
            phone_number_id=self.phone_number_id,
            access_token=settings.whatsapp_access_token.get_secret_value(),
            timeout=settings.http_timeout_seconds,
            metrics=metrics,
        )
        self.channel = WhatsAppChannel(self.graph, database, OutboundLimiter(settings.redis_url))
        self.queue = queued_turns(settings)
        self.inbound = InboundHandler(
            database=database,
            chat_bot=chat_bot,
            channel=self.channel,
            channels=channels,
            limiter=limiter,
            metrics=metrics,
        )
        self._tasks: set[asyncio.Task[None]] = set()

    def router(self) -> APIRouter:
        router = APIRouter()
        router.add_api_route("/whatsapp/webhook", self.verify, methods=["GET"])
        router.add_api_route("/whatsapp/webhook", self.receive, methods=["POST"])
        return router

    def _count(self, outcome: str, amount: int = 1) -> None:
        self.metrics.webhook_events.labels(channel=CHANNEL, outcome=outcome).inc(amount)

    async def _unverified(self, request: Request, what: str) -> None:
        client = request.client.host if request.client else "unknown"
        self._count("forged")
        await self.limiter.check(UNVERIFIED_PER_IP, CHANNEL, client)  # 429 past the limit
        log.warning("whatsapp webhook with %s from %s", what, client)

    async def verify(self, request: Request) -> Response:
        """Meta's one-time subscription check (and again whenever the URL is edited)."""
        query = request.query_params
        mode, token = query.get("hub.mode"), query.get("hub.verify_token")
        challenge = query.get("hub.challenge")
        if mode is None or token is None or challenge is None:
            return bad_request("hub.mode, hub.verify_token and hub.challenge are required.")
        given = token.encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, self.verify_token) or mode != "subscribe":
            await self._unverified(request, "a wrong verify token")
            return JSONResponse(
                {"error": "forbidden", "detail": "The verify token does not match."},
                status_code=403,
            )
        if not _CHALLENGE.fullmatch(challenge):
            return bad_request("hub.challenge must be 1-256 letters, digits, _ or -.")
        return PlainTextResponse(challenge)

    async def receive(self, request: Request) -> JSONResponse:
        raw = await request.body()
        given = request.headers.get(SIGNATURE_HEADER, "").encode("latin-1")
        if not hmac.compare_digest(given, signature(self.app_secret, raw).encode()):
            await self._unverified(request, "a missing or wrong signature")
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        try:
            payload = json.loads(raw)
            notification = Notification.model_validate(payload)
            values = notification.messages_values()
        except (ValueError, ValidationError, RecursionError):  # JSON, UTF-8, depth, shape
            self._count("malformed")
            return bad_request(
                "A notification must be a JSON object with `object` and `entry`, shaped as the "
                "WhatsApp Cloud API sends it."
            )
        if notification.object != BUSINESS_ACCOUNT:
            self._count("ignored")
            return JSONResponse({"ok": True, "ignored": True})
        ours = [value for value in values if self._ours(value)]
        work = [Work(value, message=message) for value in ours for message in value.messages]
        work += [Work(value, status=status) for value in ours for status in value.statuses]
        fresh = await self._first_deliveries(work)
        if not work:
            self._count("ignored")  # e.g. a message to another number of the same app
            return JSONResponse({"ok": True, "ignored": True})
        if not fresh:
            return JSONResponse({"ok": True, "duplicate": True})
        self._count("accepted", len(fresh))
        if self.queue is not None:
            return await self._enqueue(fresh)
        # Acked now; the turns run on their own task so Meta's request is not held.
        task = asyncio.create_task(self.inbound.handle(fresh))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return JSONResponse({"ok": True})

    async def _enqueue(self, fresh: list[Work]) -> JSONResponse:
        """Each new message or status as its own job; acked only once all are queued."""
        assert self.queue is not None
        turns = [to_turn(item) for item in fresh]
        if not await self.queue.submit_all(turns, database=self.database):
            return JSONResponse({"error": "unavailable"}, status_code=503)  # Meta redelivers
        return JSONResponse({"ok": True})

    async def process_turn(self, turn: ChatTurn) -> None:
        """The worker's side of a queued message or status."""
        await self.inbound.handle([from_turn(turn)])

    def _ours(self, value: MessagesValue) -> bool:
        # One app can serve several numbers; a message to another number is not ours to answer.
        return value.metadata is None or value.metadata.phone_number_id == self.phone_number_id

    async def _first_deliveries(self, work: list[Work]) -> list[Work]:
        fresh: list[Work] = []
        async with self.database.system() as session:
            for item in work:
                if await first_delivery(session=session, channel=CHANNEL, event_id=item.event_id):
                    fresh.append(item)
        if len(fresh) < len(work):
            self._count("duplicate", len(work) - len(fresh))
        return fresh

    async def drain(self) -> None:
        """Wait for the notifications in flight (shutdown, and tests that look at the outcome)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def aclose(self, grace: float = 20.0) -> None:
        """Let acked notifications finish (up to `grace` seconds), then close the Graph client."""
        try:
            await asyncio.wait_for(self.drain(), grace)
        except TimeoutError:
            log.warning("whatsapp: %d notifications still in flight at shutdown", len(self._tasks))
            for task in self._tasks:
                task.cancel()
        if self.queue is not None:
            await self.queue.close()
        await self.graph.aclose()
