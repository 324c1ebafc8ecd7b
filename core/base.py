"""Declarative base and the column types every table shares (UTC time, exact money, JSON)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, DateTime, MetaData, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

MICROS = Decimal(1_000_000)
_MICRO_QUANTUM = Decimal("0.000001")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend; SQLite stores them naive, always in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; AdPilot stores aware UTC datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_micros(value: Decimal | int | str) -> int:
    """An exact amount as integer millionths; more than six decimals is an error, not a rounding."""
    amount = Decimal(value)
    scaled = amount * MICROS
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than six decimal places")
    return int(scaled)


def from_micros(value: int) -> Decimal:
    """Integer micros back to an exact Decimal without trailing zeros or an exponent."""
    amount = (Decimal(value) / MICROS).quantize(_MICRO_QUANTUM, rounding=ROUND_HALF_EVEN)
    normal = amount.normalize()
    # normalize() writes 120 as 1.2E+2; whole amounts keep plain digits.
    exponent = normal.as_tuple().exponent
    return normal.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else normal


class Micros(TypeDecorator[Decimal]):
    """Money and fractional counts as Decimal in Python, integer micros in SQL.

    Integers keep SUM() exact on SQLite too (which has no decimal type) and make the
    PostgreSQL bulk paths cheap; Google Ads already speaks micros.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | int | None, dialect: Dialect) -> int | None:
        return None if value is None else to_micros(value)

    def process_result_value(self, value: int | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else from_micros(int(value))


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        Decimal: Micros(),
    }


class UUIDPk:
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
