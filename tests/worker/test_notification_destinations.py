"""The outbox through the real email and Slack-webhook channels (Resend and Slack mocked)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import respx
from sqlalchemy import select

from channels.base import ChannelError, Failure
from channels.email.channel import EmailChannel
from channels.email.resend import ResendClient, resend_http
from channels.slack_webhook.channel import SlackWebhookChannel
from core.config import Settings
from core.db import Database
from core.notify import service as outbox
from core.notify.models import Destination, Notification
from core.security.crypto import encrypt
from tests import factories
from tests.worker.outbox_fakes import ScriptedChannel, org_with_destinations, worker_ctx
from worker.notifications import deliver_notifications

RESEND = "http://resend.test"
HOOKS = "http://hooks.slack.test/services/"
HOOK_URL = f"{HOOKS}T0001/B0002/abcdefSECRET"


@pytest.fixture
async def email() -> AsyncIterator[EmailChannel]:
    async with resend_http(RESEND, 5.0) as http:
        yield EmailChannel(ResendClient(http, api_key="re_test", sender="AdPilot <a@x.example>"))


@respx.mock(base_url=RESEND, assert_all_called=True)
async def test_a_revoked_chat_falls_back_to_email_keyed_by_the_notification_id(
    respx_mock: respx.MockRouter, database: Database, settings: Settings, email: EmailChannel
) -> None:
    route = respx_mock.post("/emails").mock(return_value=httpx.Response(200, json={"id": "em-1"}))
    world = await org_with_destinations(
        database,
        ("slack", "C1", {"alerts": True}),
        ("email", "ops@example.com", {"alerts": "fallback"}),
    )
    async with database.tenant(world.org_id) as session:
        [row] = await outbox.notify(
            session=session, org_id=world.org_id, kind="alerts", text="CPA up on Spring Sale"
        )
    slack = ScriptedChannel(
        "slack", errors=[ChannelError("token revoked", failure=Failure.TOKEN_REVOKED)]
    )
    await deliver_notifications(worker_ctx(database, settings, slack=slack, email=email))

    request = route.calls.last.request
    # A retried delivery reuses the key: Resend then sends nothing twice.
    assert request.headers["idempotency-key"] == f"notification/{row.id}"
    assert json.loads(request.content)["to"] == ["ops@example.com"]
    async with database.system() as session:
        [done] = list(await session.scalars(select(Notification)))
    assert (done.status, done.channel, done.message_id) == ("sent", "email", "em-1")


@respx.mock(assert_all_called=True)
async def test_a_slack_webhook_destination_posts_to_its_encrypted_url(
    respx_mock: respx.MockRouter, database: Database, settings: Settings
) -> None:
    route = respx_mock.post(HOOK_URL).mock(return_value=httpx.Response(200, text="ok"))
    async with database.system() as session:
        org = await factories.org(session)
        session.add(
            Destination(
                org_id=org.id,
                channel="slack_webhook",
                conversation_id="T0001/B0002",  # the label; the URL itself is the secret
                secret=encrypt(HOOK_URL),
                kinds={"summaries": True},
            )
        )
    async with database.tenant(org.id) as session:
        await outbox.notify(
            session=session, org_id=org.id, kind="summaries", text="Yesterday: 42 conversions"
        )
        stored = await session.scalar(select(Destination.secret))
    assert stored is not None
    assert "SECRET" not in stored
    async with httpx.AsyncClient() as http:
        hook = SlackWebhookChannel(http, base=HOOKS)
        await deliver_notifications(worker_ctx(database, settings, slack_webhook=hook))
    assert json.loads(route.calls.last.request.content)["text"] == "Yesterday: 42 conversions"
    async with database.system() as session:
        [row] = list(await session.scalars(select(Notification)))
    assert (row.status, row.message_id) == ("sent", "T0001/B0002")
