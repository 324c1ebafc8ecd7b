"""Named reporting windows, resolved to UTC instants in an ad account's timezone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from core.errors import ValidationFailed

WindowName = Literal[
    "today", "yesterday", "last_3d", "last_7d", "last_14d", "last_30d", "lifetime", "custom"
]
WINDOW_NAMES: tuple[str, ...] = get_args(WindowName)
_DAYS = {"last_3d": 3, "last_7d": 7, "last_14d": 14, "last_30d": 30}
# Aliases people type in chat.
ALIASES = {
    "3d": "last_3d",
    "7d": "last_7d",
    "14d": "last_14d",
    "30d": "last_30d",
    "week": "last_7d",
}
LIFETIME_START = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    """A half-open span [start, end) of whole days in one timezone, as UTC instants."""

    name: str
    start: datetime
    end: datetime
    first_day: date
    last_day: date
    # The timezone the days belong to; previous() needs it to stay right across DST changes.
    tz: str = "UTC"

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def previous(self) -> Window:
        """The same number of days immediately before, for period-over-period comparison."""
        length = self.last_day - self.first_day + timedelta(days=1)
        first_day = self.first_day - length
        # From local midnights, not `start - (end - start)`: a DST change makes days 23 or 25 h.
        return Window(
            name=f"previous_{self.name}",
            start=day_start(first_day, self.tz),
            end=self.start,
            first_day=first_day,
            last_day=self.first_day - timedelta(days=1),
            tz=self.tz,
        )


def day_start(day: date, tz: str) -> datetime:
    """Midnight of `day` in `tz`, as an aware UTC datetime."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def today_in(tz: str, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(tz)).date()


def resolve_window(
    name: str,
    *,
    tz: str = "UTC",
    now: datetime | None = None,
    start: date | None = None,
    end: date | None = None,
    exclude_today: bool = False,
) -> Window:
    """Turn a window name into its UTC bounds in `tz`. `last_Nd` includes today unless excluded."""
    key = ALIASES.get(name.lower(), name.lower())
    today = today_in(tz, now)
    last = today - timedelta(days=1) if exclude_today else today
    if key == "today":
        first = last = today
    elif key == "yesterday":
        first = last = today - timedelta(days=1)
    elif key in _DAYS:
        first = last - timedelta(days=_DAYS[key] - 1)
    elif key == "lifetime":
        first = LIFETIME_START.date()
    elif key == "custom":
        if start is None or end is None:
            raise ValidationFailed("A custom window needs a start and an end date.", field="window")
        if end < start:
            raise ValidationFailed("The window ends before it starts.", field="window")
        first, last = start, end
    else:
        choices = ", ".join(WINDOW_NAMES)
        raise ValidationFailed(f"Unknown window {name!r}; use one of {choices}.", field="window")
    return Window(
        name=key,
        start=day_start(first, tz),
        end=day_start(last + timedelta(days=1), tz),
        first_day=first,
        last_day=last,
        tz=tz,
    )


@dataclass(frozen=True)
class WindowSpec:
    """A window as asked for, before it meets a timezone: each ad account resolves it in its own."""

    name: str = "last_7d"
    start: date | None = None
    end: date | None = None
    exclude_today: bool = False
    # Pinned "now" for tests and backtests; None means the wall clock.
    now: datetime | None = None

    def resolve(self, tz: str) -> Window:
        return resolve_window(
            self.name,
            tz=tz,
            now=self.now,
            start=self.start,
            end=self.end,
            exclude_today=self.exclude_today,
        )


def as_spec(window: WindowSpec | str) -> WindowSpec:
    return WindowSpec(name=window) if isinstance(window, str) else window
