"""`adpilot serve` starts on the embedded default with no channel configured and answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ADPILOT = str(Path(sys.executable).with_name("adpilot"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, deadline: float) -> httpx.Response:
    while True:
        try:
            return httpx.get(url, timeout=1)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_serve_answers_health_readiness_and_metrics(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "ADPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/serve.db"}
    server = subprocess.Popen(
        [ADPILOT, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        health = wait_for(f"{base}/healthz", time.monotonic() + 60)
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        ready = httpx.get(f"{base}/readyz", timeout=5)
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        metrics = httpx.get(f"{base}/metrics", timeout=5)
        assert 'adpilot_http_requests_total{method="GET",route="/healthz",status="200"}' in (
            metrics.text
        )
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    assert "Traceback" not in err
    assert f"AdPilot serving on http://127.0.0.1:{port}" in out


async def test_serve_starts_the_signal_receiver_and_stops_it_on_shutdown(tmp_path: Path) -> None:
    """With Signal configured, the real command connects to the API's receive socket, answers
    a message through /v2/send, reports the socket in /readyz and closes it on SIGINT."""
    import asyncio

    from bot.engine import LINK_HELP
    from tests.channels.signal_messenger import payloads as p
    from tests.channels.signal_messenger.mock_api import MockSignalApi

    api = MockSignalApi(p.BOT)
    await api.start()
    port = free_port()
    env = {
        **os.environ,
        "ADPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/serve.db",
        "ADPILOT_SIGNAL_API_URL": api.url,
        "ADPILOT_SIGNAL_NUMBER": p.BOT,
    }
    server = await asyncio.create_subprocess_exec(
        ADPILOT,
        "serve",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await api.wait_for(connections=1)
        await api.push(p.data_message(p.STRANGER, "campaigns"))
        await api.wait_for_sends(1)
        async with httpx.AsyncClient() as http:
            ready = await http.get(f"http://127.0.0.1:{port}/readyz")
        assert ready.json() == {"status": "ready", "receivers": {"signal": "connected"}}
        assert api.texts_to(p.STRANGER) == [LINK_HELP]
    finally:
        server.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            out, err = (part.decode() for part in await server.communicate())
        await api.stop()
    assert "Traceback" not in err
    assert p.STRANGER not in out + err  # no phone number in any log line
    assert api.connections == 1


def test_serve_runs_the_schedule_of_its_database_unless_told_not_to(tmp_path: Path) -> None:
    """Without Redis the real command claims the SQLite file's schedule; --no-schedule leaves
    it for another process (the lock beside the file is what a second process would find)."""
    from worker.local_scheduler import claim_schedule

    for flags, runs_it in (([], True), (["--no-schedule"], False)):
        url = f"sqlite+aiosqlite:///{tmp_path}/serve{len(flags)}.db"
        port = free_port()
        env = {**os.environ, "ADPILOT_DATABASE_URL": url, "ADPILOT_EMBEDDED_SCHEDULE": "true"}
        server = subprocess.Popen(
            [ADPILOT, "serve", "--port", str(port), *flags],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert wait_for(f"http://127.0.0.1:{port}/healthz", time.monotonic() + 60).is_success
            lock = claim_schedule(url)
            assert (lock is None) is runs_it, f"serve {flags}: schedule held = {lock is None}"
            if lock is not None:
                lock.release()
        finally:
            server.send_signal(signal.SIGINT)
            _, err = server.communicate(timeout=30)
        assert "Traceback" not in err
