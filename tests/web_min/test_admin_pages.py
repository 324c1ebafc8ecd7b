"""/admin: operators with two-factor sign-in only; cross-org reads through the worker role,
each one logged; the dead-letter retry audit-logged; 30 actions a minute."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import select

from core.accounts.models import AdAccount
from core.action_limits import ACTION_LIMITS, ActionKind
from core.audit.models import AuditLog
from core.config import Settings
from core.db import Database
from core.events import dead_letters
from core.orgs.models import Organization, PlanTier
from core.users.models import Role, User
from tests import factories
from tests.web_min.conftest import signed_in, web_user
from web_min.app import configure_structlog, create_app

HTML = {"accept": "text/html"}
PAGES = ("/admin", "/admin/sync", "/admin/dead-letters", "/admin/audit")


async def _operator(database: Database) -> User:
    return await web_user(
        database, role=Role.USER, is_operator=True, totp_secret=pyotp.random_base32()
    )


@pytest.mark.parametrize("who", ["plain user", "org admin with MFA", "operator without MFA"])
async def test_only_operators_with_two_factor_sign_in_get_in(
    who: str, client: httpx.AsyncClient, database: Database
) -> None:
    # One sign-in per test: the sign-in limit (5/min per IP) counts every attempt.
    if who == "plain user":
        user = await web_user(database, role=Role.USER)
    elif who == "org admin with MFA":
        user = await web_user(database, role=Role.ADMIN, totp_secret=pyotp.random_base32())
    else:
        user = await web_user(database, is_operator=True)
    await signed_in(client, user)
    for path in PAGES:
        refused = await client.get(path, headers=HTML)
        assert refused.status_code == 403, path
    retry = await client.post(
        "/admin/dead-letters/00000000-0000-0000-0000-000000000000/retry", headers=HTML
    )
    assert retry.status_code == 403


async def test_an_operator_with_two_factor_sign_in_sees_every_page(
    client: httpx.AsyncClient, database: Database
) -> None:
    await signed_in(client, await _operator(database))
    for path in PAGES:
        page = await client.get(path)
        assert page.status_code == 200, path
        assert "Installation admin" in page.text


async def test_orgs_across_the_installation_with_plan_and_ai_quota_and_the_read_logged(
    client: httpx.AsyncClient, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    operator = await _operator(database)
    async with database.system() as session:
        rival = await factories.org(session, name="Rival Widgets", plan=PlanTier.PRO)
        await factories.ad_account(session, rival)
        row = await session.get(Organization, rival.id)
        assert row is not None
        row.ai_generations_used = 42
        from core.base import utcnow
        from core.billing.plans import period_start

        row.ai_period_start = period_start(utcnow())
    await signed_in(client, operator)
    configure_structlog()
    with caplog.at_level(logging.INFO, logger="adpilot.operator"):
        page = await client.get("/admin")
    assert page.status_code == 200
    # Another org's row: only a cross-org (worker-role) read can see it under RLS.
    rival_row = page.text.split("Rival Widgets", 1)[1].split("</tr>", 1)[0]
    assert "Pro" in rival_row
    assert "42 / 5000" in rival_row
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "adpilot.operator"]
    assert len(lines) == 1
    assert lines[0]["event"] == "operator.read"
    assert lines[0]["view"] == "orgs"
    assert lines[0]["db_role"] == "worker"
    assert lines[0]["operator_id"] == str(operator.id)
    assert lines[0]["operator_email"] == operator.email


async def test_sync_health_lists_failing_accounts_first(
    client: httpx.AsyncClient, database: Database
) -> None:
    async with database.system() as session:
        org = await factories.org(session, name="Syncing")
        healthy = await factories.ad_account(session, org)
        broken = await factories.ad_account(session, org, platform="meta")
        for account, status, error in (
            (healthy, "ok", None),
            (broken, "auth_error", "token expired\nstack line"),
        ):
            row = await session.get(AdAccount, account.id)
            assert row is not None
            row.sync_status, row.last_error = status, error
    await signed_in(client, await _operator(database))
    page = await client.get("/admin/sync")
    assert page.status_code == 200
    assert "<strong>1</strong> auth_error" in page.text
    assert "<strong>1</strong> ok" in page.text
    assert page.text.index("auth_error</td>") < page.text.index("ok</td>")
    assert "token expired" in page.text
    assert "stack line" not in page.text


@pytest.fixture
async def queued_app(settings: Settings, redis_url: str) -> AsyncIterator[FastAPI]:
    """The app with the worker's Redis configured, so a dead letter can be queued again."""
    app = create_app(settings.model_copy(update={"redis_url": redis_url}))
    async with app.router.lifespan_context(app):
        yield app


