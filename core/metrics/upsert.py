"""Bulk, idempotent metric ingest on the natural key (campaign_id, platform, recorded_at).

PostgreSQL: COPY into a temporary staging table through asyncpg, then one
INSERT ... SELECT ... ON CONFLICT DO UPDATE. SQLite: its own upsert, in chunks.
Either way a re-sent unchanged row is skipped, so re-ingesting a window is cheap.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Column, MetaData, String, Table, Uuid, or_, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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


def _count(value: int, index: int, field: str) -> int:
    if type(value) is not int:
        raise _fail(index, field, "must be a whole number")
    if value < 0:
        raise _fail(index, field, "is negative")
    return value


def _micros(value: Decimal, index: int, field: str) -> int:
    if not isinstance(value, Decimal | int) or not Decimal(value).is_finite():
        raise _fail(index, field, "must be a finite Decimal")
    if value < 0:
        raise _fail(index, field, "is negative")
    scaled = value * MICROS
    whole = int(scaled)
    if whole != scaled:
        raise _fail(index, field, "has more than six decimal places")
    return whole


def to_record(row: MetricIn, index: int) -> Record:
    """One validated row as the tuple COPY and the upsert take (money in integer micros)."""
    recorded_at = row.recorded_at
    if recorded_at.tzinfo is None or recorded_at.utcoffset() is None:
        raise _fail(index, "recorded_at", "is a naive datetime; give it a timezone")
    if not row.platform:
        raise _fail(index, "platform", "is empty")
    return (
        row.campaign_id,
        row.platform,
        recorded_at,
        row.org_id,
        _count(row.impressions, index, "impressions"),
        _count(row.clicks, index, "clicks"),
        _micros(row.spend, index, "spend"),
        _micros(row.conversions, index, "conversions"),
        _micros(row.conversion_value, index, "conversion_value"),
    )


def prepare(rows: Iterable[MetricIn]) -> list[Record]:
    """Validate and collapse duplicate keys (the last one wins, as a re-sent row should)."""
    staged: dict[tuple[uuid.UUID, str, datetime], Record] = {}
    for index, row in enumerate(rows):
        record = to_record(row, index)
        staged[record[0], record[1], record[2]] = record
    return list(staged.values())


async def _check_owners(session: AsyncSession, records: Sequence[Record]) -> None:
    """Every row's campaign exists, belongs to the row's org and runs on the row's platform."""
    claimed = {(r[0], r[3], r[1]) for r in records}
    ids = list({claim[0] for claim in claimed})
    known: dict[uuid.UUID, tuple[uuid.UUID, str]] = {}
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = ids[start : start + _ID_CHUNK]
        query = select(Campaign.id, Campaign.org_id, Campaign.platform).where(
            Campaign.id.in_(chunk)
        )
        for campaign_id, org_id, platform in await session.execute(query):
            known[campaign_id] = (org_id, platform)
    for campaign_id, org_id, platform in claimed:
        owner = known.get(campaign_id)
        if owner is None:
            raise ValidationFailed(f"Unknown campaign {campaign_id}.", field="campaign_id")
        if owner != (org_id, platform):
            raise ValidationFailed(
                f"Campaign {campaign_id} belongs to another org or platform.", field="org_id"
            )


async def upsert(*, session: AsyncSession, rows: Iterable[MetricIn]) -> UpsertResult:
    """Insert or update metric rows on their natural key; safe to repeat with the same rows."""
    received = rows if isinstance(rows, Sequence) else list(rows)
    records = prepare(received)
    if not records:
        return UpsertResult(received=0, distinct=0, written=0)
    await _check_owners(session, records)
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        written = await _upsert_postgres(connection, records)
    else:
        written = await _upsert_generic(connection, records)
    return UpsertResult(received=len(received), distinct=len(records), written=written)


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


async def _upsert_postgres(connection: AsyncConnection, records: list[Record]) -> int:
    stage = f"metrics_stage_{uuid.uuid4().hex[:12]}"
    # Executing through SQLAlchemy first also opens the transaction COPY then joins.
    await connection.execute(text(_STAGE_DDL.format(name=stage)))
    driver = await driver_connection(connection)
    await driver.copy_records_to_table(stage, records=records, columns=COLUMNS)
    result = await connection.execute(text(merge_sql(stage)))
    await connection.execute(text(f"DROP TABLE {stage}"))
    return int(result.rowcount)


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
