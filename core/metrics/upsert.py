"""Bulk, idempotent metric ingest on the natural key (campaign_id, platform, recorded_at).

PostgreSQL: when none of the rows' keys can exist yet (a backfill, a new day) and the login
bypasses RLS, COPY straight into the table; otherwise COPY into a temporary staging table
through asyncpg, then one INSERT ... SELECT ... ON CONFLICT DO UPDATE. SQLite: its own upsert,
in chunks. Either way a re-sent unchanged row is skipped, so re-ingesting a window is cheap.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Column,
    MetaData,
    String,
    Table,
    Uuid,
    bindparam,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.base import MICROS, UTCDateTime, utcnow
from core.campaigns.models import Campaign
from core.errors import ValidationFailed
from core.metrics.schemas import MetricIn, UpsertResult

KEY = ("campaign_id", "platform", "recorded_at")
VALUES = (
    "impressions",
    "clicks",
    "spend_micros",
    "conversions_micros",
    "conversion_value_micros",
)
COLUMNS = (*KEY, "org_id", *VALUES)
SQLITE_CHUNK = 500
_ID_CHUNK = 500

# The table as raw integers: staged values are micros already, so the ORM's Micros type
# (which would scale them again) must not see them.
_raw = Table(
    "campaign_metrics",
    MetaData(),
    Column("campaign_id", Uuid, primary_key=True),
    Column("platform", String(32), primary_key=True),
    Column("recorded_at", UTCDateTime(), primary_key=True),
    Column("org_id", Uuid),
    *(Column(name, BigInteger) for name in VALUES),
    Column("updated_at", UTCDateTime()),
)

Record = tuple[uuid.UUID, str, datetime, uuid.UUID, int, int, int, int, int]


def _fail(index: int, field: str, problem: str) -> ValidationFailed:
    return ValidationFailed(f"Metric row {index}: {field} {problem}.", field=field)


def _check_count(value: object, index: int, field: str) -> None:
    if type(value) is not int:
        raise _fail(index, field, "must be a whole number")
    if value < 0:
        raise _fail(index, field, "is negative")


def _check_money(value: object, index: int, field: str) -> None:
    if not isinstance(value, Decimal | int) or not Decimal(value).is_finite():
        raise _fail(index, field, "must be a finite Decimal")
    if value < 0:
        raise _fail(index, field, "is negative")
    scaled = value * MICROS
    if int(scaled) != scaled:
        raise _fail(index, field, "has more than six decimal places")


def diagnose(row: MetricIn, index: int) -> ValidationFailed:
    """The precise reason a row failed the fast checks in `prepare`."""
    try:
        at = row.recorded_at
        if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
            raise _fail(index, "recorded_at", "is a naive datetime; give it a timezone")
        if not row.platform:
            raise _fail(index, "platform", "is empty")
        _check_count(row.impressions, index, "impressions")
        _check_count(row.clicks, index, "clicks")
        _check_money(row.spend, index, "spend")
        _check_money(row.conversions, index, "conversions")
        _check_money(row.conversion_value, index, "conversion_value")
    except ValidationFailed as problem:
        return problem
    return ValidationFailed(f"Metric row {index} is invalid.")


def iter_records(
    rows: Sequence[MetricIn], claimed: set[tuple[uuid.UUID, uuid.UUID, str]]
) -> Iterator[Record]:
    """Validate rows lazily into COPY-ready tuples, noting each (campaign, org, platform) seen.

    This loop runs once per ingested row, so it checks everything with a few cheap
    operations and leaves the precise error message to `diagnose`.
    """
    micros = MICROS
    last: tuple[object, object, object] = (None, None, None)
    index = -1
    try:
        for index, row in enumerate(rows):
            spend = row.spend * micros
            conversions = row.conversions * micros
            value = row.conversion_value * micros
            spend_i, conversions_i, value_i = int(spend), int(conversions), int(value)
            impressions, clicks, at = row.impressions, row.clicks, row.recorded_at
            if (
                spend_i != spend
                or conversions_i != conversions
                or value_i != value
                # A bitwise OR of ints is negative exactly when one of them is.
                or (spend_i | conversions_i | value_i | impressions | clicks) < 0
                or at.tzinfo is None
                or not row.platform
                or type(impressions) is not int
                or type(clicks) is not int
            ):
                raise diagnose(row, index)
            campaign_id, org_id, platform = row.campaign_id, row.org_id, row.platform
            # Rows arrive campaign by campaign: hash a claim once per run of the very same
            # objects, not per row (equal but distinct objects are simply added again).
            if campaign_id is not last[0] or org_id is not last[1] or platform is not last[2]:
                last = (campaign_id, org_id, platform)
                claimed.add((campaign_id, org_id, platform))
            yield (
                campaign_id,
                platform,
                at,
                org_id,
                impressions,
                clicks,
                spend_i,
                conversions_i,
                value_i,
            )
    except (TypeError, ValueError, ArithmeticError, AttributeError) as exc:
        raise diagnose(rows[index], index) from exc


def prepare(
    rows: Sequence[MetricIn], claimed: set[tuple[uuid.UUID, uuid.UUID, str]] | None = None
) -> list[Record]:
    """All rows validated, duplicate keys collapsed (the last one wins, as a re-send should)."""
    staged = {
        record[:3]: record for record in iter_records(rows, set() if claimed is None else claimed)
    }
    return list(staged.values())


async def _check_owners(
    connection: AsyncConnection,
    claimed: set[tuple[uuid.UUID, uuid.UUID, str]],
    scope: uuid.UUID | None,
) -> None:
    """Every row's campaign exists, belongs to the row's org and runs on the row's platform."""
    if scope is not None and any(org_id != scope for _, org_id, _ in claimed):
        raise ValidationFailed("Metric rows of another organization.", field="org_id")
    ids = list({claim[0] for claim in claimed})
    known: dict[uuid.UUID, tuple[uuid.UUID, str]] = {}
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = ids[start : start + _ID_CHUNK]
        query = select(Campaign.id, Campaign.org_id, Campaign.platform).where(
            Campaign.id.in_(chunk)
        )
        for campaign_id, org_id, platform in await connection.execute(query):
            known[campaign_id] = (org_id, platform)
    for campaign_id, org_id, platform in claimed:
        owner = known.get(campaign_id)
        if owner is None:
            raise ValidationFailed(f"Unknown campaign {campaign_id}.", field="campaign_id")
        if owner != (org_id, platform):
            raise ValidationFailed(
                f"Campaign {campaign_id} belongs to another org or platform.", field="org_id"
            )


