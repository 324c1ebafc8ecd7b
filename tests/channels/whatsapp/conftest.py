"""WhatsApp fixtures: Graph API mocked with respx at its real paths, signed webhook posts, and an
org whose campaign lives on the sandbox platform (the app's own registry executes approvals).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from fastapi import FastAPI

from adapters.sandbox import CampaignSpec, SandboxAdapter
from core.accounts.models import AdAccount
from core.campaigns.models import Campaign, CampaignStatus
from core.config import Settings, reset_settings_cache
from core.db import Database
from core.security import crypto
from core.users import identity
from core.users.models import Role
from tests import factories
from web_min.app import create_app

ACCESS_TOKEN = "EAAGm0PX4ZCpsBAKZCZAtest0token0for0whatsapp0cloud0api"
APP_SECRET = "6d1f3c1e0a2b4c5d8e9f0a1b2c3d4e5f"
VERIFY_TOKEN = "adpilot-verify-7Qx2"
PHONE_NUMBER_ID = "106540352242922"
BUSINESS_NUMBER = "15550783881"
WABA_ID = "102290129340398"
API = "https://graph.test/v21.0/"
ADMIN_WA, MANAGER_WA, STRANGER_WA = "16505551234", "4915112345678", "447700900123"
_ids = itertools.count(1)


def wamid() -> str:
    """A fresh message id shaped like Meta's (`wamid.` and base64)."""
    return f"wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTdCRTU{next(_ids):010d}AA=="


@pytest.fixture
def wa_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    values = {
        "ADPILOT_WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
        "ADPILOT_WHATSAPP_APP_SECRET": APP_SECRET,
        "ADPILOT_WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
        "ADPILOT_WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "ADPILOT_WHATSAPP_API_URL": API,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    configured = Settings()
    return settings.model_copy(
        update={
            name: getattr(configured, name)
            for name in (
                "whatsapp_access_token",
                "whatsapp_app_secret",
                "whatsapp_verify_token",
                "whatsapp_phone_number_id",
                "whatsapp_api_url",
            )
        }
    )


@dataclass
class GraphApi:
    """The mocked Graph API: answers as Meta does, keeps every message payload it was sent."""

    router: respx.MockRouter
    sent: list[dict[str, Any]] = field(default_factory=list)
    # Answers (or transport errors) to give before the next successful send, in order.
    refusals: list[httpx.Response | Exception] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    uploads: list[httpx.Request] = field(default_factory=list)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [message for message in self.sent if message["type"] == kind]

    def to(self, number: str) -> list[dict[str, Any]]:
        return [message for message in self.sent if message["to"] == number]

    def id_of(self, message: dict[str, Any]) -> str:
        return self.ids[self.sent.index(message)]


def graph_error(code: int, title: str, status: int = 400, **headers: str) -> httpx.Response:
    """A Graph error answer, shaped as Meta sends it."""
    return httpx.Response(
        status,
        headers=headers,
        json={
            "error": {
                "message": f"({'#'}{code}) {title}",
                "type": "OAuthException",
                "code": code,
                "error_data": {"messaging_product": "whatsapp", "details": title},
                "fbtrace_id": "AbCdEfGh123",
            }
        },
    )


@pytest.fixture
def graph() -> Iterator[GraphApi]:
    with respx.mock(base_url=API, assert_all_called=False) as router:
        api = GraphApi(router)

        def send(request: httpx.Request) -> httpx.Response:
            assert request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
            message = json.loads(request.content)
            assert message["messaging_product"] == "whatsapp"
            if api.refusals:
                api.refused.append(message)
                refusal = api.refusals.pop(0)
                if isinstance(refusal, Exception):
                    raise refusal
                return refusal
            api.sent.append(message)
            new_id = wamid()
            api.ids.append(new_id)
            sent: dict[str, Any] = {"id": new_id}
            if message["type"] == "template":
                sent["message_status"] = "accepted"
            return httpx.Response(
                200,
                json={
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": message["to"], "wa_id": message["to"]}],
                    "messages": [sent],
                },
            )

        def upload(request: httpx.Request) -> httpx.Response:
            api.uploads.append(request)
            return httpx.Response(200, json={"id": "1037543291543636"})

        router.post(f"{PHONE_NUMBER_ID}/messages", name="messages").mock(side_effect=send)
        router.post(f"{PHONE_NUMBER_ID}/media", name="media").mock(side_effect=upload)
        yield api


@pytest.fixture
async def app(wa_settings: Settings, database: Database) -> AsyncIterator[FastAPI]:
    # `database` truncates what the test committed (PostgreSQL) when it ends.
    app = create_app(wa_settings)
    yield app
    await app.state.whatsapp.aclose()
    await app.state.database.dispose()


@dataclass
class Shop:
    """An org with an admin and a manager linked on WhatsApp and one sandbox campaign."""

    org_id: uuid.UUID
    admin_email: str
    campaign_id: uuid.UUID
    account_external_id: str
    campaign_external_id: str
    sandbox_token: str


async def link(database: Database, org_id: uuid.UUID, user_id: uuid.UUID, number: str) -> None:
    async with database.system() as session:
        code = await identity.create_link_code(session=session, org_id=org_id, user_id=user_id)
        await identity.redeem_link_code(
            session=session,
            code=code,
            channel="whatsapp",
            workspace="",
            external_user_id=f"+{number}",
        )


@pytest.fixture
async def shop(app: FastAPI) -> Shop:
    database: Database = app.state.database
    sandbox = SandboxAdapter(database)
    tokens = await sandbox.authenticate(code="whatsapp-test", redirect_uri="http://localhost/")
    made = await sandbox.provision_account(
        name="Shop · Sandbox",
        campaigns=[CampaignSpec(name="Summer Sale", daily_budget=Decimal(50))],
        history_days=7,
    )
    [remote] = made.campaigns
    async with database.system() as session:
        org = await factories.org(session)
        admin = await factories.user(session, org, role=Role.ADMIN)
        manager = await factories.user(session, org, role=Role.MANAGER)
        account = AdAccount(
            org_id=org.id,
            platform="sandbox",
            external_id=made.account.external_id,
            name="Shop · Sandbox",
            currency="USD",
            timezone="UTC",
            sync_status="ok",
            access_token_encrypted=crypto.encrypt(tokens.access_token),
        )
        session.add(account)
        await session.flush()
        campaign = Campaign(
            org_id=org.id,
            ad_account_id=account.id,
            platform="sandbox",
            external_id=remote.external_id,
            name=remote.name,
            status=CampaignStatus.ACTIVE,
            daily_budget=remote.daily_budget,
            baseline_daily_budget=remote.daily_budget,
            currency="USD",
            extra={},
        )
        session.add(campaign)
        await session.flush()
        org_id, admin_id, manager_id = org.id, admin.id, manager.id
        admin_email, campaign_id = admin.email, campaign.id
    await link(database, org_id, admin_id, ADMIN_WA)
    await link(database, org_id, manager_id, MANAGER_WA)
    return Shop(
        org_id,
        admin_email,
        campaign_id,
        made.account.external_id,
        remote.external_id,
        tokens.access_token,
    )


# --- webhook notifications, shaped as the Cloud API sends them ----------------------------------


def notification(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": BUSINESS_NUMBER,
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            **value,
                        },
                    }
                ],
            }
        ],
    }


