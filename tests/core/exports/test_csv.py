"""Report export rows: one per campaign per day in the org's timezone, and their CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ValidationFailed
from core.exports.service import CSV_COLUMNS, campaign_days, to_csv
from tests import factories

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


async def test_the_csv_has_one_row_per_campaign_per_day(session: AsyncSession) -> None:
    org = await factories.org(session, timezone="Asia/Tokyo")
    account = await factories.ad_account(session, org, platform="meta", timezone="Asia/Tokyo")
    shoes = await factories.campaign(session, account, name="Shoes")
    sneaky = await factories.campaign(session, account, name='=HYPERLINK("http://x")')
    await factories.daily_metrics(
        session,
        shoes,
        first_day=date(2026, 6, 8),
        days=3,
        timezone="Asia/Tokyo",
        impressions=2000,
        clicks=40,
        spend=Decimal("30.5"),
        conversions=Decimal("3"),
    )
    # Outside the 3-day window: left out.
    await factories.daily_metrics(
        session, shoes, first_day=date(2026, 6, 7), days=1, timezone="Asia/Tokyo"
    )
    await factories.daily_metrics(
        session, sneaky, first_day=date(2026, 6, 10), days=1, timezone="Asia/Tokyo"
    )
    other = await factories.org(session)
    other_account = await factories.ad_account(session, other)
    rival = await factories.campaign(session, other_account, name="Rival")
    await factories.daily_metrics(session, rival, first_day=date(2026, 6, 9), days=1)
    await factories.act_as(session, org)

    data = await campaign_days(session=session, org_id=org.id, days=3, now=NOW)
    rows = list(csv.reader(io.StringIO(to_csv(data).decode())))

    assert rows[0] == CSV_COLUMNS
    assert (data.first_day, data.last_day) == (date(2026, 6, 8), date(2026, 6, 10))
    body = rows[1:]
    # 2 campaigns × 3 days (days without figures are zeros), sorted by day then name.
    assert len(body) == 6
    assert [row[0] for row in body] == ["2026-06-08"] * 2 + ["2026-06-09"] * 2 + ["2026-06-10"] * 2
    first_shoes = next(row for row in body if row[2] == "Shoes")
    assert first_shoes == [
        "2026-06-08",
        str(shoes.id),
        "Shoes",
        "meta",
        "USD",
        "2000",
        "40",
        "30.50",
        "3.00",
        "120.00",
        "2.0000",
        "0.7625",
        "10.1667",
        "3.9344",
    ]
    sneaky_rows = [row for row in body if row[1] == str(sneaky.id)]
    # A name a spreadsheet would run as a formula is defused.
    assert {row[2] for row in sneaky_rows} == {'\'=HYPERLINK("http://x")'}
    assert [row[7] for row in sneaky_rows] == ["0.00", "0.00", "40.00"]
    zero_day = sneaky_rows[0]
    assert zero_day[10:] == ["", "", "", ""]  # no clicks, no conversions: undefined, not 0
    assert "Rival" not in to_csv(data).decode()


async def test_an_export_covers_one_to_366_days(session: AsyncSession) -> None:
    org = await factories.org(session)
    for days in (0, 367):
        with pytest.raises(ValidationFailed):
            await campaign_days(session=session, org_id=org.id, days=days, now=NOW)
