"""Start-up time of the `adpilot` command as whole processes: `python -m bench.startup`.

Times `adpilot --help` and one `adpilot chat --org demo -c "campaigns"` turn (embedded SQLite,
sandbox platforms, no AI model), each N times, with cached bytecode and without any (an empty
PYTHONPYCACHEPREFIX plus PYTHONDONTWRITEBYTECODE=1: what a container that never compiled its
bytecode pays on every call). Targets with cached bytecode: --help < 0.3 s, the turn < 1.0 s
(wall). CPU seconds (user + system of the child) are printed too: on a shared machine they
move far less with the neighbours' load than wall time does.
Also reports whether the turn imported pydantic_ai (it must not without a model).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ADPILOT = Path(sys.executable).with_name("adpilot")
HELP = ("--help",)
TURN = ("chat", "--org", "demo", "-c", "campaigns")
TARGETS = {"--help": 0.3, "chat -c campaigns": 1.0}
# The variables that would pick a model, a real database or another key for the runs.
_CLEARED_PREFIXES = ("ADPILOT_", "OPENAI_", "ANTHROPIC_", "PYTHON")


@dataclass(frozen=True)
class Case:
    label: str
    args: tuple[str, ...]
    cached: bool


def base_env(workdir: Path) -> dict[str, str]:
    """A clean environment: embedded SQLite in `workdir`, a fixed key, no model configured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CLEARED_PREFIXES)}
    from cryptography.fernet import Fernet

    env.update(
        ADPILOT_ENV="development",
        ADPILOT_DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'adpilot.db'}",
        ADPILOT_ENCRYPTION_KEYS=Fernet.generate_key().decode("ascii"),
        COLUMNS="120",
    )
    return env


def case_env(env: dict[str, str], case: Case, empty_cache: Path) -> dict[str, str]:
    if case.cached:
        return env
    # No bytecode to read (an empty cache prefix) and none written: every module compiles.
    return {**env, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(empty_cache)}


def _run(argv: list[str], env: dict[str, str], workdir: Path) -> subprocess.CompletedProcess[str]:
    # argv is this venv's own entry point and fixed arguments, never outside input.
    return subprocess.run(  # noqa: S603
        argv, cwd=workdir, env=env, capture_output=True, text=True, check=False
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(args: Sequence[str], env: dict[str, str], workdir: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one whole `adpilot` process."""
    cpu_before, started = _children_cpu(), time.perf_counter()
    result = _run([str(ADPILOT), *args], env, workdir)
    elapsed, cpu = time.perf_counter() - started, _children_cpu() - cpu_before
    if result.returncode != 0:
        raise SystemExit(f"adpilot {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return elapsed, cpu


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def imports_pydantic_ai(env: dict[str, str], workdir: Path) -> bool:
    """Whether one chat turn imports pydantic_ai (-X importtime lists every module imported)."""
    result = _run([sys.executable, "-X", "importtime", str(ADPILOT), *TURN], env, workdir)
    # Lines read "import time: self | cumulative | <indent>module".
    modules = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    return "pydantic_ai" in modules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per case (default 10)")
    parser.add_argument("--uncached-runs", type=int, default=3, help="runs without bytecode")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="adpilot-startup-") as tmp:
        workdir = Path(tmp)
        env = base_env(workdir)
        seeded = _run([str(ADPILOT), "demo", "--seed-only"], env, workdir)
        if seeded.returncode != 0:
            raise SystemExit(f"seeding the demo failed:\n{seeded.stdout}{seeded.stderr}")
        cases = [
            Case("--help", HELP, cached=True),
            Case("chat -c campaigns", TURN, cached=True),
            Case("--help", HELP, cached=False),
            Case("chat -c campaigns", TURN, cached=False),
        ]
        print(
            f"adpilot start-up, {platform.python_implementation()} {platform.python_version()}, "
            f"{os.cpu_count()} cores, {platform.platform()}"
        )
        print(
            f"{'command':<20} {'bytecode':<9} {'runs':>4} {'median s':>9} {'p95 s':>7} "
            f"{'min s':>7} {'cpu med s':>9} {'target s':>9}"
        )
        for case in cases:
            runs = options.runs if case.cached else options.uncached_runs
            empty_cache = workdir / f"pycache-{case.label.replace(' ', '_')}"
            run_once(case.args, case_env(env, case, empty_cache), workdir)  # warm the OS cache
            timings = [
                run_once(case.args, case_env(env, case, empty_cache), workdir) for _ in range(runs)
            ]
            wall = [elapsed for elapsed, _cpu in timings]
            cpu = [cpu for _elapsed, cpu in timings]
            target = f"{TARGETS[case.label]:.1f}" if case.cached else "-"
            print(
                f"{case.label:<20} {'cached' if case.cached else 'none':<9} {runs:>4} "
                f"{statistics.median(wall):>9.3f} {p95(wall):>7.3f} {min(wall):>7.3f} "
                f"{statistics.median(cpu):>9.3f} {target:>9}"
            )
        loaded = imports_pydantic_ai(env, workdir)
        print(f"chat -c campaigns imports pydantic_ai: {'yes' if loaded else 'no'}")


if __name__ == "__main__":
    main()
