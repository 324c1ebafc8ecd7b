"""Daily summaries at 06:00 in each org's own timezone, written to the outbox.

A cron every 15 minutes picks the orgs whose local 06:00 has come and whose summary for the
local date is not out (`organizations.last_summary_on`). The figures and the narrative are
made outside any lock; the day is claimed in the transaction that writes the outbox rows, so
two workers on the same tick write one summary between them.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.summary import summary_figures, summary_payload, summary_reply
from core.db import Database
from core.summaries.outbox import queue_summary, summary_destinations
from core.summaries.schemas import DueOrg
from core.summaries.service import claim_day, due_orgs, gather

log = logging.getLogger(__name__)

# Tests (and a deployment that wants a dedicated model) put a pydantic-ai Model here.
MODEL_KEY = "summary_model"


def _narrative_model(ctx: dict[str, Any]) -> Any:
    if MODEL_KEY not in ctx:
        # Imported only now: pydantic-ai takes seconds to import and most ticks need no model.
        from bot.summary_narrative import summary_model

        ctx[MODEL_KEY] = summary_model(ctx["settings"])
    return ctx[MODEL_KEY]


async def summarise_org(ctx: dict[str, Any], due: DueOrg) -> int:
    """Write one org's summary for its local date; returns the outbox rows written."""
    database: Database = ctx["database"]
    async with database.system() as session:
        destinations = await summary_destinations(session=session, org_id=due.org_id)
        summary = (
            await gather(session=session, org_id=due.org_id, local_date=due.local_date)
            if destinations
            else None
        )
    narrative = None
    if summary is not None:
        model = _narrative_model(ctx)
        if model is not None:
            from bot.summary_narrative import write_narrative

            draft = summary_reply(summary).as_plain_text()
            narrative = await write_narrative(draft, summary_figures(summary), model=model)
    async with database.system() as session:
        if not await claim_day(session=session, org_id=due.org_id, local_date=due.local_date):
            return 0
        if summary is None:
            return 0  # no destination takes summaries: the day is marked, nothing to send
        reply = summary_reply(summary, narrative)
        payload = summary_payload(reply, summary, narrated=narrative is not None)
        # The destinations read before are re-read here, in the claiming transaction.
        current = await summary_destinations(session=session, org_id=due.org_id)
        return len(queue_summary(session=session, destinations=current, payload=payload))


async def send_daily_summaries(ctx: dict[str, Any]) -> int:
    """Across orgs (worker login); returns how many summary notifications were queued."""
    database: Database = ctx["database"]
    async with database.system() as session:
        due = await due_orgs(session=session)
    queued = 0
    for item in due:
        try:
            queued += await summarise_org(ctx, item)
        except Exception:
            # One org's failure must not hold back the others; it is retried next tick.
            log.exception("daily summary failed for org %s", item.org_id)
    if queued:
        log.info("queued %d daily summary notification(s) for %d org(s)", queued, len(due))
    return queued
