"""Two different cards on one campaign, approved at the same moment on PostgreSQL.

Each card was judged against the same before-state; executing both would apply the second
to a campaign that no longer looks like its card. The campaign row lock in the executor lets
exactly one through to the platform; the other is refused while the first is in flight.
Runs as the app role (RLS forced), each approval on its own pooled connection.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from core.approvals import flows, service
from core.approvals.models import ActionStatus, PendingAction
from core.campaigns.models import Campaign
from core.db import Database
from core.errors import Conflict, StaleApproval
from core.users.models import Role, User
from tests import factories
from tests.core.approvals.fakes import Call, FakePlatform, registry_with

pytestmark = pytest.mark.postgres

ROUNDS = 20
# How long the parked platform waits for the other approval before letting the first finish.
SETTLE_SECONDS = 5.0


@pytest.fixture
def backend() -> str:
    """PostgreSQL only: row locks and READ COMMITTED visibility are what is under test."""
    return "postgresql"


@dataclass
class ParkedPlatform(FakePlatform):
    """Counts mutations and parks each one until released, so both approvals can be inside."""

    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def _mutate(self, call: Call) -> None:
        await super()._mutate(call)
        self.entered.set()
        await self.release.wait()


@dataclass(frozen=True)
class Card:
    kind: str
    budget: str | None = None

    def arguments(self, campaign_id: uuid.UUID) -> dict[str, object]:
        arguments: dict[str, object] = {"campaign_id": str(campaign_id)}
        if self.budget is not None:
            arguments["daily_budget"] = self.budget
        return arguments


@dataclass(frozen=True)
class Round:
    org_id: uuid.UUID
    campaign_id: uuid.UUID
    codes: tuple[str, str]
    approvers: tuple[uuid.UUID, uuid.UUID]


async def _set_up(database: Database, cards: tuple[Card, Card], platform: FakePlatform) -> Round:
    async with database.system() as session:
        org = await factories.org(session)
        requester = await factories.user(session, org, role=Role.USER)
        approvers = (
            await factories.user(session, org, role=Role.MANAGER),
            await factories.user(session, org, role=Role.MANAGER),
        )
        account = await factories.ad_account(session, org)
        campaign = await factories.campaign(session, account, daily_budget=Decimal("50"))
        platform.adopt(campaign)
        codes = []
        for card in cards:
            action = await service.propose(
                session=session,
                org_id=org.id,
                kind=card.kind,
                arguments=card.arguments(campaign.id),
                summary=f"{card.kind} {card.budget or ''}".strip(),
                requested_by=requester,
                origin_channel="slack",
            )
            codes.append(action.short_code)
        return Round(
            org_id=org.id,
            campaign_id=campaign.id,
            codes=(codes[0], codes[1]),
            approvers=(approvers[0].id, approvers[1].id),
        )


async def _approve(
    database: Database, round_: Round, index: int, platform: FakePlatform, start: asyncio.Event
) -> str | Conflict | StaleApproval:
    await start.wait()
    try:
        async with database.tenant(round_.org_id) as session:
            user = await session.get(User, round_.approvers[index])
            assert user is not None
            await flows.decide(
                session=session,
                org_id=round_.org_id,
                action_ref=round_.codes[index],
                user=user,
                approve=True,
                channel="slack",
                registry=registry_with(platform),
            )
    except (Conflict, StaleApproval) as refused:
        return refused
    return round_.codes[index]


async def _park_until_settled(
    platform: ParkedPlatform, tasks: list[asyncio.Task[str | Conflict | StaleApproval]]
) -> None:
    """Hold the first platform call until the other approval finished or also got inside."""
    await asyncio.wait_for(platform.entered.wait(), SETTLE_SECONDS)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_SECONDS
    while loop.time() < deadline:
        if len(platform.calls) > 1 or any(task.done() for task in tasks):
            break
        await asyncio.sleep(0.005)
    platform.release.set()


CARD_PAIRS = {
    "two budget changes": (Card("set_budget", "60"), Card("set_budget", "40")),
    "a pause and a budget change": (Card("pause_campaign"), Card("set_budget", "60")),
}


@pytest.mark.parametrize("pair", list(CARD_PAIRS), ids=list(CARD_PAIRS))
async def test_two_cards_on_one_campaign_reach_the_platform_once(
    database: Database, pair: str
) -> None:
    cards = CARD_PAIRS[pair]
    async with database.tenant(uuid.uuid4()) as session:
        # The approvals below run as the application's login role, with RLS forced.
        assert await session.scalar(text("SELECT current_user")) == "adpilot_app"
    for round_number in range(ROUNDS):
        platform = ParkedPlatform(name="sandbox")
        round_ = await _set_up(database, cards, platform)
        start = asyncio.Event()
        tasks = [
            asyncio.create_task(_approve(database, round_, index, platform, start))
            for index in (0, 1)
        ]
        start.set()
        await _park_until_settled(platform, tasks)
        outcomes = await asyncio.gather(*tasks)

        where = f"round {round_number}: {outcomes!r}"
        assert len(platform.calls) == 1, where
        winners = [outcome for outcome in outcomes if isinstance(outcome, str)]
        losers = [outcome for outcome in outcomes if not isinstance(outcome, str)]
        assert len(winners) == 1, where
        assert len(losers) == 1, where
        assert "being executed right now" in losers[0].message, where
        await _check_outcome(database, round_, cards, winner=winners[0])


async def _check_outcome(
    database: Database, round_: Round, cards: tuple[Card, Card], *, winner: str
) -> None:
    async with database.tenant(round_.org_id) as session:
        stored = {
            action.short_code: action
            for action in await session.scalars(
                select(PendingAction).where(PendingAction.short_code.in_(round_.codes))
            )
        }
        loser = next(code for code in round_.codes if code != winner)
        assert stored[winner].status is ActionStatus.EXECUTED
        assert stored[loser].status is ActionStatus.FAILED
        assert (stored[loser].result or {}).get("reason") == "busy"
        campaign = await session.get(Campaign, round_.campaign_id)
        assert campaign is not None
        won_card = cards[round_.codes.index(winner)]
        expected_budget = Decimal(won_card.budget) if won_card.budget else Decimal("50")
        assert campaign.daily_budget == expected_budget
