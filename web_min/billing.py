"""Billing: `POST /stripe/webhook`, and `/settings/billing` with Checkout and the Customer Portal.

The page shows the plan, the month's AI generations against the plan's limit and the reset date
to everyone in the org; starting a Checkout or opening the portal is for admins (the
manage-billing permission) and each is a CSRF-checked POST answered with a 303 to Stripe.
Without ADPILOT_STRIPE_SECRET_KEY and a price the page says billing is off, and plans stay as
configured.

The webhook checks `Stripe-Signature` on the raw body (5-minute tolerance) before anything is
parsed, skips event ids it has taken before, reads the subscription's current state from
Stripe, then claims the event id and applies it in one transaction (core.billing.subscriptions).
It answers 503 when Stripe's API fails or billing is not configured, so Stripe redelivers (for
up to three days); nothing is claimed then.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from core.action_limits import ActionKind
from core.audit.service import Actor, record
from core.billing import subscriptions as billing
from core.billing.plans import PLANS
from core.billing.service import quota_status
from core.config import Settings
from core.db import Database
from core.orgs.models import Organization, PlanTier
from web_min.action_limits import count_action
from web_min.auth.deps import AdminUser, CsrfChecked, CurrentUser, PageError
from web_min.pages import flash, render
from web_min.rate_limit import UNVERIFIED_PER_IP, TooManyRequests
from web_min.stripe_gateway import (
    InvalidSignature,
    MalformedEvent,
    StripeGateway,
    StripeUnavailable,
    checkout_ready,
    configured_prices,
    verify,
)

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "Stripe-Signature"
BILLING_PATH = "/settings/billing"
CHECKOUT_RESULTS = {
    "success": (
        "success",
        "Thank you! Stripe confirmed the checkout; the new plan shows here as soon as Stripe "
        "tells AdPilot (usually within seconds).",
    ),
    "cancelled": ("info", "Checkout was cancelled; nothing was charged."),
}

router = APIRouter()


def _json(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


def _count(request: Request, outcome: str) -> None:
    request.app.state.metrics.webhook_events.labels(channel="stripe", outcome=outcome).inc()


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
        return await _forged(request, str(exc))
    except MalformedEvent as exc:
        _count(request, "malformed")
        return _json(400, "bad_request", str(exc))
    if payload.get("type") not in billing.HANDLED_TYPES:
        _count(request, "ignored")
        return JSONResponse({"ok": True, "ignored": True})
    database: Database = request.app.state.database
    async with database.system() as session:
        if await billing.already_taken(session=session, event_id=str(payload.get("id"))):
            _count(request, "duplicate")
            return JSONResponse({"ok": True, "duplicate": True})
    try:
        event = await StripeGateway(settings).billing_event(payload)
    except MalformedEvent as exc:
        _count(request, "malformed")
        return _json(400, "bad_request", str(exc))
    except StripeUnavailable as exc:
        log.warning("stripe event %s not applied: %s", payload.get("id"), exc)
        _count(request, "unavailable")
        return _json(503, "stripe_unavailable", "Stripe's API did not answer; retry later.")
    async with database.system() as session:
        outcome = await billing.handle_event(
            session=session, event=event, prices=configured_prices(settings)
        )
    log.info("stripe event %s (%s): %s", event.event_id, event.type, outcome.value)
    _count(request, outcome.value)
    return JSONResponse({"ok": True, "outcome": outcome.value})


async def _forged(request: Request, problem: str) -> JSONResponse:
    """400 for a bad signature; past the per-IP limit for unverified calls, a JSON 429."""
    client = request.client.host if request.client else "unknown"
    _count(request, "forged")
    log.warning("stripe webhook with a bad signature from %s", client)
    try:
        await request.app.state.limiter.check(UNVERIFIED_PER_IP, "stripe", client)
    except TooManyRequests as exc:
        return JSONResponse(
            {"error": "rate_limited", "detail": f"Too many unverified calls ({exc.limit})."},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    return _json(400, "bad_signature", problem)


# --- the settings page ------------------------------------------------------------------------


@router.get(BILLING_PATH)
async def billing_page(request: Request, user: CurrentUser) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    database: Database = request.app.state.database
    async with database.tenant(user.org_id) as session:
        quota = await quota_status(session=session, org_id=user.org_id)
        org = await session.get(Organization, user.org_id)
    assert org is not None  # the user's own org; RLS shows it
    result = CHECKOUT_RESULTS.get(request.query_params.get("checkout", ""))
    if result is not None:
        flash(request, result[1], result[0])
    prices = configured_prices(settings)
    return render(
        request,
        "billing.html",
        {
            "billing_on": checkout_ready(settings),
            "quota": quota,
            "org": org,
            "is_admin": user.role == "admin",
            "offers": [PLANS[tier] for tier in PlanTier if tier in prices.values()],
            "subscribed": org.subscription_status in billing.ENTITLED_STATUSES,
        },
    )


def _back() -> RedirectResponse:
    return RedirectResponse(BILLING_PATH, status_code=303)


@router.post(f"{BILLING_PATH}/checkout", dependencies=[CsrfChecked])
async def start_checkout(
    request: Request, user: AdminUser, plan: Annotated[str, Form()] = ""
) -> Response:
    await count_action(request, user, ActionKind.ADMIN)
    """Create a Checkout Session for the chosen tier and send the browser to it."""
    settings: Settings = request.app.state.settings
    if not checkout_ready(settings):
        flash(request, "Billing is off on this installation; plans are set by the operator.")
        return _back()
    offered = set(configured_prices(settings).values())
    tier = PlanTier(plan) if plan in {tier.value for tier in offered} else None
    if tier is None:
        raise PageError(400, "Unknown plan", "Choose one of the plans offered on the page.")
    database: Database = request.app.state.database
    async with database.tenant(user.org_id) as session:
        org = await session.get(Organization, user.org_id)
        assert org is not None
        customer_id = org.stripe_customer_id
        subscribed = org.subscription_status in billing.ENTITLED_STATUSES
    if subscribed:
        # A second Checkout would start a second subscription; plan changes go through the portal.
        flash(request, "Your organization already has a subscription: change it under Manage.")
        return _back()
    try:
        url = await StripeGateway(settings).checkout_url(
            org_id=user.org_id, tier=tier, customer_id=customer_id, email=user.email
        )
    except StripeUnavailable:
        flash(request, "Stripe did not answer; nothing was charged. Try again shortly.", "error")
        return _back()
    async with database.tenant(user.org_id) as session:
        await record(
            session=session,
            actor=Actor(org_id=user.org_id, user_id=user.user_id, channel="web"),
            action="billing.checkout_started",
            resource_type="organization",
            resource_id=user.org_id,
            after={"plan": tier.value},
        )
    return RedirectResponse(url, status_code=303)


@router.post(f"{BILLING_PATH}/portal", dependencies=[CsrfChecked])
async def open_portal(request: Request, user: AdminUser) -> Response:
    await count_action(request, user, ActionKind.ADMIN)
    """Send the browser to Stripe's Customer Portal for the org's customer."""
    settings: Settings = request.app.state.settings
    if not checkout_ready(settings):
        flash(request, "Billing is off on this installation; plans are set by the operator.")
        return _back()
    database: Database = request.app.state.database
    async with database.tenant(user.org_id) as session:
        org = await session.get(Organization, user.org_id)
        assert org is not None
        customer_id = org.stripe_customer_id
    if customer_id is None:
        flash(request, "There is nothing to manage yet: choose a plan first.")
        return _back()
    try:
        url = await StripeGateway(settings).portal_url(customer_id=customer_id)
    except StripeUnavailable:
        flash(request, "Stripe did not answer. Try again shortly.", "error")
        return _back()
    return RedirectResponse(url, status_code=303)
