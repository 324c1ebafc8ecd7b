"""Stripe's subscription events applied to an org: plan, status, customer, failed-payment alerts.

The edge (web_min/billing.py) verifies the webhook and turns Stripe's JSON into the neutral
`BillingEvent` below; the stripe library stays there. For every event that concerns a
subscription the edge also reads the subscription as it stands *now* from Stripe's API (or takes
the event's own object when the subscription has ended, a state that never changes again), so
what is applied is the subscription's current state, whatever order the events came in. Each
org remembers the `created` time of the newest event applied (`stripe_event_at`); an older event
that arrives late changes nothing and alerts no one.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.service import Actor
from core.base import utcnow
from core.billing.models import StripeEvent
from core.billing.service import change_plan
from core.notify.admin_alerts import notify_admins
from core.orgs.models import Organization, PlanTier

log = logging.getLogger(__name__)

CHECKOUT_COMPLETED = "checkout.session.completed"
SUBSCRIPTION_CREATED = "customer.subscription.created"
SUBSCRIPTION_UPDATED = "customer.subscription.updated"
SUBSCRIPTION_DELETED = "customer.subscription.deleted"
INVOICE_PAID = "invoice.paid"
INVOICE_PAYMENT_FAILED = "invoice.payment_failed"
HANDLED_TYPES = frozenset(
    {
        CHECKOUT_COMPLETED,
        SUBSCRIPTION_CREATED,
        SUBSCRIPTION_UPDATED,
        SUBSCRIPTION_DELETED,
        INVOICE_PAID,
        INVOICE_PAYMENT_FAILED,
    }
)
# Statuses that keep the paid tier. past_due too: Stripe is still retrying the card, and the
# admins have been told; `unpaid` or `canceled` (Stripe's end of the retries) take it away.
ENTITLED_STATUSES = frozenset({"active", "trialing", "past_due"})
# A new subscription whose first payment is under way: it neither grants nor takes a tier yet.
AWAITING_FIRST_PAYMENT = "incomplete"
# Statuses a subscription never leaves: its object in the event is its final state.
TERMINAL_STATUSES = frozenset({"canceled", "incomplete_expired"})
# Tiers in rising order: a subscription with several known prices gets the highest.
_TIER_ORDER = (PlanTier.FREE, PlanTier.STARTER, PlanTier.PRO, PlanTier.AGENCY)
# Currencies Stripe counts in whole units (amounts are not in cents).
_ZERO_DECIMAL = frozenset(
    {
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga",
        "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
    }
)  # fmt: skip


class Outcome(enum.StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    STALE = "stale"
    NO_ORG = "no_org"


@dataclass(frozen=True)
class SubscriptionState:
    """A Stripe subscription as it stands: what decides the org's plan."""

    subscription_id: str
    customer_id: str
    status: str
    price_ids: tuple[str, ...]
    # metadata.org_id, which AdPilot writes when it creates the Checkout Session.
    org_hint: uuid.UUID | None = None


@dataclass(frozen=True)
class FailedPayment:
    invoice_id: str
    amount_due: int
    currency: str
    attempt_count: int
    next_attempt: datetime | None


@dataclass(frozen=True)
class BillingEvent:
    """One verified Stripe event, reduced to what AdPilot acts on."""

    event_id: str
    type: str
    created: datetime
    customer_id: str | None = None
    subscription_id: str | None = None
    # checkout.session.completed's client_reference_id, parsed; None when absent or not a UUID.
    org_reference: uuid.UUID | None = None
    # The subscription's current state (read from the API by the edge), when there is one.
    subscription: SubscriptionState | None = None
    failed_payment: FailedPayment | None = None


def parse_org_reference(raw: object) -> uuid.UUID | None:
    """An org id from Stripe metadata or client_reference_id; None for anything else."""
    if not isinstance(raw, str):
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def tier_for(state: SubscriptionState, prices: Mapping[str, PlanTier]) -> PlanTier | None:
    """The tier a subscription grants: free once it lapsed, else its highest known price's tier;
    None when nothing is decided yet (its first payment is under way) or nothing is safe to
    decide (it is live but none of its prices is configured)."""
    if state.status == AWAITING_FIRST_PAYMENT:
        return None
    if state.status not in ENTITLED_STATUSES:
        return PlanTier.FREE
    tiers = [prices[price] for price in state.price_ids if price in prices]
    if not tiers:
        return None
    return max(tiers, key=_TIER_ORDER.index)


async def already_taken(*, session: AsyncSession, event_id: str) -> bool:
    """Whether an event id was claimed before: a cheap look before calling Stripe's API."""
    found = await session.scalar(
        select(StripeEvent.event_id).where(StripeEvent.event_id == event_id)
    )
    return found is not None


