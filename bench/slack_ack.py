"""Signed Slack slash-command acks on loopback: AdPilot's /slack/events against a bare bolt app.

    .venv/bin/python -m bench.slack_ack [--seconds 10] [--concurrency 64]

Both servers run the same stack (uvicorn, FastAPI, bolt's AsyncSlackRequestHandler) in their own
process on a free loopback port: AdPilot's `create_app` with Slack configured (embedded SQLite),
and a bare AsyncApp whose /adpilot listener only calls ack(). A load generator in this process
sends signed `/adpilot help` commands from `--concurrency` workers for `--seconds` each, every
command from a different user (so the per-user webhook limit never throttles the run), and a
loopback mock stands in for Slack's Web API and each command's response_url. Reported: acks per
second, p50/p99 ack latency, and for AdPilot that every acked command was answered exactly once.
Targets: p99 < 50 ms and >= 0.8x the bare app's throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

import httpx
from aiohttp import web
from fastapi import Request
from slack_sdk.signature import SignatureVerifier

SECRET = "8f742231b10e8888abcd99aaabbb85a5"
TOKEN = "xoxb-bench-token"
AUTH_TEST = {
    "ok": True,
    "url": "https://acme.slack.com/",
    "team": "Acme",
    "user": "adpilot",
    "team_id": "T111",
    "user_id": "UBOT",
    "bot_id": "BBOT",
}


# Unique across the whole run, so a late answer to a warm-up command is never counted twice.
COMMAND_IDS = itertools.count()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(kind: str, port: int, api_url: str) -> None:
    """The server side, in its own process."""
    import uvicorn

    if kind == "adpilot":
        from web_min.app import app_factory

        os.environ.update(
            {
                "ADPILOT_SLACK_BOT_TOKEN": TOKEN,
                "ADPILOT_SLACK_SIGNING_SECRET": SECRET,
                "ADPILOT_SLACK_API_URL": api_url,
                "ADPILOT_LOG_LEVEL": "WARNING",
            }
        )
        app = app_factory()
    else:
        from fastapi import FastAPI
        from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
        from slack_bolt.async_app import AsyncApp
        from slack_sdk.web.async_client import AsyncWebClient

        bolt = AsyncApp(signing_secret=SECRET, client=AsyncWebClient(token=TOKEN, base_url=api_url))

        @bolt.command("/adpilot")
        async def ack_only(ack):
            await ack()

        handler = AsyncSlackRequestHandler(bolt)
        app = FastAPI()

        @app.post("/slack/events")
        async def events(request: Request):
            return await handler.handle(request)

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


class MockSlack:
    def __init__(self) -> None:
        self.answers: Counter[str] = Counter()

    async def api(self, request: web.Request) -> web.Response:
        return web.json_response(
            AUTH_TEST if request.match_info["method"] == "auth.test" else {"ok": True}
        )

    async def respond(self, request: web.Request) -> web.Response:
        await request.read()
        self.answers[request.match_info["id"]] += 1
        return web.Response(text="ok")


async def load(
    port: int, mock_url: str, seconds: float, workers: int
) -> tuple[list[float], list[str]]:
    verifier = SignatureVerifier(SECRET)
    latencies: list[float] = []
    acked: list[str] = []
    failures: list[str] = []
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as http:

        async def worker() -> None:
            while time.monotonic() < deadline:
                n = str(next(COMMAND_IDS))
                body = urlencode(
                    {
                        "team_id": "T111",
                        "channel_id": "C111",
                        "user_id": f"U{n}",
                        "command": "/adpilot",
                        "text": "help",
                        "response_url": f"{mock_url}/respond/{n}",
                        "trigger_id": f"1.{n}",
                        "api_app_id": "A111",
                    }
                ).encode()
                ts = str(int(time.time()))
                headers = {
                    "content-type": "application/x-www-form-urlencoded",
                    "x-slack-request-timestamp": ts,
                    "x-slack-signature": str(verifier.generate_signature(timestamp=ts, body=body)),
                }
                started = time.perf_counter()
                response = await http.post("/slack/events", content=body, headers=headers)
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                    acked.append(n)
                elif not failures:
                    failures.append(f"{response.status_code} {response.text[:200]}")

        await asyncio.gather(*(worker() for _ in range(workers)))
    if failures:
        print(f"  first non-200 answer: {failures[0]}")
    return latencies, acked


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run(seconds: float, workers: int) -> None:
    mock = MockSlack()
    app = web.Application()
    app.router.add_post("/api/{method}", mock.api)
    app.router.add_post("/respond/{id}", mock.respond)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    mock_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", mock_port).start()
    mock_url = f"http://127.0.0.1:{mock_port}"
    results: dict[str, tuple[float, float, float, int]] = {}
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "ADPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{folder}/bench.db"}
        subprocess.run(  # noqa: S603, ASYNC221 (our own command, before any load)
            [str(Path(sys.executable).with_name("adpilot")), "migrate"],
            env=env,
            check=True,
            capture_output=True,
        )
        for kind in ("adpilot", "bare"):
            port = free_port()
            server = subprocess.Popen(  # noqa: S603, ASYNC220 (this very module)
                [
                    sys.executable,
                    "-m",
                    "bench.slack_ack",
                    "--serve",
                    kind,
                    "--port",
                    str(port),
                    "--api-url",
                    f"{mock_url}/api/",
                ],
                env=env,
            )
            try:
                async with httpx.AsyncClient() as http:
                    for _ in range(300):
                        try:
                            await http.get(f"http://127.0.0.1:{port}/healthz")
                            break
                        except httpx.TransportError:
                            await asyncio.sleep(0.1)
                await load(port, mock_url, 1.0, 4)  # warm-up: imports, auth.test, caches
                mock.answers.clear()
                latencies, acked = await load(port, mock_url, seconds, workers)
                if kind == "adpilot":
                    for _ in range(600):  # answers come after the acks
                        if all(mock.answers[n] for n in acked):
                            break
                        await asyncio.sleep(0.05)
                    answered = sum(1 for n in acked if mock.answers[n] == 1)
                    duplicates = sum(1 for count in mock.answers.values() if count > 1)
                    print(
                        f"adpilot: {len(acked)} acked, {answered} answered exactly once, "
                        f"{duplicates} answered more than once"
                    )
                results[kind] = (
                    len(acked) / seconds,
                    percentile(latencies, 0.50) * 1000,
                    percentile(latencies, 0.99) * 1000,
                    len(acked),
                )
            finally:
                server.terminate()
                server.wait(timeout=30)
    await runner.cleanup()
    print(f"{'server':<10} {'acks/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'acked':>8}")
    for kind, (rate, p50, p99, count) in results.items():
        print(f"{kind:<10} {rate:>8.0f} {p50:>8.2f} {p99:>8.2f} {count:>8}")
    ratio = results["adpilot"][0] / results["bare"][0]
    p99 = results["adpilot"][2]
    ratio_verdict = "met" if ratio >= 0.8 else "MISSED"
    p99_verdict = "met" if p99 < 50 else "MISSED"
    print(f"throughput adpilot/bare = {ratio:.2f} (target >= 0.80: {ratio_verdict})")
    print(f"adpilot p99 {p99:.2f} ms (target < 50 ms: {p99_verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--serve", choices=["adpilot", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--api-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.api_url)
        return
    asyncio.run(run(args.seconds, args.concurrency))


if __name__ == "__main__":
    main()
