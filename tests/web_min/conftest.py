"""The web app under test, a client that keeps cookies, and sign-in helpers.

- `web_app`: `create_app(settings)` with its lifespan run; `client`: an httpx client on it
  (base URL http://testserver, no redirects followed, cookies kept like a browser's).
- `served(settings)`: the same app and client for a test's own settings, as a context manager.
- `signed_in(client, user)`: the real sign-in (password, then TOTP via pyotp when enrolled);
  returns the session's CSRF token. `csrf_of(client, path)`: the csrf_token field of a page.
- `web_user(database, role=...)`: a committed org and user who can sign in.
Import the helpers: `from tests.web_min.conftest import csrf_of, signed_in, web_user`.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pyotp
import pytest
from fastapi import FastAPI

from core.config import Settings
from core.db import Database
from core.orgs.models import Organization
from core.security.crypto import decrypt
from core.users.models import Role, User
from tests import factories
from tests.factories import TEST_PASSWORD
from web_min.app import create_app

_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
async def web_app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client on a fresh `create_app(settings)`, its lifespan run: for a test's own settings."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@pytest.fixture
async def client(web_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=web_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", follow_redirects=False
    ) as http:
        yield http


def csrf_from(html: str) -> str:
    found = _CSRF_FIELD.search(html)
    assert found is not None, "the page has no csrf_token field"
    return found.group(1)


async def csrf_of(client: httpx.AsyncClient, path: str) -> str:
    """GET `path` and read the csrf_token field from its HTML."""
    response = await client.get(path)
    assert response.status_code == 200, f"GET {path} answered {response.status_code}"
    return csrf_from(response.text)


def set_cookie(client: httpx.AsyncClient, name: str, value: str) -> None:
    """Replace a cookie the way a browser holds it (the test server's host is testserver.local)."""
    client.cookies.delete(name)
    client.cookies.set(name, value, domain="testserver.local", path="/")


def totp_code(user: User, *, at: float | None = None) -> str:
    assert user.totp_secret_encrypted is not None, "the user has no TOTP secret"
    return pyotp.TOTP(decrypt(user.totp_secret_encrypted)).at(at if at is not None else time.time())


async def signed_in(client: httpx.AsyncClient, user: User, password: str = TEST_PASSWORD) -> str:
    """Sign `user` in through the real pages (TOTP too when enrolled); the session's CSRF token."""
    response = await client.post(
        "/login",
        data={
            "email": user.email,
            "password": password,
            "csrf_token": await csrf_of(client, "/login"),
        },
    )
    assert response.status_code == 303, f"sign-in refused ({response.status_code})"
    if response.headers["location"].startswith("/login/mfa"):
        # A code of the next time step when this one was spent by an earlier sign-in.
        for offset in (0, 30, 60):
            token = await csrf_of(client, "/login/mfa")
            response = await client.post(
                "/login/mfa",
                data={"code": totp_code(user, at=time.time() + offset), "csrf_token": token},
            )
            if response.status_code == 303:
                break
        assert response.status_code == 303, f"second factor refused ({response.status_code})"
    return await csrf_of(client, "/settings")


async def web_user(
    database: Database,
    *,
    role: Role = Role.USER,
    organization: Organization | None = None,
    totp_secret: str | None = None,
    is_operator: bool = False,
    password: str = TEST_PASSWORD,
) -> User:
    """A committed user (in a new org unless given) who signs in with `password`."""
    async with database.app_sessions() as session:
        if organization is None:
            organization = await factories.org(session)
        else:
            await factories.act_as(session, organization)
        user = await factories.user(
            session,
            organization,
            role=role,
            password=password,
            totp_secret=totp_secret,
            is_operator=is_operator,
        )
        await session.commit()
    return user
