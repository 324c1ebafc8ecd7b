"""SignalChannel: the ChatChannel for Signal, over signal-cli-rest-api's `POST /v2/send` (httpx).

An address's conversation id is a person (E.164 number, or the account's UUID when Signal did
not share the number) or a group (`group.<base64(internal id)>`, as the API names it). The
message id is the send's timestamp, which is what a quote of the message needs.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

import httpx
from limits import parse

from bot.replies import ApprovalCard, Reply
from channels.base import ChannelAddress, PostedMessage
from channels.outbound import OutboundLimiter, Window
from channels.signal_messenger.errors import (
    SignalError,
    SignalUnavailable,
    error_for,
    transport_error,
)
from channels.signal_messenger.render import (
    card_text,
    chart_attachment,
    decision_text,
    reply_texts,
)
from web_min.observability import AppMetrics

log = logging.getLogger(__name__)
CHANNEL = "signal"
# Signal publishes no sending limits; it throttles bursts from one account with 413/429 and a
# captcha. Ten messages at once (a reply, its chart and its card fit), then one a second.
PER_ACCOUNT = parse("10 per 10 seconds")
# A wait Signal asks for up to this long is slept here; a longer one goes back to the caller.
MAX_INLINE_WAIT_SECONDS = 10.0


def _timestamp(response: httpx.Response) -> str:
    """The sent message's timestamp: `{"timestamp": "…"}`, or (newer API releases) a list of
    those, one per kind of recipient."""
    try:
        body: Any = json.loads(response.content)
    except ValueError:
        body = None
    first = body[0] if isinstance(body, list) and body else body
    stamp = first.get("timestamp") if isinstance(first, dict) else None
    if isinstance(stamp, int | str) and str(stamp).isdigit():
        errors = (first.get("errors") or {}).get("recipients") or []
        if errors:
            # Sent, but not to everyone (a group member who left Signal, a changed safety
            # number): the reasons only, never who.
            reasons = sorted({str(error.get("reason", "?")) for error in errors})
            log.warning("signal message not delivered to %d recipient(s): %s", len(errors), reasons)
        return str(stamp)
    raise SignalUnavailable("signal-cli-rest-api answered the send without a timestamp")


class SignalChannel:
    name = CHANNEL

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        number: str,
        limiter: OutboundLimiter | None = None,
        metrics: AppMetrics | None = None,
    ) -> None:
        self.http = http
        self.number = number
        self.limiter = limiter
        self.metrics = metrics

    def windows(self) -> list[Window]:
        # One bot account per deployment, so the key needs no number in it.
        return [(PER_ACCOUNT, (CHANNEL, "account"))]

    def _count(self, status: str) -> None:
        if self.metrics is not None:
            self.metrics.outbound_calls.labels(channel=CHANNEL, status=status).inc()

    async def _send_once(self, payload: dict[str, Any]) -> str:
        if self.limiter is not None:
            await self.limiter.acquire(self.windows())
        try:
            response = await self.http.post("/v2/send", json=payload)
        except httpx.TransportError as exc:
            raise transport_error(exc) from exc
        if not response.is_success:
            raise error_for(response)
        return _timestamp(response)

    async def send(
        self,
        recipient: str,
        message: str,
        *,
        attachments: Sequence[str] = (),
        quote: str | None = None,
    ) -> str:
        """One message; its timestamp. A short wait Signal asks for is slept and tried once more.

        Only refusals are retried: a timeout may have sent the message already.
        """
        payload: dict[str, Any] = {
            "number": self.number,
            "recipients": [recipient],
            "message": message,
            "text_mode": "normal",
        }
        if attachments:
            payload["base64_attachments"] = list(attachments)
        if quote is not None and quote.isdigit():
            payload["quote_timestamp"] = int(quote)
            payload["quote_author"] = self.number
        for attempt in (1, 2):
            try:
                stamp = await self._send_once(payload)
            except SignalError as exc:
                self._count(exc.status)
                wait = exc.retry_after
                if attempt == 2 or wait is None or wait > MAX_INLINE_WAIT_SECONDS:
                    raise
                await asyncio.sleep(wait)
                continue
            self._count("ok")
            return stamp
        raise AssertionError("unreachable")  # pragma: no cover

    async def post(self, address: ChannelAddress, reply: Reply) -> list[PostedMessage]:
        recipient = address.conversation_id
        posted = [PostedMessage(await self.send(recipient, chunk)) for chunk in reply_texts(reply)]
        if reply.chart is not None:
            data, caption = chart_attachment(reply.chart)
            posted.append(PostedMessage(await self.send(recipient, caption, attachments=[data])))
        if reply.card is not None:
            stamp = await self.send(recipient, card_text(reply.card))
            posted.append(PostedMessage(stamp, shows_card=True))
        return posted

    async def edit_card(self, address: ChannelAddress, message_id: str, card: ApprovalCard) -> None:
        """Signal cannot usefully redraw a message: a follow-up line quotes the card instead."""
        await self.send(address.conversation_id, decision_text(card), quote=message_id)
