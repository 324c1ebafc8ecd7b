"""POST /stripe/webhook end to end: payloads signed by the stripe library's own code, Stripe's API
mocked with respx at the HTTP level (the library's httpx client), effects read from the database."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx
import stripe
from fastapi import FastAPI
from sqlalchemy import func, select

from core.audit.models import AuditLog
from core.billing.models import StripeEvent
from core.config import Settings
from core.db import Database
from core.notify.models import Notification
from core.orgs.models import Organization, PlanTier
from core.users import identity
from core.users.models import Role
from tests import factories
from tests.web_min import stripe_payloads as stripe_json
from tests.web_min.stripe_payloads import API, with_stripe
from web_min.app import create_app

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


@pytest.fixture
async def app(settings: Settings, database: Database) -> AsyncIterator[FastAPI]:
    # `database` truncates what the app committed once the test is over.
    web = create_app(with_stripe(settings))
    yield web
    await web.state.database.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://adpilot.test") as http:
        yield http


@pytest.fixture
def stripe_api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=API, assert_all_called=False) as router:
        yield router


def serve_subscription(router: respx.MockRouter, sub: dict[str, Any]) -> respx.Route:
    return router.get(f"/v1/subscriptions/{sub['id']}").mock(
        return_value=httpx.Response(200, json=sub, headers={"request-id": "req_test"})
    )


async def deliver(
    client: httpx.AsyncClient, payload: dict[str, Any], **sign: Any
) -> httpx.Response:
    body, headers = stripe_json.signed(payload, **sign)
    return await client.post("/stripe/webhook", content=body, headers=headers)


async def read_org(database: Database, org_id: uuid.UUID) -> Organization:
    async with database.system() as session:
        org = await session.get(Organization, org_id)
        assert org is not None
        return org


async def claimed(database: Database) -> int:
    async with database.system() as session:
        return int(await session.scalar(select(func.count()).select_from(StripeEvent)) or 0)


async def new_org(database: Database, **fields: Any) -> Organization:
    async with database.system() as session:
        org = await factories.org(session)
        for name, value in fields.items():
            setattr(org, name, value)
    return org


def completed_checkout(org_ref: str | None, customer: str, sub_id: str) -> dict[str, Any]:
    session = stripe_json.checkout_session(
        session_id=stripe_json.stripe_id("cs"),
        customer=customer,
        subscription_id=sub_id,
        client_reference_id=org_ref,
    )
    return stripe_json.event("checkout.session.completed", session)


# --- signatures: checked on the raw body before anything is parsed ---------------------------


@pytest.mark.parametrize(
    "tamper",
    ["wrong_secret", "missing", "expired", "body_changed", "garbage_header"],
)
async def test_a_bad_signature_is_400_and_changes_nothing(
    client: httpx.AsyncClient,
    database: Database,
    stripe_api: respx.MockRouter,
    tamper: str,
) -> None:
    org = await new_org(database)
    sub = stripe_json.subscription(subscription_id="sub_test_a", customer="cus_test_a")
    route = serve_subscription(stripe_api, sub)
    payload = completed_checkout(str(org.id), "cus_test_a", "sub_test_a")
    body, headers = stripe_json.signed(payload)
    if tamper == "wrong_secret":
        body, headers = stripe_json.signed(payload, secret="whsec_someone_else")
    elif tamper == "missing":
        del headers["Stripe-Signature"]
    elif tamper == "expired":
        # Stripe's tolerance is five minutes; a correct signature from 301 s ago is a replay.
        body, headers = stripe_json.signed(payload, timestamp=int(time.time()) - 301)
    elif tamper == "body_changed":
        body = body.replace(b"cus_test_a", b"cus_test_b")
    else:
        headers["Stripe-Signature"] = "t=notanumber,v1=zz"
    response = await client.post("/stripe/webhook", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_signature"
    assert "Stripe-Signature" in response.json()["detail"]
    assert not route.called
    assert await claimed(database) == 0
    assert (await read_org(database, org.id)).plan == PlanTier.FREE


async def test_a_signature_just_inside_the_tolerance_is_accepted(
    client: httpx.AsyncClient, stripe_api: respx.MockRouter
) -> None:
    payload = stripe_json.event("customer.created", {"id": "cus_x", "object": "customer"})
    response = await deliver(client, payload, timestamp=int(time.time()) - 290)
    assert response.status_code == 200


async def test_a_signed_body_that_is_not_an_event_is_400(client: httpx.AsyncClient) -> None:
    body = b"[1, 2, 3]"
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), stripe_json.WEBHOOK_SECRET
    )
    response = await client.post(
        "/stripe/webhook", content=body, headers={"Stripe-Signature": header}
    )
    assert (response.status_code, response.json()["error"]) == (400, "bad_request")


async def test_without_a_webhook_secret_the_endpoint_says_billing_is_off(
    settings: Settings, database: Database
) -> None:
    web = create_app(settings)  # no Stripe settings at all
    transport = httpx.ASGITransport(app=web)
    async with httpx.AsyncClient(transport=transport, base_url="http://adpilot.test") as http:
        body, headers = stripe_json.signed(stripe_json.event("invoice.paid", {}))
        response = await http.post("/stripe/webhook", content=body, headers=headers)
    await web.state.database.dispose()
    assert response.status_code == 503
    assert "ADPILOT_STRIPE_WEBHOOK_SECRET" in response.json()["detail"]


async def test_an_unhandled_event_type_is_acknowledged_and_ignored(
    client: httpx.AsyncClient, database: Database
) -> None:
    payload = stripe_json.event("customer.created", {"id": "cus_x", "object": "customer"})
    response = await deliver(client, payload)
    assert response.json() == {"ok": True, "ignored": True}
    assert await claimed(database) == 0


# --- effects ----------------------------------------------------------------------------------


async def test_checkout_completed_puts_the_org_on_the_paid_plan(
    client: httpx.AsyncClient, database: Database, stripe_api: respx.MockRouter
) -> None:
    org = await new_org(database)
    sub = stripe_json.subscription(
        subscription_id="sub_test_1",
        customer="cus_test_1",
        price_id=stripe_json.PRICE_AGENCY,
        org_id=str(org.id),
    )
    serve_subscription(stripe_api, sub)
    response = await deliver(client, completed_checkout(str(org.id), "cus_test_1", "sub_test_1"))
    assert response.json() == {"ok": True, "outcome": "applied"}
    stored = await read_org(database, org.id)
    assert (stored.plan, stored.stripe_customer_id, stored.stripe_subscription_id) == (
        PlanTier.AGENCY,
        "cus_test_1",
        "sub_test_1",
    )
    assert stored.subscription_status == "active"
    # The library authenticated with the secret key and pinned its API version.
    request = stripe_api.calls.last.request
    assert request.headers["Authorization"] == "Bearer sk_test_adpilot_0000000000000000"
    assert request.headers["Stripe-Version"] == stripe_json.API_VERSION


async def test_a_duplicate_event_has_one_effect(
    client: httpx.AsyncClient, database: Database, stripe_api: respx.MockRouter
) -> None:
    org = await new_org(database)
    sub = stripe_json.subscription(subscription_id="sub_test_2", customer="cus_test_2")
    route = serve_subscription(stripe_api, sub)
    payload = completed_checkout(str(org.id), "cus_test_2", "sub_test_2")
    assert (await deliver(client, payload)).json()["outcome"] == "applied"
    # An operator moves the org by hand; a redelivery must not put it back.
    async with database.system() as session:
        stored = await session.get(Organization, org.id)
        assert stored is not None
        stored.plan = PlanTier.STARTER
    assert (await deliver(client, payload)).json() == {"ok": True, "duplicate": True}
    assert route.call_count == 1
    assert (await read_org(database, org.id)).plan == PlanTier.STARTER
    assert await claimed(database) == 1


async def test_an_update_before_its_creation_ends_in_the_subscription_state(
    client: httpx.AsyncClient, database: Database, stripe_api: respx.MockRouter
) -> None:
    org = await new_org(database)
    now = int(time.time())
    created_obj = stripe_json.subscription(
        subscription_id="sub_test_3", customer="cus_test_3", status="incomplete", org_id=str(org.id)
    )
    current = {**created_obj, "status": "active"}
    serve_subscription(stripe_api, current)
    updated = stripe_json.event("customer.subscription.updated", current, created=now)
    created = stripe_json.event("customer.subscription.created", created_obj, created=now - 5)
    assert (await deliver(client, updated)).json()["outcome"] == "applied"
    assert (await deliver(client, created)).json()["outcome"] == "stale"
    stored = await read_org(database, org.id)
    assert (stored.plan, stored.subscription_status) == (PlanTier.PRO, "active")


async def test_a_deletion_then_an_older_update_leaves_the_org_on_free(
    client: httpx.AsyncClient, database: Database, stripe_api: respx.MockRouter
) -> None:
    org = await new_org(
        database,
        plan=PlanTier.PRO,
        stripe_customer_id="cus_test_4",
        stripe_subscription_id="sub_test_4",
        subscription_status="active",
    )
    now = int(time.time())
    active = stripe_json.subscription(subscription_id="sub_test_4", customer="cus_test_4")
    canceled = {**active, "status": "canceled"}
    route = serve_subscription(stripe_api, canceled)
    deleted = stripe_json.event("customer.subscription.deleted", canceled, created=now)
    older = stripe_json.event("customer.subscription.updated", active, created=now - 30)
    assert (await deliver(client, deleted)).json()["outcome"] == "applied"
    assert not route.called  # an ended subscription's own object is final
    assert (await deliver(client, older)).json()["outcome"] == "stale"
    stored = await read_org(database, org.id)
    assert (stored.plan, stored.subscription_status) == (PlanTier.FREE, "canceled")


async def test_a_failed_payment_notifies_the_admins_once(
    client: httpx.AsyncClient, database: Database, stripe_api: respx.MockRouter
) -> None:
    org = await new_org(
        database,
        plan=PlanTier.PRO,
        stripe_customer_id="cus_test_5",
        stripe_subscription_id="sub_test_5",
    )
    async with database.system() as session:
        admin = await factories.user(session, org, role=Role.ADMIN)
        await factories.user(session, org, role=Role.USER)
        code = await identity.create_link_code(session=session, org_id=org.id, user_id=admin.id)
        await identity.redeem_link_code(
            session=session, code=code, channel="telegram", workspace="", external_user_id="4242"
        )
    sub = stripe_json.subscription(
        subscription_id="sub_test_5", customer="cus_test_5", status="past_due"
    )
    serve_subscription(stripe_api, sub)
    failed = stripe_json.event(
        "invoice.payment_failed",
        stripe_json.invoice(customer="cus_test_5", subscription_id="sub_test_5", paid=False),
    )
    assert (await deliver(client, failed)).json()["outcome"] == "applied"
    assert (await deliver(client, failed)).json()["duplicate"] is True
    async with database.system() as session:
        rows = list(
            await session.scalars(select(Notification).where(Notification.org_id == org.id))
        )
    assert [(row.channel, row.conversation_id) for row in rows] == [("telegram", "4242")]
    text = rows[0].payload["text"]
    assert "49.00 USD" in text
    assert "invoice.stripe.com" not in json.dumps(rows[0].payload)
    assert (await read_org(database, org.id)).subscription_status == "past_due"


@pytest.mark.parametrize("reference", ["not-a-uuid", str(uuid.uuid4()), None])
async def test_a_checkout_naming_no_known_org_is_acknowledged_and_changes_nothing(
    client: httpx.AsyncClient,
    database: Database,
    stripe_api: respx.MockRouter,
    reference: str | None,
) -> None:
    org = await new_org(database)
    sub = stripe_json.subscription(subscription_id="sub_test_6", customer="cus_test_6")
    serve_subscription(stripe_api, sub)
    response = await deliver(client, completed_checkout(reference, "cus_test_6", "sub_test_6"))
    assert response.json() == {"ok": True, "outcome": "no_org"}
    stored = await read_org(database, org.id)
    assert (stored.plan, stored.stripe_customer_id) == (PlanTier.FREE, None)


async def test_when_stripe_is_down_nothing_is_claimed_and_the_redelivery_applies(
    client: httpx.AsyncClient, database: Database, stripe_api: respx.MockRouter
) -> None:
    org = await new_org(database)
    sub = stripe_json.subscription(subscription_id="sub_test_7", customer="cus_test_7")
    route = stripe_api.get("/v1/subscriptions/sub_test_7")
    route.side_effect = [
        httpx.Response(500, json={"error": {"type": "api_error", "message": "boom"}}),
        httpx.Response(500, json={"error": {"type": "api_error", "message": "boom"}}),
        httpx.Response(200, json=sub),
    ]
    payload = completed_checkout(str(org.id), "cus_test_7", "sub_test_7")
    response = await deliver(client, payload)
    assert (response.status_code, response.json()["error"]) == (503, "stripe_unavailable")
    assert await claimed(database) == 0
    assert (await deliver(client, payload)).json()["outcome"] == "applied"
    assert (await read_org(database, org.id)).plan == PlanTier.PRO


async def test_two_deliveries_racing_past_the_first_look_apply_once(
    client: httpx.AsyncClient, database: Database, stripe_api: respx.MockRouter
) -> None:
    org = await new_org(database)
    sub = stripe_json.subscription(subscription_id="sub_test_8", customer="cus_test_8")
    both_reading = asyncio.Barrier(2)

    async def slow_read(request: httpx.Request) -> httpx.Response:
        # Both deliveries have passed the cheap look-up before either claims the event id.
        await asyncio.wait_for(both_reading.wait(), timeout=5)
        return httpx.Response(200, json=sub)

    stripe_api.get("/v1/subscriptions/sub_test_8").mock(side_effect=slow_read)
    payload = completed_checkout(str(org.id), "cus_test_8", "sub_test_8")
    first, second = await asyncio.gather(deliver(client, payload), deliver(client, payload))
    outcomes = sorted(response.json().get("outcome") or "duplicate" for response in (first, second))
    assert outcomes == ["applied", "duplicate"]
    async with database.system() as session:
        changes = await session.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.org_id == org.id, AuditLog.action == "billing.plan_changed")
        )
    assert changes == 1


async def test_a_flood_of_bad_signatures_is_limited_per_ip_with_a_json_429(
    client: httpx.AsyncClient,
) -> None:
    body, headers = stripe_json.signed(
        stripe_json.event("invoice.paid", {}), secret="whsec_someone_else"
    )
    statuses = [
        (await client.post("/stripe/webhook", content=body, headers=headers)).status_code
        for _ in range(31)
    ]
    assert statuses == [400] * 30 + [429]
    last = await client.post("/stripe/webhook", content=body, headers=headers)
    assert last.json()["error"] == "rate_limited"
    assert int(last.headers["Retry-After"]) >= 1


async def test_no_stripe_secret_reaches_the_logs(
    client: httpx.AsyncClient,
    database: Database,
    stripe_api: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    org = await new_org(database)
    serve_subscription(
        stripe_api, stripe_json.subscription(subscription_id="sub_test_9", customer="cus_test_9")
    )
    payload = completed_checkout(str(org.id), "cus_test_9", "sub_test_9")
    assert (await deliver(client, payload)).json()["outcome"] == "applied"
    assert (await deliver(client, payload, secret="whsec_wrong")).status_code == 400
    logged = caplog.text + " ".join(str(record.args) for record in caplog.records)
    assert "stripe event" in logged  # the webhook did log, at info and warning
    assert "sk_test_adpilot" not in logged
    assert stripe_json.WEBHOOK_SECRET not in logged
    assert "whsec_wrong" not in logged
