"""Per-org delivery policy read from org.settings: quiet hours, digest threshold, dedupe window.

`org.settings["notifications"]` may hold:
  {"quiet_hours": {"start": "22:00", "end": "07:00"},   # org timezone; alerts wait
   "digest_threshold": 5,                                # this many alerts at once -> one digest
   "dedupe_minutes": 60,                                 # identical alerts within it go once
   "fallback_order": ["<destination id>", ...]}          # fallbacks are tried in this order
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_DIGEST_THRESHOLD = 5
DEFAULT_DEDUPE_MINUTES = 60


@dataclass(frozen=True)
class DeliveryPolicy:
    timezone: str = "UTC"
    quiet_start: time | None = None
    quiet_end: time | None = None
    digest_threshold: int = DEFAULT_DIGEST_THRESHOLD  # 0 turns digests off
    dedupe_window: timedelta = timedelta(minutes=DEFAULT_DEDUPE_MINUTES)

    def quiet_until(self, now: datetime) -> datetime | None:
        """When the quiet hours `now` falls in end (UTC), or None outside them."""
        if self.quiet_start is None or self.quiet_end is None:
            return None
        zone = _zone(self.timezone)
        local = now.astimezone(zone)
        start, end = self.quiet_start, self.quiet_end
        clock = local.time().replace(tzinfo=None)
        # Over midnight (22:00-07:00) when the start is later than the end.
        inside = start <= clock < end if start <= end else clock >= start or clock < end
        if not inside:
            return None
        day = local.date() if clock < end else local.date() + timedelta(days=1)
        return datetime.combine(day, end, tzinfo=zone).astimezone(now.tzinfo)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _clock(value: Any) -> time | None:
    if not isinstance(value, str):
        return None
    try:
        return time.fromisoformat(value)
    except ValueError:
        return None


def _non_negative(value: Any, default: int) -> int:
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default
    )


def fallback_order(settings: dict[str, Any]) -> list[str]:
    """Destination ids in the order the org wants its fallbacks tried (unlisted ones after)."""
    raw = settings.get("notifications")
    order = raw.get("fallback_order") if isinstance(raw, dict) else None
    return [item for item in order if isinstance(item, str)] if isinstance(order, list) else []


def policy_of(timezone: str, settings: dict[str, Any]) -> DeliveryPolicy:
    """The org's policy; a malformed entry falls back to its default rather than blocking mail."""
    raw = settings.get("notifications")
    section: dict[str, Any] = raw if isinstance(raw, dict) else {}
    quiet = section.get("quiet_hours")
    quiet = quiet if isinstance(quiet, dict) else {}
    start, end = _clock(quiet.get("start")), _clock(quiet.get("end"))
    if start is None or end is None or start == end:
        start = end = None
    return DeliveryPolicy(
        timezone=timezone,
        quiet_start=start,
        quiet_end=end,
        digest_threshold=_non_negative(section.get("digest_threshold"), DEFAULT_DIGEST_THRESHOLD),
        dedupe_window=timedelta(
            minutes=_non_negative(section.get("dedupe_minutes"), DEFAULT_DEDUPE_MINUTES)
        ),
    )
