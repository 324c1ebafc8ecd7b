"""A loopback stand-in for the slice of Stripe AdPilot uses, for tests that run a real server
and a real browser (respx cannot reach into another thread's event loop there).

It answers the stripe library's form-encoded calls with objects shaped like Stripe's
(Checkout Sessions, Customer Portal sessions, subscriptions), and serves the pages their `url`s
point to: a "hosted Checkout" and a "portal" page on the same loopback port. Every API request
is recorded, with its form fields, for assertions.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from tests.web_min import stripe_payloads as stripe_json


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    form: dict[str, str]
    authorization: str | None


@dataclass
class StripeStandIn:
    base_url: str
    requests: list[Recorded] = field(default_factory=list)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def calls(self, path: str) -> list[Recorded]:
        return [request for request in self.requests if request.path == path]


class StandInHandler(BaseHTTPRequestHandler):
    standin: StripeStandIn  # set on the subclass each server gets

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet test output

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Request-Id", "req_standin")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _record(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        form = dict(parse_qsl(raw, keep_blank_values=True))
        self.standin.requests.append(
            Recorded(self.command, self.path, form, self.headers.get("Authorization"))
        )
        return form

    def do_POST(self) -> None:
        form = self._record()
        if self.path == "/v1/checkout/sessions":
            session_id = stripe_json.stripe_id("cs")
            session = stripe_json.checkout_session(
                session_id=session_id,
                customer=form.get("customer"),
                subscription_id=None,
                client_reference_id=form.get("client_reference_id"),
                url=f"{self.standin.base_url}/c/pay/{session_id}",
                status="open",
            )
            session["success_url"] = form.get("success_url")
            session["cancel_url"] = form.get("cancel_url")
            session["line_items_price"] = form.get("line_items[0][price]")
            self.standin.sessions[session_id] = session
            self._json(200, session)
        elif self.path == "/v1/billing_portal/sessions":
            portal_id = stripe_json.stripe_id("bps")
            self._json(
                200,
                {
                    "id": portal_id,
                    "object": "billing_portal.session",
                    "configuration": "bpc_test_default",
                    "created": 1764500000,
                    "customer": form.get("customer"),
                    "livemode": False,
                    "locale": None,
                    "on_behalf_of": None,
                    "return_url": form.get("return_url"),
                    "url": f"{self.standin.base_url}/p/session/{portal_id}",
                },
            )
        else:
            self._missing()

    def do_GET(self) -> None:
        if self.path.startswith("/v1/subscriptions/"):
            self._record()
            found = self.standin.subscriptions.get(self.path.rsplit("/", 1)[-1])
            if found is None:
                self._missing()
            else:
                self._json(200, found)
        elif self.path.startswith("/c/pay/"):
            session = self.standin.sessions.get(self.path.rsplit("/", 1)[-1])
            self._page(session)
        elif self.path.startswith("/p/session/"):
            self._send(
                200, b"<!doctype html><title>Billing portal</title><h1>Portal</h1>", "text/html"
            )
        else:
            self._missing()

    def _page(self, session: dict[str, Any] | None) -> None:
        if session is None:
            self._send(404, b"<!doctype html><title>Not found</title>", "text/html")
            return
        price = escape(str(session.get("line_items_price")))
        reference = escape(str(session.get("client_reference_id")))
        body = (
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            "<title>Checkout (Stripe stand-in)</title></head><body>"
            "<h1>Stripe Checkout (local stand-in)</h1>"
            f"<p>Subscribe: <code id=price>{price}</code></p>"
            f"<p>For org <code id=reference>{reference}</code></p>"
            "</body></html>"
        )
        self._send(200, body.encode(), "text/html; charset=utf-8")

    def _missing(self) -> None:
        self._json(
            404,
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "message": f"No such resource: {self.path}",
                }
            },
        )


def _handler(standin: StripeStandIn) -> type[StandInHandler]:
    return type("Handler", (StandInHandler,), {"standin": standin})


@contextmanager
def running_standin() -> Iterator[StripeStandIn]:
    """The stand-in on a free 127.0.0.1 port, for the duration of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(StripeStandIn("")))
    host, port = server.server_address[:2]
    standin = StripeStandIn(base_url=f"http://{host!s}:{port}")
    server.RequestHandlerClass = _handler(standin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
