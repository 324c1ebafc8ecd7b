"""/settings/channels: link codes, linked accounts, alert destinations, delivery settings."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
import respx
from limits import parse
from pydantic import SecretStr
from sqlalchemy import select

from core.audit.models import AuditLog
from core.config import Settings
from core.db import Database
from core.notify.models import Destination
from core.orgs.models import Organization
from core.security.crypto import decrypt
from core.users import identity
from core.users.models import Role, User
from tests.web_min.conftest import served, signed_in, web_user
from web_min import channels_page

PAGE = "/settings/channels"
HOOK = "https://hooks.slack.com/services/T0001/B0002/abcdefSECRET"
_CODE = re.compile(r'<code id="link-text"[^>]*>link ([A-Z0-9]{4}-[A-Z0-9]{4})</code>')


async def _org_of(database: Database, user: User) -> Organization:
    async with database.system() as session:
        org = await session.get(Organization, user.org_id)
        assert org is not None
        return org


async def _destinations(database: Database, org_id: uuid.UUID) -> list[Destination]:
    async with database.system() as session:
        return list(await session.scalars(select(Destination).where(Destination.org_id == org_id)))


async def _link(database: Database, user: User, external: str) -> uuid.UUID:
    async with database.system() as session:
        code = await identity.create_link_code(session=session, org_id=user.org_id, user_id=user.id)
        await identity.redeem_link_code(
            session=session, code=code, channel="telegram", workspace="", external_user_id=external
        )
        [(row, _)] = [
            pair
            for pair in await identity.list_identities(session=session, org_id=user.org_id)
            if pair[0].external_user_id == external
        ]
        return row.id


async def _add_webhook(client: httpx.AsyncClient, csrf: str, **extra: str) -> httpx.Response:
    return await client.post(
        f"{PAGE}/destinations",
        data={
            "csrf_token": csrf,
            "kind": "slack_webhook",
            "address": HOOK,
            "name": "#ads-alerts",
            "takes_alerts": "on",
            "takes_auth_errors": "fallback",
            "enabled": "1",
            **extra,
        },
    )


# --- access ---------------------------------------------------------------------------------


async def test_anonymous_is_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get(PAGE)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/settings/channels"


async def test_a_plain_user_reads_destinations_but_gets_no_admin_form(
    client: httpx.AsyncClient, database: Database
) -> None:
    member = await web_user(database, role=Role.USER)
    await signed_in(client, member)
    response = await client.get(PAGE)
    assert response.status_code == 200
    assert "Create a link code" in response.text
    assert 'action="/settings/channels/destinations"' not in response.text
    assert "Only admins change where alerts go." in response.text


async def test_posts_without_csrf_are_refused(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await web_user(database, role=Role.ADMIN)
    await signed_in(client, admin)
    assert (await client.post(f"{PAGE}/link-code", data={})).status_code == 403
    refused = await _add_webhook(client, "not-the-token")
    assert refused.status_code == 403
    assert await _destinations(database, admin.org_id) == []


async def test_a_plain_user_may_not_change_destinations(
    client: httpx.AsyncClient, database: Database
) -> None:
    member = await web_user(database, role=Role.MANAGER)
    async with database.system() as session:
        mine = Destination(
            org_id=member.org_id, channel="email", conversation_id="a@b.io", kinds={"alerts": True}
        )
        session.add(mine)
        await session.flush()
        mine_id = mine.id
    csrf = await signed_in(client, member)
    response = await _add_webhook(client, csrf)
    assert response.status_code == 403
    assert (await client.get(f"{PAGE}/destinations/{mine_id}")).status_code == 403
    for action in ("test", "delete"):
        path = f"{PAGE}/destinations/{mine_id}/{action}"
        assert (await client.post(path, data={"csrf_token": csrf})).status_code == 403
    assert [d.id for d in await _destinations(database, member.org_id)] == [mine_id]


# --- link codes and identities ------------------------------------------------------------


async def test_a_link_code_is_shown_once_with_the_text_to_send_and_links_the_chat(
    client: httpx.AsyncClient, database: Database
) -> None:
    dana = await web_user(database, role=Role.USER)
    csrf = await signed_in(client, dana)

    response = await client.post(f"{PAGE}/link-code", data={"csrf_token": csrf})

    assert response.status_code == 200
    found = _CODE.search(response.text)
    assert found is not None, "the page shows `link CODE`"
    assert 'data-copy="link-text"' in response.text
    assert "<script>" not in response.text  # the copy button is /static/app.js's
    assert "Works once, for 15 minutes" in response.text
    async with database.system() as session:
        speaker = await identity.redeem_link_code(
            session=session,
            code=found.group(1),
            channel="telegram",
            workspace="",
            external_user_id="555",
        )
    assert speaker.user_id == dana.id
    # Only the hash was stored: the page does not show it again.
    assert found.group(1) not in (await client.get(PAGE)).text


async def test_past_five_open_link_codes_the_page_says_how_long_to_wait(
    client: httpx.AsyncClient, database: Database
) -> None:
    dana = await web_user(database, role=Role.USER)
    csrf = await signed_in(client, dana)
    for _ in range(identity.MAX_OPEN_CODES):
        assert (
            await client.post(f"{PAGE}/link-code", data={"csrf_token": csrf})
        ).status_code == 200

    refused = await client.post(f"{PAGE}/link-code", data={"csrf_token": csrf})

    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= 15 * 60
    assert "You have 5 unused link codes already" in refused.text
    assert "the oldest expires in 15 minutes" in refused.text
    assert _CODE.search(refused.text) is None  # no sixth code on the page
    assert 'id="link-heading"' in refused.text  # the channels page itself, not an error page


async def test_the_bot_handle_is_shown_when_configured(
    client: httpx.AsyncClient, database: Database, web_app: object
) -> None:
    settings = web_app.state.settings  # type: ignore[attr-defined]
    settings.signal_api_url = "http://signal.test:8080"
    settings.signal_number = "+4915112345678"
    dana = await web_user(database)
    csrf = await signed_in(client, dana)
    response = await client.post(f"{PAGE}/link-code", data={"csrf_token": csrf})
    assert "to <strong>+4915112345678</strong>" in response.text


async def test_revoking_an_identity_unlinks_it_at_once(
    client: httpx.AsyncClient, database: Database
) -> None:
    dana = await web_user(database)
    identity_id = await _link(database, dana, "4242")
    csrf = await signed_in(client, dana)
    assert "4242" in (await client.get(PAGE)).text

    response = await client.post(
        f"{PAGE}/identities/{identity_id}/revoke", data={"csrf_token": csrf}
    )

    assert response.status_code == 303
    async with database.system() as session:
        resolved = await identity.resolve(
            session=session, channel="telegram", workspace="", external_user_id="4242"
        )
        audit = await session.scalar(select(AuditLog).where(AuditLog.action == "identity.unlink"))
    assert resolved is None
    assert audit is not None
    assert audit.channel == "web"
    assert "Unlinked telegram account 4242" in (await client.get(PAGE)).text


async def test_revoking_a_colleagues_identity_is_refused_and_another_orgs_is_not_found(
    client: httpx.AsyncClient, database: Database
) -> None:
    dana = await web_user(database)
    eve = await web_user(database, organization=await _org_of(database, dana))
    stranger = await web_user(database)
    colleague_identity = await _link(database, dana, "1001")
    foreign_identity = await _link(database, stranger, "2002")
    csrf = await signed_in(client, eve)

    refused = await client.post(
        f"{PAGE}/identities/{colleague_identity}/revoke", data={"csrf_token": csrf}
    )
    hidden = await client.post(
        f"{PAGE}/identities/{foreign_identity}/revoke", data={"csrf_token": csrf}
    )
    garbage = await client.post(f"{PAGE}/identities/not-a-uuid/revoke", data={"csrf_token": csrf})

    assert refused.status_code == 403
    assert "only unlink their own" in refused.text
    assert hidden.status_code == 404
    assert garbage.status_code == 404
    async with database.system() as session:
        for external in ("1001", "2002"):
            assert await identity.resolve(
                session=session, channel="telegram", workspace="", external_user_id=external
            )


async def test_an_admin_sees_and_may_revoke_the_orgs_identities(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await web_user(database, role=Role.ADMIN)
    dana = await web_user(database, organization=await _org_of(database, admin))
    identity_id = await _link(database, dana, "3003")
    csrf = await signed_in(client, admin)
    assert dana.email in (await client.get(PAGE)).text
    response = await client.post(
        f"{PAGE}/identities/{identity_id}/revoke", data={"csrf_token": csrf}
    )
    assert response.status_code == 303


# --- destinations -------------------------------------------------------------------------


async def test_an_admin_adds_a_webhook_stored_encrypted_and_shown_masked(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await web_user(database, role=Role.ADMIN)
    csrf = await signed_in(client, admin)

    response = await _add_webhook(client, csrf)

    assert response.status_code == 303
    [stored] = await _destinations(database, admin.org_id)
    assert stored.secret is not None
    assert "SECRET" not in stored.secret
    assert decrypt(stored.secret) == HOOK
    assert (stored.conversation_id, stored.kinds) == (
        "T0001/B0002",
        {"alerts": True, "auth_errors": "fallback"},
    )
    page = (await client.get(PAGE)).text
    assert "T0001/B0002/••••••••" in page
    assert "abcdefSECRET" not in page
    edit = await client.get(f"{PAGE}/destinations/{stored.id}")
    assert edit.status_code == 200
    assert "abcdefSECRET" not in edit.text
    assert "Leave empty to keep the stored webhook URL" in edit.text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "email", "address": "ops-at-example"}, "Not an email address"),
        ({"kind": "whatsapp", "address": "0151 99"}, "international form"),
        ({"kind": "slack_webhook", "address": "https://evil.example/x"}, "hooks.slack.com"),
        ({"kind": "telegram", "address": "-100", "takes_alerts": "off"}, "at least one kind"),
    ],
)
async def test_invalid_destinations_are_re_rendered_with_the_input_and_a_sentence(
    client: httpx.AsyncClient, database: Database, fields: dict[str, str], message: str
) -> None:
    admin = await web_user(database, role=Role.ADMIN)
    csrf = await signed_in(client, admin)
    data = {"csrf_token": csrf, "name": "Kept name", "takes_alerts": "on", **fields}

    response = await client.post(f"{PAGE}/destinations", data=data)

    assert response.status_code == 400
    assert message in response.text
    assert 'value="Kept name"' in response.text
    assert "Traceback" not in response.text
    assert "evil.example" not in response.text  # a webhook URL is never echoed
    assert await _destinations(database, admin.org_id) == []


@respx.mock(assert_all_called=True)
async def test_send_test_message_reports_success_and_failure(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, database: Database
) -> None:
    route = respx_mock.post(HOOK).mock(
        side_effect=[httpx.Response(200, text="ok"), httpx.Response(404, text="no_service")]
    )
    admin = await web_user(database, role=Role.ADMIN)
    csrf = await signed_in(client, admin)
    await _add_webhook(client, csrf)
    [stored] = await _destinations(database, admin.org_id)

    first = await client.post(f"{PAGE}/destinations/{stored.id}/test", data={"csrf_token": csrf})
    assert first.status_code == 303
    assert "Test message sent to Slack incoming webhook" in (await client.get(PAGE)).text
    second = await client.post(f"{PAGE}/destinations/{stored.id}/test", data={"csrf_token": csrf})
    assert second.status_code == 303
    shown = (await client.get(PAGE)).text
    assert "Not sent to Slack incoming webhook" in shown
    assert "404 no_service" in shown
    assert route.call_count == 2
    async with database.system() as session:
        outcomes = list(
            await session.scalars(
                select(AuditLog.after).where(AuditLog.action == "destination.tested")
            )
        )
    assert [row["outcome"][:4] for row in outcomes if row] == ["sent", "Not "]


async def test_another_orgs_destination_is_not_found(
    client: httpx.AsyncClient, database: Database
) -> None:
    theirs = await web_user(database, role=Role.ADMIN)
    async with database.system() as session:
        foreign = Destination(
            org_id=theirs.org_id, channel="email", conversation_id="x@y.io", kinds={"alerts": True}
        )
        session.add(foreign)
        await session.flush()
        foreign_id = foreign.id
    admin = await web_user(database, role=Role.ADMIN)
    csrf = await signed_in(client, admin)
    assert (await client.get(f"{PAGE}/destinations/{foreign_id}")).status_code == 404
    for action in ("test", "delete", ""):
        path = f"{PAGE}/destinations/{foreign_id}" + (f"/{action}" if action else "")
        response = await client.post(
            path,
            data={"csrf_token": csrf, "kind": "email", "address": "a@b.io", "takes_alerts": "on"},
        )
        assert response.status_code == 404, path
    assert len(await _destinations(database, theirs.org_id)) == 1


async def test_edit_and_delete_a_destination(client: httpx.AsyncClient, database: Database) -> None:
    admin = await web_user(database, role=Role.ADMIN)
    csrf = await signed_in(client, admin)
    await _add_webhook(client, csrf)
    [stored] = await _destinations(database, admin.org_id)

    kept_url = await client.post(
        f"{PAGE}/destinations/{stored.id}",
        data={"csrf_token": csrf, "kind": "slack_webhook", "address": "", "takes_summaries": "on"},
    )
    assert kept_url.status_code == 303
    [edited] = await _destinations(database, admin.org_id)
    assert decrypt(edited.secret or "") == HOOK
    assert (edited.kinds, edited.enabled) == ({"summaries": True}, False)

    deleted = await client.post(
        f"{PAGE}/destinations/{stored.id}/delete", data={"csrf_token": csrf}
    )
    assert deleted.status_code == 303
    assert await _destinations(database, admin.org_id) == []


# --- delivery policy ----------------------------------------------------------------------


async def test_delivery_settings_are_validated_and_saved(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await web_user(database, role=Role.ADMIN)
    csrf = await signed_in(client, admin)
    await _add_webhook(client, csrf)
    await client.post(
        f"{PAGE}/destinations",
        data={
            "csrf_token": csrf,
            "kind": "email",
            "address": "ops@example.com",
            "takes_alerts": "fallback",
        },
    )
    by_channel = {d.channel: d for d in await _destinations(database, admin.org_id)}
    hook, mail = by_channel["slack_webhook"], by_channel["email"]

    bad = await client.post(
        f"{PAGE}/policy",
        data={"csrf_token": csrf, "quiet_start": "22:00", "quiet_end": "", "digest_threshold": "x"},
    )
    assert bad.status_code == 400
    assert "both a start and an end" in bad.text
    assert "whole number from 0" in bad.text
    assert 'value="22:00"' in bad.text

    good = await client.post(
        f"{PAGE}/policy",
        data={
            "csrf_token": csrf,
            "quiet_start": "22:00",
            "quiet_end": "07:00",
            "digest_threshold": "3",
            f"order_{hook.id}": "2",
            f"order_{mail.id}": "1",
        },
    )
    assert good.status_code == 303
    org = await _org_of(database, admin)
    assert org.settings["notifications"] == {
        "digest_threshold": 3,
        "quiet_hours": {"start": "22:00", "end": "07:00"},
        "fallback_order": [str(mail.id), str(hook.id)],
    }


async def test_a_plain_user_may_not_change_delivery_settings(
    client: httpx.AsyncClient, database: Database
) -> None:
    member = await web_user(database)
    csrf = await signed_in(client, member)
    response = await client.post(
        f"{PAGE}/policy", data={"csrf_token": csrf, "digest_threshold": "0"}
    )
    assert response.status_code == 403
    assert "notifications" not in (await _org_of(database, member)).settings


async def test_add_to_slack_links_to_the_install_route_when_oauth_is_configured(
    settings: Settings, database: Database
) -> None:
    oauth = settings.model_copy(
        update={
            "slack_signing_secret": SecretStr("0123456789abcdef0123456789abcdef"),
            "slack_client_id": "123456.789012",
            "slack_client_secret": SecretStr("fedcba9876543210fedcba9876543210"),
        }
    )
    async with served(oauth) as http:
        await signed_in(http, await web_user(database, role=Role.ADMIN))
        page = (await http.get(PAGE)).text
        install = await http.get("/slack/install")
    assert '<a href="/slack/install" role="button">Add to Slack</a>' in page
    assert install.status_code == 200  # bolt's install page: the link goes somewhere real


@respx.mock(assert_all_called=True)
async def test_test_messages_are_rate_limited_per_org(
    respx_mock: respx.MockRouter,
    client: httpx.AsyncClient,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(channels_page, "TESTS_PER_ORG", parse("1/minute"))
    route = respx_mock.post(HOOK).mock(return_value=httpx.Response(200, text="ok"))
    admin = await web_user(database, role=Role.ADMIN)
    csrf = await signed_in(client, admin)
    await _add_webhook(client, csrf)
    [stored] = await _destinations(database, admin.org_id)
    for _ in range(2):
        await client.post(f"{PAGE}/destinations/{stored.id}/test", data={"csrf_token": csrf})
    assert route.call_count == 1
    assert "Too many test messages" in (await client.get(PAGE)).text
