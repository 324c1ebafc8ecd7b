"""A burst of signed WhatsApp webhooks on loopback: ack latency, and every message handled once.

    .venv/bin/python -m bench.whatsapp_burst [--messages 1000] [--concurrency 32]
                                             [--redeliveries 100] [--database-url URL]

AdPilot's `create_app` with WhatsApp configured (embedded SQLite in a temporary file, or the
migrated `--database-url`, e.g. PostgreSQL) runs under uvicorn in its own
process on a free loopback port, its Graph API base URL pointing at an aiohttp mock in this
process that answers as Graph does and counts the messages sent to each number. The load
generator posts `--messages` text notifications, each from a different (unlinked) number with its
own wamid and signed with the app secret as Meta signs them, from `--concurrency` workers; mixed
into the second half of the queue are `--redeliveries` exact repeats of earlier notifications
(Meta retries). Every message must be answered exactly once (the linking help, one text each),
and no redelivery may cause a second answer. A second round runs the same app and route with
the turns after the ack replaced by nothing (`ack-only`), to tell the route's own cost from
that of the turns sharing its event loop. Reported per round: acks/s, ack p50/p99/max over
every POST, new and duplicate acks; for the full app, how many numbers the mock saw exactly
one answer for, more than one, or none. Target: p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import httpx
from aiohttp import web

from bench.loopback import free_port

APP_SECRET = "6d1f3c1e0a2b4c5d8e9f0a1b2c3d4e5f"
ACCESS_TOKEN = "EAAGbench0token0for0the0whatsapp0burst"
PHONE_NUMBER_ID = "106540352242922"
TARGET_P99_MS = 50.0


def serve(kind: str, port: int, api_url: str) -> None:
    """The server side, in its own process. `ack-only`: the same app and route (signature,
    validation, de-duplication, ack) with the turns after the ack replaced by nothing."""
    import uvicorn

    from web_min.app import app_factory

    os.environ.update(
        {
            "ADPILOT_WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
            "ADPILOT_WHATSAPP_APP_SECRET": APP_SECRET,
            "ADPILOT_WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
            "ADPILOT_WHATSAPP_VERIFY_TOKEN": "bench-verify",
            "ADPILOT_WHATSAPP_API_URL": api_url,
            "ADPILOT_LOG_LEVEL": "WARNING",
        }
    )
    app = app_factory()
    if kind == "ack-only":

        async def no_turn(work: object) -> None:
            return None

        app.state.whatsapp.inbound.handle = no_turn
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


class MockGraph:
    """POST /{phone-number-id}/messages as Graph answers it; counts messages per number."""

    def __init__(self) -> None:
        self.answers: Counter[str] = Counter()
        self.ids = count()

    async def messages(self, request: web.Request) -> web.Response:
        message = json.loads(await request.read())
        to = str(message["to"])
        self.answers[to] += 1
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": f"wamid.HBgLbenchOUT{next(self.ids):08d}"}],
            }
        )


def notification(sender: str, message_id: str) -> bytes:
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            "contacts": [{"profile": {"name": "Bench"}, "wa_id": sender}],
                            "messages": [
                                {
                                    "from": sender,
                                    "id": message_id,
                                    "timestamp": str(int(time.time())),
                                    "type": "text",
                                    "text": {"body": "campaigns"},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(body).encode()


def signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"content-type": "application/json", "x-hub-signature-256": f"sha256={digest}"}


async def burst(
    port: int, bodies: list[bytes], workers: int
) -> tuple[list[float], Counter[str], list[str]]:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30
    ) as http:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                response = await http.post("/whatsapp/webhook", content=body, headers=signed(body))
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    outcomes[str(response.status_code)] += 1
                    failures.append(f"{response.status_code} {response.text[:200]}")
                else:
                    outcomes["duplicate" if response.json().get("duplicate") else "new"] += 1

        await asyncio.gather(*(worker() for _ in range(workers)))
    return latencies, outcomes, failures


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass
class Round:
    kind: str
    latencies: list[float]
    outcomes: Counter[str]
    failures: list[str]
    acked_in: float
    once: int = 0
    twice: int = 0
    never: int = 0
    handled_in: float = 0.0


def workload(messages: int, redeliveries: int, label: str) -> tuple[list[str], list[bytes], int]:
    """Senders, and the bodies in posting order: originals, repeats mixed into the second half."""
    senders = [f"1555{n:07d}" for n in range(messages)]
    originals = [
        notification(sender, f"wamid.HBgL{label}{n:08d}") for n, sender in enumerate(senders)
    ]
    chooser = random.Random(20261130)
    repeats = chooser.sample(originals, min(redeliveries, messages))
    # Redeliveries land in the second half, while some originals are still being handled.
    half = messages // 2
    tail = originals[half:] + repeats
    chooser.shuffle(tail)
    return senders, originals[:half] + tail, len(repeats)


async def one_round(
    kind: str, env: dict[str, str], api_url: str, mock: MockGraph, args: argparse.Namespace
) -> tuple[Round, int]:
    senders, bodies, repeats = workload(args.messages, args.redeliveries, kind.replace("-", ""))
    port = free_port()
    command = [sys.executable, "-m", "bench.whatsapp_burst", "--serve", kind, "--port", str(port)]
    server = subprocess.Popen([*command, "--api-url", api_url], env=env)  # noqa: S603, ASYNC220
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                try:
                    await http.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        # Warm-up from other numbers: imports, the first connections, the database's caches.
        warm = [notification(f"1444{n:07d}", f"wamid.HBgLwarm{kind}{n:08d}") for n in range(64)]
        await burst(port, warm, args.concurrency)
        await asyncio.sleep(2.0)
        mock.answers.clear()
        started = time.perf_counter()
        latencies, outcomes, failures = await burst(port, bodies, args.concurrency)
        result = Round(kind, latencies, outcomes, failures, time.perf_counter() - started)
        if kind == "adpilot":
            for _ in range(1200):  # answers come after the acks; a bounded wait (60 s)
                if all(mock.answers[sender] for sender in senders):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # room for a late double answer to show up
            result.handled_in = time.perf_counter() - started
            result.once = sum(1 for sender in senders if mock.answers[sender] == 1)
            result.twice = sum(1 for sender in senders if mock.answers[sender] > 1)
            result.never = sum(1 for sender in senders if mock.answers[sender] == 0)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return result, repeats


def report(result: Round, messages: int, repeats: int) -> bool:
    p50, p99 = percentile(result.latencies, 0.50), percentile(result.latencies, 0.99)
    posted = len(result.latencies)
    other = sum(v for k, v in result.outcomes.items() if k not in ("new", "duplicate"))
    print(
        f"{result.kind:<9} {posted / result.acked_in:>7.0f} {p50 * 1000:>8.2f} {p99 * 1000:>8.2f} "
        f"{max(result.latencies) * 1000:>8.2f} {result.outcomes['new']:>6} "
        f"{result.outcomes['duplicate']:>6} {other:>6}"
    )
    if result.failures:
        print(f"  first non-200 answer: {result.failures[0]}")
    return result.outcomes["new"] == messages and result.outcomes["duplicate"] == repeats


async def run(args: argparse.Namespace) -> int:
    mock = MockGraph()
    graph = web.Application()
    graph.router.add_post(f"/v21.0/{PHONE_NUMBER_ID}/messages", mock.messages)
    runner = web.AppRunner(graph, access_log=None)
    await runner.setup()
    mock_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", mock_port).start()
    api_url = f"http://127.0.0.1:{mock_port}/v21.0/"
    rounds: list[tuple[Round, int]] = []
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{folder}/bench.db"
        env = {**os.environ, "ADPILOT_DATABASE_URL": url}
        subprocess.run(  # noqa: S603, ASYNC221 (our own command, before any load)
            [str(Path(sys.executable).with_name("adpilot")), "migrate"],
            env=env,
            check=True,
            capture_output=True,
        )
        for kind in ("adpilot", "ack-only"):
            rounds.append(await one_round(kind, env, api_url, mock, args))
    await runner.cleanup()
    backend = "PostgreSQL" if "postgres" in url else "SQLite"
    print(
        f"{backend}, {args.messages} messages from as many numbers + {args.redeliveries} "
        f"redeliveries, concurrency {args.concurrency}"
    )
    print(
        f"{'server':<9} {'acks/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'new':>6} {'dup':>6} {'other':>6}"
    )
    counted = [report(result, args.messages, repeats) for result, repeats in rounds]
    full, _ = rounds[0]
    print(
        f"adpilot, at the mock Graph API: {full.once} numbers answered exactly once, "
        f"{full.twice} more than once, {full.never} not at all "
        f"(all answered {full.handled_in:.2f} s after the first POST)"
    )
    exact = all(counted) and full.once == args.messages
    print(f"every message handled exactly once: {'yes' if exact else 'NO'}")
    p99 = percentile(full.latencies, 0.99) * 1000
    verdict = "met" if p99 < TARGET_P99_MS else "MISSED"
    print(f"adpilot p99 {p99:.2f} ms (target < {TARGET_P99_MS:.0f} ms: {verdict})")
    return 0 if exact else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--redeliveries", type=int, default=100)
    parser.add_argument("--database-url", help="a database to migrate and use (default: SQLite)")
    parser.add_argument("--serve", choices=["adpilot", "ack-only"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--api-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.api_url)
        return
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
