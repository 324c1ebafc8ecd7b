"""The Stripe gateway against the loopback stand-in: what the stripe library really sends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from core.config import Settings
from core.orgs.models import PlanTier
from tests.web_min import stripe_payloads as stripe_json
from tests.web_min.stripe_standin import StripeStandIn, running_standin
from web_min.stripe_gateway import (
    StripeGateway,
    StripeUnavailable,
    checkout_ready,
    configured_prices,
)

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


@pytest.fixture
def standin() -> Iterator[StripeStandIn]:
    with running_standin() as running:
        yield running


def stripe_settings(api_url: str, **changes: object) -> Settings:
    billing_on = stripe_json.with_stripe(Settings(), api_url)
    return billing_on.model_copy(
        update={
            "stripe_price_starter": None,
            "stripe_price_agency": None,
            "public_url": "https://adpilot.example.com/",
            **changes,
        }
    )


async def test_checkout_is_a_subscription_session_bound_to_the_org(
    standin: StripeStandIn,
) -> None:
    org_id = uuid.uuid4()
    gateway = StripeGateway(stripe_settings(standin.base_url))
    url = await gateway.checkout_url(
        org_id=org_id, tier=PlanTier.PRO, customer_id=None, email="ada@example.com"
    )
    assert url.startswith(f"{standin.base_url}/c/pay/cs_test_")
    [call] = standin.calls("/v1/checkout/sessions")
    assert call.authorization == "Bearer sk_test_adpilot_0000000000000000"
    assert call.form["mode"] == "subscription"
    assert call.form["client_reference_id"] == str(org_id)
    assert call.form["line_items[0][price]"] == stripe_json.PRICE_PRO
    assert call.form["subscription_data[metadata][org_id]"] == str(org_id)
    assert call.form["customer_email"] == "ada@example.com"
    assert "customer" not in call.form
    assert call.form["success_url"] == (
        "https://adpilot.example.com/settings/billing?checkout=success"
    )
    assert call.form["cancel_url"] == (
        "https://adpilot.example.com/settings/billing?checkout=cancelled"
    )


async def test_a_known_customer_is_reused_for_checkout_and_the_portal(
    standin: StripeStandIn,
) -> None:
    gateway = StripeGateway(stripe_settings(standin.base_url))
    await gateway.checkout_url(
        org_id=uuid.uuid4(), tier=PlanTier.PRO, customer_id="cus_known", email="a@example.com"
    )
    [checkout] = standin.calls("/v1/checkout/sessions")
    assert checkout.form["customer"] == "cus_known"
    assert "customer_email" not in checkout.form
    url = await gateway.portal_url(customer_id="cus_known")
    assert url.startswith(f"{standin.base_url}/p/session/bps_test_")
    [portal] = standin.calls("/v1/billing_portal/sessions")
    assert portal.form == {
        "customer": "cus_known",
        "return_url": "https://adpilot.example.com/settings/billing",
    }


async def test_an_unreachable_stripe_is_a_typed_error() -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    gateway = StripeGateway(stripe_settings("http://127.0.0.1:9"))
    with pytest.raises(StripeUnavailable):
        await gateway.portal_url(customer_id="cus_known")


def test_billing_is_on_only_with_a_key_and_a_price() -> None:
    assert checkout_ready(stripe_settings("http://127.0.0.1:9"))
    assert not checkout_ready(stripe_settings("http://127.0.0.1:9", stripe_secret_key=None))
    assert not checkout_ready(stripe_settings("http://127.0.0.1:9", stripe_price_pro=None))
    assert configured_prices(
        stripe_settings("http://127.0.0.1:9", stripe_price_agency="price_a")
    ) == {stripe_json.PRICE_PRO: PlanTier.PRO, "price_a": PlanTier.AGENCY}
