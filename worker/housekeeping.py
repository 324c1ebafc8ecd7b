"""Daily housekeeping: de-duplication ids that can no longer be redelivered, old dead letters."""

from __future__ import annotations

import logging
from typing import Any

from core.db import Database
from core.events import dead_letters
from core.events.service import prune_processed

log = logging.getLogger(__name__)


async def prune_delivery_ids(ctx: dict[str, Any]) -> int:
    database: Database = ctx["database"]
    async with database.system() as session:
        pruned = await prune_processed(session=session)
    log.info("pruned %d delivery id(s) past the redelivery window", pruned)
    return pruned


async def expire_dead_letters(ctx: dict[str, Any]) -> int:
    database: Database = ctx["database"]
    async with database.system() as session:
        expired = await dead_letters.expire(session=session)
    log.info("expired %d dead letter(s) past the %s retention", expired, dead_letters.RETENTION)
    return expired
