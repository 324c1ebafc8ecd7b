"""Idle memory of `adpilot worker`: `python -m bench.worker_idle [--redis-url URL]`.

Starts the real command against a fresh SQLite file and the given Redis (db 11 by default:
flushed first, use one that holds nothing else), waits until arq's health-check key appears
(the worker has started, run its start-up and polled the queue), lets it idle for 5 s, then
reads the process's resident set (VmRSS, and VmHWM for the peak) from /proc. Target: < 150 MiB.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from bench.serve_idle import status_kib
from worker.settings import HEALTH_CHECK_KEY

ADPILOT = Path(sys.executable).with_name("adpilot")
TARGET_MIB = 150


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    args = parser.parse_args()
    store = redis.Redis.from_url(args.redis_url)
    store.flushdb()
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **os.environ,
            "ADPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{folder}/idle.db",
            "ADPILOT_REDIS_URL": args.redis_url,
        }
        subprocess.run([str(ADPILOT), "migrate"], env=env, check=True, capture_output=True)  # noqa: S603
        worker = subprocess.Popen(  # noqa: S603 (our own installed command)
            [str(ADPILOT), "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            started = time.monotonic()
            while not store.exists(HEALTH_CHECK_KEY):
                if time.monotonic() - started > 60:
                    raise RuntimeError("the worker never wrote its health-check key")
                time.sleep(0.05)
            ready_s = time.monotonic() - started
            time.sleep(5)
            rss = status_kib(worker.pid, "VmRSS") / 1024
            peak = status_kib(worker.pid, "VmHWM") / 1024
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
    verdict = "met" if rss < TARGET_MIB else "MISSED"
    print(f"adpilot worker, SQLite and Redis, no channel: health key after {ready_s:.2f} s")
    print(f"idle RSS {rss:.1f} MiB (peak {peak:.1f} MiB); target < {TARGET_MIB} MiB: {verdict}")


if __name__ == "__main__":
    main()
