"""Every place a card was shown is recorded, so a decision can update each copy (both backends)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals import cards
from core.approvals.models import ActionStatus, CardMessage
from core.errors import NotFound
from core.ports import PlatformRegistry
from tests import factories
from tests.core.approvals.conftest import World, approve_card, propose_card


async def _show(session: AsyncSession, world: World, card_id: object, channel: str, msg: str):
    return await cards.record_shown(
        session=session,
        org_id=world.org.id,
        action_id=card_id,  # type: ignore[arg-type]
        channel=channel,
        workspace="T1" if channel == "slack" else "",
        conversation_id="C1" if channel == "slack" else "-100200",
        message_id=msg,
    )


async def test_a_card_shown_on_two_channels_is_two_copies_to_update_once_decided(
    session: AsyncSession, world: World, registry: PlatformRegistry
) -> None:
    card = await propose_card(session, world, None, kind="pause_campaign")
    on_telegram = await _show(session, world, card.id, "telegram", "42")
    on_slack = await _show(session, world, card.id, "slack", "1700000000.000100")
    assert on_telegram.shown_status == on_slack.shown_status == ActionStatus.PENDING
    # Pending and shown as pending: nothing to update yet.
    assert (
        await cards.copies_to_update(session=session, org_id=world.org.id, action_id=card.id) == []
    )
    assert await approve_card(session, world, card, registry, user=world.admin) == (
        ActionStatus.EXECUTED
    )
    stale = await cards.copies_to_update(session=session, org_id=world.org.id, action_id=card.id)
    assert [(copy.channel, copy.message_id) for copy in stale] == [
        ("telegram", "42"),
        ("slack", "1700000000.000100"),
    ]
    await cards.mark_shown(session=session, card=stale[0], status=ActionStatus.EXECUTED)
    left = await cards.copies_to_update(session=session, org_id=world.org.id, action_id=card.id)
    assert [copy.channel for copy in left] == ["slack"]


async def test_the_same_message_recorded_twice_is_one_row(
    session: AsyncSession, world: World
) -> None:
    card = await propose_card(session, world, None, kind="pause_campaign")
    first = await _show(session, world, card.id, "telegram", "42")
    again = await _show(session, world, card.id, "telegram", "42")
    assert again.id == first.id
    count = await session.scalar(select(func.count()).select_from(CardMessage))
    assert count == 1


async def test_another_orgs_action_cannot_be_recorded_or_read(
    session: AsyncSession, world: World, backend: str
) -> None:
    card = await propose_card(session, world, None, kind="pause_campaign")
    await _show(session, world, card.id, "telegram", "42")
    other = await factories.org(session, name="Globex")  # the session now acts as Globex
    with pytest.raises(NotFound):
        await cards.record_shown(
            session=session,
            org_id=other.id,
            action_id=card.id,
            channel="telegram",
            workspace="",
            conversation_id="-1",
            message_id="7",
        )
    if backend == "postgresql":
        # As Globex, even an unfiltered read finds none of Acme's card rows: RLS, not the query.
        assert await session.scalar(select(func.count()).select_from(CardMessage)) == 0
    assert await cards.copies_to_update(session=session, org_id=other.id, action_id=card.id) == []


async def test_a_card_says_whether_approving_lets_the_campaign_spend_more(
    session: AsyncSession, world: World
) -> None:
    from bot.replies import card_from_action

    pause = await propose_card(session, world, None, kind="pause_campaign")
    cut = await propose_card(session, world, "40")
    raise_ = await propose_card(session, world, "60")
    assert [card_from_action(card).raises_spend for card in (pause, cut, raise_)] == [
        False,
        False,
        True,
    ]


async def test_a_code_finds_the_copy_in_the_chat_it_was_typed_in_first(
    session: AsyncSession, world: World
) -> None:
    card = await propose_card(session, world, None, kind="pause_campaign")
    await _show(session, world, card.id, "telegram", "42")
    on_signal = await cards.record_shown(
        session=session,
        org_id=world.org.id,
        action_id=card.id,
        channel="signal",
        workspace="",
        conversation_id="+4915111111111",
        message_id="1700000000123",
    )

    async def find(conversation: str, code: str = card.short_code) -> CardMessage | None:
        return await cards.find_copy_by_code(
            session=session,
            org_id=world.org.id,
            short_code=code,
            channel="signal",
            workspace="",
            conversation_id=conversation,
        )

    here = await find("+4915111111111")
    assert here is not None
    assert here.id == on_signal.id
    elsewhere = await find("+4915122222222")  # typed in another chat: the oldest copy
    assert elsewhere is not None
    assert (elsewhere.channel, elsewhere.message_id) == ("telegram", "42")
    assert await find("+4915111111111", code="ZZZZ") is None


async def test_a_code_finds_no_copy_of_another_orgs_card(
    session: AsyncSession, world: World
) -> None:
    card = await propose_card(session, world, None, kind="pause_campaign")
    await _show(session, world, card.id, "telegram", "42")
    other = await factories.org(session, name="Globex")
    found = await cards.find_copy_by_code(
        session=session,
        org_id=other.id,
        short_code=card.short_code,
        channel="telegram",
        workspace="",
        conversation_id="-100200",
    )
    assert found is None
