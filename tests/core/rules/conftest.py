"""Helpers for rule tests: a fixed clock and a quick way to save rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.orgs.models import Organization
from core.rules.models import Rule
from core.rules.schemas import parse_rule
from core.rules.service import stored_spec

# Midday UTC on a Wednesday; metrics in tests are written for the days before it.
NOW = datetime(2026, 3, 18, 12, 0, tzinfo=UTC)


@pytest.fixture
def now() -> datetime:
    return NOW


async def save_rule(session: AsyncSession, organization: Organization, **rule: Any) -> Rule:
    """Store a rule without the permission/audit path (that has its own tests)."""
    rule.setdefault("name", f"rule-{id(rule)}")
    parsed = parse_rule(rule)
    row = Rule(
        org_id=organization.id,
        name=parsed.name,
        spec=stored_spec(parsed.spec),
        mode=parsed.mode,
        enabled=parsed.enabled,
    )
    session.add(row)
    await session.flush()
    return row
