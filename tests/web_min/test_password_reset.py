"""Password reset by a one-time emailed link: single use, 30 minutes, printed (not logged)
in the embedded mode, sent through Resend when configured."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import respx
from pydantic import SecretStr
from sqlalchemy import update

from core.auth.models import PasswordResetToken
from core.auth.sessions import token_hash
from core.base import utcnow
from core.config import Settings
from core.db import Database
from tests.factories import TEST_PASSWORD
from tests.web_min.conftest import csrf_of, served, signed_in, web_user

NEW_PASSWORD = "a brand new passphrase"
LINK = re.compile(r"http://127\.0\.0\.1:8000/login/reset/([A-Za-z0-9_-]{43})")


async def _ask(client: httpx.AsyncClient, email: str) -> httpx.Response:
    token = await csrf_of(client, "/login/reset")
    return await client.post("/login/reset", data={"email": email, "csrf_token": token})


async def _set_password(client: httpx.AsyncClient, token: str, password: str) -> httpx.Response:
    csrf = await csrf_of(client, f"/login/reset/{token}")
    return await client.post(
        f"/login/reset/{token}",
        data={"password": password, "confirm": password, "csrf_token": csrf},
    )


async def _sign_in_status(client: httpx.AsyncClient, email: str, password: str) -> int:
    token = await csrf_of(client, "/login")
    response = await client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )
    return response.status_code


async def test_the_link_is_printed_not_logged_and_works_once(
    client: httpx.AsyncClient,
    database: Database,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = await web_user(database)
    elsewhere = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    await signed_in(elsewhere, user)
    caplog.set_level(logging.DEBUG)

    asked = await _ask(client, user.email)
    assert asked.status_code == 200
    assert "Check your email" in asked.text
    printed = capsys.readouterr().err
    found = LINK.search(printed)
    assert found is not None, printed
    token = found.group(1)
    assert token not in caplog.text  # the console has it, the structured logs do not

    assert (await client.get(f"/login/reset/{token}")).status_code == 200  # looking is free
    done = await _set_password(client, token, NEW_PASSWORD)
    assert (done.status_code, done.headers["location"]) == (303, "/login")
    assert (await elsewhere.get("/settings")).status_code == 303  # every session ended
    await elsewhere.aclose()

    again = await client.get(f"/login/reset/{token}", headers={"accept": "text/html"})
    assert again.status_code == 410
    assert "no longer works" in again.text
    reuse = await client.post(
        f"/login/reset/{token}",
        data={"password": "yet another one!", "confirm": "yet another one!", "csrf_token": "x"},
    )
    assert reuse.status_code == 403  # CSRF first; with a token it is the 410 below
    csrf = await csrf_of(client, "/login")
    reuse = await client.post(
        f"/login/reset/{token}",
        data={"password": "yet another one!", "confirm": "yet another one!", "csrf_token": csrf},
    )
    assert reuse.status_code == 410
    assert await _sign_in_status(client, user.email, TEST_PASSWORD) == 401
    assert await _sign_in_status(client, user.email, NEW_PASSWORD) == 303


async def test_an_expired_link_is_refused(
    client: httpx.AsyncClient, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    user = await web_user(database)
    await _ask(client, user.email)
    found = LINK.search(capsys.readouterr().err)
    assert found is not None
    token = found.group(1)
    async with database.system() as session:
        await session.execute(
            update(PasswordResetToken)
            .where(PasswordResetToken.token_hash == token_hash(token))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await client.get(f"/login/reset/{token}")).status_code == 410
    csrf = await csrf_of(client, "/login")
    response = await client.post(
        f"/login/reset/{token}",
        data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD, "csrf_token": csrf},
    )
    assert response.status_code == 410
    assert await _sign_in_status(client, user.email, TEST_PASSWORD) == 303


async def test_links_last_thirty_minutes(
    client: httpx.AsyncClient, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    user = await web_user(database)
    await _ask(client, user.email)
    found = LINK.search(capsys.readouterr().err)
    assert found is not None
    async with database.system() as session:
        row = await session.get(PasswordResetToken, token_hash(found.group(1)))
    assert row is not None
    assert row.expires_at - row.created_at == timedelta(minutes=30)


async def test_an_unknown_email_gets_the_same_answer_and_nothing_is_sent(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    asked = await _ask(client, "nobody@example.com")
    assert asked.status_code == 200
    assert "Check your email" in asked.text
    assert "/login/reset/" not in capsys.readouterr().err


async def test_a_short_or_mismatched_password_keeps_the_link(
    client: httpx.AsyncClient, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    user = await web_user(database)
    await _ask(client, user.email)
    found = LINK.search(capsys.readouterr().err)
    assert found is not None
    token = found.group(1)
    short = await _set_password(client, token, "short")
    assert short.status_code == 400
    assert "10 characters" in short.text
    csrf = await csrf_of(client, f"/login/reset/{token}")
    mismatch = await client.post(
        f"/login/reset/{token}",
        data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "x", "csrf_token": csrf},
    )
    assert mismatch.status_code == 400
    assert (await _set_password(client, token, NEW_PASSWORD)).status_code == 303


@pytest.fixture
async def emailing_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    configured = settings.model_copy(
        update={
            "resend_api_key": SecretStr("re_test_key"),
            "email_from": "AdPilot <noreply@adpilot.test>",
            "resend_api_url": "https://resend.test",
        }
    )
    async with served(configured) as http:
        yield http


async def test_with_email_configured_the_link_goes_through_resend(
    emailing_client: httpx.AsyncClient, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    user = await web_user(database)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post("https://resend.test/emails").respond(200, json={"id": "email-1"})
        asked = await _ask(emailing_client, user.email)
    assert asked.status_code == 200
    sent = json.loads(route.calls.last.request.content)
    assert sent["to"] == [user.email]
    assert sent["subject"] == "Reset your AdPilot password"
    found = LINK.search(sent["text"])
    assert found is not None
    assert route.calls.last.request.headers["idempotency-key"].startswith("password-reset/")
    assert found.group(1) not in route.calls.last.request.headers["idempotency-key"]
    assert "/login/reset/" not in capsys.readouterr().err  # nothing printed when mailed
    assert (await emailing_client.get(f"/login/reset/{found.group(1)}")).status_code == 200
