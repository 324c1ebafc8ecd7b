"""Daily housekeeping: de-duplication ids that can no longer be redelivered (channels' and
Stripe's), old dead letters, ended web sessions and spent password reset links."""

from __future__ import annotations

import logging
from typing import Any

from core.auth import sessions as web_sessions
from core.billing import subscriptions as billing_events
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


async def prune_sign_in_rows(ctx: dict[str, Any]) -> int:
    database: Database = ctx["database"]
    policy = web_sessions.SessionPolicy.of(database.settings)
    async with database.system() as session:
        pruned = await web_sessions.prune(session=session, policy=policy)
    log.info("pruned %d ended web session(s) and spent reset link(s)", pruned)
    return pruned


async def prune_stripe_event_ids(ctx: dict[str, Any]) -> int:
    database: Database = ctx["database"]
    async with database.system() as session:
        pruned = await billing_events.prune_event_ids(session=session)
    retention = billing_events.EVENT_ID_RETENTION
    log.info("pruned %d Stripe event id(s) past the %s retention", pruned, retention)
    return pruned
