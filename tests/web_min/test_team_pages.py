"""/settings/team and /invite/{token}: admins only, CSRF on every form, RLS-scoped ids, limits."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pyotp
import pytest
import respx
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import func, select

from core.action_limits import ACTION_LIMITS, ActionKind
from core.audit.models import AuditLog
from core.audit.service import Actor
from core.auth.models import WebSession
from core.base import utcnow
from core.config import Settings
from core.db import Database
from core.orgs.models import Organization
from core.team import invites
from core.team.models import Invite
from core.users import identity
from core.users.models import ChannelIdentity, Role, User
from tests.factories import TEST_PASSWORD
from tests.web_min.conftest import csrf_of, signed_in, web_user
from web_min.app import create_app

HTML = {"accept": "text/html"}
INVITE_LINK = re.compile(r"http://[^\s<\"]+/invite/([A-Za-z0-9_\-]+)")


async def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(
        transport=transport, base_url="http://testserver", follow_redirects=False
    )


async def test_team_is_for_admins_only(client: httpx.AsyncClient, database: Database) -> None:
    anonymous = await client.get("/settings/team")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login")
    for role in (Role.USER, Role.MANAGER):
        client.cookies.clear()
        await signed_in(client, await web_user(database, role=role))
        refused = await client.get("/settings/team", headers=HTML)
        assert refused.status_code == 403
        assert "Not allowed" in refused.text


async def test_members_show_role_status_mfa_and_linked_chat_accounts(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await web_user(database, role=Role.ADMIN, totp_secret=pyotp.random_base32())
    async with database.system() as session:
        member = User(org_id=admin.org_id, email="sam@example.com", role=Role.MANAGER)
        session.add(member)
        await session.flush()
        for n in range(2):
            session.add(
                ChannelIdentity(
                    org_id=admin.org_id,
                    user_id=member.id,
                    channel="telegram",
                    external_user_id=f"{n}",
                )
            )
    await signed_in(client, admin)
    page = await client.get("/settings/team")
    assert page.status_code == 200
    row = page.text.split("sam@example.com", 1)[1].split("</tr>", 1)[0]
    assert 'value="manager" selected' in row
    assert "<td>Active</td>" in row
    assert "<td>Off</td>" in row
    assert "<td>2</td>" in row
    own = page.text.split(admin.email, 1)[1].split("</tr>", 1)[0]
    assert "<td>On</td>" in own


async def test_invite_in_embedded_mode_prints_the_link_and_accepting_creates_the_user_once(
    client: httpx.AsyncClient,
    database: Database,
    web_app: FastAPI,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin = await web_user(database, role=Role.ADMIN)
    csrf = await signed_in(client, admin)
    with caplog.at_level(logging.DEBUG):
        sent = await client.post(
            "/settings/team/invite",
            data={"email": "New@Example.com", "role": "manager", "csrf_token": csrf},
        )
    assert sent.status_code == 200
    shown = INVITE_LINK.search(sent.text)
    assert shown is not None
    token = shown.group(1)
    assert token in capsys.readouterr().err
    assert all(token not in record.getMessage() for record in caplog.records)
    async with database.system() as session:
        stored = await session.scalar(select(Invite.token_hash))
    assert stored == invites.hash_token(token)

    async with await _client(web_app) as invitee:
        page = await invitee.get(f"/invite/{token}")
        assert page.status_code == 200
        assert "new@example.com" in page.text
        assert "Manager" in page.text
        form = await csrf_of(invitee, f"/invite/{token}")
        forged = await invitee.post(
            f"/invite/{token}",
            data={"password": TEST_PASSWORD, "password_again": TEST_PASSWORD},
            headers=HTML,
        )
        assert forged.status_code == 403
        short = await invitee.post(
            f"/invite/{token}",
            data={"password": "short", "password_again": "short", "csrf_token": form},
        )
        assert short.status_code == 400
        assert "at least 10 characters" in short.text
        joined = await invitee.post(
            f"/invite/{token}",
            data={
                "password": TEST_PASSWORD,
                "password_again": TEST_PASSWORD,
                "csrf_token": form,
            },
        )
        assert joined.status_code == 303
        assert joined.headers["location"] == "/login"
        replay = await invitee.get(f"/invite/{token}")
        assert replay.status_code == 410
        assert "used already" in replay.text
        again = await invitee.post(
            f"/invite/{token}",
            data={
                "password": TEST_PASSWORD,
                "password_again": TEST_PASSWORD,
                "csrf_token": form,
            },
        )
        assert again.status_code == 410
        login = await invitee.post(
            "/login",
            data={
                "email": "new@example.com",
                "password": TEST_PASSWORD,
                "csrf_token": await csrf_of(invitee, "/login"),
            },
        )
        assert login.status_code == 303
    async with database.tenant(admin.org_id) as session:
        users = list(await session.scalars(select(User).where(User.email == "new@example.com")))
        assert [(u.org_id, u.role) for u in users] == [(admin.org_id, Role.MANAGER)]


async def test_expired_and_unknown_invites_get_a_clear_page(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await web_user(database, role=Role.ADMIN)
    async with database.tenant(admin.org_id) as session:
        issued = await invites.create(
            session=session,
            org_id=admin.org_id,
            email="late@example.com",
            role=Role.USER,
            actor=Actor(org_id=admin.org_id, user_id=admin.id),
            now=utcnow() - timedelta(days=8),
        )
    expired = await client.get(f"/invite/{issued.token}")
    assert expired.status_code == 410
    assert "has expired" in expired.text
    unknown = await client.get("/invite/not-a-real-token")
    assert unknown.status_code == 404
    assert "not valid" in unknown.text


async def test_every_team_form_needs_the_csrf_token(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await web_user(database, role=Role.ADMIN)
    other = await web_user(database, organization=None)
    await signed_in(client, admin)
    for path, data in (
        ("/settings/team/invite", {"email": "x@example.com", "role": "user"}),
        (f"/settings/team/{admin.id}/role", {"role": "user"}),
        (f"/settings/team/{other.id}/deactivate", {}),
    ):
        refused = await client.post(path, data={**data, "csrf_token": "forged"}, headers=HTML)
        assert refused.status_code == 403, path
        missing = await client.post(path, data=data, headers=HTML)
        assert missing.status_code == 403, path
    async with database.system() as session:
        assert await session.scalar(select(func.count()).select_from(Invite)) == 0


async def test_another_orgs_person_is_not_found(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await web_user(database, role=Role.ADMIN)
    stranger = await web_user(database, role=Role.USER)
    async with database.tenant(stranger.org_id) as session:
        issued = await invites.create(
            session=session,
            org_id=stranger.org_id,
            email="theirs@example.com",
            role=Role.USER,
            actor=Actor(org_id=stranger.org_id, user_id=stranger.id),
        )
    csrf = await signed_in(client, admin)
    for path, data in (
        (f"/settings/team/{stranger.id}/role", {"role": "admin"}),
        (f"/settings/team/{stranger.id}/deactivate", {}),
        (f"/settings/team/{stranger.id}/activate", {}),
        (f"/settings/team/invites/{issued.invite.id}/withdraw", {}),
    ):
        response = await client.post(path, data={**data, "csrf_token": csrf}, headers=HTML)
        assert response.status_code == 404, path
    async with database.system() as session:
        untouched = await session.get(User, stranger.id)
        assert untouched is not None
        assert (untouched.role, untouched.is_active) == (Role.USER, True)
        still_open = await invites.open_invite(session=session, token=issued.token)
        assert still_open.email == "theirs@example.com"


async def test_the_last_admin_cannot_demote_themselves(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await web_user(database, role=Role.ADMIN)
    csrf = await signed_in(client, admin)
    refused = await client.post(
        f"/settings/team/{admin.id}/role", data={"role": "user", "csrf_token": csrf}
    )
    assert refused.status_code == 409
    assert "last active admin" in refused.text
    assert "Make someone else an admin first" in refused.text
    async with database.system() as session:
        kept = await session.get(User, admin.id)
        assert kept is not None
        assert kept.role == Role.ADMIN


async def test_role_change_is_audited_and_the_audit_log_filters_and_pages(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await web_user(database, role=Role.ADMIN)
    member = await web_user(database, role=Role.USER, organization=await _org_of(database, admin))
    csrf = await signed_in(client, admin)
    for role in ("manager", "user", "manager"):
        changed = await client.post(
            f"/settings/team/{member.id}/role", data={"role": role, "csrf_token": csrf}
        )
        assert changed.status_code == 303
    filtered = await client.get("/settings/team", params={"action": "team.role"})
    assert filtered.text.count("<code>team.role_change</code>") == 3
    by_member = await client.get("/settings/team", params={"actor": str(member.id)})
    assert "<code>team.role_change</code>" not in by_member.text
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    later = await client.get("/settings/team", params={"since": tomorrow})
    assert "No audit entries match." in later.text
    bad = await client.get("/settings/team", params={"since": "yesterday"})
    assert bad.status_code == 400
    assert "must be a date" in bad.text
    async with database.tenant(admin.org_id) as session:
        rows = list(
            await session.scalars(select(AuditLog).where(AuditLog.action == "team.role_change"))
        )
    assert {(row.user_id, row.channel) for row in rows} == {(admin.id, "web")}


async def test_the_audit_log_pages_keep_their_filters(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await web_user(database, role=Role.ADMIN)
    async with database.tenant(admin.org_id) as session:
        for n in range(30):
            session.add(
                AuditLog(
                    org_id=admin.org_id,
                    user_id=admin.id,
                    action="rule.create",
                    resource_type="rule",
                    resource_id=str(n),
                )
            )
    await signed_in(client, admin)
    first = await client.get("/settings/team", params={"action": "rule."})
    assert first.text.count("<code>rule.create</code>") == 25
    older = re.search(r'href="(/settings/team\?[^"]+)">Older', first.text)
    assert older is not None
    link = older.group(1).replace("&amp;", "&")
    assert "action=rule." in link
    second = await client.get(link)
    assert second.text.count("<code>rule.create</code>") == 5
    assert "Older" not in second.text


async def test_deactivation_ends_sessions_and_chat_identities_at_once(
    client: httpx.AsyncClient, database: Database, web_app: FastAPI
) -> None:
    admin = await web_user(database, role=Role.ADMIN)
    member = await web_user(database, organization=await _org_of(database, admin))
    async with database.system() as session:
        session.add(
            ChannelIdentity(
                org_id=admin.org_id,
                user_id=member.id,
                channel="slack",
                workspace="T1",
                external_user_id="U1",
            )
        )
    async with await _client(web_app) as members_browser:
        await signed_in(members_browser, member)
        csrf = await signed_in(client, admin)
        done = await client.post(
            f"/settings/team/{member.id}/deactivate", data={"csrf_token": csrf}
        )
        assert done.status_code == 303
        after = await members_browser.get("/settings")
        assert after.status_code == 303
        assert after.headers["location"].startswith("/login")
    async with database.system() as session:
        assert (
            await identity.resolve(
                session=session, channel="slack", workspace="T1", external_user_id="U1"
            )
            is None
        )
        left = await session.scalar(
            select(func.count()).select_from(WebSession).where(WebSession.user_id == member.id)
        )
        assert left == 0
        audit = await session.scalar(select(AuditLog).where(AuditLog.action == "team.deactivate"))
        assert audit is not None
        assert audit.user_id == admin.id
    reply = await web_app.state.bot.handle_unlinked(
        channel="slack", workspace="T1", external_user_id="U1", text="campaigns"
    )
    assert "not linked" in reply.text


async def test_admin_actions_past_the_limit_get_429_with_retry_after(
    client: httpx.AsyncClient, database: Database, web_app: FastAPI
) -> None:
    admin = await web_user(database, role=Role.ADMIN)
    csrf = await signed_in(client, admin)
    limiter = web_app.state.action_limiter
    for _ in range(ACTION_LIMITS[ActionKind.ADMIN].amount):
        await limiter.check(ActionKind.ADMIN, org_id=admin.org_id, user_id=admin.id)
    page = await client.get("/settings/team", headers=HTML)
    assert page.status_code == 429
    assert 1 <= int(page.headers["retry-after"]) <= 60
    assert "Slow down" in page.text
    refused = await client.post(
        "/settings/team/invite",
        data={"email": "x@example.com", "role": "user", "csrf_token": csrf},
        headers=HTML,
    )
    assert refused.status_code == 429
    async with database.system() as session:
        assert await session.scalar(select(func.count()).select_from(Invite)) == 0


async def _org_of(database: Database, user: User) -> Organization:
    async with database.system() as session:
        org = await session.get(Organization, user.org_id)
        assert org is not None
        return org


@pytest.fixture
async def emailing_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with Resend configured (its API mocked by respx at the HTTP level)."""
    configured = settings.model_copy(
        update={
            "resend_api_key": SecretStr("re_test_key"),
            "resend_api_url": "http://resend.test",
            "email_from": "AdPilot <team@example.com>",
        }
    )
    app = create_app(configured)
    async with app.router.lifespan_context(app):
        yield app