async def upsert(
    *, session: AsyncSession, rows: Iterable[MetricIn], org_id: uuid.UUID | None = None
) -> UpsertResult:
    """Insert or update metric rows on their natural key; safe to repeat with the same rows.

    Every row must belong to `org_id`, or to the session's tenant (`set_tenant`); with
    neither (a cross-org worker session) rows may span orgs. Runs in a SAVEPOINT: invalid
    input raises ValidationFailed and leaves the caller's transaction as it was.
    """
    received = rows if isinstance(rows, Sequence) else list(rows)
    if not received:
        return UpsertResult(received=0, distinct=0, written=0)
    scope: uuid.UUID | None = org_id or session.info.get("org_id")
    claimed: set[tuple[uuid.UUID, uuid.UUID, str]] = set()
    async with session.begin_nested():
        connection = await session.connection()
        if connection.dialect.name == "postgresql":
            distinct, written = await _upsert_postgres(connection, received, claimed, scope)
        else:
            records = prepare(received, claimed)
            await _check_owners(connection, claimed, scope)
            distinct, written = len(records), await _upsert_generic(connection, records)
    return UpsertResult(received=len(received), distinct=distinct, written=written)


_STAGE_DDL = """
CREATE TEMP TABLE {name} (
    campaign_id uuid NOT NULL, platform varchar(32) NOT NULL, recorded_at timestamptz NOT NULL,
    org_id uuid NOT NULL, impressions bigint NOT NULL, clicks bigint NOT NULL,
    spend_micros bigint NOT NULL, conversions_micros bigint NOT NULL,
    conversion_value_micros bigint NOT NULL
) ON COMMIT DROP
"""

_MERGE_SQL = """
INSERT INTO campaign_metrics ({columns}, updated_at)
SELECT {columns}, now() FROM {stage}
ON CONFLICT (campaign_id, platform, recorded_at) DO UPDATE SET
    {assignments}, updated_at = EXCLUDED.updated_at
WHERE ({current}) IS DISTINCT FROM ({incoming})
"""


def merge_sql(stage: str) -> str:
    return _MERGE_SQL.format(
        columns=", ".join(COLUMNS),
        stage=stage,
        assignments=", ".join(f"{name} = EXCLUDED.{name}" for name in VALUES),
        current=", ".join(f"campaign_metrics.{name}" for name in VALUES),
        incoming=", ".join(f"EXCLUDED.{name}" for name in VALUES),
    )


async def driver_connection(connection: AsyncConnection) -> Any:
    """The asyncpg connection under SQLAlchemy, inside the same transaction."""
    raw = await connection.get_raw_connection()
    return raw.driver_connection


async def _upsert_postgres(
    connection: AsyncConnection,
    rows: Sequence[MetricIn],
    claimed: set[tuple[uuid.UUID, uuid.UUID, str]],
    scope: uuid.UUID | None,
) -> tuple[int, int]:
    if await _copy_fits(connection, rows):
        try:
            return await _copy_direct(connection, rows, claimed, scope)
        except Exception as exc:  # asyncpg's own error: COPY runs on the driver connection
            # Another writer got there first or the input repeats a key (merge instead), or a
            # row names a foreign campaign (the merge path's owner check says which).
            if _sqlstate(exc) not in {_UNIQUE_VIOLATION, _FOREIGN_KEY_VIOLATION}:
                raise
            claimed.clear()
    return await _merge_via_stage(connection, rows, claimed, scope)


