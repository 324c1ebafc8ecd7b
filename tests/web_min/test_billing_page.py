"""/settings/billing: plan and AI usage for everyone, Checkout and the portal for admins only,
CSRF on every form, and a page that says billing is off when Stripe is not configured."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import select

from core.audit.models import AuditLog
from core.base import utcnow
from core.billing.plans import next_reset, period_start
from core.config import Settings
from core.db import Database
from core.orgs.models import Organization, PlanTier
from core.users.models import Role, User
from tests.web_min import stripe_payloads as stripe_json
from tests.web_min.conftest import signed_in, web_user
from tests.web_min.stripe_payloads import API, with_stripe

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The web app under test (conftest's `web_app`) runs with Stripe configured."""
    return with_stripe(settings)


@pytest.fixture
def stripe_api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=API, assert_all_called=False) as router:
        yield router


def checkout_route(router: respx.MockRouter) -> respx.Route:
    def answer(request: httpx.Request) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode()))
        session = stripe_json.checkout_session(
            session_id="cs_test_page0001",
            customer=form.get("customer"),
            subscription_id=None,
            client_reference_id=form.get("client_reference_id"),
            url="https://checkout.stripe.com/c/pay/cs_test_page0001",
            status="open",
        )
        return httpx.Response(200, json=session)

    return router.post("/v1/checkout/sessions").mock(side_effect=answer)


def portal_route(router: respx.MockRouter) -> respx.Route:
    return router.post("/v1/billing_portal/sessions").mock(
        return_value=httpx.Response(
            200,
            json={
                "id": "bps_test_page0001",
                "object": "billing_portal.session",
                "customer": "cus_page",
                "livemode": False,
                "return_url": "http://127.0.0.1:8000/settings/billing",
                "url": "https://billing.stripe.com/p/session/test_page0001",
            },
        )
    )


async def admin_and_user(database: Database, role: Role = Role.USER) -> tuple[User, User]:
    admin = await web_user(database, role=Role.ADMIN)
    async with database.system() as session:
        org = await session.get(Organization, admin.org_id)
    assert org is not None
    plain = await web_user(database, role=role, organization=org)
    return admin, plain


async def update_org(database: Database, org_id: uuid.UUID, **fields: Any) -> None:
    async with database.system() as session:
        org = await session.get(Organization, org_id)
        assert org is not None
        for name, value in fields.items():
            setattr(org, name, value)


async def test_anonymous_visitors_are_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/settings/billing")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/settings/billing"


