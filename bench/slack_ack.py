"""Signed Slack slash-command acks on loopback: AdPilot's /slack/events against a bare bolt app.

    .venv/bin/python -m bench.slack_ack [--seconds 10] [--concurrency 64]
        [--redis-url redis://127.0.0.1:6379/11]

Needs `wrk` (Debian: apt-get install wrk) as the load generator: a Python generator on this
two-core box saturates long before bolt does (it measured ~210 acks/s for a bare bolt app that
wrk shows doing ~2,000/s), so the numbers would describe the generator, not the servers.

Servers on the same stack (uvicorn, FastAPI, bolt's AsyncSlackRequestHandler), each in its own
process on a free loopback port:
  bare                a bare AsyncApp whose /adpilot listener only calls ack()
  adpilot-queue       AdPilot with ADPILOT_CHAT_TURNS=queue (verify, limit, enqueue on Redis,
                      ack); `adpilot worker` starts when the load ends and drains the queue: the
                      ack path alone, as when the worker runs on its own CPUs
  adpilot-queue-live  the same, with the worker answering *during* the load on the same two
                      cores as the server and the load generator
  adpilot-inline      AdPilot with ADPILOT_CHAT_TURNS=inline: the turn runs in the web process
wrk sends pre-signed `/adpilot help` commands (each from a different user, so the per-user
limit never throttles) from `--concurrency` connections for `--seconds`. A loopback mock stands
in for Slack's Web API and each command's response_url and counts the answers per command.
Reported: acks/s, p50/p99 ack latency (wrk's), and for AdPilot that every acked command was
answered exactly once. Targets: p99 < 50 ms and >= 0.8x the bare app's throughput.
The Redis database given is flushed first: use one that holds nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from fastapi import Request  # module level: FastAPI resolves the route's annotation here
from slack_sdk.signature import SignatureVerifier

from bench.loopback import free_port, wait_until_up

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
KINDS = ("bare", "adpilot-queue", "adpilot-queue-live", "adpilot-inline")

# Cycles through pre-signed requests; prints wrk's figures as one JSON line when done.
WRK_SCRIPT = """
local reqs = {}
for line in io.lines(os.getenv("BENCH_REQUESTS")) do
  local ts, sig, body = line:match("([^\\t]*)\\t([^\\t]*)\\t(.*)")
  table.insert(reqs, {ts = ts, sig = sig, body = body})
