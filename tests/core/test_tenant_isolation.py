"""Row-level security: the app role cannot read or write another org's rows, even unfiltered."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine

from core.config import Settings
from core.db import Database, org_signature
from core.orgs.models import Organization
from tests import factories
from tests.conftest import login_url

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_settings(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("ADPILOT_DATABASE_URL", pg_url)
    return Settings()


@pytest.fixture
async def two_orgs(pg_settings: Settings) -> AsyncIterator[tuple[uuid.UUID, uuid.UUID]]:
    """Two orgs with one campaign each, written as the owner and committed."""
    owner = create_async_engine(pg_settings.database_url)
    async with AsyncSession(owner) as session, session.begin():
        ids = []
        for name in ("Acme", "Globex"):
            organization = await factories.org(session, name=name)
            account = await factories.ad_account(session, organization)
            await factories.campaign(session, account, name=f"{name} Summer Sale")
            ids.append(organization.id)
    await owner.dispose()
    yield ids[0], ids[1]
    from tests.conftest import truncate_all

    owner = create_async_engine(pg_settings.database_url)
    await truncate_all(owner)
    await owner.dispose()


async def test_app_role_is_not_owner_nor_superuser(pg_settings: Settings) -> None:
    database = Database(pg_settings)
    async with database.app_sessions() as session:
        row = (
            await session.execute(
                text(
                    "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles "
                    "WHERE rolname = current_user"
                )
            )
        ).one()
    await database.dispose()
    assert row == ("adpilot_app", False, False)


async def test_raw_select_without_org_filter_sees_only_own_org(
    pg_settings: Settings, two_orgs: tuple[uuid.UUID, uuid.UUID]
) -> None:
    acme, globex = two_orgs
    database = Database(pg_settings)
    try:
        async with database.tenant(acme) as session:
            # The query "forgets" the org filter on purpose: RLS must still scope it.
            names = (await session.execute(text("SELECT name FROM campaigns"))).scalars().all()
            orgs = (await session.execute(text("SELECT id FROM organizations"))).scalars().all()
        assert names == ["Acme Summer Sale"]
        assert orgs == [acme]
        async with database.tenant(globex) as session:
            names = (await session.execute(text("SELECT name FROM campaigns"))).scalars().all()
        assert names == ["Globex Summer Sale"]
    finally:
        await database.dispose()


async def test_no_org_set_means_no_rows(
    pg_settings: Settings, two_orgs: tuple[uuid.UUID, uuid.UUID]
) -> None:
    database = Database(pg_settings)
    try:
        async with database.app_sessions() as session:
            count = (await session.execute(text("SELECT count(*) FROM campaigns"))).scalar_one()
        assert count == 0
    finally:
        await database.dispose()


async def test_cannot_write_into_another_org(
    pg_settings: Settings, two_orgs: tuple[uuid.UUID, uuid.UUID]
) -> None:
    acme, globex = two_orgs
    database = Database(pg_settings)
    try:
        with pytest.raises(DBAPIError, match="row-level security"):
            async with database.tenant(acme) as session:
                await session.execute(
                    text(
                        "INSERT INTO audit_logs (id, org_id, channel, action, resource_type, "
                        "created_at) VALUES (:id, :org, 'test', 'forge', 'x', now())"
                    ),
                    {"id": uuid.uuid4(), "org": globex},
                )
        async with database.tenant(acme) as session:
            updated = await session.execute(
                text("UPDATE campaigns SET name = 'pwned' WHERE org_id = :org"), {"org": globex}
            )
        assert updated.rowcount == 0
    finally:
        await database.dispose()


async def test_org_setting_ends_with_the_transaction(
    pg_settings: Settings, two_orgs: tuple[uuid.UUID, uuid.UUID]
) -> None:
    acme, _ = two_orgs
    database = Database(pg_settings)
    try:
        async with database.app_sessions() as session:
            async with session.begin():
                from core.db import set_tenant

                await set_tenant(session, acme)
                inside = (await session.execute(text("SELECT count(*) FROM campaigns"))).scalar()
            async with session.begin():
                after = (await session.execute(text("SELECT count(*) FROM campaigns"))).scalar()
        assert (inside, after) == (1, 0)
    finally:
        await database.dispose()


async def test_worker_role_sees_every_org(
    pg_settings: Settings, two_orgs: tuple[uuid.UUID, uuid.UUID]
) -> None:
    database = Database(pg_settings)
    try:
        async with database.system() as session:
            count = (await session.execute(text("SELECT count(*) FROM campaigns"))).scalar_one()
        assert count == 2
    finally:
        await database.dispose()


async def test_role_survives_a_rolled_back_transaction(
    pg_settings: Settings, two_orgs: tuple[uuid.UUID, uuid.UUID]
) -> None:
    """A failed transaction must not drop the connection back to the (superuser) login role."""
    acme, _ = two_orgs
    database = Database(pg_settings)
    try:
        for _ in range(3):
            with pytest.raises(DBAPIError, match="division by zero"):
                async with database.tenant(acme) as session:
                    await session.execute(text("SELECT 1 / 0"))
        async with database.app_sessions() as session:
            await session.execute(text("RESET ROLE"))
            user = (await session.execute(text("SELECT current_user"))).scalar_one()
            count = (await session.execute(text("SELECT count(*) FROM campaigns"))).scalar_one()
        assert (user, count) == ("adpilot_app", 0)
    finally:
        await database.dispose()


async def test_every_table_with_org_data_has_forced_rls(pg_settings: Settings) -> None:
    from core.models import TENANT_TABLES, Base

    with_org = {name for name, table in Base.metadata.tables.items() if "org_id" in table.c}
    assert with_org <= set(TENANT_TABLES), "a table with org_id is missing from TENANT_TABLES"
    owner = create_async_engine(pg_settings.database_url)
    async with owner.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_policy p ON p.polrelid = c.oid "
                    "WHERE c.relrowsecurity AND c.relforcerowsecurity"
                )
            )
        ).scalars()
        protected = set(rows)
    await owner.dispose()
    assert set(TENANT_TABLES) <= protected


async def test_every_tenant_policy_reads_the_signed_binding(pg_settings: Settings) -> None:
    """A policy on the bare `app.org_id` setting (0002's) would let SQL re-point itself."""
    from core.models import TENANT_TABLES

    owner = create_async_engine(pg_settings.database_url)
    async with owner.connect() as connection:
        rows = (
            await connection.execute(
                text("SELECT tablename, policyname, qual, with_check FROM pg_policies")
            )
        ).all()
    await owner.dispose()
    policies = {table: (name, qual, check) for table, name, qual, check in rows}
    for table, column in TENANT_TABLES.items():
        expected = f"({column} = ( SELECT app_current_org() AS app_current_org))"
        assert policies[table] == ("tenant_isolation", expected, expected), table


async def test_own_logins_cannot_step_out_of_rls(
    pg_url: str, two_orgs: tuple[uuid.UUID, uuid.UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Logged in as adpilot_app itself, even `SET ROLE NONE` leaves RLS in force."""
    monkeypatch.setenv("ADPILOT_DATABASE_URL", pg_url)
    monkeypatch.setenv("ADPILOT_DATABASE_APP_URL", login_url(pg_url, "adpilot_app"))
    monkeypatch.setenv("ADPILOT_DATABASE_WORKER_URL", login_url(pg_url, "adpilot_worker"))
    acme, _ = two_orgs
    database = Database(Settings())
    try:
        async with database.tenant(acme) as session:
            await session.execute(text("SET ROLE NONE"))
            user = (await session.execute(text("SELECT current_user"))).scalar_one()
            names = (await session.execute(text("SELECT name FROM campaigns"))).scalars().all()
        assert user == "adpilot_app"
        assert names == ["Acme Summer Sale"]
        async with database.system() as session:
            user = (await session.execute(text("SELECT session_user"))).scalar_one()
            count = (await session.execute(text("SELECT count(*) FROM campaigns"))).scalar_one()
        assert (user, count) == ("adpilot_worker", 2)
    finally:
        await database.dispose()


# --- The org binding is signed: SQL run as the app role cannot re-point it ---------------------


@pytest.fixture
async def app_login(pg_url: str) -> AsyncIterator[AsyncEngine]:
    """A plain connection logged in as adpilot_app itself, as injected SQL would run."""
    engine = create_async_engine(login_url(pg_url, "adpilot_app"))
    yield engine
    await engine.dispose()


async def _what_the_app_role_reaches(
    connection: AsyncConnection, org: uuid.UUID
) -> tuple[list[str], list[uuid.UUID], int]:
    """Rows it sees and changes of `org`'s data, with whatever binding the connection holds."""
    names = (await connection.execute(text("SELECT name FROM campaigns"))).scalars().all()
    orgs = (await connection.execute(text("SELECT id FROM organizations"))).scalars().all()
    updated = await connection.execute(
        text("UPDATE campaigns SET name = 'pwned' WHERE org_id = :org"), {"org": org}
    )
    return list(names), list(orgs), updated.rowcount


async def test_an_unsigned_org_setting_reaches_nothing(
    app_login: AsyncEngine, two_orgs: tuple[uuid.UUID, uuid.UUID]
) -> None:
    """The attack from the issue: `set_config('app.org_id', <other org>, false)`."""
    _, globex = two_orgs
    async with app_login.connect() as connection:
        await connection.execute(
            text("SELECT set_config('app.org_id', :org, false)"), {"org": str(globex)}
        )
        assert await _what_the_app_role_reaches(connection, globex) == ([], [], 0)
        with pytest.raises(DBAPIError, match="row-level security"):
            await connection.execute(
                text(
                    "INSERT INTO audit_logs (id, org_id, channel, action, resource_type, "
                    "created_at) VALUES (:id, :org, 'sql', 'forge', 'x', now())"
                ),
                {"id": uuid.uuid4(), "org": globex},
            )


async def _bind(connection: AsyncConnection, org: uuid.UUID, signature: str) -> None:
    """Set the binding by hand, as SQL run as the app role could."""
    await connection.execute(
        text(
            "SELECT set_config('app.org_id', :org, false), set_config('app.org_sig', :sig, false)"
        ),
        {"org": str(org), "sig": signature},
    )


def _forgeries(acme: uuid.UUID, globex: uuid.UUID, settings: Settings) -> dict[str, str]:
    key = settings.org_binding_key()
    return {
        "acme's valid signature, reused": org_signature(key, acme),
        "HMAC under another secret's key": org_signature(
            Settings(secret_key="another-" + "k3y" * 15).org_binding_key(), globex
        ),
        "sha256 of the org id alone": hashlib.sha256(str(globex).encode()).hexdigest(),
        "sha256(key || org), not an HMAC": hashlib.sha256(key + str(globex).encode()).hexdigest(),
        "the right HMAC, upper-cased": org_signature(key, globex).upper(),
        "empty": "",
    }


async def test_a_forged_signature_reaches_nothing(
    app_login: AsyncEngine, pg_settings: Settings, two_orgs: tuple[uuid.UUID, uuid.UUID]
) -> None:
    acme, globex = two_orgs
    for label, forged in _forgeries(acme, globex, pg_settings).items():
        async with app_login.connect() as connection:
            await _bind(connection, globex, forged)
            reached = await _what_the_app_role_reaches(connection, globex)
            await connection.rollback()
        assert reached == ([], [], 0), label
    # The same connection with the genuine signature does reach globex: the test can fail.
    async with app_login.connect() as connection:
        await _bind(connection, globex, org_signature(pg_settings.org_binding_key(), globex))
        names = (await connection.execute(text("SELECT name FROM campaigns"))).scalars().all()
    assert names == ["Globex Summer Sale"]


async def test_a_tenant_transaction_cannot_re_point_itself(
    pg_url: str, two_orgs: tuple[uuid.UUID, uuid.UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Injected SQL inside acme's real transaction changes app.org_id: it then sees nothing."""
    monkeypatch.setenv("ADPILOT_DATABASE_URL", pg_url)
    monkeypatch.setenv("ADPILOT_DATABASE_APP_URL", login_url(pg_url, "adpilot_app"))
    monkeypatch.setenv("ADPILOT_DATABASE_WORKER_URL", login_url(pg_url, "adpilot_worker"))
    acme, globex = two_orgs
    database = Database(Settings())
    try:
        async with database.tenant(acme) as session:
            before = (await session.execute(text("SELECT name FROM campaigns"))).scalars().all()
            for scope in ("true", "false"):
                await session.execute(
                    text(f"SELECT set_config('app.org_id', :org, {scope})"), {"org": str(globex)}
                )
                after = (await session.execute(text("SELECT name FROM campaigns"))).scalars().all()
                assert after == [], scope
        assert before == ["Acme Summer Sale"]
        async with database.tenant(globex) as session:
            names = (await session.execute(text("SELECT name FROM campaigns"))).scalars().all()
        assert names == ["Globex Summer Sale"]  # untouched by the attempts above
    finally:
        await database.dispose()


@pytest.mark.parametrize(
    ("statement", "error"),
    [
        ("SELECT * FROM app_binding_key", "permission denied for table app_binding_key"),
        ("UPDATE app_binding_key SET inner_pad = inner_pad", "permission denied"),
        (
            "CREATE OR REPLACE FUNCTION app_current_org() RETURNS uuid LANGUAGE sql "
            "AS $$ SELECT NULL::uuid $$",
            "permission denied for schema public",
        ),
        ("ALTER FUNCTION app_current_org() SECURITY INVOKER", "must be owner of function"),
        ("ALTER POLICY tenant_isolation ON campaigns USING (true)", "must be owner of table"),
        ("ALTER TABLE campaigns NO FORCE ROW LEVEL SECURITY", "must be owner of table"),
        ("SELECT * FROM sandbox_campaigns", "permission denied for table sandbox_campaigns"),
        ("SELECT * FROM sandbox_accounts", "permission denied for table sandbox_accounts"),
        (
            "SELECT * FROM sandbox_campaign_revisions",
            "permission denied for table sandbox_campaign_revisions",
        ),
        ("DELETE FROM processed_events", "permission denied for table processed_events"),
    ],
)
async def test_the_app_role_cannot_reach_the_key_the_function_or_org_less_tables(
    app_login: AsyncEngine, statement: str, error: str
) -> None:
    async with app_login.connect() as connection:
        with pytest.raises(DBAPIError, match=error):
            await connection.execute(text(statement))


async def test_the_binding_is_checked_once_per_statement_not_per_row(
    pg_settings: Settings, two_orgs: tuple[uuid.UUID, uuid.UUID]
) -> None:
    """app_current_org() runs as an InitPlan: one call for a scan of many rows."""
    acme, _ = two_orgs
    owner = create_async_engine(pg_settings.database_url)
    try:
        async with AsyncSession(owner) as session, session.begin():
            organization = await session.get_one(Organization, acme)
            account = await factories.ad_account(session, organization)
            for _ in range(40):
                await factories.campaign(session, account)
        async with owner.connect() as connection:
            # track_functions needs a superuser; the query itself runs as adpilot_app.
            await connection.execute(text("SET track_functions = 'pl'"))
            await connection.execute(text("SET LOCAL enable_indexscan = off"))
            await connection.execute(text("SET LOCAL enable_bitmapscan = off"))
            await connection.execute(text("SET LOCAL ROLE adpilot_app"))
            await _bind(connection, acme, org_signature(pg_settings.org_binding_key(), acme))
            plan = "\n".join(
                (await connection.execute(text("EXPLAIN SELECT name FROM campaigns"))).scalars()
            )
            count = (await connection.execute(text("SELECT count(*) FROM campaigns"))).scalar()
            await connection.execute(text("RESET ROLE"))
            calls = (
                await connection.execute(
                    text(
                        "SELECT calls FROM pg_stat_xact_user_functions "
                        "WHERE funcname = 'app_current_org'"
                    )
                )
            ).scalar()
            await connection.rollback()
    finally:
        await owner.dispose()
    assert count == 41
    assert "InitPlan" in plan
    assert "Seq Scan on campaigns" in plan
    assert calls == 1
