"""/settings/rules: rules with their state, and approvals decided through chat's own `decide`."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update

from adapters.sandbox import SandboxAdapter
from core.approvals.models import ActionStatus, PendingAction
from core.base import utcnow
from core.campaigns.models import Campaign, CampaignStatus
from core.db import Database
from core.rules.models import Rule
from tests.web_min.conftest import signed_in
from tests.web_min.sandbox_shop import propose_card, rule_with_alert, shop_with_team

PAGE = "/settings/rules"


async def _status(database: Database, action_id: uuid.UUID) -> str:
    async with database.system() as session:
        action = await session.get(PendingAction, action_id)
        assert action is not None
        return str(action.status)


async def test_anonymous_is_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get(PAGE)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/settings/rules"


async def test_the_page_lists_rules_with_their_last_firing_and_pending_cards(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await shop_with_team(database)
    await rule_with_alert(database, shop.org, mode="approve", enabled=True)
    card = await propose_card(database, shop, shop.member)
    await signed_in(client, shop.manager)

    page = (await client.get(PAGE)).text

    assert "High CPA approve" in page
    assert "never" not in page.split("High CPA approve")[1].split("</tr>")[0]
    assert f"Approve {card.short_code}" in page
    assert "Asked by " + shop.member.email in page


async def test_approving_from_the_page_executes_on_the_sandbox_platform(
    client: httpx.AsyncClient, database: Database, web_app: FastAPI
) -> None:
    shop = await shop_with_team(database)
    card = await propose_card(database, shop, shop.member)
    csrf = await signed_in(client, shop.manager)

    response = await client.post(f"{PAGE}/approvals/{card.id}/approve", data={"csrf_token": csrf})

    assert response.status_code == 303
    async with database.system() as session:
        action = await session.get(PendingAction, card.id)
        campaign = await session.get(Campaign, shop.campaign_id)
    assert action is not None
    assert campaign is not None
    assert (action.status, action.decided_by, action.decided_via) == (
        ActionStatus.EXECUTED,
        shop.manager.id,
        "web",
    )
    assert campaign.status == CampaignStatus.PAUSED
    # The platform itself changed, through the app's registry.
    remote = await SandboxAdapter(database).get_campaign(
        shop.account_id, shop.remote_id, access_token=shop.token
    )
    assert remote.status == "PAUSED"
    assert "Nothing is waiting for approval." in (await client.get(PAGE)).text


async def test_a_plain_user_cannot_approve_and_is_told_why(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await shop_with_team(database)
    card = await propose_card(database, shop, shop.manager)
    csrf = await signed_in(client, shop.member)
    page = (await client.get(PAGE)).text
    assert f"Approve {card.short_code}" not in page

    response = await client.post(f"{PAGE}/approvals/{card.id}/approve", data={"csrf_token": csrf})

    assert response.status_code == 403
    assert "may not approve changes: their role is user" in response.text
    assert await _status(database, card.id) == "pending"


async def test_the_requester_cannot_approve_their_own_raise(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await shop_with_team(database)
    card = await propose_card(database, shop, shop.admin, daily_budget="60")
    csrf = await signed_in(client, shop.admin)

    response = await client.post(f"{PAGE}/approvals/{card.id}/approve", data={"csrf_token": csrf})

    assert response.status_code == 403
    assert "so someone else must approve it" in response.text
    assert await _status(database, card.id) == "pending"


async def test_another_admin_approves_the_raise_and_a_second_tap_is_told_it_is_done(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await shop_with_team(database)
    card = await propose_card(database, shop, shop.admin, daily_budget="60")
    csrf = await signed_in(client, shop.admin2)

    first = await client.post(f"{PAGE}/approvals/{card.id}/approve", data={"csrf_token": csrf})
    again = await client.post(f"{PAGE}/approvals/{card.id}/approve", data={"csrf_token": csrf})

    assert first.status_code == 303
    assert await _status(database, card.id) == "executed"
    assert again.status_code == 409
    assert "was already approved by " + shop.admin2.email in again.text


async def test_reject_and_another_orgscard(client: httpx.AsyncClient, database: Database) -> None:
    shop = await shop_with_team(database)
    other = await shop_with_team(database)
    mine = await propose_card(database, shop, shop.member)
    foreign = await propose_card(database, other, other.member)
    csrf = await signed_in(client, shop.manager)

    hidden = await client.post(f"{PAGE}/approvals/{foreign.id}/reject", data={"csrf_token": csrf})
    rejected = await client.post(f"{PAGE}/approvals/{mine.id}/reject", data={"csrf_token": csrf})
    no_csrf = await client.post(f"{PAGE}/approvals/{mine.id}/approve", data={})

    assert hidden.status_code == 404
    assert await _status(database, foreign.id) == "pending"
    assert rejected.status_code == 303
    assert await _status(database, mine.id) == "rejected"
    assert no_csrf.status_code == 403


async def test_rules_switch_on_and_off_with_chats_permissions(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await shop_with_team(database)
    notify = await rule_with_alert(database, shop.org, mode="notify", enabled=True)
    auto = await rule_with_alert(database, shop.org, mode="auto", enabled=False)
    other = await shop_with_team(database)
    foreign = await rule_with_alert(database, other.org, mode="notify", enabled=True)

    member_csrf = await signed_in(client, shop.member)
    refused = await client.post(f"{PAGE}/{notify}/disable", data={"csrf_token": member_csrf})
    assert refused.status_code == 403
    assert "may not manage automation rules" in refused.text

    client.cookies.clear()  # sign out: another person at the same browser
    manager_csrf = await signed_in(client, shop.manager)
    off = await client.post(f"{PAGE}/{notify}/disable", data={"csrf_token": manager_csrf})
    auto_refused = await client.post(f"{PAGE}/{auto}/enable", data={"csrf_token": manager_csrf})
    hidden = await client.post(f"{PAGE}/{foreign}/disable", data={"csrf_token": manager_csrf})
    assert off.status_code == 303
    assert auto_refused.status_code == 403
    assert "Only an admin may run a rule in auto mode" in auto_refused.text
    assert hidden.status_code == 404

    client.cookies.clear()
    admin_csrf = await signed_in(client, shop.admin)
    on = await client.post(f"{PAGE}/{auto}/enable", data={"csrf_token": admin_csrf})
    assert on.status_code == 303
    async with database.system() as session:
        states = dict(
            (
                await session.execute(
                    select(Rule.id, Rule.enabled).where(
                        Rule.org_id.in_([shop.org.id, other.org.id])
                    )
                )
            ).all()
        )
    assert (states[notify], states[auto], states[foreign]) == (False, True, True)


async def test_an_expired_card_is_refused_with_the_reason(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await shop_with_team(database)
    card = await propose_card(database, shop, shop.member)
    async with database.system() as session:
        await session.execute(
            update(PendingAction)
            .where(PendingAction.id == card.id)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
    csrf = await signed_in(client, shop.manager)

    response = await client.post(f"{PAGE}/approvals/{card.id}/approve", data={"csrf_token": csrf})

    assert response.status_code == 410
    assert f"Action {card.short_code} expired; ask for a fresh one." in response.text
    assert await _status(database, card.id) == "expired"


async def test_decisions_on_the_page_count_against_the_campaign_change_limit(
    client: httpx.AsyncClient, database: Database, web_app: FastAPI
) -> None:
    # 60 campaign changes a minute per person, shared with chat: many small steps are still many.
    shop = await shop_with_team(database)
    csrf = await signed_in(client, shop.manager)
    unknown = f"{PAGE}/approvals/{uuid.uuid4()}/approve"
    for _ in range(60):
        assert (await client.post(unknown, data={"csrf_token": csrf})).status_code == 404
    refused = await client.post(unknown, data={"csrf_token": csrf})
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
