"""Sign-in, sign-out and the signed-in home through the real routes and cookies."""

from __future__ import annotations

from urllib.parse import unquote

import httpx
import pytest

from core.db import Database
from core.users.models import Role
from tests.web_min.conftest import csrf_from, csrf_of, set_cookie, signed_in, web_user
from web_min.auth.cookies import PRESESSION_COOKIE, SESSION_COOKIE
from web_min.auth.local_paths import safe_next
from web_min.middleware import PAGE_CSP


async def test_anonymous_settings_redirects_to_sign_in_with_next(client: httpx.AsyncClient) -> None:
    response = await client.get("/settings?tab=a b")
    assert response.status_code == 303
    # The raw query (already percent-encoded) is quoted once more as the value of `next`.
    assert response.headers["location"] == "/login?next=/settings%3Ftab%3Da%2520b"


@pytest.mark.parametrize(
    ("referer", "expected_next"),
    [
        ("http://testserver/settings/team?offset=0", "/settings/team%3Foffset%3D0"),
        ("http://127.0.0.1:8000/settings/channels", "/settings/channels"),
        ("https://evil.example/settings/team", "/settings"),
        ("http://testserver//evil.example/", "/settings"),
        ("http://testserver/\\evil.example", "/settings"),
        ("not a url", "/settings"),
        (None, "/settings"),
    ],
)
async def test_an_anonymous_post_returns_after_sign_in_to_a_page_that_answers_get(
    client: httpx.AsyncClient, database: Database, referer: str | None, expected_next: str
) -> None:
    """A form posted after the session lapsed: `next` is the form's page, never its POST path
    (a GET there would be a 405) and never another site."""
    token = await csrf_of(client, "/login")  # the pre-session's token passes the CSRF check
    headers = {"referer": referer} if referer is not None else {}
    response = await client.post(
        "/settings/team/invite",
        data={"email": "x@example.com", "role": "user", "csrf_token": token},
        headers=headers,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={expected_next}"

    user = await web_user(database, role=Role.ADMIN)
    login = await client.get(response.headers["location"])
    signed = await client.post(
        "/login",
        data={
            "email": user.email,
            "password": "correct horse battery",
            "csrf_token": csrf_from(login.text),
            "next": unquote(expected_next),
        },
    )
    landing = signed.headers["location"]
    assert landing == unquote(expected_next)
    assert (await client.get(landing)).status_code == 200


async def test_sign_in_lands_on_settings_with_org_and_plan(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await web_user(database, role=Role.ADMIN)
    await signed_in(client, user)
    page = await client.get("/settings")
    assert page.status_code == 200
    assert user.email in page.text
    assert "Free" in page.text
    assert 'href="/settings/team"' in page.text  # admins see Team


async def test_a_plain_user_sees_no_team_or_admin_link(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await web_user(database, role=Role.USER)
    await signed_in(client, user)
    page = await client.get("/settings")
    assert 'href="/settings/team"' not in page.text
    assert 'href="/admin"' not in page.text


async def test_wrong_password_is_refused_without_a_session(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await web_user(database)
    token = await csrf_of(client, "/login")
    response = await client.post(
        "/login", data={"email": user.email, "password": "wrong password!", "csrf_token": token}
    )
    assert response.status_code == 401
    assert "do not match" in response.text
    assert SESSION_COOKIE not in client.cookies
    assert (await client.get("/settings")).status_code == 303


async def test_unknown_email_reads_like_a_wrong_password(client: httpx.AsyncClient) -> None:
    token = await csrf_of(client, "/login")
    response = await client.post(
        "/login", data={"email": "nobody@example.com", "password": "x", "csrf_token": token}
    )
    assert response.status_code == 401
    assert "do not match" in response.text


async def test_sign_in_without_csrf_is_refused(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await web_user(database)
    await client.get("/login")  # the pre-session cookie is there, the field is not
    response = await client.post("/login", data={"email": user.email, "password": "x"})
    assert response.status_code == 403
    assert SESSION_COOKIE not in client.cookies


async def test_sign_in_with_a_token_of_another_pre_session_is_refused(
    client: httpx.AsyncClient, web_app: object, database: Database
) -> None:
    user = await web_user(database)
    token = await csrf_of(client, "/login")
    set_cookie(client, PRESESSION_COOKIE, "attacker-chosen-value")
    response = await client.post(
        "/login",
        data={"email": user.email, "password": "correct horse battery", "csrf_token": token},
    )
    assert response.status_code == 403


async def test_sign_out_needs_csrf_and_ends_the_session(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await web_user(database)
    token = await signed_in(client, user)
    assert (await client.post("/logout")).status_code == 403
    assert (await client.post("/logout", data={"csrf_token": "forged"})).status_code == 403
    assert (await client.get("/settings")).status_code == 200
    stolen = client.cookies[SESSION_COOKIE]
    response = await client.post("/logout", data={"csrf_token": token})
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    set_cookie(client, SESSION_COOKIE, stolen)  # the old token is dead server-side too
    assert (await client.get("/settings")).status_code == 303


async def test_session_cookie_is_httponly_lax_and_local_http_not_secure(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await web_user(database)
    token = await csrf_of(client, "/login")
    response = await client.post(
        "/login",
        data={"email": user.email, "password": "correct horse battery", "csrf_token": token},
    )
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/" in cookie
    assert "secure" not in cookie


@pytest.mark.parametrize("public_url", ["https://ads.example.com", "http://ads.example.com"])
async def test_session_cookie_is_secure_off_local_http(
    client: httpx.AsyncClient, web_app: object, database: Database, public_url: str
) -> None:
    web_app.state.settings = web_app.state.settings.model_copy(  # type: ignore[attr-defined]
        update={"public_url": public_url}
    )
    user = await web_user(database)
    token = csrf_from((await client.get("/login")).text)
    response = await client.post(
        "/login",
        data={"email": user.email, "password": "correct horse battery", "csrf_token": token},
    )
    assert "secure" in response.headers["set-cookie"].lower()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/settings/billing?x=1", "/settings/billing?x=1"),
        ("https://evil.example/", "/settings"),
        ("//evil.example/path", "/settings"),
        ("/\\evil.example", "/settings"),
        ("javascript:alert(1)", "/settings"),
        ("settings", "/settings"),
        ("/ok\r\nSet-Cookie: x=1", "/settings"),
        ("", "/settings"),
    ],
)
def test_next_is_a_local_path_or_home(given: str, expected: str) -> None:
    assert safe_next(given) == expected


async def test_sign_in_refuses_an_open_redirect_next(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await web_user(database)
    token = await csrf_of(client, "/login?next=https://evil.example/")
    response = await client.post(
        "/login",
        data={
            "email": user.email,
            "password": "correct horse battery",
            "csrf_token": token,
            "next": "//evil.example/",
        },
    )
    assert (response.status_code, response.headers["location"]) == (303, "/settings")


async def test_sign_in_follows_a_local_next(client: httpx.AsyncClient, database: Database) -> None:
    user = await web_user(database)
    token = await csrf_of(client, "/login")
    response = await client.post(
        "/login",
        data={
            "email": user.email,
            "password": "correct horse battery",
            "csrf_token": token,
            "next": "/settings/billing",
        },
    )
    assert response.headers["location"] == "/settings/billing"


async def test_pages_carry_the_page_csp(client: httpx.AsyncClient) -> None:
    response = await client.get("/login")
    csp = response.headers["content-security-policy"]
    assert csp == PAGE_CSP
    assert "img-src 'self' data:" in csp
    assert "form-action" not in csp
    assert "<script>" not in response.text
    assert "style=" not in response.text
    assert response.headers.get_list("content-security-policy") == [csp]


async def test_static_files_are_served(client: httpx.AsyncClient) -> None:
    for path in ("/static/pico.min.css", "/static/app.css", "/static/app.js"):
        assert (await client.get(path)).status_code == 200
