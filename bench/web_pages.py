"""The sign-in page and the signed-in dashboard under load, on SQLite and on PostgreSQL.

    .venv/bin/python -m bench.web_pages [--seconds 10] [--concurrency 32]
        [--postgres-url postgresql+asyncpg://postgres@127.0.0.1:5432/adpilot_bench_web]

Needs `wrk` (Debian: apt-get install wrk): a Python load generator saturates first on two cores.

For each database, `adpilot migrate` prepares it, an org and an admin are created, and
`web_min.app:app_factory` runs under uvicorn (one process, as `adpilot serve` runs it) on a free
loopback port. The benchmark signs in once through the real form (CSRF token, password; the
session cookie it gets back), then wrk sends, from `--concurrency` connections for `--seconds`:
  healthz     GET /healthz: the same server's floor (no template, no database)
  login       GET /login, anonymous: the sign-in form (template, CSRF cookie)
  dashboard   GET /settings with the session cookie: the session lookup, the org row, the page
Reported: requests/s, p50 and p99 (wrk's), and the non-2xx count (must be 0: a 303 to /login
would mean the session was lost). Target: dashboard p99 < 50 ms on both databases.
A second server, the same app on the stdlib asyncio loop and h11 (what uvicorn runs without
uvloop and httptools), is measured on the dashboard in the same run as a peer.
On PostgreSQL the app connects with the app role (its startup parameter), so RLS applies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench.loopback import free_port, wait_until_up

TARGET_P99_MS = 50.0
PASSWORD = "bench-password-1234"
EMAIL = "bench-admin@example.com"
PAGES = {"healthz": "/healthz", "login": "/login", "dashboard": "/settings"}

WRK_SCRIPT = """
local cookie = os.getenv("BENCH_COOKIE")
local path = os.getenv("BENCH_PATH")
request = function()
  local headers = {["Accept"] = "text/html"}
  if cookie ~= "" then headers["Cookie"] = cookie end
  return wrk.format("GET", path, headers)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"non2xx":%d,"socket_errors":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d}\\n',
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(99)))
end
"""


def adpilot(*args: str, env: dict[str, str], stdin: str | None = None) -> None:
    subprocess.run(  # noqa: S603 (our own command)
        [str(Path(sys.executable).with_name("adpilot")), *args],
        env=env,
        input=stdin,
        text=True,
        check=True,
        capture_output=True,
    )


async def seed(env: dict[str, str]) -> None:
    """An org and its admin, through the same core services the CLI uses."""
    os.environ.update(env)
    from core.config import get_settings
    from core.db import Database
    from core.orgs import service as orgs
    from core.users import service as users
    from core.users.models import Role

    get_settings.cache_clear()
    database = Database(get_settings())
    try:
        async with database.system() as session:
            org = await orgs.create(session=session, name="Bench Co", timezone="UTC")
            await users.create(
                session=session, org_id=org.id, email=EMAIL, role=Role.ADMIN, password=PASSWORD
            )
    finally:
        await database.dispose()


async def sign_in(base: str) -> str:
    """The real form: GET /login for the CSRF token, POST it; the Cookie header to send."""
    async with httpx.AsyncClient(base_url=base, follow_redirects=False) as http:
        form = await http.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        if token is None:
            raise RuntimeError("the sign-in form has no csrf_token field")
        answer = await http.post(
            "/login",
            data={"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)},
        )
        if answer.status_code != 303 or answer.headers.get("location") != "/settings":
            raise RuntimeError(f"sign-in failed: {answer.status_code} {answer.text[:300]}")
        home = await http.get("/settings")
        if home.status_code != 200:
            raise RuntimeError(f"the dashboard answered {home.status_code} after sign-in")
        return "; ".join(f"{name}={value}" for name, value in http.cookies.items())


async def wrk(port: int, path: str, cookie: str, args: argparse.Namespace) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        "wrk",
        "-t1",
        f"-c{args.concurrency}",
        f"-d{max(1, round(args.seconds))}s",
        "--timeout",
        "10s",
        "-s",
        args.script,
        f"http://127.0.0.1:{port}",
        env={**os.environ, "BENCH_COOKIE": cookie, "BENCH_PATH": path},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    lines = [text for text in out.decode().splitlines() if text.startswith("{")]
    if not lines:
        raise RuntimeError(f"wrk printed no figures:\n{out.decode()[-2000:]}")
    return dict(json.loads(lines[-1]))


# What `adpilot serve` runs (uvicorn picks uvloop and httptools when installed, as they are),
# and the same app on the stdlib loop with the pure-Python h11 parser, as a peer in the run.
SERVERS = {"": [], " (asyncio+h11)": ["--loop", "asyncio", "--http", "h11"]}


def start_server(port: int, env: dict[str, str], flags: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 (our own server)
        [
            sys.executable,
            "-m",
            "uvicorn",
            "web_min.app:app_factory",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            *flags,
        ],
        env=env,
    )


async def one_server(
    label: str, suffix: str, env: dict[str, str], args: argparse.Namespace
) -> bool:
    port = free_port()
    server = start_server(port, env, SERVERS[suffix])
    met = True
    try:
        await wait_until_up(port)
        cookie = await sign_in(f"http://127.0.0.1:{port}")
        # The peer server is measured on the dashboard only: the target's page.
        pages = PAGES if not suffix else {"dashboard": PAGES["dashboard"]}
        for name, path in pages.items():
            figures = await wrk(port, path, cookie if name == "dashboard" else "", args)
            rate = figures["requests"] / (figures["duration_us"] / 1e6)
            p50, p99 = figures["p50_us"] / 1000, figures["p99_us"] / 1000
            bad = figures["non2xx"] + figures["socket_errors"]
            print(
                f"{label:<10} {name + suffix:<24} {rate:>8.0f} {p50:>8.2f} {p99:>8.2f} {bad:>6}",
                flush=True,
            )
            if name == "dashboard" and not suffix:
                met = p99 < TARGET_P99_MS and bad == 0
    finally:
        server.terminate()
        server.wait(timeout=30)
    return met


async def one_database(label: str, env: dict[str, str], args: argparse.Namespace) -> bool:
    adpilot("migrate", env=env)
    await seed(env)
    met = True
    for suffix in SERVERS:
        met = await one_server(label, suffix, env, args) and met
    return met


async def run(args: argparse.Namespace) -> int:
    print(
        f"web pages, concurrency {args.concurrency}, {args.seconds:.0f} s each, one uvicorn "
        "process; wrk -t1"
    )
    print(f"{'database':<10} {'page':<24} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non2xx':>6}")
    base = {
        **os.environ,
        "ADPILOT_SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnop",
        "ADPILOT_LOG_LEVEL": "WARNING",
    }
    base.pop("ADPILOT_REDIS_URL", None)
    verdicts: dict[str, bool] = {}
    with tempfile.TemporaryDirectory() as folder:
        args.script = f"{folder}/pages.lua"
        Path(args.script).write_text(WRK_SCRIPT)  # noqa: ASYNC240 (before any load)
        sqlite = {**base, "ADPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{folder}/bench.db"}
        verdicts["SQLite"] = await one_database("sqlite", sqlite, args)
        await recreate(args.postgres_url)
        postgres = {**base, "ADPILOT_DATABASE_URL": args.postgres_url}
        verdicts["PostgreSQL"] = await one_database("postgresql", postgres, args)
    for label, met in verdicts.items():
        print(
            f"dashboard p99 on {label}: target < {TARGET_P99_MS:.0f} ms "
            f"{'met' if met else 'MISSED'}"
        )
    return 0 if all(verdicts.values()) else 1


async def recreate(url: str) -> None:
    """A fresh PostgreSQL database for the run (the name comes from our own option)."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    target = make_url(url)
    admin = create_async_engine(
        target.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    try:
        async with admin.connect() as connection:
            name = target.database
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--postgres-url",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/adpilot_bench_web",
    )
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
