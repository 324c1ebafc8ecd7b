"""Starting an upgrade in real Chromium: the billing page, the Upgrade button, the 303 to
Stripe's hosted Checkout (a loopback stand-in that answers the stripe library's calls), then
Stripe's signed webhook and the page showing the new plan."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.async_api import Page

from core.db import Database
from core.users.models import Role
from tests.web_min import stripe_payloads as stripe_json
from tests.web_min.browser.conftest import LiveServer, screenshot
from tests.web_min.conftest import web_user
from tests.web_min.stripe_standin import StripeStandIn, running_standin

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[StripeStandIn]:
    """The Stripe stand-in, and billing switched on for the live server that starts after it."""
    with running_standin() as running:
        for name, value in {
            "ADPILOT_STRIPE_SECRET_KEY": "sk_test_adpilot_browser_000000000",
            "ADPILOT_STRIPE_WEBHOOK_SECRET": stripe_json.WEBHOOK_SECRET,
            "ADPILOT_STRIPE_API_URL": running.base_url,
            "ADPILOT_STRIPE_PRICE_STARTER": stripe_json.PRICE_STARTER,
            "ADPILOT_STRIPE_PRICE_PRO": stripe_json.PRICE_PRO,
            "ADPILOT_STRIPE_PRICE_AGENCY": stripe_json.PRICE_AGENCY,
        }.items():
            monkeypatch.setenv(name, value)
        yield running


@pytest.fixture
def live_server(standin: StripeStandIn, live_server: LiveServer) -> LiveServer:
    return live_server


async def test_an_admin_starts_an_upgrade_and_lands_on_checkout(
    standin: StripeStandIn, live_server: LiveServer, page: Page
) -> None:
    database = Database(live_server.settings)
    admin = await web_user(database, role=Role.ADMIN)
    await database.dispose()
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )

    await page.goto(f"{live_server.url}/login?next=/settings/billing")
    await page.get_by_label("Email").fill(admin.email)
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{live_server.url}/settings/billing")
    await page.get_by_role("heading", name="Billing", level=1).wait_for()
    assert await page.locator("#current-plan").inner_text() == "Free"
    assert await page.locator("#ai-limit").inner_text() == "50"
    await screenshot(page, "billing")
    assert errors == []

    await page.get_by_role("button", name="Upgrade to Pro").click()
    await page.wait_for_url(f"{standin.base_url}/c/pay/cs_test_*")
    await page.get_by_role("heading", name="Stripe Checkout (local stand-in)").wait_for()
    assert await page.locator("#price").inner_text() == stripe_json.PRICE_PRO
    assert await page.locator("#reference").inner_text() == str(admin.org_id)
    await screenshot(page, "billing-checkout")
    [call] = standin.calls("/v1/checkout/sessions")
    assert call.form["mode"] == "subscription"
    success_url = call.form["success_url"]
    assert success_url == f"{live_server.url}/settings/billing?checkout=success"

    # Stripe completes the payment and tells the server (signed, over loopback HTTP); the
    # server reads the subscription back from the stand-in.
    standin.subscriptions["sub_test_browser"] = stripe_json.subscription(
        subscription_id="sub_test_browser",
        customer="cus_test_browser",
        price_id=stripe_json.PRICE_PRO,
        org_id=str(admin.org_id),
    )
    completed = stripe_json.event(
        "checkout.session.completed",
        stripe_json.checkout_session(
            session_id=stripe_json.stripe_id("cs"),
            customer="cus_test_browser",
            subscription_id="sub_test_browser",
            client_reference_id=str(admin.org_id),
        ),
    )
    body, headers = stripe_json.signed(completed)
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{live_server.url}/stripe/webhook", content=body, headers=headers)
    assert answer.json() == {"ok": True, "outcome": "applied"}
    await page.goto(success_url)
    assert await page.locator("#current-plan").inner_text() == "Pro"
    assert await page.locator("#ai-limit").inner_text() == "5,000"
    assert "Stripe confirmed the checkout" in await page.content()
    await page.get_by_role("button", name="Manage billing").wait_for()
    await screenshot(page, "billing-upgraded")