async def test_retrying_a_dead_letter_queues_it_once_and_is_audited(
    queued_app: FastAPI, database: Database, redis_url: str
) -> None:
    operator = await _operator(database)
    async with database.system() as session:
        org = await factories.org(session, name="Lettered")
        letter = await dead_letters.record(
            session=session,
            job_name="sync_account",
            arguments={"account_id": "abc"},
            error="boom",
            attempts=5,
            org_id=org.id,
        )
    transport = httpx.ASGITransport(app=queued_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        csrf = await signed_in(client, operator)
        listed = await client.get("/admin/dead-letters")
        assert "sync_account" in listed.text
        assert "Lettered" in listed.text
        forged = await client.post(f"/admin/dead-letters/{letter.id}/retry", headers=HTML)
        assert forged.status_code == 403
        retried = await client.post(
            f"/admin/dead-letters/{letter.id}/retry", data={"csrf_token": csrf}
        )
        assert retried.status_code == 303
        redis = Redis.from_url(redis_url)
        try:
            assert await redis.exists(f"arq:job:retry:{letter.id}") == 1
        finally:
            await redis.aclose()
        again = await client.post(
            f"/admin/dead-letters/{letter.id}/retry", data={"csrf_token": csrf}
        )
        assert again.status_code == 303
        shown = await client.get("/admin/dead-letters")
        assert "already retried" in shown.text
        unknown = await client.post(
            "/admin/dead-letters/00000000-0000-0000-0000-000000000000/retry",
            data={"csrf_token": csrf},
            headers=HTML,
        )
        assert unknown.status_code == 404
    async with database.system() as session:
        audit = list(
            await session.scalars(
                select(AuditLog).where(AuditLog.action == "operator.dead_letter_retry")
            )
        )
    assert [(row.org_id, row.user_id, row.channel) for row in audit] == [
        (org.id, operator.id, "operator")
    ]


async def test_without_redis_a_retry_is_refused_clearly(
    client: httpx.AsyncClient, database: Database
) -> None:
    async with database.system() as session:
        letter = await dead_letters.record(
            session=session, job_name="sync_account", arguments={}, error="boom", attempts=5
        )
    csrf = await signed_in(client, await _operator(database))
    refused = await client.post(f"/admin/dead-letters/{letter.id}/retry", data={"csrf_token": csrf})
    assert refused.status_code == 303
    page = await client.get("/admin/dead-letters")
    assert "Retrying needs the worker&#39;s Redis" in page.text
    async with database.system() as session:
        kept = await dead_letters.get(session=session, letter_id=letter.id)
        assert kept.resolved_at is None


async def test_audit_search_across_orgs_filters_by_org_person_and_action(
    client: httpx.AsyncClient, database: Database
) -> None:
    first = await web_user(database, role=Role.ADMIN)
    second = await web_user(database, role=Role.ADMIN)
    async with database.system() as session:
        for user, action in ((first, "rule.create"), (second, "rule.delete")):
            session.add(
                AuditLog(org_id=user.org_id, user_id=user.id, action=action, resource_type="rule")
            )
    await signed_in(client, await _operator(database))
    everything = await client.get("/admin/audit", params={"action": "rule."})
    assert "<code>rule.create</code>" in everything.text
    assert "<code>rule.delete</code>" in everything.text
    one_org = await client.get("/admin/audit", params={"org": str(second.org_id)})
    assert "<code>rule.delete</code>" in one_org.text
    assert "<code>rule.create</code>" not in one_org.text
    by_person = await client.get("/admin/audit", params={"actor_email": first.email})
    assert "<code>rule.create</code>" in by_person.text
    assert "<code>rule.delete</code>" not in by_person.text
    bad = await client.get("/admin/audit", params={"org": "not-an-id"})
    assert bad.status_code == 400


async def test_operator_pages_past_30_a_minute_get_429(
    client: httpx.AsyncClient, database: Database, web_app: FastAPI
) -> None:
    operator = await _operator(database)
    await signed_in(client, operator)
    for _ in range(ACTION_LIMITS[ActionKind.ADMIN].amount):
        await web_app.state.action_limiter.check(
            ActionKind.ADMIN, org_id=operator.org_id, user_id=operator.id
        )
    refused = await client.get("/admin/sync", headers=HTML)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert "Slow down" in refused.text
