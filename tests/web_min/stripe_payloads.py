"""Stripe API objects and webhook events shaped as API version 2026-10-28 sends them (the
stripe library's pinned version), trimmed of fields nobody reads but keeping every one we do;
the library's own signature header for a body; and settings that turn billing on."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import stripe
from pydantic import SecretStr

from core.config import Settings

# respx mocks this in route tests; a loopback address, so nothing leaves the machine unmocked.
API = "http://127.0.0.1:12111"
API_VERSION = "2026-10-28.endive"
WEBHOOK_SECRET = "whsec_test_0123456789abcdefghijklmnopqrstuv"
PRICE_STARTER = "price_1QStarterMonthly0001"
PRICE_PRO = "price_1QProMonthly00000001"
PRICE_AGENCY = "price_1QAgencyMonthly00001"


def stripe_id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_hex(8)}"


def price(price_id: str, unit_amount: int = 4900) -> dict[str, Any]:
    return {
        "id": price_id,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": 1764000000,
        "currency": "usd",
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "product": "prod_TestAdPilotPlan",
        "recurring": {
            "interval": "month",
            "interval_count": 1,
            "meter": None,
            "usage_type": "licensed",
        },
        "tax_behavior": "unspecified",
        "type": "recurring",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }


def subscription(
    *,
    subscription_id: str,
    customer: str,
    status: str = "active",
    price_id: str = PRICE_PRO,
    org_id: str | None = None,
    created: int = 1764500000,
) -> dict[str, Any]:
    period_end = created + 30 * 86400
    return {
        "id": subscription_id,
        "object": "subscription",
        "application": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": created,
        "billing_mode": {"flexible": None, "type": "classic"},
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": created + 60 if status == "canceled" else None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": created,
        "currency": "usd",
        "customer": customer,
        "days_until_due": None,
        "default_payment_method": "pm_test_card_visa",
        "description": None,
        "discounts": [],
        "ended_at": created + 60 if status == "canceled" else None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_test_item0001",
                    "object": "subscription_item",
                    "created": created,
                    "current_period_end": period_end,
                    "current_period_start": created,
                    "discounts": [],
                    "metadata": {},
                    "price": price(price_id),
                    "quantity": 1,
                    "subscription": subscription_id,
                    "tax_rates": [],
                }
            ],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/subscription_items?subscription={subscription_id}",
        },
        "latest_invoice": "in_test_latest0001",
        "livemode": False,
        "metadata": {"org_id": org_id} if org_id else {},
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": created,
        "status": status,
        "test_clock": None,
        "trial_end": None,
        "trial_start": None,
    }


def checkout_session(
    *,
    session_id: str,
    customer: str | None,
    subscription_id: str | None,
    client_reference_id: str | None,
    url: str | None = None,
    status: str = "complete",
) -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "checkout.session",
        "amount_subtotal": 4900,
        "amount_total": 4900,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": "http://127.0.0.1:8000/settings/billing?checkout=cancelled",
        "client_reference_id": client_reference_id,
        "created": 1764500000,
        "currency": "usd",
        "customer": customer,
        "customer_creation": "always",
        "customer_details": None
        if customer is None
        else {"email": "admin@example.com", "name": "Ada Admin", "tax_exempt": "none"},
        "customer_email": None,
        "expires_at": 1764586400,
        "invoice": "in_test_first0001" if status == "complete" else None,
        "livemode": False,
        "locale": None,
        "metadata": {"org_id": client_reference_id} if client_reference_id else {},
        "mode": "subscription",
        "payment_intent": None,
        "payment_method_collection": "always",
        "payment_status": "paid" if status == "complete" else "unpaid",
        "status": status,
        "submit_type": None,
        "subscription": subscription_id,
        "success_url": "http://127.0.0.1:8000/settings/billing?checkout=success",
        "ui_mode": "hosted",
        "url": url,
    }


def invoice(
    *,
    customer: str,
    subscription_id: str,
    paid: bool,
    amount: int = 4900,
    attempt_count: int = 1,
    next_payment_attempt: int | None = 1764759600,
) -> dict[str, Any]:
    return {
        "id": stripe_id("in"),
        "object": "invoice",
        "account_country": "US",
        "amount_due": amount,
        "amount_paid": amount if paid else 0,
        "amount_remaining": 0 if paid else amount,
        "attempt_count": attempt_count,
        "attempted": True,
        "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically",
        "created": 1764500000,
        "currency": "usd",
        "customer": customer,
        "customer_email": "admin@example.com",
        "hosted_invoice_url": "https://invoice.stripe.com/i/acct_test/secret-link",
        "livemode": False,
        "next_payment_attempt": None if paid else next_payment_attempt,
        "parent": {
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": subscription_id},
            "type": "subscription_details",
        },
        "period_end": 1764500000,
        "period_start": 1761908000,
        "status": "paid" if paid else "open",
        "total": amount,
    }


def event(event_type: str, obj: dict[str, Any], *, created: int | None = None) -> dict[str, Any]:
    return {
        "id": stripe_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": created if created is not None else int(time.time()),
        "data": {"object": obj, "previous_attributes": {}},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def signed(
    payload: dict[str, Any], *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers Stripe would send: the header computed by the stripe library."""
    body = json.dumps(payload)
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp)
    return body.encode(), {"Stripe-Signature": header, "Content-Type": "application/json"}


def with_stripe(settings: Settings, api_url: str = API) -> Settings:
    """`settings` with billing on: keys, webhook secret, the three prices, a local API."""
    return settings.model_copy(
        update={
            "stripe_secret_key": SecretStr("sk_test_adpilot_0000000000000000"),
            "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET),
            "stripe_api_url": api_url,
            "stripe_price_starter": PRICE_STARTER,
            "stripe_price_pro": PRICE_PRO,
            "stripe_price_agency": PRICE_AGENCY,
        }
    )
