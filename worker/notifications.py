"""Deliver the notification outbox: claim due rows, send them once, retry, digest, fall back.

Exactly once per row: a row is claimed (pending -> sending) under a lease token, its lease is
renewed just before the send, and only the token's holder can mark it sent, with the message id
the platform gave. A worker killed mid-batch leaves its rows `sending`; once the lease runs out,
the sweeper makes them due again. What cannot be closed is the instant between the platform
accepting a message and our commit: email passes the row id as Resend's Idempotency-Key, so a
repeat sends nothing; chat platforms have no such key (see docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.replies import ApprovalCard, Reply
from channels.base import ChannelAddress, ChannelError, ChatChannel, Failure, PostedMessage
from channels.card_updates import post_reply
from core.base import utcnow
from core.config import Settings
from core.db import Database
from core.notify import service as outbox
from core.notify.models import Destination, Notification
from core.notify.policy import DeliveryPolicy, policy_of
from core.orgs.models import Organization
from core.security.crypto import decrypt_optional
from worker.outbox_replies import digest_reply, row_reply

log = logging.getLogger(__name__)

JOB_NAME = "deliver_notifications"
BATCH_SIZE = 500
# Destinations served at once; each destination's rows go one after another, in order.
CONCURRENCY = 64
# The next batch is claimed once fewer rows than this are in flight: sending never waits for a
# claim, nor for a batch's slowest destinations.
REFILL_BELOW = BATCH_SIZE // 2
# A run stops claiming after this long so a cron tick never overlaps a long run.
RUN_BUDGET_SECONDS = 240.0
MAX_ATTEMPTS = 6  # then the destination "keeps failing": the next one is tried
BACKOFF_SECONDS = (10.0, 30.0, 120.0, 600.0, 1800.0)


@runtime_checkable
class KeyedChannel(Protocol):
    """A channel that takes an idempotency key (email): a repeated key sends nothing."""

    async def post_once(
        self, address: ChannelAddress, reply: Reply, *, idempotency_key: str
    ) -> list[PostedMessage]: ...


class _WithKey:
    """The channel, posting with this key: post_reply then records cards as for any channel."""

    def __init__(self, channel: ChatChannel, key: str) -> None:
        self.name = channel.name
        self._channel = channel
        self._key = key

    async def post(self, address: ChannelAddress, reply: Reply) -> list[PostedMessage]:
        assert isinstance(self._channel, KeyedChannel)
        return await self._channel.post_once(address, reply, idempotency_key=self._key)

    async def edit_card(self, address: ChannelAddress, message_id: str, card: ApprovalCard) -> None:
        await self._channel.edit_card(address, message_id, card)


def backoff(attempts: int, retry_after: float | None) -> float:
    planned = BACKOFF_SECONDS[min(max(attempts, 1), len(BACKOFF_SECONDS)) - 1]
    return max(planned, retry_after or 0.0)


@dataclass
class Run:
    """One delivery run's shared pieces and counters."""

    database: Database
    channels: Mapping[str, ChatChannel]
    lease: timedelta
    token: uuid.UUID
    destinations: dict[uuid.UUID, Destination]
    sent: int = 0


async def deliver_notifications(ctx: dict[str, Any]) -> int:
    """Send every due notification; how many messages went out."""
    settings: Settings = ctx["settings"]
    database: Database = ctx["database"]
    lease = timedelta(seconds=settings.notify_lease_seconds)
    started = time.monotonic()
    flight = Flight(CONCURRENCY)
    runs: list[Run] = []
    while time.monotonic() - started < RUN_BUDGET_SECONDS and not flight.failed:
        await flight.room(REFILL_BELOW)
        async with database.system() as session:
            token, rows = await outbox.claim_due(
                session=session, now=utcnow(), lease=lease, limit=BATCH_SIZE
            )
            policies, destinations = await _context_of(session, rows)
        if not rows:
            if not flight.rows:
                break
            # What is in flight may yet come due again (a fallback's next destination).
            await flight.room(1)
            continue
        run = Run(database, ctx["channels"], lease, token, destinations)
        runs.append(run)
        flight.start(run, rows, policies)
    await flight.drain()
    return sum(run.sent for run in runs)


GroupKey = tuple[str, str, str]