async def test_the_page_shows_plan_usage_limit_and_reset_date(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin, _ = await admin_and_user(database)
    await update_org(
        database, admin.org_id, ai_generations_used=7, ai_period_start=period_start(utcnow())
    )
    await signed_in(client, admin)
    page = (await client.get("/settings/billing")).text
    assert 'id="current-plan">Free<' in page
    assert 'id="ai-used">7<' in page
    assert 'id="ai-limit">50<' in page
    assert f'datetime="{next_reset(utcnow()).isoformat()}"' in page
    for tier in ("Starter", "Pro", "Agency"):
        assert f"Upgrade to {tier}" in page
    assert "Manage billing" not in page  # no Stripe customer yet


@pytest.mark.parametrize(
    ("result", "message"),
    [("success", "Stripe confirmed the checkout"), ("cancelled", "nothing was charged")],
)
async def test_coming_back_from_checkout_says_how_it_went(
    client: httpx.AsyncClient, database: Database, result: str, message: str
) -> None:
    _, plain = await admin_and_user(database)
    await signed_in(client, plain)
    page = (await client.get(f"/settings/billing?checkout={result}")).text
    assert message in page
    # Only the two known results are shown; anything else in the URL is not echoed.
    assert "<script>" not in (await client.get("/settings/billing?checkout=<script>")).text


async def test_an_admin_upgrade_redirects_to_a_checkout_bound_to_the_org(
    client: httpx.AsyncClient, database: Database, stripe_api: respx.MockRouter
) -> None:
    admin, _ = await admin_and_user(database)
    route = checkout_route(stripe_api)
    csrf = await signed_in(client, admin)
    response = await client.post(
        "/settings/billing/checkout", data={"csrf_token": csrf, "plan": "pro"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "https://checkout.stripe.com/c/pay/cs_test_page0001"
    form = dict(httpx.QueryParams(route.calls.last.request.content.decode()))
    assert form["mode"] == "subscription"
    assert form["client_reference_id"] == str(admin.org_id)
    assert form["line_items[0][price]"] == stripe_json.PRICE_PRO
    assert form["customer_email"] == admin.email
    async with database.system() as session:
        actions = list(
            await session.scalars(select(AuditLog.action).where(AuditLog.org_id == admin.org_id))
        )
    assert "billing.checkout_started" in actions


@pytest.mark.parametrize("role", [Role.USER, Role.MANAGER])
async def test_a_non_admin_sees_the_plan_but_cannot_start_a_checkout(
    client: httpx.AsyncClient, database: Database, stripe_api: respx.MockRouter, role: Role
) -> None:
    _, plain = await admin_and_user(database, role)
    route = checkout_route(stripe_api)
    csrf = await signed_in(client, plain)
    page = (await client.get("/settings/billing")).text
    assert 'id="current-plan">Free<' in page
    assert "Upgrade to" not in page
    assert "Only an admin" in page
    response = await client.post(
        "/settings/billing/checkout", data={"csrf_token": csrf, "plan": "pro"}
    )
    assert response.status_code == 403
    portal = await client.post("/settings/billing/portal", data={"csrf_token": csrf})
    assert portal.status_code == 403
    assert not route.called


@pytest.mark.parametrize("token", [None, "forged-token"])
@pytest.mark.parametrize("form", ["checkout", "portal"])
async def test_billing_forms_without_the_csrf_token_are_403(
    client: httpx.AsyncClient,
    database: Database,
    stripe_api: respx.MockRouter,
    token: str | None,
    form: str,
) -> None:
    admin, _ = await admin_and_user(database)
    await update_org(database, admin.org_id, stripe_customer_id="cus_page")
    routes = (checkout_route(stripe_api), portal_route(stripe_api))
    await signed_in(client, admin)
    data = {"plan": "pro"} | ({"csrf_token": token} if token else {})
    response = await client.post(f"/settings/billing/{form}", data=data)
    assert response.status_code == 403
    assert not any(route.called for route in routes)


async def test_an_unknown_plan_is_a_400_page(
    client: httpx.AsyncClient, database: Database, stripe_api: respx.MockRouter
) -> None:
    admin, _ = await admin_and_user(database)
    route = checkout_route(stripe_api)
    csrf = await signed_in(client, admin)
    response = await client.post(
        "/settings/billing/checkout", data={"csrf_token": csrf, "plan": "free"}
    )
    assert response.status_code == 400
    assert not route.called


async def test_a_subscribed_org_manages_through_the_portal_not_a_second_checkout(
    client: httpx.AsyncClient, database: Database, stripe_api: respx.MockRouter
) -> None:
    admin, _ = await admin_and_user(database)
    await update_org(
        database,
        admin.org_id,
        plan=PlanTier.PRO,
        stripe_customer_id="cus_page",
        stripe_subscription_id="sub_page",
        subscription_status="active",
    )
    checkout, portal = checkout_route(stripe_api), portal_route(stripe_api)
    csrf = await signed_in(client, admin)
    page = (await client.get("/settings/billing")).text
    assert "Upgrade to" not in page
    assert "Manage billing" in page
    refused = await client.post(
        "/settings/billing/checkout", data={"csrf_token": csrf, "plan": "agency"}
    )
    assert (refused.status_code, refused.headers["location"]) == (303, "/settings/billing")
    assert not checkout.called
    response = await client.post("/settings/billing/portal", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert response.headers["location"] == "https://billing.stripe.com/p/session/test_page0001"
    form = dict(httpx.QueryParams(portal.calls.last.request.content.decode()))
    assert form["customer"] == "cus_page"


async def test_stripe_down_on_checkout_comes_back_with_a_message(
    client: httpx.AsyncClient, database: Database, stripe_api: respx.MockRouter
) -> None:
    admin, _ = await admin_and_user(database)
    stripe_api.post("/v1/checkout/sessions").mock(side_effect=httpx.ConnectError("refused"))
    csrf = await signed_in(client, admin)
    response = await client.post(
        "/settings/billing/checkout", data={"csrf_token": csrf, "plan": "starter"}
    )
    assert (response.status_code, response.headers["location"]) == (303, "/settings/billing")
    page = (await client.get("/settings/billing")).text
    assert "Stripe did not answer" in page


class TestBillingOff:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(
            update={
                "stripe_secret_key": None,
                "stripe_price_starter": None,
                "stripe_price_pro": None,
                "stripe_price_agency": None,
            }
        )

    async def test_the_page_says_billing_is_off_and_shows_the_configured_plan(
        self, client: httpx.AsyncClient, database: Database, stripe_api: respx.MockRouter
    ) -> None:
        admin, _ = await admin_and_user(database)
        await update_org(database, admin.org_id, plan=PlanTier.AGENCY)
        route = checkout_route(stripe_api)
        csrf = await signed_in(client, admin)
        page = (await client.get("/settings/billing")).text
        assert "Billing is off" in page
        assert 'id="current-plan">Agency<' in page
        assert 'id="ai-limit">50,000<' in page
        assert "Upgrade to" not in page
        response = await client.post(
            "/settings/billing/checkout", data={"csrf_token": csrf, "plan": "pro"}
        )
        assert (response.status_code, response.headers["location"]) == (303, "/settings/billing")
        assert not route.called
