"""Daily summaries: one outbox row per summary destination, once per org per local day."""

from __future__ import annotations

import asyncio
import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import time_machine
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from sqlalchemy import select

from bot.summary import payload_reply
from core.approvals import service as approvals
from core.config import Settings
from core.db import Database
from core.notify.models import Destination, Notification
from core.orgs.models import Organization
from core.rules.models import Alert, Rule
from core.summaries.schemas import DueOrg
from core.users.models import Role
from tests import factories
from tests.worker.outbox_fakes import ScriptedChannel, worker_ctx
from worker.daily_summaries import send_daily_summaries, summarise_org
from worker.notifications import deliver_notifications

BERLIN = "Europe/Berlin"
# 06:05 in Berlin (UTC+2 in June) on Wednesday 2026-06-10; the summary is about Tuesday the 9th.
MORNING = datetime(2026, 6, 10, 4, 5, tzinfo=UTC)
BEFORE_SIX = datetime(2026, 6, 10, 3, 55, tzinfo=UTC)
LOCAL_DAY = date(2026, 6, 10)


@dataclass
class World:
    org_id: uuid.UUID
    chat: uuid.UUID
    email: uuid.UUID


async def world(database: Database) -> World:
    async with database.system() as session:
        org = await factories.org(session, timezone=BERLIN, name="Acme")
        manager = await factories.user(session, org, role=Role.MANAGER)
        sandbox = await factories.ad_account(session, org, timezone=BERLIN)
        meta = await factories.ad_account(session, org, platform="meta", timezone=BERLIN)
        shoes = await factories.campaign(session, sandbox, name="Shoes")
        hats = await factories.campaign(session, meta, name="Hats")
        # Shoes: 40 a day for a week, then 100 yesterday. Hats: a steady 20.
        await factories.daily_metrics(
            session, shoes, first_day=date(2026, 6, 1), days=8, timezone=BERLIN
        )
        await factories.daily_metrics(
            session,
            shoes,
            first_day=date(2026, 6, 9),
            days=1,
            timezone=BERLIN,
            spend=Decimal("100"),
            conversions=Decimal("4"),
        )
        await factories.daily_metrics(
            session,
            hats,
            first_day=date(2026, 6, 1),
            days=9,
            timezone=BERLIN,
            spend=Decimal("20"),
            conversions=Decimal("1"),
        )
        rule = Rule(org_id=org.id, name="CPA guard", spec={}, mode="notify")
        session.add(rule)
        await session.flush()
        session.add(
            Alert(
                org_id=org.id,
                rule_id=rule.id,
                scope_key=str(shoes.id),
                message="CPA above 20",
                created_at=datetime(2026, 6, 9, 12, 0, tzinfo=UTC),
            )
        )
        chat = Destination(
            org_id=org.id, channel="telegram", conversation_id="-100", kinds={"summaries": True}
        )
        email = Destination(
            org_id=org.id,
            channel="email",
            conversation_id="boss@example.com",
            kinds={"alerts": True, "summaries": True},
        )
        alerts_only = Destination(
            org_id=org.id, channel="slack", conversation_id="C1", kinds={"alerts": True}
        )
        switched_off = Destination(
            org_id=org.id,
            channel="slack",
            conversation_id="C2",
            kinds={"summaries": True},
            enabled=False,
        )
        session.add_all([chat, email, alerts_only, switched_off])
        await session.flush()
        ids = World(org_id=org.id, chat=chat.id, email=email.id)
    async with database.tenant(ids.org_id) as session:
        await approvals.propose(
            session=session,
            org_id=ids.org_id,
            kind="pause_campaign",
            arguments={"campaign_id": str(shoes.id)},
            summary="Pause Shoes",
            requested_by=manager,
            origin_channel="telegram",
        )
    return ids


def ctx_for(database: Database, settings: Settings, model: Any = None) -> dict[str, Any]:
    return {"database": database, "settings": settings, "summary_model": model}


async def summaries(database: Database, org_id: uuid.UUID) -> list[Notification]:
    async with database.system() as session:
        found = await session.scalars(select(Notification).where(Notification.org_id == org_id))
        return list(found)