def inbound(
    sender: str, message: dict[str, Any], *, message_id: str | None = None
) -> dict[str, Any]:
    return notification(
        {
            "contacts": [{"profile": {"name": "Dana Diaz"}, "wa_id": sender}],
            "messages": [
                {
                    "from": sender,
                    "id": message_id or wamid(),
                    "timestamp": str(int(time.time())),
                    **message,
                }
            ],
        }
    )


def text(sender: str, body: str, *, message_id: str | None = None) -> dict[str, Any]:
    return inbound(sender, {"type": "text", "text": {"body": body}}, message_id=message_id)


def button_reply(sender: str, button_id: str, title: str, *, card_id: str) -> dict[str, Any]:
    return inbound(
        sender,
        {
            "type": "interactive",
            "context": {"from": BUSINESS_NUMBER, "id": card_id},
            "interactive": {
                "type": "button_reply",
                "button_reply": {"id": button_id, "title": title},
            },
        },
    )


def status(
    message_id: str, state: str, recipient: str, *, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    callback: dict[str, Any] = {
        "id": message_id,
        "status": state,
        "timestamp": str(int(time.time())),
        "recipient_id": recipient,
    }
    if state != "failed":
        callback["conversation"] = {
            "id": "CONVERSATION_ID",
            "expiration_timestamp": "1749502790",
            "origin": {"type": "service"},
        }
        callback["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "service"}
    if errors is not None:
        callback["errors"] = errors
    return notification({"statuses": [callback]})


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def post(
    app: FastAPI,
    body: dict[str, Any] | bytes,
    *,
    signature: str | bytes | None = "valid",
    drain: bool = True,
) -> httpx.Response:
    """POST a notification signed as Meta signs it (or with the given signature, or none)."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers: dict[bytes, bytes] = {b"content-type": b"application/json"}
    if signature == "valid":
        signature = sign(content)
    if signature is not None:
        raw = signature if isinstance(signature, bytes) else signature.encode()
        headers[b"x-hub-signature-256"] = raw
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://adpilot.test") as http:
        response = await http.post("/whatsapp/webhook", content=content, headers=headers)
    if drain:
        await app.state.whatsapp.drain()  # the turn runs after the ack; wait to look at it
    return response
