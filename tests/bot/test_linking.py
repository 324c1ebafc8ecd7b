"""Strangers get linking help and no data; a link code turns them into a known speaker."""

from __future__ import annotations

from bot.engine import LINK_HELP, Bot
from core.db import Database
from core.users import identity
from tests.bot.conftest import World


async def test_stranger_gets_help_and_no_data(bot: Bot, world: World) -> None:
    reply = await bot.handle_unlinked(
        channel="telegram", workspace="", external_user_id="999", text="report 7d"
    )
    assert reply.text == LINK_HELP
    assert reply.table is None
    assert reply.card is None
    assert (
        await bot.identify(
            channel="telegram", workspace="", external_user_id="999", conversation_id="c"
        )
        is None
    )


async def test_link_code_links_then_the_speaker_is_known(
    bot: Bot, world: World, database: Database
) -> None:
    async with database.tenant(world.org_id) as session:
        code = await identity.create_link_code(
            session=session, org_id=world.org_id, user_id=world.manager_id
        )
    reply = await bot.handle_unlinked(
        channel="telegram", workspace="", external_user_id="777", text=f"link {code}"
    )
    assert not reply.is_error
    assert reply.text.startswith("Linked!")
    ctx = await bot.identify(
        channel="telegram", workspace="", external_user_id="777", conversation_id="chat-1"
    )
    assert ctx is not None
    assert (ctx.org_id, ctx.user_id) == (world.org_id, world.manager_id)
    report = await bot.handle_text(ctx, "campaigns")
    assert "Summer Sale" in report.as_plain_text()
    assert "Rival Sale" not in report.as_plain_text()

    reused = await bot.handle_unlinked(
        channel="telegram", workspace="", external_user_id="778", text=f"link {code}"
    )
    assert reused.is_error
    assert "used already" in reused.text


async def test_bad_link_code_is_a_friendly_line(bot: Bot, world: World) -> None:
    reply = await bot.handle_unlinked(
        channel="signal", workspace="", external_user_id="+4912345", text="link ZZZZ-2345"
    )
    assert reply.is_error
    assert "Unknown link code" in reply.text
