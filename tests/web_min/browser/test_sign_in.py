"""Signing in in real Chromium: the pages render, the CSP lets them work, the cookie holds."""

from __future__ import annotations

import pyotp
import pytest
from playwright.async_api import Browser, Page

from core.db import Database
from core.users.models import Role
from tests.web_min.browser.conftest import LiveServer, screenshot
from tests.web_min.conftest import web_user

pytestmark = pytest.mark.browser


def console_errors(page: Page) -> list[str]:
    """Console errors the page logs from here on: CSP violations, missing files, script errors."""
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    return errors


async def test_sign_in_with_a_password_reaches_settings(
    live_server: LiveServer, page: Page
) -> None:
    database = Database(live_server.settings)
    user = await web_user(database, role=Role.ADMIN)
    await database.dispose()
    errors = console_errors(page)

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

    await page.get_by_role("button", name="Sign out", exact=True).click()
    await page.wait_for_url(f"{live_server.url}/login")
    assert "You are signed out." in await page.content()


async def test_sign_in_with_totp_then_enrolment_page_renders_its_qr_code(
    live_server: LiveServer, page: Page
) -> None:
    secret = pyotp.random_base32()
    database = Database(live_server.settings)
    user = await web_user(database, role=Role.ADMIN, totp_secret=secret)
    await database.dispose()
    errors = console_errors(page)

    await page.goto(f"{live_server.url}/login")
    await page.get_by_label("Email").fill(user.email)
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{live_server.url}/login/mfa**")
    await screenshot(page, "login-mfa")
    await page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_url(f"{live_server.url}/settings")
    assert "Two-factor sign-in" in await page.content()
    assert "On. Your sign-in asks for a code" in await page.content()
    await screenshot(page, "settings-signed-in-with-mfa")
    assert errors == []


async def test_enrolment_qr_code_shows_under_the_page_csp(
    live_server: LiveServer, page: Page
) -> None:
    database = Database(live_server.settings)
    user = await web_user(database)
    await database.dispose()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if message.type == "error" else None,
    )

    await page.goto(f"{live_server.url}/login?next=/settings/mfa")
    await page.get_by_label("Email").fill(user.email)
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{live_server.url}/settings/mfa")
    await page.get_by_role("button", name="Set up two-factor sign-in").click()
    qr = page.get_by_role("img", name="QR code for adding AdPilot to an authenticator app")
    await qr.wait_for()
    # The data: SVG decoded and laid out: CSP let it through.
    assert await qr.evaluate("image => image.complete && image.naturalWidth > 0")
    secret = (await page.locator("#totp-secret").inner_text()).replace(" ", "")
    await screenshot(page, "mfa-enrolment")
    await page.get_by_label("6-digit code").fill(pyotp.TOTP(secret).now())
    await page.get_by_role("button", name="Turn on").click()
    await page.get_by_role("heading", name="Your recovery codes").wait_for()
    assert await page.locator("#recovery-codes li").count() == 10
    await screenshot(page, "mfa-recovery-codes")
    assert violations == []


async def test_on_a_phone_the_pages_fit_and_the_keyboard_order_is_the_reading_order(
    live_server: LiveServer, browser: Browser
) -> None:
    database = Database(live_server.settings)
    user = await web_user(database, role=Role.ADMIN)
    await database.dispose()
    context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = await context.new_page()
    try:
        await phone.goto(f"{live_server.url}/login")
        focused = await phone.evaluate("document.activeElement.id")
        assert focused == "email"  # autofocus lands on the first field
        await phone.keyboard.press("Tab")
        assert await phone.evaluate("document.activeElement.id") == "password"
        await phone.keyboard.press("Tab")
        assert await phone.evaluate("document.activeElement.textContent.trim()") == "Sign in"
        await phone.get_by_label("Email").fill(user.email)
        await phone.get_by_label("Password").fill("correct horse battery")
        await phone.get_by_role("button", name="Sign in").click()
        await phone.wait_for_url(f"{live_server.url}/settings")
        fits = await phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert fits, "the settings page scrolls sideways on a phone"
        await screenshot(phone, "settings-phone")
    finally:
        await context.close()


async def test_too_many_attempts_show_a_friendly_page(live_server: LiveServer, page: Page) -> None:
    await page.goto(f"{live_server.url}/login")
    for _ in range(6):
        await page.get_by_label("Email").fill("someone@example.com")
        await page.get_by_label("Password").fill("not the password")
        async with page.expect_response(f"{live_server.url}/login") as answer:
            await page.get_by_role("button", name="Sign in").click()
        response = await answer.value
    assert response.status == 429
    assert int(await response.header_value("retry-after") or "0") >= 1
    await page.get_by_text("Too many attempts").wait_for()
    await screenshot(page, "login-rate-limited")
