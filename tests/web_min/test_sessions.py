"""Server-side sessions: rotation at sign-in, idle and absolute expiry, sign out everywhere,
CSRF on signed-in forms, and the authentication rate limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from core.auth.models import WebSession
from core.auth.sessions import token_hash
from core.base import utcnow
from core.db import Database
from core.users.models import User
from tests.factories import TEST_PASSWORD
from tests.web_min.conftest import csrf_of, set_cookie, signed_in, web_user
from web_min.auth.cookies import SESSION_COOKIE


@pytest.fixture
async def other_client(web_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser, from another IP."""
    transport = httpx.ASGITransport(
        app=web_app, raise_app_exceptions=False, client=("198.51.100.7", 4242)
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def _post_login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    token = await csrf_of(client, "/login")
    return await client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )


async def test_a_cookie_planted_before_sign_in_is_never_adopted(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await web_user(database)
    set_cookie(client, SESSION_COOKIE, "planted-by-an-attacker")
    await signed_in(client, user)
    assert client.cookies[SESSION_COOKIE] != "planted-by-an-attacker"


async def test_signing_in_again_rotates_the_token_and_kills_the_old_one(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await web_user(database)
    token = await signed_in(client, user)
    before = client.cookies[SESSION_COOKIE]
    # Signed in, the sign-in form's token is the session's own.
    response = await client.post(
        "/login", data={"email": user.email, "password": TEST_PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 303
    after = client.cookies[SESSION_COOKIE]
    assert after != before
    set_cookie(client, SESSION_COOKIE, before)
    assert (await client.get("/settings")).status_code == 303
    async with database.system() as session:
        hashes = set(await session.scalars(select(WebSession.token_hash)))
    assert hashes == {token_hash(after)}  # only hashes are stored, and the old row is gone
    assert after not in hashes


async def _age_session(database: Database, token: str, **changes: object) -> None:
    async with database.system() as session:
        await session.execute(
            update(WebSession).where(WebSession.token_hash == token_hash(token)).values(**changes)
        )


async def test_an_idle_session_ends(client: httpx.AsyncClient, database: Database) -> None:
    user = await web_user(database)
    await signed_in(client, user)
    token = client.cookies[SESSION_COOKIE]
    await _age_session(database, token, last_seen_at=utcnow() - timedelta(hours=7, minutes=59))
    assert (await client.get("/settings")).status_code == 200  # 8 h idle by default
    await _age_session(database, token, last_seen_at=utcnow() - timedelta(hours=8, minutes=1))
    response = await client.get("/settings")
    assert response.headers["location"] == "/login?next=/settings"
    async with database.system() as session:
        assert await session.scalar(select(WebSession.id)) is None  # deleted on sight


async def test_an_active_session_still_ends_at_its_absolute_limit(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await web_user(database)
    await signed_in(client, user)
    await _age_session(
        database, client.cookies[SESSION_COOKIE], expires_at=utcnow() - timedelta(seconds=1)
    )
    assert (await client.get("/settings")).status_code == 303


async def test_a_deactivated_user_is_out_at_once(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await web_user(database)
    await signed_in(client, user)
    async with database.system() as session:
        await session.execute(update(User).where(User.id == user.id).values(is_active=False))
    assert (await client.get("/settings")).status_code == 303
    assert (await _post_login(client, user.email, TEST_PASSWORD)).status_code == 401


async def test_sign_out_everywhere_ends_the_other_browsers_sessions(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, database: Database
) -> None:
    user = await web_user(database)
    bystander = await web_user(database)
    token = await signed_in(client, user)
    await signed_in(other_client, user)
    third = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    await signed_in(third, bystander)

    response = await client.post("/settings/sessions/end-all", data={"csrf_token": token})
    assert response.headers["location"] == "/login"
    assert (await other_client.get("/settings")).status_code == 303
    assert (await client.get("/settings")).status_code == 303
    assert (await third.get("/settings")).status_code == 200  # someone else's stay
    await third.aclose()


async def test_signed_in_forms_need_this_sessions_token(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, database: Database
) -> None:
    user = await web_user(database)
    await signed_in(client, user)
    others = await signed_in(other_client, await web_user(database))
    missing = await client.post("/settings/sessions/end-all", data={})
    assert missing.status_code == 403
    assert "expired" in missing.text
    mismatched = await client.post("/settings/sessions/end-all", data={"csrf_token": others})
    assert mismatched.status_code == 403
    header = await client.post(
        "/settings/sessions/end-all", headers={"X-CSRF-Token": others}, json={}
    )
    assert header.status_code == 403
    assert (await client.get("/settings")).status_code == 200  # nothing was ended


async def test_five_attempts_a_minute_per_ip_then_429_with_retry_after(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await web_user(database)
    for attempt in range(5):
        response = await _post_login(client, f"guess{attempt}@example.com", "wrong")
        assert response.status_code == 401
    limited = await _post_login(client, user.email, TEST_PASSWORD)
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert "Too many attempts" in limited.text
    assert SESSION_COOKIE not in client.cookies  # even the right password waits


async def test_five_attempts_a_minute_per_account_across_ips(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, database: Database
) -> None:
    user = await web_user(database)
    for _ in range(5):
        assert (await _post_login(client, user.email, "wrong")).status_code == 401
    limited = await _post_login(other_client, user.email.upper(), TEST_PASSWORD)
    assert limited.status_code == 429
    assert "retry-after" in limited.headers
