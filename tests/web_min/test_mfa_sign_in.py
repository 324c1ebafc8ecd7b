"""The second factor at sign-in, enrolment with a QR code, recovery codes, "require MFA"."""

from __future__ import annotations

import re
import time

import httpx
import pyotp
from sqlalchemy import select

from core.auth import recovery
from core.auth.models import RecoveryCode
from core.db import Database
from core.orgs.models import Organization
from core.users.models import Role, User
from tests.factories import TEST_PASSWORD
from tests.web_min.conftest import csrf_of, set_cookie, signed_in, totp_code, web_user
from web_min.auth.cookies import SESSION_COOKIE


async def _password_step(client: httpx.AsyncClient, user: User, next_path: str = "") -> str:
    response = await client.post(
        "/login",
        data={
            "email": user.email,
            "password": TEST_PASSWORD,
            "csrf_token": await csrf_of(client, "/login"),
            "next": next_path,
        },
    )
    assert response.status_code == 303
    return str(response.headers["location"])


async def _code_step(client: httpx.AsyncClient, code: str, next_path: str = "") -> httpx.Response:
    token = await csrf_of(client, "/login/mfa")
    return await client.post(
        "/login/mfa", data={"code": code, "csrf_token": token, "next": next_path}
    )


async def test_an_enrolled_user_needs_the_code_before_any_page(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await web_user(database, totp_secret=pyotp.random_base32())
    location = await _password_step(client, user, "/settings/billing")
    assert location == "/login/mfa?next=/settings/billing"
    pending_token = client.cookies[SESSION_COOKIE]
    # Half signed in reaches nothing but the code step.
    assert (await client.get("/settings")).headers["location"] == "/login/mfa"

    response = await _code_step(client, totp_code(user), "/settings/billing")
    assert (response.status_code, response.headers["location"]) == (303, "/settings/billing")
    assert client.cookies[SESSION_COOKIE] != pending_token
    assert (await client.get("/settings")).status_code == 200
    # The half-signed-in token died when the full session was issued.
    set_cookie(client, SESSION_COOKIE, pending_token)
    assert (await client.get("/login/mfa")).headers["location"] == "/login"
    assert (await client.get("/settings")).status_code == 303


async def test_a_wrong_code_is_refused(client: httpx.AsyncClient, database: Database) -> None:
    user = await web_user(database, totp_secret=pyotp.random_base32())
    await _password_step(client, user)
    wrong = f"{(int(totp_code(user)) + 1) % 1_000_000:06d}"
    response = await _code_step(client, wrong)
    assert response.status_code == 401
    assert "not valid" in response.text
    assert (await client.get("/settings")).headers["location"] == "/login/mfa"


async def test_a_spent_code_cannot_sign_in_again(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await web_user(database, totp_secret=pyotp.random_base32())
    code = totp_code(user)
    await _password_step(client, user)
    assert (await _code_step(client, code)).status_code == 303
    client.cookies.clear()
    await _password_step(client, user)
    replay = await _code_step(client, code)
    assert replay.status_code == 401
    assert (await client.get("/settings")).status_code == 303


async def test_a_recovery_code_signs_in_once(client: httpx.AsyncClient, database: Database) -> None:
    user = await web_user(database, totp_secret=pyotp.random_base32())
    async with database.tenant(user.org_id) as session:
        codes = await recovery.regenerate(session=session, org_id=user.org_id, user_id=user.id)
    await _password_step(client, user)
    used = await _code_step(client, codes[3].upper())  # as typed from paper
    assert (used.status_code, used.headers["location"]) == (303, "/settings")
    assert "recovery code" in (await client.get("/settings")).text

    client.cookies.clear()
    await _password_step(client, user)
    again = await _code_step(client, codes[3])
    assert again.status_code == 401
    assert "used already" in again.text
    assert (await _code_step(client, codes[4])).status_code == 303


async def test_enrolment_shows_a_qr_code_and_confirm_turns_mfa_on(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await web_user(database)
    token = await signed_in(client, user)
    intro = await client.get("/settings/mfa")
    assert "Set up two-factor sign-in" in intro.text
    started = await client.post("/settings/mfa/start", data={"csrf_token": token})
    assert started.headers["location"] == "/settings/mfa"
    page = (await client.get("/settings/mfa")).text
    assert 'src="data:image/svg+xml' in page
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page)
    assert secret is not None
    totp = pyotp.TOTP(secret.group(1).replace(" ", ""))

    wrong = await client.post("/settings/mfa/confirm", data={"csrf_token": token, "code": "000000"})
    assert wrong.status_code == 400
    confirmed = await client.post(
        "/settings/mfa/confirm", data={"csrf_token": token, "code": totp.now()}
    )
    assert confirmed.status_code == 200
    shown = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", confirmed.text)
    assert len(shown) == 10
    assert confirmed.headers["cache-control"] == "no-store"
    async with database.tenant(user.org_id) as session:
        stored = set(await session.scalars(select(RecoveryCode.code_hash)))
    assert stored == {recovery.code_hash(code) for code in shown}  # hashes only, never the codes
    assert not stored & set(shown)

    client.cookies.clear()
    assert (await _password_step(client, user)).startswith("/login/mfa")


async def test_new_recovery_codes_need_a_fresh_code(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await web_user(database, totp_secret=pyotp.random_base32())
    token = await signed_in(client, user)
    refused = await client.post(
        "/settings/mfa/recovery-codes", data={"csrf_token": token, "code": "123456"}
    )
    assert refused.headers["location"] == "/settings/mfa"
    fresh = totp_code(user, at=time.time() + 30)
    made = await client.post(
        "/settings/mfa/recovery-codes", data={"csrf_token": token, "code": fresh}
    )
    assert made.status_code == 200
    assert len(re.findall(r"<code>[a-z2-9]{5}-[a-z2-9]{5}</code>", made.text)) == 10


async def test_turning_mfa_off_takes_the_password(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await web_user(database, totp_secret=pyotp.random_base32())
    token = await signed_in(client, user)
    await client.post("/settings/mfa/disable", data={"csrf_token": token, "password": "nope"})
    assert "stays on" in (await client.get("/settings/mfa")).text
    await client.post(
        "/settings/mfa/disable", data={"csrf_token": token, "password": TEST_PASSWORD}
    )
    client.cookies.clear()
    assert await _password_step(client, user) == "/settings"


async def test_an_org_that_requires_mfa_sends_users_without_it_to_enrolment(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await web_user(database, role=Role.ADMIN)
    async with database.tenant(admin.org_id) as session:
        organization = await session.get(Organization, admin.org_id)
    assert organization is not None
    member = await web_user(database, organization=organization)
    token = await signed_in(client, admin)
    switched = await client.post(
        "/settings/security/require-mfa", data={"csrf_token": token, "required": "on"}
    )
    assert switched.headers["location"] == "/settings"

    client.cookies.clear()
    assert await _password_step(client, member) == "/settings"
    assert (await client.get("/settings")).headers["location"] == "/settings/mfa"
    assert (await client.get("/settings/mfa")).status_code == 200  # enrolment stays reachable


async def test_only_admins_switch_require_mfa(
    client: httpx.AsyncClient, database: Database
) -> None:
    manager = await web_user(database, role=Role.MANAGER)
    token = await signed_in(client, manager)
    response = await client.post(
        "/settings/security/require-mfa", data={"csrf_token": token, "required": "on"}
    )
    assert response.status_code == 403
    async with database.tenant(manager.org_id) as session:
        organization = await session.get(Organization, manager.org_id)
    assert organization is not None
    assert not organization.settings.get("require_mfa")