@respx.mock
async def test_with_email_configured_the_invite_goes_by_resend_and_the_page_hides_the_link(
    emailing_app: FastAPI, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    sent = respx.post("http://resend.test/emails").mock(
        return_value=httpx.Response(200, json={"id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"})
    )
    admin = await web_user(database, role=Role.ADMIN)
    async with await _client(emailing_app) as client:
        csrf = await signed_in(client, admin)
        response = await client.post(
            "/settings/team/invite",
            data={"email": "kim@example.com", "role": "user", "csrf_token": csrf},
        )
        assert response.status_code == 303
        page = await client.get(response.headers["location"])
        assert "Invitation sent to kim@example.com" in page.text
        assert INVITE_LINK.search(page.text) is None
    assert sent.call_count == 1
    request = sent.calls[0].request
    body = json.loads(request.content)
    assert body["to"] == ["kim@example.com"]
    assert body["from"] == "AdPilot <team@example.com>"
    assert request.headers["authorization"] == "Bearer re_test_key"
    async with database.system() as session:
        invite = await session.scalar(select(Invite))
        assert invite is not None
    assert request.headers["idempotency-key"] == f"invite/{invite.id}"
    token = INVITE_LINK.search(body["text"])
    assert token is not None
    assert invites.hash_token(token.group(1)) == invite.token_hash
    printed = capsys.readouterr()
    assert token.group(1) not in printed.out + printed.err


@respx.mock
async def test_a_failed_invitation_email_shows_the_link_to_the_admin_instead(
    emailing_app: FastAPI, database: Database
) -> None:
    respx.post("http://resend.test/emails").mock(
        return_value=httpx.Response(
            422, json={"name": "validation_error", "message": "Invalid `to` field."}
        )
    )
    admin = await web_user(database, role=Role.ADMIN)
    async with await _client(emailing_app) as client:
        csrf = await signed_in(client, admin)
        response = await client.post(
            "/settings/team/invite",
            data={"email": "kim@example.com", "role": "user", "csrf_token": csrf},
        )
    assert response.status_code == 200
    assert "The email could not be sent." in response.text
    shown = INVITE_LINK.search(response.text)
    assert shown is not None
    async with database.system() as session:
        found = await invites.open_invite(session=session, token=shown.group(1))
    assert found.email == "kim@example.com"


# --- An address with an account in another org: the admin cannot tell, the invitee is told ---

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?|\b\d{2}:\d{2}\b")
_CSRF = re.compile(r'(name="csrf_token" value=|name="csrf-token" content=)"[^"]+"')


async def _invite_as_new_admin(
    web_app: FastAPI, database: Database, address: str
) -> tuple[httpx.Response, User, str]:
    """A new org's admin invites `address`; the answer, the admin and their org's name."""
    admin = await web_user(database, role=Role.ADMIN)
    org_name = (await _org_of(database, admin)).name
    async with await _client(web_app) as client:
        csrf = await signed_in(client, admin)
        answer = await client.post(
            "/settings/team/invite", data={"email": address, "role": "user", "csrf_token": csrf}
        )
    return answer, admin, org_name


def _normalised(page: str, *variable: str) -> str:
    for value in variable:
        page = page.replace(value, "<X>")
    for pattern in (_UUID, _TIME, _CSRF):
        page = pattern.sub("<X>", page)
    return page


async def test_an_address_of_another_org_is_invited_exactly_like_a_fresh_one(
    web_app: FastAPI, database: Database
) -> None:
    elsewhere = await web_user(database, role=Role.USER)  # kim, in an org of their own

    taken, taken_admin, taken_org = await _invite_as_new_admin(web_app, database, elsewhere.email)
    fresh, fresh_admin, fresh_org = await _invite_as_new_admin(web_app, database, "lee@example.com")

    assert taken.status_code == fresh.status_code == 200
    taken_link, fresh_link = INVITE_LINK.search(taken.text), INVITE_LINK.search(fresh.text)
    assert taken_link is not None
    assert fresh_link is not None
    assert _normalised(
        taken.text, taken_link.group(0), elsewhere.email, taken_admin.email, taken_org
    ) == _normalised(
        fresh.text, fresh_link.group(0), "lee@example.com", fresh_admin.email, fresh_org
    )

    # The invitee (holding the link) is refused plainly; no second account, nobody moved.
    async with await _client(web_app) as invitee:
        form = await invitee.get(f"/invite/{taken_link.group(1)}")
        assert form.status_code == 200
        refused = await invitee.post(
            f"/invite/{taken_link.group(1)}",
            data={
                "password": "a brand new password",
                "password_again": "a brand new password",
                "csrf_token": await csrf_of(invitee, f"/invite/{taken_link.group(1)}"),
            },
        )
    assert refused.status_code == 410
    assert "This address already has an AdPilot account" in refused.text
    async with database.system() as session:
        owners = list(await session.scalars(select(User).where(User.email == elsewhere.email)))
    assert [(u.id, u.org_id) for u in owners] == [(elsewhere.id, elsewhere.org_id)]


async def test_inviting_the_orgs_own_member_says_so(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await web_user(database, role=Role.ADMIN)
    member = await web_user(database, organization=await _org_of(database, admin))
    csrf = await signed_in(client, admin)
    answer = await client.post(
        "/settings/team/invite", data={"email": member.email, "role": "user", "csrf_token": csrf}
    )
    assert answer.status_code == 400
    assert f"{member.email} is already a member of your organization." in answer.text


@respx.mock
async def test_with_email_on_an_address_of_another_org_gets_a_how_to_go_on_email(
    emailing_app: FastAPI, database: Database
) -> None:
    sent = respx.post("http://resend.test/emails").mock(
        return_value=httpx.Response(200, json={"id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"})
    )
    elsewhere = await web_user(database, role=Role.USER)
    admin = await web_user(database, role=Role.ADMIN)
    async with await _client(emailing_app) as client:
        csrf = await signed_in(client, admin)
        answers, pages = [], []
        for address in (elsewhere.email, "lee@example.com"):
            answer = await client.post(
                "/settings/team/invite", data={"email": address, "role": "user", "csrf_token": csrf}
            )
            answers.append(answer)
            pages.append(await client.get(answer.headers["location"]))
    assert [a.status_code for a in answers] == [303, 303]
    assert answers[0].headers["location"] == answers[1].headers["location"]
    assert f"Invitation sent to {elsewhere.email}" in pages[0].text
    assert "Invitation sent to lee@example.com" in pages[1].text

    to_taken, to_fresh = (json.loads(call.request.content) for call in sent.calls)
    assert to_taken["to"] == [elsewhere.email]
    assert to_taken["subject"] == to_fresh["subject"]
    assert "already has an AdPilot account" in to_taken["text"]
    assert "/login" in to_taken["text"]
    assert INVITE_LINK.search(to_taken["text"]) is None
    assert INVITE_LINK.search(to_taken["html"]) is None
    assert "already has" not in to_fresh["text"]
    assert INVITE_LINK.search(to_fresh["text"]) is not None
