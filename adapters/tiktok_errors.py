"""TikTok Business API failures as neutral errors: the envelope's `code`, even on HTTP 200."""

from __future__ import annotations

import httpx

from adapters.base import JSON, parse_retry_after
from core.errors import (
    AuthExpired,
    InvalidRequest,
    PlatformError,
    PlatformNotFound,
    PlatformPermissionDenied,
    PlatformUnavailable,
    RateLimited,
)

RATE_LIMIT_CODE = 40100
# 40105 is documented as a missing/invalid token; 40102 and 40104 appear in SDK enums as
# expired/empty tokens (unverified). All mean the advertiser has to reconnect.
_TOKEN_CODES = {40102, 40104, 40105}
_CODE_ERRORS: dict[int, type[PlatformError]] = {
    40001: PlatformPermissionDenied,
    40002: InvalidRequest,
    40007: PlatformNotFound,
    40101: InvalidRequest,
    40110: InvalidRequest,
}
DEFAULT_RATE_LIMIT_WAIT = 1.0


def envelope_error(body: JSON, response: httpx.Response) -> PlatformError:
    """Map a non-zero TikTok `code` to the neutral error."""
    code = int(body.get("code") or 0)
    message = f"TikTok error {code}: {body.get('message', '')} (request {body.get('request_id')})"
    if code == RATE_LIMIT_CODE:
        reset = parse_retry_after(response.headers.get("X-RateLimit-Reset"))
        wait = parse_retry_after(response.headers.get("Retry-After")) or reset
        return RateLimited(message, retry_after=wait or DEFAULT_RATE_LIMIT_WAIT)
    if code in _TOKEN_CODES:
        return AuthExpired(message)
    if code in _CODE_ERRORS:
        return _CODE_ERRORS[code](message)
    if 50000 <= code <= 59999:
        return PlatformUnavailable(message)
    return InvalidRequest(message)
