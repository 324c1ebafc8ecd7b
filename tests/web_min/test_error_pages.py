"""Errors as pages for browsers (404, 403, 500 in the app's style, no internals) and JSON
for API and webhook callers; the role and operator dependencies."""

from __future__ import annotations

import httpx
import pyotp
import pytest
from fastapi import FastAPI

from core.db import Database
from core.users.models import Role
from tests.web_min.conftest import csrf_from, signed_in, web_user
from web_min.auth.deps import AdminUser, OperatorUser
from web_min.middleware import PAGE_CSP
from web_min.rate_limit import TooManyRequests

HTML = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def probe_app(web_app: FastAPI) -> FastAPI:
    @web_app.get("/probe/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: token=abc")

    @web_app.get("/probe/admin")
    async def admin_only(user: AdminUser) -> dict[str, str]:
        return {"who": user.email}

    @web_app.get("/probe/operator")
    async def operator_only(user: OperatorUser) -> dict[str, str]:
        return {"who": user.email}

    return web_app


async def test_a_browser_gets_a_styled_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/page", headers=HTML)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Page not found" in response.text
    assert "/static/pico.min.css" in response.text
    assert response.headers["content-security-policy"] == PAGE_CSP


async def test_api_callers_keep_json_errors(client: httpx.AsyncClient) -> None:
    plain = await client.get("/no/such/page")
    assert plain.json()["error"] == "not_found"
    webhook = await client.post("/stripe/webhook", headers=HTML)
    assert webhook.headers["content-type"].startswith("application/json")


async def test_a_browser_gets_a_500_page_without_internals(
    probe_app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.get("/probe/boom", headers=HTML)
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text
    assert response.headers["x-request-id"]
    as_json = await client.get("/probe/boom")
    assert as_json.json()["error"] == "internal_error"


async def test_require_role_gives_other_roles_a_403_page(
    probe_app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    await signed_in(client, await web_user(database, role=Role.MANAGER))
    refused = await client.get("/probe/admin", headers=HTML)
    assert refused.status_code == 403
    assert "Not allowed" in refused.text
    client.cookies.clear()
    admin = await web_user(database, role=Role.ADMIN)
    await signed_in(client, admin)
    assert (await client.get("/probe/admin")).json() == {"who": admin.email}


@pytest.mark.parametrize(
    ("operator", "mfa", "status"), [(False, True, 403), (True, False, 403), (True, True, 200)]
)
async def test_operator_pages_need_the_flag_and_mfa(
    probe_app: FastAPI,
    client: httpx.AsyncClient,
    database: Database,
    operator: bool,
    mfa: bool,
    status: int,
) -> None:
    user = await web_user(
        database,
        role=Role.ADMIN,
        is_operator=operator,
        totp_secret=pyotp.random_base32() if mfa else None,
    )
    await signed_in(client, user)
    assert (await client.get("/probe/operator")).status_code == status


async def test_anonymous_role_pages_redirect_to_sign_in(
    probe_app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.get("/probe/admin")
    assert (response.status_code, response.headers["location"]) == (
        303,
        "/login?next=/probe/admin",
    )


async def test_a_signed_in_404_keeps_the_navigation(
    client: httpx.AsyncClient, database: Database
) -> None:
    await signed_in(client, await web_user(database))
    response = await client.get("/settings/nothing-here", headers=HTML)
    assert response.status_code == 404
    assert "Sign out" in response.text
    assert "Back to Settings" in response.text


async def test_a_browser_over_a_limit_gets_a_429_page_with_retry_after(
    web_app: FastAPI, client: httpx.AsyncClient
) -> None:
    @web_app.get("/probe/limited")
    async def limited() -> None:
        raise TooManyRequests(retry_after=17, limit="10 per 1 minute")

    page = await client.get("/probe/limited", headers=HTML)
    assert (page.status_code, page.headers["retry-after"]) == (429, "17")
    assert "try again in 17 seconds" in page.text
    api = await client.get("/probe/limited")
    assert api.json()["error"] == "rate_limited"


async def test_a_browser_form_with_an_oversized_field_gets_a_400_page(
    client: httpx.AsyncClient,
) -> None:
    token = csrf_from((await client.get("/login")).text)
    response = await client.post(
        "/login",
        data={"email": "a" * 400 + "@example.com", "password": "x", "csrf_token": token},
        headers=HTML,
    )
    assert response.status_code == 400
    assert "did not work" in response.text
    assert "loc" not in response.text
