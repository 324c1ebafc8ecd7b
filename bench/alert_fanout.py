"""Alert fan-out: 5,000 outbox notifications to a mock Telegram enforcing its flood limits.

    .venv/bin/python -m bench.alert_fanout [--notifications 5000] [--chats 100]
                                           [--database-url URL] [--redis-url URL]
                                           [--per-chat 3 --chat-window 3] [--stats-out FILE]

A loopback Telegram Bot API (the tests' aiohttp mock, in its own process) answers sendMessage
and enforces Telegram's limits: 30 messages in any second per bot, and per chat 1 message/s on
average (3 in any 3 s: Telegram tolerates short bursts; `--per-chat 1 --chat-window 1` for a
strict 1/s), answering 429 with retry_after beyond them. The seeded org has `--chats` Telegram
destinations and `--notifications` alerts spread evenly over them (digests and de-duplication
off: every alert is its own message). The worker's delivery job runs in this process with the
channels the worker builds from settings (Telegram through PTB, paced by the Redis-shared
OutboundLimiter) until the outbox is empty. Reported:
messages/s at the mock from the first to the last accepted message against the 30/s allowed
(target >= 90 %), 429s answered and which window refused them, the slots left unused per whole
second, a check of the mock's own windows over what it accepted, and lost or duplicated
messages (target: zero). `--stats-out` keeps the mock's raw record (every accepted message and
429 with its time) for a closer look.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx

from bench.loopback import free_port

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
ALLOWED_PER_SECOND = 30.0
TARGET_SHARE = 0.9


def serve_mock(port: int, per_chat: int, chat_window: float) -> None:
    """The mock Telegram, in its own process (so its work does not share our event loop)."""
    from tests.worker.mock_telegram import Limits, MockTelegram

    async def main() -> None:
        limits = Limits(per_chat=per_chat, chat_window=chat_window)
        await MockTelegram(TOKEN, limits=limits).start(port)
        await asyncio.Event().wait()

    asyncio.run(main())


async def seed(database_url: str, chats: int, notifications: int) -> None:
    from core.config import Settings
    from core.db import Database
    from core.notify.models import Destination, Notification
    from core.orgs.models import Organization

    database = Database(Settings(database_url=database_url))
    try:
        async with database.system() as session:
            org = Organization(
                name="Fan-out",
                slug=f"fanout-{time.time_ns()}",
                # Every alert its own message: this measures pacing, not digests.
                settings={"notifications": {"digest_threshold": 0, "dedupe_minutes": 0}},
            )
            session.add(org)
            await session.flush()
            destinations = [
                Destination(
                    org_id=org.id,
                    channel="telegram",
                    conversation_id=str(10_000 + n),
                    kinds={"alerts": True},
                )
                for n in range(chats)
            ]
            session.add_all(destinations)
            await session.flush()
            for number in range(notifications):
                target = destinations[number % chats]
                session.add(
                    Notification(
                        org_id=org.id,
                        destination_id=target.id,
                        channel="telegram",
                        conversation_id=target.conversation_id,
                        kind="alerts",
                        payload={"text": f"alert {number}"},
                    )
                )
    finally:
        await database.dispose()


async def deliver(env: dict[str, str]) -> tuple[float, int]:
    """Run the worker's delivery job until the outbox is empty; (seconds, runs)."""
    from sqlalchemy import func, select

    from core.base import utcnow
    from core.config import Settings
    from core.db import Database
    from core.notify.models import Notification
    from worker.chat_channels import outbound_channels
    from worker.notifications import deliver_notifications

    settings = Settings(
        database_url=env["ADPILOT_DATABASE_URL"],
        redis_url=env["ADPILOT_REDIS_URL"],
        telegram_bot_token=TOKEN,
        telegram_webhook_secret="bench-webhook-secret-0123456789abc",
        telegram_api_url=env["ADPILOT_TELEGRAM_API_URL"],
    )
    database = Database(settings)
    runs = 0
    async with AsyncExitStack() as stack:
        channels = await outbound_channels(settings, database, stack)
        ctx: dict[str, Any] = {"database": database, "settings": settings, "channels": channels}
        started = time.perf_counter()
        while True:
            runs += 1
            await deliver_notifications(ctx)
            # Rows a second 429 sent back to wait (their retry_after): run again when due,
            # as the worker's 5-second cron would.
            async with database.system() as session:
                left, due = (
                    await session.execute(
                        select(
                            func.count(Notification.id), func.min(Notification.next_attempt_at)
                        ).where(Notification.status != "sent")
                    )
                ).one()
            if not left:
                break
            wait = (due - utcnow()).total_seconds() if due is not None else 1.0
            await asyncio.sleep(min(max(wait, 0.0), 5.0))
        elapsed = time.perf_counter() - started
    await database.dispose()
    return elapsed, runs


