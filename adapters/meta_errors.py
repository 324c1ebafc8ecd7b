"""Meta Graph failures as neutral errors: error codes, throttles and the usage headers' waits."""

from __future__ import annotations

import json
from collections.abc import Mapping

import httpx

from adapters.base import JSON, error_for_status
from core.errors import (
    AuthExpired,
    InvalidRequest,
    PlatformError,
    PlatformNotFound,
    PlatformPermissionDenied,
    PlatformUnavailable,
    RateLimited,
)

_THROTTLE_CODES = {4, 17, 32, 613, *range(80000, 80015)}
_TOKEN_CODES = {190, 102}
_TRANSIENT_CODES = {1, 2}
# Budget changes beyond 4 per ad set per hour are blocked for an hour (code 17).
BUDGET_THROTTLE_WAIT = 3600.0
DEFAULT_THROTTLE_WAIT = 300.0


class MetaThrottled(RateLimited):
    """A Meta throttle; `meta_code` tells which limit (17 also guards budget changes)."""

    def __init__(self, message: str, *, retry_after: float | None, meta_code: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.meta_code = meta_code


def usage_wait(headers: Mapping[str, str]) -> float | None:
    """Seconds until access returns, from Meta's usage headers (BUC and ad-account usage)."""
    waits: list[float] = []
    raw = headers.get("x-business-use-case-usage")
    if raw:
        try:
            usage = json.loads(raw)
        except ValueError:
            usage = {}
        for entries in usage.values() if isinstance(usage, dict) else []:
            for entry in entries if isinstance(entries, list) else []:
                minutes = entry.get("estimated_time_to_regain_access") or 0
                waits.append(float(minutes) * 60)
    raw_account = headers.get("x-ad-account-usage")
    if raw_account:
        try:
            account = json.loads(raw_account)
        except ValueError:
            account = {}
        if isinstance(account, dict) and account.get("reset_time_duration"):
            waits.append(float(account["reset_time_duration"]))
    positive = [wait for wait in waits if wait > 0]
    return max(positive) if positive else None


def graph_error(error: JSON, response: httpx.Response) -> PlatformError:
    """Map a Graph API error body to the neutral error."""
    code = int(error.get("code") or 0)
    subcode = int(error.get("error_subcode") or 0)
    message = f"Meta error {code}/{subcode}: {error.get('message', '')}"
    if code in _TOKEN_CODES:
        return AuthExpired(message)
    if code in _THROTTLE_CODES:
        wait = usage_wait(response.headers) or DEFAULT_THROTTLE_WAIT
        return MetaThrottled(message, retry_after=wait, meta_code=code)
    if code in _TRANSIENT_CODES:
        return PlatformUnavailable(message)
    if code == 10 or 200 <= code <= 299:
        return PlatformPermissionDenied(message)
    if code == 803 or (code == 100 and subcode == 33):
        return PlatformNotFound(message)
    if code == 100:
        return InvalidRequest(message)
    return error_for_status(response.status_code, message)