async def claim(*, session: AsyncSession, event: BillingEvent) -> bool:
    """Record the event id, first thing in the transaction that applies it; False when it was
    recorded before. One conditional INSERT: of two deliveries racing, exactly one gets True,
    and the other waits for the first's commit (the primary key's lock) before it sees False."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(StripeEvent)
        .values(event_id=event.event_id, type=event.type, created=event.created)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(StripeEvent.event_id)
    )
    return (await session.scalar(statement)) is not None


# Stripe resends an undelivered event for up to three days, and the Events API (whence events are
# reprocessed by hand) returns only the last 30 days': past that no delivery of an id can come
# back, so its claim only costs space. Counted from our `received_at`, not Stripe's `created`.
EVENT_ID_RETENTION = timedelta(days=30)


async def prune_event_ids(*, session: AsyncSession, now: datetime | None = None) -> int:
    """Forget claimed event ids received before the retention window; how many went."""
    cutoff = (now or utcnow()) - EVENT_ID_RETENTION
    result = await session.execute(delete(StripeEvent).where(StripeEvent.received_at < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def handle_event(
    *, session: AsyncSession, event: BillingEvent, prices: Mapping[str, PlanTier]
) -> Outcome:
    """Claim the event and apply it to its org, in the caller's (system) transaction."""
    if not await claim(session=session, event=event):
        return Outcome.DUPLICATE
    org = await _org_for(session, event)
    if org is None:
        log.warning("stripe event %s (%s) matches no org; ignored", event.event_id, event.type)
        return Outcome.NO_ORG
    if org.stripe_event_at is not None and event.created < org.stripe_event_at:
        log.info("stripe event %s is older than the org's state; ignored", event.event_id)
        return Outcome.STALE
    if event.subscription is not None:
        await _apply_subscription(session, org, event, event.subscription, prices)
    if event.type == INVOICE_PAYMENT_FAILED and event.failed_payment is not None:
        await notify_admins(
            session=session,
            org_id=org.id,
            payload=payment_failed_payload(event.failed_payment, plan=PlanTier(org.plan)),
        )
    org.stripe_event_at = event.created
    org.updated_at = utcnow()
    await session.flush()
    return Outcome.APPLIED


async def _org_for(session: AsyncSession, event: BillingEvent) -> Organization | None:
    """The org an event belongs to, row-locked so concurrent events for it apply one by one.

    The Stripe customer decides once an org has one; before that (Checkout's first events, in
    any order) the org id AdPilot itself gave Stripe: client_reference_id or the subscription's
    metadata. An org already paying through another customer is not re-pointed.
    """
    state = event.subscription
    customer = state.customer_id if state is not None else event.customer_id
    if customer is not None:
        by_customer = select(Organization).where(Organization.stripe_customer_id == customer)
        org = await session.scalar(by_customer.with_for_update())
        if org is not None:
            return org
    hint = event.org_reference or (state.org_hint if state is not None else None)
    if hint is None:
        return None
    org = await session.scalar(
        select(Organization).where(Organization.id == hint).with_for_update()
    )
    if org is None:
        return None
    if org.stripe_customer_id is None:
        org.stripe_customer_id = customer
    elif customer is not None and org.stripe_customer_id != customer:
        log.error(
            "stripe event %s names org %s, which pays through another customer; ignored",
            event.event_id,
            org.id,
        )
        return None
    return org


async def _apply_subscription(
    session: AsyncSession,
    org: Organization,
    event: BillingEvent,
    state: SubscriptionState,
    prices: Mapping[str, PlanTier],
) -> None:
    current = org.stripe_subscription_id
    if current not in (None, state.subscription_id) and state.status not in ENTITLED_STATUSES:
        # Another subscription of the org lapsing (e.g. the one replaced by an upgrade) leaves
        # the one it pays by alone.
        return
    org.stripe_subscription_id = state.subscription_id
    org.subscription_status = state.status
    tier = tier_for(state, prices)
    if tier is None and state.status in ENTITLED_STATUSES:
        log.error(
            "stripe subscription %s of org %s has no configured price (%s); plan unchanged",
            state.subscription_id,
            org.id,
            ", ".join(state.price_ids) or "no items",
        )
    if tier is None:
        return
    if tier != PlanTier(org.plan):
        actor = Actor(org_id=org.id, user_id=None, channel="stripe", source=event.event_id)
        await change_plan(session=session, actor=actor, plan=tier)


def payment_failed_payload(payment: FailedPayment, *, plan: PlanTier) -> dict[str, Any]:
    """The admins' alert. No hosted-invoice link: whoever holds one can see the invoice."""
    retry = (
        f" Stripe tries again on {payment.next_attempt:%Y-%m-%d}."
        if payment.next_attempt is not None
        else " Stripe will not try again on its own."
    )
    return {
        "kind": "payment_failed",
        "text": (
            f"Stripe could not collect {_money(payment.amount_due, payment.currency)} for "
            f"AdPilot's {plan.value} plan (attempt {payment.attempt_count}).{retry} An admin "
            "updates the payment method under Settings → Billing → Manage billing."
        ),
        "invoice_id": payment.invoice_id,
    }


def _money(amount: int, currency: str) -> str:
    code = currency.lower()
    if code in _ZERO_DECIMAL:
        return f"{amount} {code.upper()}"
    return f"{amount / 100:.2f} {code.upper()}"
