"""WhatsAppChannel against the Graph API's real answers: the 24-hour window and its template,
131047, 429s and the other error codes, charts as media uploads. respx, never the network."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from bot.replies import ApprovalCard, Chart, Reply
from channels.base import ChannelAddress
from channels.whatsapp.channel import WhatsAppChannel
from channels.whatsapp.errors import (
    AccessTokenInvalid,
    GraphUnavailable,
    OutsideServiceWindow,
    RateLimited,
    TemplateRejected,
    Undeliverable,
    WhatsAppError,
)
from channels.whatsapp.graph import GraphClient
from core.base import utcnow
from core.db import Database
from core.deliveries import service as deliveries
from core.orgs.models import Organization
from core.users.models import ChannelIdentity
from tests import factories
from tests.channels.whatsapp.conftest import (
    ACCESS_TOKEN,
    ADMIN_WA,
    API,
    PHONE_NUMBER_ID,
    GraphApi,
    graph_error,
    link,
)
from web_min.observability import AppMetrics

ADDRESS = ChannelAddress("whatsapp", "", f"+{ADMIN_WA}")
CARD = ApprovalCard(
    action_id=str(uuid.uuid4()),
    short_code="4F2K",
    summary="Pause Summer Sale",
    details=["Now: active, daily budget 50"],
    approvers="a manager or an admin",
    expires_at=datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@dataclass
class Setup:
    channel: WhatsAppChannel
    database: Database
    org_id: uuid.UUID
    metrics: AppMetrics
    waits: list[float] = field(default_factory=list)

    async def last_wrote(self, when: datetime | None) -> None:
        async with self.database.system() as session:
            await session.execute(
                update(ChannelIdentity)
                .where(ChannelIdentity.external_user_id == ADDRESS.conversation_id)
                .values(last_inbound_at=when)
            )

    async def org_settings(self, **values: object) -> None:
        async with self.database.system() as session:
            org = await session.get(Organization, self.org_id)
            assert org is not None
            org.settings = {**org.settings, **values}

    def calls(self, status: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "adpilot_outbound_calls_total", {"channel": "whatsapp", "status": status}
        )
        return float(value or 0)


@pytest.fixture
async def setup(database: Database, graph: GraphApi) -> AsyncIterator[Setup]:
    async with database.system() as session:
        org = await factories.org(session)
        admin = await factories.user(session, org)
        org_id, admin_id = org.id, admin.id
    await link(database, org_id, admin_id, ADMIN_WA)
    metrics = AppMetrics()
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    client = GraphClient(
        base_url=API,
        phone_number_id=PHONE_NUMBER_ID,
        access_token=ACCESS_TOKEN,
        metrics=metrics,
        sleep=record,
    )
    ready = Setup(WhatsAppChannel(client, database), database, org_id, metrics, waits)
    await ready.last_wrote(utcnow() - timedelta(minutes=5))
    yield ready
    await client.aclose()


# --- the 24-hour window -------------------------------------------------------------------------


async def test_inside_the_window_a_card_goes_as_reply_buttons_and_each_message_is_recorded(
    setup: Setup, graph: GraphApi
) -> None:
    posted = await setup.channel.post(ADDRESS, Reply(text="Approval requested", card=CARD))
    assert [message["type"] for message in graph.sent] == ["text", "interactive"]
    assert [message.shows_card for message in posted] == [False, True]
    assert [message.message_id for message in posted] == graph.ids
    async with setup.database.tenant(setup.org_id) as session:
        for wamid in graph.ids:
            row = await deliveries.find(
                session=session, org_id=setup.org_id, channel="whatsapp", message_id=wamid
            )
            assert row is not None
            assert (row.status, row.conversation_id) == ("accepted", f"+{ADMIN_WA}")


@pytest.mark.parametrize("last_wrote", [timedelta(hours=25), None])
async def test_outside_the_window_a_proactive_card_goes_as_the_orgs_template(
    setup: Setup, graph: GraphApi, last_wrote: timedelta | None
) -> None:
    await setup.last_wrote(utcnow() - last_wrote if last_wrote else None)
    await setup.org_settings(
        whatsapp_template_name="adpilot_alerts", whatsapp_template_language="de"
    )
    alert = Reply(text="CPA of Summer Sale is 72 (rule High CPA guard)", card=CARD)
    [posted] = await setup.channel.post(ADDRESS, alert)
    [template] = graph.sent
    assert template["type"] == "template"
    assert template["to"] == ADMIN_WA
    assert template["template"]["name"] == "adpilot_alerts"
    assert template["template"]["language"] == {"code": "de"}
    [component] = template["template"]["components"]
    assert component["type"] == "body"
    [parameter] = component["parameters"]
    assert parameter["type"] == "text"
    assert parameter["text"].startswith("CPA of Summer Sale is 72")
    assert "Reply `approve 4F2K` or `reject 4F2K`" in parameter["text"]
    assert "\n" not in parameter["text"]
    assert posted.shows_card  # a decision elsewhere still sends the follow-up line


async def test_the_default_template_is_used_when_the_org_picked_none(
    setup: Setup, graph: GraphApi
) -> None:
    await setup.last_wrote(None)
    await setup.channel.post(ADDRESS, Reply(text="Budget alert"))
    [template] = graph.sent
    assert template["template"]["name"] == "adpilot_notification"
    assert template["template"]["language"] == {"code": "en_US"}


async def test_re_engagement_error_131047_resends_the_reply_as_the_template(
    setup: Setup, graph: GraphApi
) -> None:
    graph.refusals.append(graph_error(131047, "Re-engagement message"))
    [posted] = await setup.channel.post(ADDRESS, Reply(text="Daily summary: spend 120"))
    assert [message["type"] for message in graph.refused] == ["text"]
    [template] = graph.sent
    assert template["type"] == "template"
    assert template["template"]["components"][0]["parameters"][0]["text"] == (
        "Daily summary: spend 120"
    )
    assert posted.message_id == graph.ids[0]


async def test_a_malformed_template_setting_is_a_typed_error_and_nothing_goes_out(
    setup: Setup, graph: GraphApi
) -> None:
    await setup.last_wrote(None)
    await setup.org_settings(whatsapp_template_name="Alerts Template!")
    with pytest.raises(TemplateRejected, match="whatsapp_template_name"):
        await setup.channel.post(ADDRESS, Reply(text="Budget alert"))
    assert graph.router.calls.call_count == 0


async def test_a_decided_card_outside_the_window_is_announced_by_template(
    setup: Setup, graph: GraphApi
) -> None:
    await setup.last_wrote(utcnow() - timedelta(days=2))
    decided = CARD.model_copy(
        update={"status": "executed", "status_line": "Approved by dana via Slack at 14:02. Done."}
    )
    await setup.channel.edit_card(ADDRESS, "wamid.card", decided)
    [template] = graph.sent
    assert template["type"] == "template"
    text = template["template"]["components"][0]["parameters"][0]["text"]
    assert text == "Approval 4F2K (Pause Summer Sale): Approved by dana via Slack at 14:02. Done."


async def test_a_decided_card_inside_the_window_is_a_line_quoting_the_card(
    setup: Setup, graph: GraphApi
) -> None:
    decided = CARD.model_copy(update={"status": "rejected", "status_line": "Rejected by dana."})
    await setup.channel.edit_card(ADDRESS, "wamid.card", decided)
    [line] = graph.sent
    assert line["context"] == {"message_id": "wamid.card"}
    assert line["text"]["body"] == "Approval 4F2K (Pause Summer Sale): Rejected by dana."


# --- rate limits and errors -------------------------------------------------------------------


async def test_a_429_is_waited_out_as_retry_after_says_and_nothing_is_lost(
    setup: Setup, graph: GraphApi
) -> None:
    reply = Reply(text="Report", chart=Chart(png=PNG, alt_text="Spend by day"), card=CARD)
    graph.refusals.append(graph_error(130429, "Rate limit hit", status=429, **{"Retry-After": "2"}))
    posted = await setup.channel.post(ADDRESS, reply)
    assert setup.waits == [2.0]
    assert [message["type"] for message in graph.sent] == ["text", "image", "interactive"]
    assert len(posted) == 3
    assert len(graph.uploads) == 1
    assert setup.calls("429") == 1
    assert setup.calls("200") == 4  # three messages and one upload


async def test_a_pair_rate_limit_without_retry_after_waits_six_seconds(
    setup: Setup, graph: GraphApi
) -> None:
    graph.refusals.append(graph_error(131056, "(Business Account, Consumer Account) pair rate"))
    await setup.channel.post(ADDRESS, Reply(text="Report"))
    assert setup.waits == [6.0]
    assert len(graph.sent) == 1


async def test_a_long_wait_goes_back_to_the_caller_with_the_wait(
    setup: Setup, graph: GraphApi
) -> None:
    graph.refusals.append(
        graph_error(130429, "Rate limit hit", status=429, **{"Retry-After": "60"})
    )
    with pytest.raises(RateLimited) as refused:
        await setup.channel.post(ADDRESS, Reply(text="Report"))
    assert refused.value.retry_after == 60
    assert setup.waits == []
    assert graph.sent == []


async def test_a_connection_that_never_opened_is_tried_again(setup: Setup, graph: GraphApi) -> None:
    graph.refusals.append(httpx.ConnectError("connection refused"))
    await setup.channel.post(ADDRESS, Reply(text="Report"))
    assert setup.waits == [0.5]
    assert len(graph.sent) == 1
    assert setup.calls("network") == 1


async def test_a_timeout_after_sending_is_not_retried_so_nothing_goes_twice(
    setup: Setup, graph: GraphApi
) -> None:
    graph.refusals.append(httpx.ReadTimeout("no answer"))
    with pytest.raises(GraphUnavailable, match="ReadTimeout"):
        await setup.channel.post(ADDRESS, Reply(text="Report"))
    assert len(graph.refused) == 1
    assert graph.sent == []


@pytest.mark.parametrize(
    ("answer", "error", "code"),
    [
        (graph_error(190, "Error validating access token", status=401), AccessTokenInvalid, 190),
        (graph_error(131026, "Message undeliverable"), Undeliverable, 131026),
        (graph_error(131048, "Spam rate limit hit"), Undeliverable, 131048),
        (graph_error(131047, "Re-engagement message"), OutsideServiceWindow, 131047),
        (
            graph_error(132001, "Template name does not exist in the translation"),
            TemplateRejected,
            132001,
        ),
        (graph_error(131000, "Something went wrong", status=500), GraphUnavailable, 131000),
        (graph_error(100, "Invalid parameter"), WhatsAppError, 100),
        (httpx.Response(502, text="<html>Bad Gateway</html>"), GraphUnavailable, None),
        (httpx.Response(200, json={"messaging_product": "whatsapp"}), GraphUnavailable, None),
    ],
)
async def test_graph_answers_map_to_typed_errors(
    setup: Setup,
    graph: GraphApi,
    answer: httpx.Response,
    error: type[WhatsAppError],
    code: int | None,
) -> None:
    graph.router.routes["messages"].side_effect = None
    graph.router.routes["messages"].return_value = answer
    with pytest.raises(error) as raised:
        await setup.channel.graph.send_message(
            {"to": ADMIN_WA, "type": "text", "text": {"body": "x"}}
        )
    assert type(raised.value) is error
    assert raised.value.code == code
    assert ACCESS_TOKEN not in str(raised.value)


async def test_a_refused_template_is_a_typed_error_and_not_sent_again(
    setup: Setup, graph: GraphApi
) -> None:
    await setup.last_wrote(None)
    graph.refusals.append(graph_error(132001, "Template name does not exist in the translation"))
    with pytest.raises(TemplateRejected):
        await setup.channel.post(ADDRESS, Reply(text="Budget alert"))
    assert [message["type"] for message in graph.refused] == ["template"]


# --- charts -------------------------------------------------------------------------------------


async def test_a_chart_is_uploaded_as_media_then_sent_as_an_image(
    setup: Setup, graph: GraphApi
) -> None:
    await setup.channel.post(ADDRESS, Reply(text="", chart=Chart(png=PNG, alt_text="Spend by day")))
    [upload] = graph.uploads
    assert upload.url.path == f"/v21.0/{PHONE_NUMBER_ID}/media"
    assert upload.headers["content-type"].startswith("multipart/form-data; boundary=")
    body = upload.content
    assert b'name="messaging_product"\r\n\r\nwhatsapp' in body
    assert b'name="type"\r\n\r\nimage/png' in body
    assert b'name="file"; filename="chart.png"\r\nContent-Type: image/png' in body
    assert PNG in body
    [image] = graph.sent
    assert image["type"] == "image"
    assert image["image"] == {"id": "1037543291543636", "caption": "Spend by day"}


def test_pacing_windows_name_the_person_by_a_digest_not_their_number(setup: Setup) -> None:
    windows = setup.channel.windows(ADMIN_WA)
    keys = [part for _, identifiers in windows for part in identifiers]
    assert ADMIN_WA not in "".join(keys)
    assert PHONE_NUMBER_ID in keys  # the business number's own window: 80 messages/s
