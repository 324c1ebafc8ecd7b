"""06:00 in each org's own timezone, across offsets and both DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine
from sqlalchemy.ext.asyncio import AsyncSession

from core.summaries.service import due_orgs, local_due_date
from tests import factories


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("timezone", "before", "after", "local_day"),
    [
        # 06:00 in Tokyo (UTC+9) is 21:00 UTC the day before.
        ("Asia/Tokyo", utc(2026, 6, 9, 20, 59), utc(2026, 6, 9, 21, 0), date(2026, 6, 10)),
        # Half-hour offset: 06:00 in Kolkata (UTC+5:30) is 00:30 UTC.
        ("Asia/Kolkata", utc(2026, 6, 10, 0, 29), utc(2026, 6, 10, 0, 30), date(2026, 6, 10)),
        (
            "America/Los_Angeles",
            utc(2026, 6, 10, 12, 59),
            utc(2026, 6, 10, 13, 0),
            date(2026, 6, 10),
        ),
        ("UTC", utc(2026, 6, 10, 5, 59), utc(2026, 6, 10, 6, 0), date(2026, 6, 10)),
    ],
)
def test_the_summary_is_due_from_six_local(
    timezone: str, before: datetime, after: datetime, local_day: date
) -> None:
    assert local_due_date(timezone, None, before) is None
    assert local_due_date(timezone, None, after) == local_day
    # Later that local day it stays due until sent, then not again until the next day.
    assert local_due_date(timezone, local_day, after) is None


def test_the_spring_forward_moves_six_oclock_an_hour_earlier_in_utc() -> None:
    # New York springs forward on 2026-03-08: 06:00 is 11:00 UTC before it, 10:00 UTC after.
    tz = "America/New_York"
    assert local_due_date(tz, None, utc(2026, 3, 7, 10, 0)) is None  # 05:00 EST
    assert local_due_date(tz, None, utc(2026, 3, 7, 11, 0)) == date(2026, 3, 7)
    assert local_due_date(tz, date(2026, 3, 7), utc(2026, 3, 8, 9, 59)) is None  # 05:59 EDT
    assert local_due_date(tz, date(2026, 3, 7), utc(2026, 3, 8, 10, 0)) == date(2026, 3, 8)


def test_the_fall_back_moves_six_oclock_an_hour_later_in_utc() -> None:
    # New York falls back on 2026-11-01: 06:00 EDT is 10:00 UTC, 06:00 EST is 11:00 UTC.
    tz = "America/New_York"
    assert local_due_date(tz, None, utc(2026, 10, 31, 10, 0)) == date(2026, 10, 31)
    assert local_due_date(tz, date(2026, 10, 31), utc(2026, 11, 1, 10, 30)) is None  # 05:30 EST
    assert local_due_date(tz, date(2026, 10, 31), utc(2026, 11, 1, 11, 0)) == date(2026, 11, 1)
    # The repeated hour (01:00-02:00 twice) never makes a second summary on the same day.
    assert local_due_date(tz, date(2026, 11, 1), utc(2026, 11, 1, 23, 0)) is None


def test_a_bad_stored_timezone_falls_back_to_utc() -> None:
    assert local_due_date("Not/AZone", None, utc(2026, 6, 10, 6, 0)) == date(2026, 6, 10)


async def test_due_orgs_picks_by_each_orgs_own_clock(system_session: AsyncSession) -> None:
    tokyo = await factories.org(system_session, timezone="Asia/Tokyo")
    london = await factories.org(system_session, timezone="Europe/London")
    new_york = await factories.org(system_session, timezone="America/New_York")
    # 2026-01-15 07:30 UTC: 16:30 in Tokyo, 07:30 in London, 02:30 in New York.
    with time_machine.travel(utc(2026, 1, 15, 7, 30), tick=False):
        due = {item.org_id: item.local_date for item in await due_orgs(session=system_session)}
    assert due.get(tokyo.id) == date(2026, 1, 15)
    assert due.get(london.id) == date(2026, 1, 15)
    assert new_york.id not in due
