"""Stripe events applied to orgs: mapping, de-duplication, late events, failed-payment alerts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.models import AuditLog
from core.billing import subscriptions as billing
from core.billing.subscriptions import BillingEvent, FailedPayment, Outcome, SubscriptionState
from core.notify.models import Notification
from core.orgs.models import Organization, PlanTier
from core.users import identity
from core.users.models import Role
from tests import factories

PRICES = {"price_starter": PlanTier.STARTER, "price_pro": PlanTier.PRO}
T0 = datetime(2026, 11, 30, 12, tzinfo=UTC)


def state(
    status: str = "active",
    *,
    price: str = "price_pro",
    subscription_id: str = "sub_1",
    customer: str = "cus_1",
    org_hint: uuid.UUID | None = None,
) -> SubscriptionState:
    return SubscriptionState(
        subscription_id=subscription_id,
        customer_id=customer,
        status=status,
        price_ids=(price,),
        org_hint=org_hint,
    )


def event(
    kind: str, *, at: int = 0, subscription: SubscriptionState | None = None, **fields: object
) -> BillingEvent:
    return BillingEvent(
        event_id=f"evt_{uuid.uuid4().hex[:16]}",
        type=kind,
        created=T0 + timedelta(seconds=at),
        subscription=subscription,
        **fields,  # type: ignore[arg-type]
    )


async def plan_changes(session: AsyncSession, org_id: uuid.UUID) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.org_id == org_id, AuditLog.action == "billing.plan_changed")
        )
        or 0
    )


async def handle(session: AsyncSession, billing_event: BillingEvent) -> Outcome:
    return await billing.handle_event(session=session, event=billing_event, prices=PRICES)


async def test_checkout_completed_links_the_customer_and_maps_the_price_to_the_plan(
    system_session: AsyncSession,
) -> None:
    org = await factories.org(system_session)
    completed = event(
        billing.CHECKOUT_COMPLETED,
        customer_id="cus_1",
        org_reference=org.id,
        subscription=state("active", price="price_pro"),
    )
    assert await handle(system_session, completed) == Outcome.APPLIED
    await system_session.refresh(org)
    assert (org.plan, org.stripe_customer_id, org.stripe_subscription_id) == (
        PlanTier.PRO,
        "cus_1",
        "sub_1",
    )
    assert org.subscription_status == "active"
    assert org.stripe_event_at == completed.created
    assert await plan_changes(system_session, org.id) == 1


async def test_a_duplicate_event_id_has_one_effect(system_session: AsyncSession) -> None:
    org = await factories.org(system_session)
    completed = event(
        billing.CHECKOUT_COMPLETED, org_reference=org.id, subscription=state(price="price_pro")
    )
    assert await handle(system_session, completed) == Outcome.APPLIED
    # Someone downgrades by hand in between: a redelivery must not re-apply the old event.
    org.plan = PlanTier.FREE
    await system_session.flush()
    assert await handle(system_session, completed) == Outcome.DUPLICATE
    await system_session.refresh(org)
    assert org.plan == PlanTier.FREE
    assert await plan_changes(system_session, org.id) == 1


async def test_an_update_delivered_before_the_creation_keeps_the_newer_state(
    system_session: AsyncSession,
) -> None:
    org = await factories.org(system_session)
    created = event(
        billing.SUBSCRIPTION_CREATED,
        at=0,
        subscription=state("incomplete", org_hint=org.id),
    )
    updated = event(
        billing.SUBSCRIPTION_UPDATED, at=5, subscription=state("active", org_hint=org.id)
    )
    assert await handle(system_session, updated) == Outcome.APPLIED
    assert await handle(system_session, created) == Outcome.STALE
    await system_session.refresh(org)
    assert (org.plan, org.subscription_status) == (PlanTier.PRO, "active")


async def test_a_deletion_then_an_older_update_leaves_the_org_on_free(
    system_session: AsyncSession,
) -> None:
    org = await factories.org(system_session, plan=PlanTier.PRO)
    org.stripe_customer_id = "cus_1"
    org.stripe_subscription_id = "sub_1"
    await system_session.flush()
    deleted = event(billing.SUBSCRIPTION_DELETED, at=60, subscription=state("canceled"))
    older_update = event(billing.SUBSCRIPTION_UPDATED, at=30, subscription=state("active"))
    assert await handle(system_session, deleted) == Outcome.APPLIED
    assert await handle(system_session, older_update) == Outcome.STALE
    await system_session.refresh(org)
    assert (org.plan, org.subscription_status) == (PlanTier.FREE, "canceled")


async def test_another_subscription_ending_does_not_downgrade_the_org(
    system_session: AsyncSession,
) -> None:
    org = await factories.org(system_session)
    org.stripe_customer_id = "cus_1"
    await system_session.flush()
    await handle(
        system_session,
        event(billing.SUBSCRIPTION_UPDATED, at=0, subscription=state(subscription_id="sub_new")),
    )
    old_ended = state("canceled", subscription_id="sub_old", price="price_starter")
    await handle(system_session, event(billing.SUBSCRIPTION_DELETED, at=1, subscription=old_ended))
    await system_session.refresh(org)
    assert (org.plan, org.stripe_subscription_id) == (PlanTier.PRO, "sub_new")


async def test_an_unknown_price_leaves_the_plan_alone(system_session: AsyncSession) -> None:
    org = await factories.org(system_session, plan=PlanTier.STARTER)
    unknown = state("active", price="price_someone_elses", org_hint=org.id)
    await handle(system_session, event(billing.SUBSCRIPTION_CREATED, subscription=unknown))
    await system_session.refresh(org)
    assert (org.plan, org.subscription_status) == (PlanTier.STARTER, "active")


@pytest.mark.parametrize("reference", [uuid.uuid4(), None])
async def test_a_checkout_for_no_known_org_changes_nothing(
    system_session: AsyncSession, reference: uuid.UUID | None
) -> None:
    org = await factories.org(system_session)
    stray = event(
        billing.CHECKOUT_COMPLETED,
        customer_id="cus_stray",
        org_reference=reference,
        subscription=state(customer="cus_stray"),
    )
    assert await handle(system_session, stray) == Outcome.NO_ORG
    await system_session.refresh(org)
    assert (org.plan, org.stripe_customer_id) == (PlanTier.FREE, None)


async def test_an_org_paying_through_one_customer_is_not_taken_over_by_another(
    system_session: AsyncSession,
) -> None:
    org = await factories.org(system_session, plan=PlanTier.STARTER)
    org.stripe_customer_id = "cus_theirs"
    await system_session.flush()
    other = event(
        billing.CHECKOUT_COMPLETED,
        customer_id="cus_other",
        org_reference=org.id,
        subscription=state("canceled", customer="cus_other"),
    )
    assert await handle(system_session, other) == Outcome.NO_ORG
    await system_session.refresh(org)
    assert (org.plan, org.stripe_customer_id) == (PlanTier.STARTER, "cus_theirs")


async def _admin_on_slack(session: AsyncSession, org: Organization) -> None:
    admin = await factories.user(session, org, role=Role.ADMIN)
    await factories.user(session, org, role=Role.USER)  # not an admin: not told
    code = await identity.create_link_code(session=session, org_id=org.id, user_id=admin.id)
    await identity.redeem_link_code(
        session=session, code=code, channel="slack", workspace="T1", external_user_id="UADMIN"
    )


def failed(at: int, org_hint: uuid.UUID) -> BillingEvent:
    return event(
        billing.INVOICE_PAYMENT_FAILED,
        at=at,
        customer_id="cus_1",
        subscription=state("past_due", org_hint=org_hint),
        failed_payment=FailedPayment(
            invoice_id="in_1",
            amount_due=4900,
            currency="usd",
            attempt_count=1,
            next_attempt=T0 + timedelta(days=3),
        ),
    )


async def test_a_failed_payment_tells_the_admins_once(system_session: AsyncSession) -> None:
    org = await factories.org(system_session, plan=PlanTier.PRO)
    await _admin_on_slack(system_session, org)
    payment_failed = failed(0, org.id)
    assert await handle(system_session, payment_failed) == Outcome.APPLIED
    assert await handle(system_session, payment_failed) == Outcome.DUPLICATE
    rows = list(
        await system_session.scalars(select(Notification).where(Notification.org_id == org.id))
    )
    assert [(row.channel, row.conversation_id) for row in rows] == [("slack", "UADMIN")]
    assert "49.00 USD" in rows[0].payload["text"]
    assert "2026-12-03" in rows[0].payload["text"]
    await system_session.refresh(org)
    # past_due keeps the paid tier while Stripe retries.
    assert (org.plan, org.subscription_status) == (PlanTier.PRO, "past_due")


async def test_a_failed_payment_older_than_the_org_state_alerts_no_one(
    system_session: AsyncSession,
) -> None:
    org = await factories.org(system_session, plan=PlanTier.PRO)
    await _admin_on_slack(system_session, org)
    paid = event(billing.INVOICE_PAID, at=10, subscription=state("active", org_hint=org.id))
    assert await handle(system_session, paid) == Outcome.APPLIED
    assert await handle(system_session, failed(5, org.id)) == Outcome.STALE
    count = await system_session.scalar(
        select(func.count()).select_from(Notification).where(Notification.org_id == org.id)
    )
    assert count == 0


def test_tier_for_takes_the_highest_configured_price_and_free_when_lapsed() -> None:
    both = SubscriptionState("sub", "cus", "trialing", ("price_starter", "price_pro"))
    assert billing.tier_for(both, PRICES) == PlanTier.PRO
    unpaid = SubscriptionState("sub", "cus", "unpaid", ("price_pro",))
    assert billing.tier_for(unpaid, PRICES) == PlanTier.FREE
    unknown = SubscriptionState("sub", "cus", "active", ("price_x",))
    assert billing.tier_for(unknown, PRICES) is None
    paying = SubscriptionState("sub", "cus", "incomplete", ("price_pro",))
    assert billing.tier_for(paying, PRICES) is None


async def test_a_subscription_awaiting_its_first_payment_leaves_the_plan_alone(
    system_session: AsyncSession,
) -> None:
    org = await factories.org(system_session, plan=PlanTier.STARTER)
    paying = state("incomplete", price="price_pro", org_hint=org.id)
    await handle(system_session, event(billing.SUBSCRIPTION_CREATED, subscription=paying))
    await system_session.refresh(org)
    assert (org.plan, org.subscription_status) == (PlanTier.STARTER, "incomplete")


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_the_app_role_cannot_read_stripe_events(session: AsyncSession) -> None:
    with pytest.raises(DBAPIError, match="permission denied"):
        await session.execute(text("SELECT count(*) FROM stripe_events"))
