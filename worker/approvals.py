"""The approvals sweep: overdue cards expire, interrupted ones fail, and every copy is redrawn."""

from __future__ import annotations

import logging
from typing import Any

from channels.card_updates import refresh_copies
from core.approvals.service import expire_overdue
from core.db import Database

log = logging.getLogger(__name__)


async def expire_approvals(ctx: dict[str, Any]) -> int:
    """Across orgs (worker login); returns how many actions the sweep closed."""
    database: Database = ctx["database"]
    async with database.system() as session:
        closed = [(action.org_id, action.id) for action in await expire_overdue(session=session)]
    for org_id, action_id in closed:
        # Committed first: a channel that fails to redraw never reopens the card.
        await refresh_copies(
            database=database, channels=ctx["channels"], org_id=org_id, action_id=action_id
        )
    if closed:
        log.info("approvals sweep closed %d card(s)", len(closed))
    return len(closed)