async def test_the_summary_goes_to_each_destination_that_takes_summaries(
    database: Database, settings: Settings
) -> None:
    ids = await world(database)
    ctx = ctx_for(database, settings)
    with time_machine.travel(BEFORE_SIX, tick=False):
        assert await send_daily_summaries(ctx) == 0
    with time_machine.travel(MORNING, tick=False):
        assert await send_daily_summaries(ctx) == 2
        # The next tick the same morning finds the day claimed.
        assert await send_daily_summaries(ctx) == 0
    rows = await summaries(database, ids.org_id)
    assert {row.destination_id for row in rows} == {ids.chat, ids.email}
    payload = rows[0].payload
    assert payload["kind"] == "summary"
    assert payload["local_date"] == "2026-06-10"
    assert payload["narrated"] is False
    assert "*Daily summary for Acme, Tue 2026-06-09*: spent 120.00 USD" in payload["text"]
    assert "(+100.0% on the day before)" in payload["text"]
    assert "Top movers: Shoes (sandbox) 40.00 → 100.00 USD." in payload["text"]
    assert "1 approval(s) waiting" in payload["text"]
    assert "Rules that fired: CPA guard ×1." in payload["text"]
    table = payload["table"]
    assert table["columns"][0] == "platform"
    # Shoes: 100 yesterday against 40 the day before (+150%) and a 40 average (+150%).
    assert ["sandbox", "100.00 USD", "+150.0%", "+150.0%", "4.0", "25.00 USD"] in table["rows"]
    assert ["meta", "20.00 USD", "+0.0%", "+0.0%", "1.0", "20.00 USD"] in table["rows"]
    png = base64.b64decode(payload["chart"]["png_base64"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert payload["chart"]["filename"] == "summary-2026-06-09.png"
    # The delivery job turns the row back into the Reply every channel renders.
    reply = payload_reply(payload)
    assert reply.chart is not None
    assert reply.chart.png == png
    assert "Shoes" in reply.as_plain_text()
    async with database.system() as session:
        org = await session.get(Organization, ids.org_id)
        assert org is not None
        assert org.last_summary_on == LOCAL_DAY


async def test_two_workers_on_the_same_tick_write_one_summary(
    database: Database, settings: Settings
) -> None:
    ids = await world(database)
    other = Database(settings)
    try:
        due = DueOrg(org_id=ids.org_id, local_date=LOCAL_DAY)
        with time_machine.travel(MORNING, tick=True):
            written = await asyncio.gather(
                summarise_org(ctx_for(database, settings), due),
                summarise_org(ctx_for(other, settings), due),
            )
    finally:
        await other.dispose()
    assert sorted(written) == [0, 2]
    assert len(await summaries(database, ids.org_id)) == 2


def answering(text: str) -> FunctionModel:
    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart(text)])

    return FunctionModel(reply)


async def test_a_faithful_narrative_goes_out(database: Database, settings: Settings) -> None:
    ids = await world(database)
    model = answering(
        "Shoes drove the day: spend went from 40.00 to 100.00 USD (+150.0%), "
        "while Hats held at 20.00 USD. 1 approval is waiting."
    )
    with time_machine.travel(MORNING, tick=False):
        await send_daily_summaries(ctx_for(database, settings, model))
    payload = (await summaries(database, ids.org_id))[0].payload
    assert payload["narrated"] is True
    assert "Shoes drove the day" in payload["text"]


async def test_a_narrative_with_an_invented_figure_is_dropped(
    database: Database, settings: Settings
) -> None:
    ids = await world(database)
    model = answering("Spend jumped 37% to 999.00 USD, led by Shoes.")
    with time_machine.travel(MORNING, tick=False):
        await send_daily_summaries(ctx_for(database, settings, model))
    payload = (await summaries(database, ids.org_id))[0].payload
    assert payload["narrated"] is False
    assert "999" not in payload["text"]
    # The plain summary went out instead.
    assert "Top movers: Shoes (sandbox)" in payload["text"]


def test_the_summary_cron_runs_every_quarter_hour_once_across_workers() -> None:
    from worker.settings import WorkerSettings

    [job] = [j for j in WorkerSettings.cron_jobs if j.coroutine is send_daily_summaries]
    assert job.minute == {0, 15, 30, 45}
    assert job.second == 0
    assert job.unique is True


async def test_the_outbox_delivers_the_summary_with_its_table_and_chart(
    database: Database, settings: Settings
) -> None:
    ids = await world(database)
    with time_machine.travel(MORNING, tick=False):
        assert await send_daily_summaries(ctx_for(database, settings)) == 2
    rows = await summaries(database, ids.org_id)
    # Summaries are their own kind: never folded into an alert digest.
    assert {row.kind for row in rows} == {"summaries"}
    chat, email = ScriptedChannel("telegram"), ScriptedChannel("email")
    assert (
        await deliver_notifications(worker_ctx(database, settings, telegram=chat, email=email)) == 2
    )
    for channel in (chat, email):
        [(_, reply)] = channel.posted
        assert reply.text.startswith("*Daily summary for Acme")
        assert reply.table is not None
        assert reply.chart is not None
        assert reply.chart.png.startswith(b"\x89PNG\r\n\x1a\n")
