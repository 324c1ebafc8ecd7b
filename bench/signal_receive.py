"""Signal receiver throughput: 1,000 queued messages from the receive websocket, answered once.

    .venv/bin/python -m bench.signal_receive [--messages 1000] [--senders 50] [--backend sqlite]

A loopback signal-cli-rest-api (the tests' mock: the json-rpc receive websocket and POST
/v2/send) runs in its own process with every frame queued; once AdPilot's receiver is connected
it pushes them all at once, as the API does after signal-cli catches up on a backlog. In this
process the receiver, the inbox (de-duplication, per-sender limit, per-conversation order) and
the bot's command path answer each one through /v2/send. Every message is `campaigns` from one
of `--senders` linked numbers of the seeded demo org. Reported: the time from the first frame
read to the last message handled (its reply accepted by /v2/send), messages/s, the per-message
wait from frame to reply, and the exactly-once count (replies per sender against messages per
sender). A second round sends the same number of new messages plus 20 % redeliveries of them,
which must be answered zero times more. Outbound pacing (10 per 10 s per account) is off here:
it would measure the pacing, not the receiver.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.loopback import free_port
from bot.engine import Bot
from channels.cli import demo_seed
from channels.signal_messenger.app import SignalMessenger
from core import schema
from core.config import Settings, reset_settings_cache
from core.db import Database
from core.orgs import service as orgs
from core.users import identity
from core.users import service as users
from tests.channels.signal_messenger import payloads
from tests.channels.signal_messenger.mock_api import MockSignalApi
from web_min.observability import AppMetrics
from web_min.rate_limit import RateLimiter

BOT = payloads.BOT
PG_ADMIN_URL = os.environ.get(
    "ADPILOT_BENCH_PG_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
PG_DB = "adpilot_bench_signal_receive"


def sender_number(index: int) -> str:
    return f"+4915200{index:06d}"


# --- the mock API, in its own process ---------------------------------------------------------


def serve_mock(port: int, frames_file: str) -> None:
    """The loopback API: /bench/push sends every queued frame; /bench/stats counts replies."""
    frames = Path(frames_file).read_text().splitlines()

    async def main() -> None:
        api = MockSignalApi(BOT)

        async def push(_: web.Request) -> web.Response:
            await api.push(*frames)
            return web.json_response({"pushed": len(frames)})

        async def stats(_: web.Request) -> web.Response:
            per_recipient = Counter(payload["recipients"][0] for payload in api.sent)
            return web.json_response({"sent": len(api.sent), "per_recipient": per_recipient})

        app = web.Application()
        app.router.add_get("/v1/receive/{number}", api._receive)
        app.router.add_post("/v2/send", api._send)
        app.router.add_post("/bench/push", push)
        app.router.add_get("/bench/stats", stats)
        runner = web.AppRunner(app, handle_signals=True)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.Event().wait()

    asyncio.run(main())


# --- AdPilot's side ---------------------------------------------------------------------------


@dataclass
class Round:
    label: str
    backend: str
    unique: int
    frames: int
    seconds: float
    waits_ms: list[float]
    replies: int
    exactly_once: int
    lost: int
    twice: int


def frames_for(numbers: list[str], count: int, redeliver: float, start: int) -> list[str]:
    messages = [
        payloads.data_message(
            numbers[index % len(numbers)], "campaigns", timestamp=start + index * 7
        )
        for index in range(count)
    ]
    frames = [json.dumps(message) for message in messages]
    # Redeliveries after a reconnect: the same envelopes again, interleaved near their originals.
    step = round(1 / redeliver) if redeliver else 0
    if step:
        for index in range(count - 1, -1, -step):
            frames.insert(min(len(frames), index + 3), frames[index])
    return frames


async def link_senders(database: Database, numbers: list[str]) -> None:
    async with database.system() as session:
        org = await orgs.get_by_slug(session=session, slug=demo_seed.DEMO_SLUG)
        admin = await users.get_by_email(
            session=session, org_id=org.id, email=demo_seed.PEOPLE[0][0]
        )
        for number in numbers:
            code = await identity.create_link_code(session=session, org_id=org.id, user_id=admin.id)
            await identity.redeem_link_code(
                session=session,
                code=code,
                channel="signal",
                workspace="",
                external_user_id=number,
            )


async def one_round(
    settings: Settings, database: Database, frames: list[str], label: str, backend: str
) -> Round:
    with tempfile.TemporaryDirectory() as directory:
        frames_file = Path(directory) / "frames.jsonl"
        frames_file.write_text("\n".join(frames))
        port = free_port()
        mock = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.signal_receive",
            "--serve-mock",
            str(port),
            str(frames_file),
        )
        url = f"http://127.0.0.1:{port}"
        try:
            return await _measure(settings, database, frames, url, label, backend)
        finally:
            mock.terminate()
            await mock.wait()


async def _wait_for_mock(url: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            try:
                await http.get(f"{url}/bench/stats")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    raise RuntimeError("the mock API did not start")


async def _measure(
    settings: Settings, database: Database, frames: list[str], url: str, label: str, backend: str
) -> Round:
    await _wait_for_mock(url)
    metrics = AppMetrics()
    configured = settings.model_copy(update={"signal_api_url": url, "signal_number": BOT})
    registry = demo_seed.embedded_registry(configured, database)
    chat_bot = Bot(database=database, registry=registry, settings=configured)
    messenger = SignalMessenger(
        settings=configured,
        database=database,
        chat_bot=chat_bot,
        limiter=RateLimiter(None),
        metrics=metrics,
        channels={},
    )
    messenger.channel.limiter = None  # no outbound pacing: measure the receiver
    unique = len(set(frames))
    arrived: dict[int, float] = {}
    done: list[float] = []
    waits: list[float] = []
    all_done = asyncio.Event()
    first_frame: list[float] = []
    inbox, on_frame, handle = messenger.inbox, messenger.inbox.on_frame, messenger.inbox.handle

    def timed_frame(frame: str | bytes) -> None:
        now = time.perf_counter()
        if not first_frame:
            first_frame.append(now)
        stamp = json.loads(frame)["envelope"]["timestamp"]
        arrived.setdefault(stamp, now)
        on_frame(frame)

    answered: set[int] = set()

    async def timed_handle(message: Any) -> None:
        await handle(message)
        finished = time.perf_counter()
        done.append(finished)  # every frame, redeliveries included, passes through here
        if message.timestamp not in answered:
            answered.add(message.timestamp)
            waits.append((finished - arrived[message.timestamp]) * 1000)
        if len(done) >= len(frames):
            all_done.set()

    messenger.receiver.on_frame = timed_frame
    inbox.handle = timed_handle  # type: ignore[method-assign]
    await messenger.start()
    await messenger.receiver.wait_connected()
    async with httpx.AsyncClient() as http:
        await http.post(f"{url}/bench/push")
        await asyncio.wait_for(all_done.wait(), 600)
        await inbox.drain()
        stats = (await http.get(f"{url}/bench/stats")).json()
    await messenger.stop()
    expected = Counter(json.loads(frame)["envelope"]["sourceNumber"] for frame in set(frames))
    got: dict[str, int] = stats["per_recipient"]
    exactly_once = sum(min(got.get(number, 0), count) for number, count in expected.items())
    return Round(
        label=label,
        backend=backend,
        unique=unique,
        frames=len(frames),
        seconds=max(done) - first_frame[0],
        waits_ms=waits,
        replies=int(stats["sent"]),
        exactly_once=exactly_once,
        lost=sum(max(0, count - got.get(number, 0)) for number, count in expected.items()),
        twice=sum(max(0, got.get(number, 0) - count) for number, count in expected.items()),
    )


async def bench_backend(
    settings: Settings, backend: str, messages: int, senders: int
) -> list[Round]:
    await demo_seed.seed(settings, slug=demo_seed.DEMO_SLUG, progress=lambda _message: None)
    database = Database(settings)
    numbers = [sender_number(index) for index in range(senders)]
    try:
        await link_senders(database, numbers)
        fresh = frames_for(numbers, messages, 0.0, start=1_700_000_000_000)
        again = frames_for(numbers, messages, 0.2, start=1_710_000_000_000)
        return [
            await one_round(settings, database, fresh, "queued", backend),
            await one_round(settings, database, again, "queued + 20 % redelivered", backend),
        ]
    finally:
        await database.dispose()


async def _admin(statement: str) -> None:
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def throwaway_keys() -> None:
    """Keys for throwaway databases (set before migrating: the org binding derives from one),
    so nothing is written to the working tree."""
    os.environ.setdefault("ADPILOT_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    os.environ.setdefault("ADPILOT_SECRET_KEY", secrets.token_urlsafe(32))
    reset_settings_cache()


def settings_for(url: str) -> Settings:
    os.environ["ADPILOT_DATABASE_URL"] = url
    os.environ.setdefault("ADPILOT_LOG_LEVEL", "WARNING")
    reset_settings_cache()
    return Settings(database_url=url)


async def run(messages: int, senders: int, backends: list[str]) -> list[Round]:
    throwaway_keys()
    rounds: list[Round] = []
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as directory:
            url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
            await schema.upgrade_async(url)
            rounds += await bench_backend(settings_for(url), "SQLite", messages, senders)
    if "postgresql" in backends:
        await _admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        await _admin(f'CREATE DATABASE "{PG_DB}"')
        try:
            url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_DB}"
            await schema.upgrade_async(url)
            rounds += await bench_backend(settings_for(url), "PostgreSQL", messages, senders)
        finally:
            await _admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
    return rounds


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def report(rounds: list[Round], messages: int, senders: int) -> None:
    print(f"signal receiver: {messages} queued messages from {senders} linked senders")
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"{'backend':<11} {'round':<27} {'frames':>6} {'s':>7} {'msg/s':>7} "
        f"{'wait p50 ms':>11} {'wait p99 ms':>11}  exactly once"
    )
    for run_ in rounds:
        rate = run_.unique / run_.seconds
        print(
            f"{run_.backend:<11} {run_.label:<27} {run_.frames:>6} {run_.seconds:>7.2f} "
            f"{rate:>7.0f} {percentile(run_.waits_ms, 0.5):>11.1f} "
            f"{percentile(run_.waits_ms, 0.99):>11.1f}  "
            f"{run_.exactly_once}/{run_.unique} ({run_.replies} replies, "
            f"{run_.lost} lost, {run_.twice} twice)"
        )


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-mock":
        serve_mock(int(sys.argv[2]), sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    args = parser.parse_args()
    backends = args.backend or ["sqlite", "postgresql"]
    rounds = asyncio.run(run(args.messages, args.senders, backends))
    report(rounds, args.messages, args.senders)


if __name__ == "__main__":
    main()