end
local n = 0
-- Formatted per request: wrk.format needs the thread's host, unknown while the file loads.
request = function()
  n = n + 1
  local r = reqs[((n - 1) % #reqs) + 1]
  return wrk.format("POST", "/slack/events", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Slack-Request-Timestamp"] = r.ts, ["X-Slack-Signature"] = r.sig}, r.body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"non2xx":%d,"socket_errors":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d}\\n',
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(99)))
end
"""


def serve_bare(port: int, api_url: str) -> None:
    """The bare bolt app, in its own process."""
    import uvicorn
    from fastapi import FastAPI
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    bolt = AsyncApp(signing_secret=SECRET, client=AsyncWebClient(token=TOKEN, base_url=api_url))

    @bolt.command("/adpilot")
    async def ack_only(ack: Any) -> None:
        await ack()

    handler = AsyncSlackRequestHandler(bolt)
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/slack/events")
    async def events(request: Request) -> Any:
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


def sign_requests(path: Path, prefix: str, count: int, mock_url: str) -> list[str]:
    """`count` signed commands, one per line as `ts<TAB>signature<TAB>body`; their ids."""
    verifier = SignatureVerifier(SECRET)
    ts = str(int(time.time()))
    ids = [f"{prefix}{n}" for n in range(count)]
    with path.open("w") as out:
        for command_id in ids:
            body = urlencode(
                {
                    "team_id": "T111",
                    "channel_id": "C111",
                    "user_id": f"U{command_id}",
                    "command": "/adpilot",
                    "text": "help",
                    "response_url": f"{mock_url}/respond/{command_id}",
                    "trigger_id": f"1.{command_id}",
                    "api_app_id": "A111",
                }
            )
            signature = verifier.generate_signature(timestamp=ts, body=body.encode())
            out.write(f"{ts}\t{signature}\t{body}\n")
    return ids


async def wrk(
    port: int, requests: Path, script: Path, seconds: float, connections: int
) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
        env={**os.environ, "BENCH_REQUESTS": str(requests)},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    lines = [text for text in out.decode().splitlines() if text.startswith("{")]
    if not lines:
        raise RuntimeError(f"wrk printed no figures:\n{out.decode()[-2000:]}")
    return dict(json.loads(lines[-1]))


async def wait_for_answers(
    mock: MockSlack, ids: list[str], expected: int, limit_s: float = 180.0
) -> float:
    """Seconds until `expected` distinct commands of `ids` have an answer (or the limit)."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        if sum(1 for n in ids if mock.answers[n]) >= expected:
            break
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def acked_count(figures: dict[str, Any]) -> int:
    return int(figures["requests"]) - int(figures["non2xx"])


async def run(seconds: float, connections: int, redis_url: str) -> None:
    if shutil.which("wrk") is None:
        sys.exit("bench.slack_ack needs wrk as its load generator: apt-get install wrk")
    import redis.asyncio as aioredis

    flusher = aioredis.from_url(redis_url)  # type: ignore[no-untyped-call]
    await flusher.flushdb()
    await flusher.aclose()

    mock = MockSlack()
    mock_app = web.Application()
    mock_app.router.add_post("/api/{method}", mock.api)
    mock_app.router.add_post("/respond/{id}", mock.respond)
    runner = web.AppRunner(mock_app, access_log=None)
    await runner.setup()
    mock_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", mock_port).start()
    mock_url = f"http://127.0.0.1:{mock_port}"
    adpilot = str(Path(sys.executable).with_name("adpilot"))
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        script = folder / "cycle.lua"
        script.write_text(WRK_SCRIPT)
        env = {
            **os.environ,
            "ADPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{folder}/bench.db",
            "ADPILOT_SLACK_BOT_TOKEN": TOKEN,
            "ADPILOT_SLACK_SIGNING_SECRET": SECRET,
            "ADPILOT_SLACK_API_URL": f"{mock_url}/api/",
            "ADPILOT_REDIS_URL": redis_url,
            "ADPILOT_LOG_LEVEL": "WARNING",
        }
        subprocess.run([adpilot, "migrate"], env=env, check=True, capture_output=True)  # noqa: S603, ASYNC221
        for kind in KINDS:
            port = free_port()
            queue = kind.startswith("adpilot-queue")
            server_env = {**env, "ADPILOT_CHAT_TURNS": "queue" if queue else "inline"}
            worker_command = [adpilot, "worker"]
            if kind == "bare":
                command = [
                    sys.executable,
                    "-m",
                    "bench.slack_ack",
                    "--serve-bare",
                    str(port),
                    "--api-url",
                    f"{mock_url}/api/",
                ]
            else:
                command = [adpilot, "serve", "--port", str(port)]
            server = subprocess.Popen(command, env=server_env, stdout=subprocess.DEVNULL)  # noqa: S603, ASYNC220
            worker = (
                subprocess.Popen(worker_command, env=server_env, stdout=subprocess.DEVNULL)  # noqa: S603, ASYNC220
                if queue
                else None
            )
            try:
                await wait_until_up(port)
                warm = folder / f"{kind}-warm.txt"
                # Enough distinct commands that the warm-up never sends one twice.
                warm_ids = sign_requests(warm, f"{kind}-w", 20_000, mock_url)
                await wrk(port, warm, script, 2, 4)  # imports, auth.test, caches, the worker
                if kind != "bare":
                    # Only the answered ones count as warm; a command still in wrk's hands at
                    # its deadline may never have been sent.
                    await wait_for_answers(mock, warm_ids, 100, 60)
                if kind == "adpilot-queue" and worker is not None:
                    worker.terminate()  # warmed up; it comes back once the load is over
                    worker.wait(timeout=30)
                main = folder / f"{kind}.txt"
                ids = sign_requests(main, f"{kind}-", 80_000, mock_url)
                figures = await wrk(port, main, script, seconds, connections)
                if kind == "adpilot-queue":
                    worker = subprocess.Popen(  # noqa: S603, ASYNC220
                        worker_command, env=server_env, stdout=subprocess.DEVNULL
                    )
                acked = figures["requests"] - figures["non2xx"]
                if kind != "bare":
                    # wrk counts the 200s but cannot say which commands they were: the commands
                    # answered must be at least as many (the few still in flight at wrk's
                    # deadline may be answered too), and none may be answered twice.
                    figures["drain_s"] = await wait_for_answers(mock, ids, acked)
                    figures["answered"] = sum(1 for n in ids if mock.answers[n])
                    figures["answered_twice_or_more"] = sum(1 for n in ids if mock.answers[n] > 1)
                figures["acks_per_s"] = acked / (figures["duration_us"] / 1e6)
                results[kind] = figures
                print(f"{kind}: {json.dumps(figures)}", flush=True)
            finally:
                for process in (server, worker):
                    if process is not None:
                        process.terminate()
                        process.wait(timeout=120)
    await runner.cleanup()
    print(f"{'server':<16} {'acks/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'acked':>8}  answers")
    for kind, figures in results.items():
        answers = (
            "-"
            if kind == "bare"
            else f"{figures['answered']} commands answered (none lost: "
            f"{'yes' if figures['answered'] >= acked_count(figures) else 'NO'}), "
            f"{figures['answered_twice_or_more']} twice; all answered {figures['drain_s']:.1f} s "
            "after the load"
        )
        acked = acked_count(figures)
        print(
            f"{kind:<16} {figures['acks_per_s']:>8.0f} {figures['p50_us'] / 1000:>8.2f} "
            f"{figures['p99_us'] / 1000:>8.2f} {acked:>8}  {answers}"
        )
    bare = results["bare"]["acks_per_s"]
    for kind in KINDS[1:]:
        ratio = results[kind]["acks_per_s"] / bare
        p99 = results[kind]["p99_us"] / 1000
        print(
            f"{kind}: throughput vs bare {ratio:.2f} (target >= 0.80: "
            f"{'met' if ratio >= 0.8 else 'MISSED'}); p99 {p99:.2f} ms (target < 50 ms: "
            f"{'met' if p99 < 50 else 'MISSED'})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--api-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.api_url)
        return
    asyncio.run(run(args.seconds, args.concurrency, args.redis_url))


if __name__ == "__main__":
    main()
