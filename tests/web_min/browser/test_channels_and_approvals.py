"""In real Chromium: create a link code and copy it, add an alert destination, approve a card."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from core.campaigns.models import Campaign, CampaignStatus
from core.db import Database
from core.notify.models import Destination
from tests.web_min.browser.conftest import LiveServer, screenshot
from tests.web_min.sandbox_shop import propose_card, rule_with_alert, shop_with_team

pytestmark = pytest.mark.browser


async def test_link_code_destination_and_approval_from_the_pages(
    live_server: LiveServer, page: Page
) -> None:
    database = Database(live_server.settings)
    shop = await shop_with_team(database)
    card = await propose_card(database, shop, shop.member)
    await rule_with_alert(database, shop.org, mode="approve", enabled=True)
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    await page.context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=live_server.url
    )

    await page.goto(f"{live_server.url}/login?next=/settings/channels")
    await page.get_by_label("Email").fill(shop.admin.email)
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{live_server.url}/settings/channels")

    # A link code, with the exact text to send and a working copy button.
    await page.get_by_role("button", name="Create a link code").click()
    text = page.locator("#link-text")
    await expect(text).to_have_text(re.compile(r"^link [A-Z0-9]{4}-[A-Z0-9]{4}$"))
    copy = page.locator('button[data-copy="link-text"]')
    await copy.click()
    await expect(copy).to_have_text("Copied")
    assert await page.evaluate("navigator.clipboard.readText()") == await text.inner_text()

    # An alert destination, added through the form.
    await page.get_by_text("Add a destination").click()
    form = page.locator("#add-destination")
    await form.get_by_label("Where", exact=True).select_option("email")
    await form.locator("#dest-name").fill("Ops inbox")
    await form.get_by_label("Address", exact=True).fill("ops@example.com")
    await form.get_by_label("Rule alerts", exact=True).select_option("on")
    await form.get_by_role("button", name="Add destination").click()
    await expect(page.get_by_text("Added Email address Ops inbox.")).to_be_visible()
    await expect(page.locator("#destinations table")).to_contain_text("ops@example.com")
    await screenshot(page, "channels")
    async with database.system() as session:
        stored = await session.scalar(select(Destination).where(Destination.org_id == shop.org.id))
    assert stored is not None
    assert (stored.channel, stored.conversation_id, stored.kinds) == (
        "email",
        "ops@example.com",
        {"alerts": True},
    )

    # The waiting card, approved from the rules page.
    await page.get_by_role("link", name="Rules & approvals").click()
    await page.wait_for_url(f"{live_server.url}/settings/rules")
    await expect(page.get_by_text(card.summary)).to_be_visible()
    await screenshot(page, "rules")
    await page.get_by_role("button", name=f"Approve {card.short_code}").click()
    await expect(page.get_by_text("Nothing is waiting for approval.")).to_be_visible()
    async with database.system() as session:
        campaign = await session.get(Campaign, shop.campaign_id)
    assert campaign is not None
    assert campaign.status == CampaignStatus.PAUSED
    await database.dispose()
    assert errors == []  # no CSP violation, no missing file