def migrate(url: str) -> None:
    env = {**os.environ, "ADPILOT_DATABASE_URL": url}
    subprocess.run(  # noqa: S603 - our own command
        [str(Path(sys.executable).with_name("adpilot")), "migrate"],
        env=env,
        check=True,
        capture_output=True,
    )


async def flush_limiter(redis_url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()


def busiest(times: list[float], window: float) -> int:
    """The most of these (sorted) times in any half-open window of this length."""
    most, first = 0, 0
    for last, at in enumerate(times):
        while times[first] <= at - window:
            first += 1
        most = max(most, last - first + 1)
    return most


def report(stats: dict[str, Any], args: argparse.Namespace, elapsed: float) -> bool:
    accepted = stats["accepted"]
    seen = Counter(text for _, text, _, _ in accepted)
    expected = {f"alert {n}" for n in range(args.notifications)}
    lost = len(expected - set(seen))
    twice = sum(1 for count in seen.values() if count > 1)
    times = sorted(at for *_, at in accepted)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    rate = (len(times) - 1) / span if span else 0.0
    share = rate / ALLOWED_PER_SECOND
    print(
        f"{args.notifications} notifications to {args.chats} chats; mock limits 30 in any 1 s "
        f"per bot, {args.per_chat} in any {args.chat_window:g} s per chat"
    )
    print(
        f"accepted {len(accepted)}, 429s answered {stats['refused']}, requests {stats['requests']}"
    )
    print(f"first to last accepted: {span:.2f} s; job wall time {elapsed:.2f} s")
    by_window = Counter(window for window, *_ in stats["refusals"])
    print(f"429s by window: bot {by_window['bot']}, chat {by_window['chat']}")
    seconds = Counter(int(at - times[0]) for at in times) if times else Counter()
    full = range(int(span))  # whole seconds between the first and the last accepted
    short = sum(max(0, int(ALLOWED_PER_SECOND) - seconds[second]) for second in full)
    print(
        f"whole seconds with fewer than 30 accepted: "
        f"{sum(1 for second in full if seconds[second] < ALLOWED_PER_SECOND)} of {len(full)}, "
        f"{short} slots unused (= {short / ALLOWED_PER_SECOND:.1f} s at 30/s)"
    )
    by_chat: dict[int, list[float]] = {}
    for chat, _, _, at in accepted:
        by_chat.setdefault(chat, []).append(at)
    per_chat = max((busiest(sorted(at), args.chat_window) for at in by_chat.values()), default=0)
    print(
        f"mock check, most accepted in any 1 s: {busiest(times, 1.0)} (limit 30); "
        f"per chat in any {args.chat_window:g} s: {per_chat} (limit {args.per_chat})"
    )
    verdict = "met" if share >= TARGET_SHARE else "MISSED"
    print(f"rate {rate:.2f} msg/s = {share:.1%} of the allowed 30/s (target >= 90 %: {verdict})")
    exact = lost == 0 and twice == 0
    print(f"lost {lost}, duplicated {twice}: {'exactly once' if exact else 'NOT exactly once'}")
    return exact and share >= TARGET_SHARE


async def run(args: argparse.Namespace) -> int:
    port = free_port()
    mock = subprocess.Popen(  # noqa: S603, ASYNC220 - our own module, started before the load
        [
            *(sys.executable, "-m", "bench.alert_fanout", "--serve-mock", str(port)),
            *("--per-chat", str(args.per_chat), "--chat-window", str(args.chat_window)),
        ]
    )
    api_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(100):
                try:
                    await http.get(f"{api_url}/stats")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        with tempfile.TemporaryDirectory() as folder:
            url = args.database_url or f"sqlite+aiosqlite:///{folder}/bench.db"
            migrate(url)
            await seed(url, args.chats, args.notifications)
            await flush_limiter(args.redis_url)
            env = {
                "ADPILOT_DATABASE_URL": url,
                "ADPILOT_REDIS_URL": args.redis_url,
                "ADPILOT_TELEGRAM_API_URL": api_url,
            }
            elapsed, runs = await deliver(env)
        async with httpx.AsyncClient() as http:
            stats = (await http.get(f"{api_url}/stats")).json()
    finally:
        mock.terminate()
        mock.wait()
    if args.stats_out:
        Path(args.stats_out).write_text(json.dumps(stats))  # noqa: ASYNC240 - after the run
    backend = "PostgreSQL" if "postgres" in url else "SQLite"
    print(f"{backend}; delivery job runs until the outbox was empty: {runs}")
    return 0 if report(stats, args, elapsed) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--notifications", type=int, default=5000)
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument("--database-url", help="a database to migrate and use (default: SQLite)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument(
        "--per-chat", type=int, default=3, help="the mock's messages per chat in any window"
    )
    parser.add_argument(
        "--chat-window", type=float, default=3.0, help="the mock's per-chat window, seconds"
    )
    parser.add_argument("--stats-out", help="write the mock's raw record (JSON) here")
    parser.add_argument("--serve-mock", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_mock:
        serve_mock(args.serve_mock, args.per_chat, args.chat_window)
        return
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