class Flight:
    """The destination groups being sent, across batches: at most `concurrency` at once, and
    one destination's groups one after another in claim order.

    The next batch is claimed while the last one still sends (see REFILL_BELOW): waiting for a
    whole batch left the platform's rate unused while its last few destinations, each held to
    about one message a second, finished, and again while the next claim ran.
    """

    def __init__(self, concurrency: int) -> None:
        self.rows = 0  # claimed and not yet settled or released
        self.failed = False
        self._gate = asyncio.Semaphore(concurrency)
        self._last: dict[GroupKey, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()

    def start(
        self, run: Run, rows: Sequence[Notification], policies: Mapping[uuid.UUID, DeliveryPolicy]
    ) -> None:
        groups: dict[GroupKey, list[Notification]] = defaultdict(list)
        for row in rows:
            groups[(str(row.org_id), row.channel, row.conversation_id)].append(row)
        for key, group in groups.items():
            policy = policies.get(group[0].org_id, DeliveryPolicy())
            task = asyncio.create_task(self._one(run, group, policy, self._last.get(key)))
            self._last[key] = task
            self._tasks.append(task)
        self.rows += len(rows)

    async def _one(
        self,
        run: Run,
        group: list[Notification],
        policy: DeliveryPolicy,
        before: asyncio.Task[None] | None,
    ) -> None:
        try:
            if before is not None:
                await asyncio.wait([before])  # its outcome is drain's to report
            async with self._gate:
                await _deliver_group(run, group, policy)
        except Exception:
            self.failed = True
            raise
        finally:
            self.rows -= len(group)
            self._changed.set()

    async def room(self, below: int) -> None:
        """Until fewer than `below` rows are in flight (or a group failed)."""
        while self.rows >= below and not self.failed:
            self._changed.clear()
            await self._changed.wait()

    async def drain(self) -> None:
        """Every group finished; the first failure raised then, none cancelled midway (a send
        cut between the platform's answer and our commit would go again after the lease)."""
        outcomes = await asyncio.gather(*self._tasks, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome


# A platform's late `failed` status (WhatsApp) is acted on for this long after the send.
FAILED_STATUS_HORIZON = timedelta(days=1)


async def sweep_notifications(ctx: dict[str, Any]) -> int:
    """Rows whose worker died mid-delivery (lease over) become due again, and rows whose
    message the platform later reported failed move to the next destination; how many."""
    database: Database = ctx["database"]
    settings: Settings = ctx["settings"]
    now = utcnow()
    async with database.system() as session:
        reclaimed = await outbox.reclaim_expired(session=session, now=now)
        token, failed = await outbox.claim_failed_deliveries(
            session=session,
            now=now,
            lease=timedelta(seconds=settings.notify_lease_seconds),
            since=now - FAILED_STATUS_HORIZON,
        )
        for row, reason in failed:
            await outbox.fall_back(session=session, row=row, token=token, now=now, error=reason)
    if reclaimed or failed:
        log.warning(
            "notification sweep: %d row(s) re-queued from flight, %d failed deliveries moved on",
            reclaimed,
            len(failed),
        )
    return reclaimed + len(failed)


async def _context_of(
    session: AsyncSession, rows: Sequence[Notification]
) -> tuple[dict[uuid.UUID, DeliveryPolicy], dict[uuid.UUID, Destination]]:
    org_ids = {row.org_id for row in rows}
    destination_ids = {row.destination_id for row in rows if row.destination_id is not None}
    policies: dict[uuid.UUID, DeliveryPolicy] = {}
    if org_ids:
        orgs = await session.execute(
            select(Organization.id, Organization.timezone, Organization.settings).where(
                Organization.id.in_(org_ids)
            )
        )
        policies = {org_id: policy_of(zone, raw or {}) for org_id, zone, raw in orgs}
    destinations: dict[uuid.UUID, Destination] = {}
    if destination_ids:
        found = await session.scalars(
            select(Destination).where(Destination.id.in_(destination_ids))
        )
        destinations = {destination.id: destination for destination in found}
    return policies, destinations


async def _deliver_group(run: Run, rows: list[Notification], policy: DeliveryPolicy) -> None:
    """One destination's due rows: alerts held, de-duplicated or digested; the rest one by one."""
    now = utcnow()
    alerts = [row for row in rows if row.kind == "alerts"]
    others = [row for row in rows if row.kind != "alerts"]
    quiet_end = policy.quiet_until(now)
    if alerts and quiet_end is not None:
        async with run.database.system() as session:
            await outbox.release(
                session=session,
                ids=[row.id for row in alerts],
                token=run.token,
                at=quiet_end,
                held=True,
                refund_attempt=True,
            )
        alerts = []
    alerts = await _without_duplicates(run, alerts, policy, now)
    held = any(row.held for row in alerts)
    digest = (policy.digest_threshold and len(alerts) >= policy.digest_threshold) or (
        held and len(alerts) > 1
    )
    if digest:
        await _send(run, alerts, digest_reply(alerts, after_quiet_hours=held), digest=True)
        alerts = []
    for row in [*alerts, *others]:
        await _send(run, [row], await row_reply(run.database, row), digest=False)


async def _without_duplicates(
    run: Run, alerts: list[Notification], policy: DeliveryPolicy, now: datetime
) -> list[Notification]:
    """Identical alerts (same key) go once per window: a repeat in the batch, or of one sent."""
    keyed = [row for row in alerts if row.dedupe_key]
    if not keyed or policy.dedupe_window <= timedelta(0):
        return alerts
    async with run.database.system() as session:
        seen = await outbox.recently_sent_keys(
            session=session,
            org_id=keyed[0].org_id,
            destination_id=keyed[0].destination_id,
            keys=[row.dedupe_key for row in keyed if row.dedupe_key],
            since=now - policy.dedupe_window,
        )
    kept: list[Notification] = []
    repeats: list[uuid.UUID] = []
    for row in alerts:
        if row.dedupe_key is not None and row.dedupe_key in seen:
            repeats.append(row.id)
            continue
        if row.dedupe_key is not None:
            seen.add(row.dedupe_key)
        kept.append(row)
    if repeats:
        async with run.database.system() as session:
            await outbox.settle(
                session=session, ids=repeats, token=run.token, status=outbox.DUPLICATE, now=now
            )
    return kept


def _address(run: Run, row: Notification) -> ChannelAddress:
    destination = run.destinations.get(row.destination_id) if row.destination_id else None
    conversation = row.conversation_id
    if destination is not None and destination.secret:
        # A webhook destination's URL is its credential: decrypted only to post.
        conversation = decrypt_optional(destination.secret) or conversation
    # A row sent straight to a person (an admin alert) carries its identity's workspace: in
    # Slack's multi-workspace mode the token is the workspace's.
    workspace = (
        destination.workspace if destination is not None else str(row.payload.get("workspace", ""))
    )
    return ChannelAddress(row.channel, workspace, conversation)


async def _post(run: Run, row: Notification, reply: Reply, key: str) -> list[PostedMessage]:
    channel = run.channels.get(row.channel)
    if channel is None:
        raise ChannelError(
            f"channel {row.channel} is not configured on this worker", failure=Failure.REFUSED
        )
    if isinstance(channel, KeyedChannel):
        channel = _WithKey(channel, key)
    address = _address(run, row)
    if reply.card is None:
        return await channel.post(address, reply)
    # Recorded as a copy of the card, so a decision anywhere redraws this one too.
    return await post_reply(
        database=run.database, channel=channel, org_id=row.org_id, address=address, reply=reply
    )


async def _send(run: Run, rows: list[Notification], reply: Reply, *, digest: bool) -> None:
    """Send one message for `rows` (one row, or a digest's many) and settle them."""
    async with run.database.system() as session:
        held = await outbox.renew(
            session=session,
            ids=[row.id for row in rows],
            token=run.token,
            until=utcnow() + run.lease,
        )
    rows = [row for row in rows if row.id in held]
    if not rows:
        return  # the lease ran out and someone else holds these now
    key = f"{'digest' if digest else 'notification'}/{rows[0].id}"
    try:
        posted = await _post(run, rows[0], reply, key)
    except ChannelError as exc:
        await _failed(run, rows, exc)
        return
    message_id = next((m.message_id for m in posted if m.shows_card), None) or (
        posted[0].message_id if posted else None
    )
    status = outbox.DIGESTED if digest else outbox.SENT
    async with run.database.system() as session:
        await outbox.settle(
            session=session,
            ids=[row.id for row in rows],
            token=run.token,
            status=status,
            now=utcnow(),
            message_id=message_id,
        )
    run.sent += 1


async def _failed(run: Run, rows: list[Notification], exc: ChannelError) -> None:
    """Retry later, or move on to the org's next destination when this one will not heal."""
    error = f"{exc.failure.value}: {str(exc)[:300]}"
    now = utcnow()
    gives_up = exc.permanent or exc.failure == Failure.REFUSED
    async with run.database.system() as session:
        for row in rows:
            if gives_up or row.attempts >= MAX_ATTEMPTS:
                target = await outbox.fall_back(
                    session=session, row=row, token=run.token, now=now, error=error
                )
                log.warning(
                    "notification %s: %s failed (%s); %s",
                    row.id,
                    row.channel,
                    exc.failure.value,
                    f"falling back to {target.channel}" if target else "no destination left",
                )
            else:
                wait = backoff(row.attempts, exc.retry_after)
                await outbox.release(
                    session=session,
                    ids=[row.id],
                    token=run.token,
                    at=now + timedelta(seconds=wait),
                    error=error,
                )
