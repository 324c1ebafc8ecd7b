"""Signing in in real Chromium: the pages render, the CSP lets them work, the cookie holds."""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from core.db import Database
from core.users.models import Role
from tests.web_min.browser.conftest import LiveServer, screenshot
from tests.web_min.conftest import web_user

pytestmark = pytest.mark.browser


async def test_sign_in_with_a_password_reaches_settings(
    live_server: LiveServer, page: Page
) -> None:
    database = Database(live_server.settings)
    user = await web_user(database, role=Role.ADMIN)
    await database.dispose()
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )

    await page.goto(f"{live_server.url}/settings")
    assert page.url.startswith(f"{live_server.url}/login?next=")
    await screenshot(page, "login")
    await page.get_by_label("Email").fill(user.email)
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{live_server.url}/settings")
    await page.get_by_role("heading", level=1).wait_for()
    assert user.email in await page.content()
    await screenshot(page, "settings")
    assert errors == []  # no CSP violation, no missing file

    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(f"{live_server.url}/login")
    assert "You are signed out." in await page.content()
