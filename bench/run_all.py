"""Run every benchmark once, in order, on an otherwise idle box; keep each raw output.

    .venv/bin/python -m bench.run_all [NAME ...]

Writes `bench/results/<name>.txt`: the command, a header (UTC time, cores, load average before,
commit), the benchmark's own output, its exit code. docs/benchmarks.md quotes these files.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
PG_BENCH_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/adpilot_bench_whatsapp"

BENCHMARKS: dict[str, list[str]] = {
    "startup": ["-m", "bench.startup"],
    "security_primitives": ["-m", "bench.security_primitives"],
    "bot_turn": ["-m", "bench.bot_turn"],
    "metrics_ingest": ["-m", "bench.metrics_ingest"],
    "org_binding": ["-m", "bench.org_binding"],
    "rule_eval": ["-m", "bench.rule_eval"],
    "serve_idle": ["-m", "bench.serve_idle"],
    "worker_idle": ["-m", "bench.worker_idle"],
    "slack_ack": ["-m", "bench.slack_ack"],
    "whatsapp_burst": ["-m", "bench.whatsapp_burst"],
    "whatsapp_burst-postgres": ["-m", "bench.whatsapp_burst", "--database-url", PG_BENCH_URL],
    "signal_receive": ["-m", "bench.signal_receive"],
    "sync_accounts": ["-m", "bench.sync_accounts"],
    "alert_fanout": ["-m", "bench.alert_fanout"],
    "web_pages": ["-m", "bench.web_pages"],
}


def commit() -> str:
    """HEAD, marked when the code differs from it (the results this run writes do not count)."""
    found = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 (git from PATH, as a person runs it)
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", ".", ":(exclude)bench/results"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() + (" (uncommitted changes)" if dirty.stdout.strip() else "")


def fresh_pg_database() -> None:
    """The PostgreSQL run of the WhatsApp burst gets an empty database each time."""
    name = PG_BENCH_URL.rsplit("/", 1)[1]
    for statement in (f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"):
        subprocess.run(  # noqa: S603
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", statement],  # noqa: S607
            check=True,
        )


def run(name: str, args: list[str]) -> int:
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    header = (
        f"$ .venv/bin/python {' '.join(args)}\n"
        f"# {stamp}, {os.cpu_count()} cores, load before: {load}, commit {commit()}\n"
    )
    print(f"{name}: running", flush=True)
    if name.endswith("-postgres"):
        fresh_pg_database()
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 (our own benchmarks)
        [sys.executable, *args], capture_output=True, text=True, check=False
    )
    # Servers under load may warn per request; the figures are on stdout.
    (RESULTS / f"{name}.txt").write_text(header + done.stdout + f"# exit {done.returncode}\n")
    print(f"{name}: exit {done.returncode} after {time.monotonic() - started:.0f} s", flush=True)
    return done.returncode


def main() -> None:
    names = sys.argv[1:] or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    failed = [name for name in names if run(name, BENCHMARKS[name]) != 0]
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