async def _copy_fits(connection: AsyncConnection, rows: Sequence[MetricIn]) -> bool:
    """Whether the rows may be COPYed straight in: none of their keys can exist yet.

    True when no stored row of these campaigns falls in the input's time span (a backfill, a
    new account, a new day's first sync), and this login may COPY into the table at all:
    PostgreSQL refuses COPY FROM where row-level security applies, so only the worker and
    owner logins (BYPASSRLS) qualify. One indexed probe; a wrong "yes" is caught by the
    primary key and costs a retry through the merge.
    """
    stamps = [row.recorded_at for row in rows]
    if not all(isinstance(at, datetime) and at.tzinfo is not None for at in stamps):
        return False  # not an aware datetime: the merge path's validation names the row
    campaign_ids = list({row.campaign_id for row in rows})
    first, last = min(stamps), max(stamps)
    probe = text(
        "SELECT (SELECT rolbypassrls OR rolsuper FROM pg_roles WHERE rolname = current_user)"
        " AND NOT EXISTS (SELECT 1 FROM campaign_metrics WHERE campaign_id = ANY(:ids)"
        " AND recorded_at BETWEEN :first AND :last)"
    ).bindparams(bindparam("ids", type_=ARRAY(Uuid())))
    params = {"ids": campaign_ids, "first": first, "last": last}
    return bool((await connection.execute(probe, params)).scalar())


async def _copy_direct(
    connection: AsyncConnection,
    rows: Sequence[MetricIn],
    claimed: set[tuple[uuid.UUID, uuid.UUID, str]],
    scope: uuid.UUID | None,
) -> tuple[int, int]:
    """COPY validated rows into campaign_metrics itself: the physical limit for this schema."""
    now = utcnow()
    async with connection.begin_nested():
        driver = await driver_connection(connection)
        await driver.copy_records_to_table(
            "campaign_metrics",
            records=((*record, now) for record in iter_records(rows, claimed)),
            columns=(*COLUMNS, "updated_at"),
        )
        # Inside the savepoint: rows of a foreign org or platform are undone with it.
        await _check_owners(connection, claimed, scope)
    return len(rows), len(rows)


async def _merge_via_stage(
    connection: AsyncConnection,
    rows: Sequence[MetricIn],
    claimed: set[tuple[uuid.UUID, uuid.UUID, str]],
    scope: uuid.UUID | None,
) -> tuple[int, int]:
    stage = f"metrics_stage_{uuid.uuid4().hex[:12]}"
    # Executing through SQLAlchemy first also opens the transaction COPY then joins.
    await connection.execute(text(_STAGE_DDL.format(name=stage)))
    driver = await driver_connection(connection)
    # A lazy iterator: the server ingests one buffer while Python validates the next.
    await driver.copy_records_to_table(stage, records=iter_records(rows, claimed), columns=COLUMNS)
    await _check_owners(connection, claimed, scope)
    distinct = len(rows)
    try:
        # Optimistic: input rarely repeats a key, and checking first would cost a sort.
        async with connection.begin_nested():
            result = await connection.execute(text(merge_sql(stage)))
    except DBAPIError as exc:
        if _sqlstate(exc) != _CARDINALITY_VIOLATION:
            raise
        # Collapse repeats, keeping the last row COPY wrote (the highest ctid in a fresh heap).
        # `stage` is our own generated name, never input.
        deduped = f"(SELECT DISTINCT ON (campaign_id, platform, recorded_at) * FROM {stage}"  # noqa: S608
        deduped += " ORDER BY campaign_id, platform, recorded_at, ctid DESC) AS latest"
        result = await connection.execute(text(merge_sql(deduped)))
        distinct = int(
            (await connection.execute(text(f"SELECT count(*) FROM {deduped}"))).scalar_one()  # noqa: S608
        )
    await connection.execute(text(f"DROP TABLE {stage}"))
    return distinct, int(result.rowcount)


_CARDINALITY_VIOLATION = "21000"
_UNIQUE_VIOLATION = "23505"
_FOREIGN_KEY_VIOLATION = "23503"


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error, raw (asyncpg) or wrapped by SQLAlchemy."""
    error = getattr(exc, "orig", None) or exc
    code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return None if code is None else str(code)


async def _upsert_generic(connection: AsyncConnection, records: list[Record]) -> int:
    statement = sqlite_insert(_raw)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=list(KEY),
        set_={name: excluded[name] for name in (*VALUES, "updated_at")},
        where=or_(*(_raw.c[name].is_distinct_from(excluded[name]) for name in VALUES)),
    )
    now = utcnow()
    written = 0
    for start in range(0, len(records), SQLITE_CHUNK):
        chunk = [
            {**dict(zip(COLUMNS, record, strict=True)), "updated_at": now}
            for record in records[start : start + SQLITE_CHUNK]
        ]
        result = await connection.execute(statement, chunk)
        written += max(int(result.rowcount), 0)
    return written
