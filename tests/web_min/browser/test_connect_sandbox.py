"""Connecting the sandbox platform in real Chromium: consent, pick, listed."""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from adapters.sandbox import SandboxAdapter
from core.db import Database
from core.users.models import Role
from tests.web_min.browser.conftest import LiveServer, screenshot
from tests.web_min.conftest import web_user

pytestmark = pytest.mark.browser


async def test_connect_the_sandbox_platform_and_see_the_account(
    live_server: LiveServer, page: Page
) -> None:
    database = Database(live_server.settings)
    admin = await web_user(database, role=Role.ADMIN)
    await SandboxAdapter(database).provision_account(name="Browser Shoes", history_days=1)
    await database.dispose()
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )

    await page.goto(f"{live_server.url}/login")
    await page.get_by_label("Email").fill(admin.email)
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{live_server.url}/settings")

    await page.get_by_role("link", name="Connections").first.click()
    await page.wait_for_url(f"{live_server.url}/settings/connections")
    assert "No ad accounts yet" in await page.content()
    await page.get_by_role("button", name="Connect Sandbox").click()
    # The sandbox's consent sends the browser straight back to our callback, then the pick.
    await page.wait_for_url(f"{live_server.url}/settings/connections/sandbox/pick?flow=*")
    await page.get_by_label("Browser Shoes").check()
    await page.get_by_role("button", name="Connect selected accounts").click()

    await page.wait_for_url(f"{live_server.url}/settings/connections")
    row = page.get_by_role("row", name="Browser Shoes")
    await row.wait_for()
    assert "Not synced yet" in await row.inner_text()
    assert "Connected Browser Shoes" in await page.content()
    await screenshot(page, "connections")
    assert errors == []
