"""Idle memory of `adpilot serve` on the embedded default: `python -m bench.serve_idle`.

Starts the real command on a free loopback port with a fresh SQLite file and no channel
configured, waits until /healthz answers, makes a few requests to warm every route, then reads
the process's resident set (VmRSS, and VmHWM for the peak) from /proc. Target: < 150 MiB.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.loopback import free_port

ADPILOT = Path(sys.executable).with_name("adpilot")
TARGET_MIB = 150


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def main() -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "ADPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{folder}/idle.db"}
        server = subprocess.Popen(  # noqa: S603 (our own installed command)
            [str(ADPILOT), "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            started = time.monotonic()
            while True:
                try:
                    httpx.get(f"{base}/healthz", timeout=1).raise_for_status()
                    break
                except httpx.HTTPError:
                    if time.monotonic() - started > 60:
                        raise
                    time.sleep(0.05)
            ready_s = time.monotonic() - started
            for path in ("/healthz", "/readyz", "/metrics", "/nowhere") * 5:
                httpx.get(f"{base}{path}", timeout=5)
            time.sleep(2)
            rss = status_kib(server.pid, "VmRSS") / 1024
            peak = status_kib(server.pid, "VmHWM") / 1024
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
    verdict = "met" if rss < TARGET_MIB else "MISSED"
    print(f"adpilot serve, embedded default, no channel: first /healthz after {ready_s:.2f} s")
    print(f"idle RSS {rss:.1f} MiB (peak {peak:.1f} MiB); target < {TARGET_MIB} MiB: {verdict}")


if __name__ == "__main__":
    main()
