"""The two Graph API calls WhatsApp needs, on httpx: send a message, upload a media file.

Every call is counted (`adpilot_outbound_calls_total{channel="whatsapp",status}`), has the
settings' timeout, and maps refusals to typed errors. Retried here only when the message
surely did not go: a rate-limit refusal (waited out when Graph's wait is short) or a connection
that never opened. A timeout or a 5xx after the request was sent is not retried, since Graph may
have sent the message already; it goes back to the caller as GraphUnavailable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from channels.whatsapp.errors import GraphUnavailable, RateLimited, WhatsAppError, from_response
from web_min.observability import AppMetrics

CHANNEL = "whatsapp"
Sleep = Callable[[float], Awaitable[None]]
# Connection failures before anything was sent: safe to try again after a short pause.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_CONNECT_BACKOFF = 0.5


class GraphClient:
    def __init__(
        self,
        *,
        base_url: str,
        phone_number_id: str,
        access_token: str,
        timeout: float = 30.0,
        metrics: AppMetrics | None = None,
        max_attempts: int = 3,
        max_inline_wait: float = 10.0,
        sleep: Sleep = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.phone_number_id = phone_number_id
        self.metrics = metrics
        self.max_attempts = max_attempts
        self.max_inline_wait = max_inline_wait
        self.sleep = sleep
        self.http = httpx.AsyncClient(
            base_url=base_url if base_url.endswith("/") else base_url + "/",
            timeout=timeout,
            headers={"Authorization": f"Bearer {access_token}"},
            transport=transport,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def send_message(self, message: dict[str, Any]) -> str:
        """POST /{phone-number-id}/messages; the new message's id (wamid)."""
        payload = {"messaging_product": "whatsapp", **message}
        body = await self._call(
            lambda: self.http.post(f"{self.phone_number_id}/messages", json=payload)
        )
        messages = body.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            wamid = messages[0].get("id")
            if isinstance(wamid, str) and wamid:
                return wamid
        raise GraphUnavailable("WhatsApp accepted the message without giving its id")

    async def upload_media(self, content: bytes, *, mime_type: str, filename: str) -> str:
        """POST /{phone-number-id}/media (multipart); the media id an image message refers to."""
        body = await self._call(
            lambda: self.http.post(
                f"{self.phone_number_id}/media",
                data={"messaging_product": "whatsapp", "type": mime_type},
                files={"file": (filename, content, mime_type)},
            )
        )
        media_id = body.get("id")
        if isinstance(media_id, str) and media_id:
            return media_id
        raise GraphUnavailable("WhatsApp stored the media without giving its id")

    def _count(self, status: str) -> None:
        if self.metrics is not None:
            self.metrics.outbound_calls.labels(channel=CHANNEL, status=status).inc()

    async def _call(self, request: Callable[[], Awaitable[httpx.Response]]) -> dict[str, Any]:
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await self._once(request)
            except RateLimited as exc:
                wait = exc.retry_after if exc.retry_after is not None else 1.0
                if attempt == self.max_attempts or wait > self.max_inline_wait:
                    raise
            except _NotSent as exc:
                if attempt == self.max_attempts:
                    raise GraphUnavailable(f"WhatsApp unreachable: {exc.reason}") from exc
                wait = _CONNECT_BACKOFF * 2 ** (attempt - 1)
            await self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(self, request: Callable[[], Awaitable[httpx.Response]]) -> dict[str, Any]:
        try:
            response = await request()
        except _NOT_SENT as exc:
            self._count("network")
            raise _NotSent(type(exc).__name__) from exc
        except httpx.HTTPError as exc:
            self._count("network")
            raise GraphUnavailable(f"WhatsApp unreachable: {type(exc).__name__}") from exc
        self._count(str(response.status_code))
        if not response.is_success:
            raise from_response(response)
        try:
            body = response.json()
        except ValueError as exc:
            raise GraphUnavailable("WhatsApp answered with a body that is not JSON") from exc
        if not isinstance(body, dict):
            raise GraphUnavailable("WhatsApp answered with a body that is not an object")
        return body


class _NotSent(WhatsAppError):
    """The connection never opened, so the message did not go (internal: retried above)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"WhatsApp unreachable: {reason}")
        self.reason = reason
