"""The team and operator pages in real Chromium: invite, accept, and the admin's views."""

from __future__ import annotations

import pyotp
import pytest
from playwright.async_api import Browser, Page

from core.db import Database
from core.events import dead_letters
from core.users.models import Role
from tests import factories
from tests.web_min.browser.conftest import LiveServer, screenshot
from tests.web_min.conftest import web_user

pytestmark = pytest.mark.browser


async def _sign_in(page: Page, server: LiveServer, email: str, secret: str) -> None:
    await page.goto(f"{server.url}/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{server.url}/login/mfa**")
    await page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_url(f"{server.url}/settings")


async def test_an_admin_invites_someone_who_joins_and_an_operator_sees_the_installation(
    live_server: LiveServer, page: Page, browser: Browser
) -> None:
    secret = pyotp.random_base32()
    database = Database(live_server.settings)
    admin = await web_user(database, role=Role.ADMIN, totp_secret=secret, is_operator=True)
    async with database.system() as session:
        other = await factories.org(session, name="Rival Widgets")
        await factories.ad_account(session, other)
        await dead_letters.record(
            session=session,
            job_name="sync_account",
            arguments={"account_id": "acct-1"},
            error="PlatformUnavailable: Meta answered 503",
            attempts=5,
            org_id=other.id,
        )
    await database.dispose()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    await _sign_in(page, live_server, admin.email, secret)
    await page.get_by_role("link", name="Team").first.click()
    await page.wait_for_url(f"{live_server.url}/settings/team")
    await page.locator("#invite-email").fill("kim@example.com")
    await page.locator("#invite-role").select_option("manager")
    await page.get_by_role("button", name="Send invitation").click()
    link = (await page.locator("#invite-link").text_content() or "").strip()
    assert link.startswith(f"{live_server.url}/invite/")
    await screenshot(page, "team")

    invitee = await browser.new_context(viewport={"width": 390, "height": 844})
    phone = await invitee.new_page()
    await phone.goto(link)
    await phone.locator("#accept-password").fill("correct horse battery")
    await phone.locator("#accept-password-again").fill("correct horse battery")
    await screenshot(phone, "invite-accept")
    await phone.get_by_role("button", name="Join and sign in").click()
    await phone.wait_for_url(f"{live_server.url}/login")
    assert "Welcome to AdPilot" in await phone.content()
    await invitee.close()

    await page.goto(f"{live_server.url}/settings/team")
    assert "kim@example.com" in await page.content()
    await page.goto(f"{live_server.url}/admin")
    assert "Rival Widgets" in await page.content()
    await screenshot(page, "admin")
    await page.get_by_role("link", name="Dead letters").click()
    assert "sync_account" in await page.content()
    await screenshot(page, "admin-dead-letters")
    assert errors == []
