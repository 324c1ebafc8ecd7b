"""Status callbacks through the real route: recorded on the outbound message, once, forward only."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import update

from bot.replies import Reply
from channels.base import ChannelAddress
from core.base import utcnow
from core.db import Database
from core.deliveries import service as deliveries
from core.deliveries.models import OutboundMessage
from core.users.models import ChannelIdentity
from tests.channels.whatsapp.conftest import (
    ADMIN_WA,
    STRANGER_WA,
    GraphApi,
    Shop,
    notification,
    post,
    status,
    text,
    wamid,
)


async def outbound(app: FastAPI, shop: Shop, message_id: str) -> OutboundMessage | None:
    database: Database = app.state.database
    async with database.tenant(shop.org_id) as session:
        return await deliveries.find(
            session=session, org_id=shop.org_id, channel="whatsapp", message_id=message_id
        )


async def answered(app: FastAPI, graph: GraphApi) -> str:
    """The wamid of the bot's answer to a `help` from the admin."""
    await post(app, text(ADMIN_WA, "help"))
    return graph.ids[-1]


async def test_sent_delivered_read_are_recorded_in_order_and_never_go_back(
    app: FastAPI, shop: Shop, graph: GraphApi
) -> None:
    message_id = await answered(app, graph)
    row = await outbound(app, shop, message_id)
    assert row is not None
    assert row.status == "accepted"
    for state in ("sent", "delivered", "read"):
        response = await post(app, status(message_id, state, ADMIN_WA))
        assert response.status_code == 200
        row = await outbound(app, shop, message_id)
        assert row is not None
        assert row.status == state
    # A late `delivered` (order is not guaranteed) does not move a read message back.
    await post(app, status(message_id, "delivered", ADMIN_WA))
    row = await outbound(app, shop, message_id)
    assert row is not None
    assert row.status == "read"


async def test_a_read_before_its_delivered_stays_read(
    app: FastAPI, shop: Shop, graph: GraphApi
) -> None:
    message_id = await answered(app, graph)
    await post(app, status(message_id, "read", ADMIN_WA))
    await post(app, status(message_id, "delivered", ADMIN_WA))
    await post(app, status(message_id, "sent", ADMIN_WA))
    row = await outbound(app, shop, message_id)
    assert row is not None
    assert row.status == "read"


async def test_a_failed_status_marks_the_delivery_failed_with_graphs_error(
    app: FastAPI, shop: Shop, graph: GraphApi
) -> None:
    message_id = await answered(app, graph)
    errors = [
        {
            "code": 131047,
            "title": "Re-engagement message",
            "message": "Re-engagement message",
            "error_data": {"details": "Message failed to send because more than 24 hours..."},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
        }
    ]
    await post(app, status(message_id, "failed", ADMIN_WA, errors=errors))
    database: Database = app.state.database
    async with database.tenant(shop.org_id) as session:
        [failed] = await deliveries.list_failed(
            session=session, org_id=shop.org_id, channel="whatsapp"
        )
    assert (failed.message_id, failed.error_code, failed.error_title) == (
        message_id,
        131047,
        "Re-engagement message",
    )


async def test_a_duplicate_status_callback_is_handled_once(
    app: FastAPI, shop: Shop, graph: GraphApi
) -> None:
    message_id = await answered(app, graph)
    callback = status(message_id, "delivered", ADMIN_WA)
    first, again = await post(app, callback), await post(app, callback)
    assert first.json() == {"ok": True}
    assert again.json() == {"ok": True, "duplicate": True}


async def test_a_callback_that_beats_the_send_path_is_kept_for_the_recipients_org(
    app: FastAPI, shop: Shop, graph: GraphApi
) -> None:
    early = wamid()
    await post(app, status(early, "sent", ADMIN_WA))
    row = await outbound(app, shop, early)
    assert row is not None
    assert (row.status, row.conversation_id) == ("sent", f"+{ADMIN_WA}")


async def test_a_status_for_a_number_nobody_linked_is_ignored(
    app: FastAPI, shop: Shop, graph: GraphApi
) -> None:
    response = await post(app, status(wamid(), "delivered", STRANGER_WA))
    assert response.status_code == 200
    database: Database = app.state.database
    async with database.tenant(shop.org_id) as session:
        assert await deliveries.list_failed(session=session, org_id=shop.org_id) == []


async def test_a_batch_of_statuses_is_recorded_in_one_notification(
    app: FastAPI, shop: Shop, graph: GraphApi
) -> None:
    first, second = await answered(app, graph), await answered(app, graph)
    batch = notification(
        {
            "statuses": [
                status(first, "delivered", ADMIN_WA)["entry"][0]["changes"][0]["value"]["statuses"][
                    0
                ],
                status(second, "read", ADMIN_WA)["entry"][0]["changes"][0]["value"]["statuses"][0],
            ]
        }
    )
    await post(app, batch)
    one, two = await outbound(app, shop, first), await outbound(app, shop, second)
    assert one is not None
    assert two is not None
    assert (one.status, two.status) == ("delivered", "read")


# --- the window, through the route ------------------------------------------------------------


async def test_the_persons_reply_reopens_the_window(
    app: FastAPI, shop: Shop, graph: GraphApi
) -> None:
    database: Database = app.state.database
    async with database.system() as session:
        await session.execute(
            update(ChannelIdentity)
            .where(ChannelIdentity.external_user_id == f"+{ADMIN_WA}")
            .values(last_inbound_at=utcnow() - timedelta(hours=30))
        )
    address = ChannelAddress("whatsapp", "", f"+{ADMIN_WA}")
    await app.state.whatsapp.channel.post(address, Reply(text="CPA alert: Summer Sale at 72"))
    assert graph.sent[-1]["type"] == "template"
    await post(app, text(ADMIN_WA, "help"))  # the person answers the template
    assert graph.sent[-1]["type"] == "text"
    await app.state.whatsapp.channel.post(address, Reply(text="CPA alert: Summer Sale at 80"))
    assert graph.sent[-1]["type"] == "text"
