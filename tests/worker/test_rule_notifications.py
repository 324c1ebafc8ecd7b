"""Rule firings reach the outbox in their own transaction; approval cards go out as card copies."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.approvals.models import CardMessage, PendingAction
from core.config import Settings
from core.db import Database
from core.notify.models import Destination, Notification
from core.rules.flows import apply_firings, evaluate, run_cycle
from core.rules.models import Alert
from tests import factories
from tests.core.rules.conftest import NOW, save_rule
from tests.worker.outbox_fakes import ScriptedChannel, worker_ctx
from worker.notifications import deliver_notifications


async def _shop(database: Database) -> uuid.UUID:
    """An org with a starving campaign, an approve-mode rule and a notify rule on it, and two
    destinations: Telegram takes approvals and alerts, a Slack channel alerts only."""
    async with database.system() as session:
        organization = await factories.org(session)
        acct = await factories.ad_account(session, organization, platform="meta")
        target = await factories.campaign(session, acct, name="Leads")
        await factories.daily_metrics(
            session,
            target,
            first_day=NOW.date() - timedelta(days=2),
            days=3,
            conversions=Decimal(0),
        )
        await save_rule(
            session,
            organization,
            name="No conversions",
            mode="approve",
            conditions=["spend last_3d > 50", "conversions last_3d == 0"],
            action={"type": "pause"},
        )
        await save_rule(session, organization, name="Heads up", conditions=["spend last_3d > 50"])
        session.add_all(
            [
                Destination(
                    org_id=organization.id,
                    channel="telegram",
                    conversation_id="100",
                    kinds={"alerts": True, "approvals": True},
                ),
                Destination(
                    org_id=organization.id,
                    channel="slack",
                    workspace="T1",
                    conversation_id="C1",
                    kinds={"alerts": True},
                ),
            ]
        )
    return organization.id


async def test_each_firing_queues_its_notifications_and_cards_are_recorded_as_copies(
    database: Database, settings: Settings
) -> None:
    org_id = await _shop(database)
    report = await run_cycle(database=database, now=NOW)
    assert (report.alerts, report.proposed) == (2, 1)
    async with database.system() as session:
        rows = list(await session.scalars(select(Notification)))
        [action] = list(await session.scalars(select(PendingAction)))
    # Telegram: the card (not the same news twice as a plain alert) and the other alert;
    # Slack: both alerts.
    assert sorted((row.channel, row.kind) for row in rows) == [
        ("slack", "alerts"),
        ("slack", "alerts"),
        ("telegram", "alerts"),
        ("telegram", "approvals"),
    ]
    telegram, slack = ScriptedChannel("telegram"), ScriptedChannel("slack")
    await deliver_notifications(worker_ctx(database, settings, telegram=telegram, slack=slack))
    [card_reply] = [reply for _, reply in telegram.posted if reply.card is not None]
    assert card_reply.card is not None
    assert card_reply.card.short_code == action.short_code
    assert len(slack.posted) == 2
    async with database.system() as session:
        [copy] = list(await session.scalars(select(CardMessage)))
        statuses = {row.status for row in await session.scalars(select(Notification))}
    assert (copy.org_id, copy.action_id, copy.channel, copy.conversation_id) == (
        org_id,
        action.id,
        "telegram",
        "100",
    )
    assert copy.message_id.startswith("telegram-card-")
    assert statuses == {"sent"}


async def test_notifications_commit_with_their_alerts_or_not_at_all(database: Database) -> None:
    org_id = await _shop(database)
    async with database.system() as session:
        found = await evaluate(session=session, now=NOW)

    async def write_then_fail() -> None:
        async with database.tenant(org_id) as session:
            await apply_firings(session=session, org_id=org_id, firings=found.firings)
            assert len(list(await session.scalars(select(Notification)))) == 4
            raise RuntimeError("the org's transaction fails after the firings were written")

    with pytest.raises(RuntimeError):
        await write_then_fail()
    async with database.system() as session:
        assert list(await session.scalars(select(Alert))) == []
        assert list(await session.scalars(select(Notification))) == []
