"""The HTTP edge as plain ASGI middleware: request ids, security headers, a body limit, and one
structured access-log line plus metrics per request.

Plain ASGI rather than BaseHTTPMiddleware: no extra task per request, and the body limit can
stop a streamed upload as it arrives instead of after it was buffered.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web_min.observability import AppMetrics

REQUEST_ID_HEADER = "x-request-id"
# Any token is a valid HTTP method on the wire: labels and log fields get a closed set.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A caller's id is kept only when it is short and plain (it goes into logs and headers).
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
# Unless a response brings its own (HTML pages allow their /static files and data: images):
# two CSP headers would both apply, and the stricter default would block the pages' images.
DEFAULT_CSP = (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'")
# HTML pages: scripts and styles only from our /static files. Stripe Checkout is reached by a
# form redirect, so form-action stays unrestricted.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'"
)
# Machine callers get JSON errors whatever their Accept header says.
JSON_PATH_PREFIXES = (
    "/healthz",
    "/readyz",
    "/metrics",
    "/api/",
    "/slack/events",
    "/telegram/",
    "/whatsapp/",
    "/stripe/",
)
access_log = structlog.stdlib.get_logger("adpilot.access")
log = logging.getLogger(__name__)


class BodyTooLarge(Exception):
    """The request body passed the limit while it was being read."""


async def send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class BodyLimitMiddleware:
    """413 for a body over `max_bytes`, by its Content-Length or while it streams in."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        received = 0
        exceeded = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # Frameworks turn a failed body read into their own 400: past the limit, whatever
            # the app answers becomes the 413.
            if not exceeded:
                await send(message)
            elif message["type"] == "http.response.start":
                await self._refuse(send)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        await send_json(
            send,
            413,
            {"error": "payload_too_large", "detail": f"The body limit is {self.max_bytes} bytes."},
        )


def wants_html(path: str, accept: str) -> bool:
    """Whether an error should be a page: a browser asked (Accept: text/html), off the API paths."""
    return "text/html" in accept and not path.startswith(JSON_PATH_PREFIXES)


class RequestContextMiddleware:
    """Request id in and out, security headers, one access-log line and the request metrics."""

    def __init__(
        self, app: ASGIApp, *, metrics: AppMetrics, error_page: bytes | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        # The 500 page for browsers (static: no user, no database behind it).
        self.error_page = error_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        status_sent = False
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            nonlocal status, status_sent
            if message["type"] == "http.response.start":
                status, status_sent = message["status"], True
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                headers.extend(SECURITY_HEADERS)
                if not any(name.lower() == DEFAULT_CSP[0] for name, _ in headers):
                    headers.append(DEFAULT_CSP)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Answered here rather than by Starlette's outermost error middleware, so the 500
            # carries the request id and the headers too; the trace goes to the (scrubbed) log.
            log.exception("unhandled error on %s", _route_template(scope))
            if status_sent:
                raise
            if self.error_page is not None and _wants_html_scope(scope):
                await send_html(send_with_headers, 500, self.error_page)
                return
            await send_json(
                send_with_headers,
                500,
                {
                    "error": "internal_error",
                    "detail": "Something went wrong on our side.",
                    "request_id": request_id,
                },
            )
        finally:
            seconds = time.perf_counter() - started
            route = _route_template(scope)
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
            self.metrics.observe_request(route=route, method=method, status=status, seconds=seconds)
            # Path template only: no query string, no body, no headers (they carry secrets).
            access_log.info(
                "request",
                request_id=request_id,
                method=method,
                route=route,
                status=status,
                duration_ms=round(seconds * 1000, 2),
            )


def _wants_html_scope(scope: Scope) -> bool:
    accept = dict(scope["headers"]).get(b"accept", b"").decode("latin-1")
    return wants_html(scope.get("path", ""), accept)


async def send_html(send: Send, status: int, page: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(page)).encode()),
                (b"content-security-policy", PAGE_CSP.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": page})


def _request_id(scope: Scope) -> str:
    given = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
    # A correlation id, not a secret: the non-cryptographic generator spares every request a
    # getrandom() call (uuid4 was 6 % of a page view's samples under load).
    return given if _SAFE_REQUEST_ID.fullmatch(given) else f"{random.getrandbits(128):032x}"


def _route_template(scope: Scope) -> str:
    # FastAPI's router leaves the matched route in the scope; an unmatched path is one label,
    # so scanners cannot blow up the metric's cardinality.
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
