"""Billing: `POST /stripe/webhook`, and the billing settings page with Checkout and the portal.

The webhook checks `Stripe-Signature` on the raw body (5-minute tolerance) before anything is
parsed, skips event ids it has taken before, reads the subscription's current state from
Stripe, then claims the event id and applies it in one transaction (core.billing.subscriptions).
It answers 503 when Stripe's API fails or billing is not configured, so Stripe redelivers (for
up to three days); nothing is claimed then.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from core.billing import subscriptions as billing
from core.config import Settings
from core.db import Database
from web_min.rate_limit import UNVERIFIED_PER_IP
from web_min.stripe_gateway import (
    InvalidSignature,
    MalformedEvent,
    StripeGateway,
    StripeUnavailable,
    configured_prices,
    verify,
)

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "Stripe-Signature"

router = APIRouter()


def _json(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


@router.post("/stripe/webhook", include_in_schema=False)
async def stripe_webhook(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    if settings.stripe_webhook_secret is None or settings.stripe_secret_key is None:
        return _json(
            503,
            "billing_off",
            "Stripe billing is not configured here: set ADPILOT_STRIPE_WEBHOOK_SECRET and "
            "ADPILOT_STRIPE_SECRET_KEY.",
        )
    raw = await request.body()
    try:
        payload = verify(settings, raw, request.headers.get(SIGNATURE_HEADER))
    except InvalidSignature as exc:
        client = request.client.host if request.client else "unknown"
        await request.app.state.limiter.check(UNVERIFIED_PER_IP, "stripe", client)
        log.warning("stripe webhook with a bad signature from %s", client)
        return _json(400, "bad_signature", str(exc))
    except MalformedEvent as exc:
        return _json(400, "bad_request", str(exc))
    if payload.get("type") not in billing.HANDLED_TYPES:
        return JSONResponse({"ok": True, "ignored": True})
    database: Database = request.app.state.database
    async with database.system() as session:
        if await billing.already_taken(session=session, event_id=str(payload.get("id"))):
            return JSONResponse({"ok": True, "duplicate": True})
    gateway = StripeGateway(settings)
    try:
        event = await gateway.billing_event(payload)
    except MalformedEvent as exc:
        return _json(400, "bad_request", str(exc))
    except StripeUnavailable as exc:
        log.warning("stripe event %s not applied: %s", payload.get("id"), exc)
        return _json(503, "stripe_unavailable", "Stripe's API did not answer; retry later.")
    async with database.system() as session:
        outcome = await billing.handle_event(
            session=session, event=event, prices=configured_prices(settings)
        )
    log.info("stripe event %s (%s): %s", event.event_id, event.type, outcome.value)
    return JSONResponse({"ok": True, "outcome": outcome.value})
