"""Window.previous() across a DST change keeps whole local days."""

from __future__ import annotations

from datetime import UTC, date, datetime

from core.metrics.windows import WindowSpec, day_start, resolve_window

LA = "America/Los_Angeles"


def test_previous_window_uses_local_midnights_across_dst() -> None:
    # 8 March 2026 has 23 hours in Los Angeles.
    window = resolve_window("last_3d", tz=LA, now=datetime(2026, 3, 10, 12, tzinfo=UTC))
    assert (window.first_day, window.last_day) == (date(2026, 3, 8), date(2026, 3, 10))
    previous = window.previous()
    assert (previous.first_day, previous.last_day) == (date(2026, 3, 5), date(2026, 3, 7))
    assert previous.start == day_start(date(2026, 3, 5), LA)
    assert previous.end == window.start
    assert previous.tz == LA


def test_window_spec_resolves_per_timezone() -> None:
    spec = WindowSpec(name="today", now=datetime(2026, 3, 10, 20, tzinfo=UTC))
    assert spec.resolve("Asia/Tokyo").first_day == date(2026, 3, 11)
    assert spec.resolve(LA).first_day == date(2026, 3, 10)
