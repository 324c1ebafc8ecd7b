"""Google Ads REST failures as neutral errors: google.rpc.Status bodies and OAuth errors."""

from __future__ import annotations

from adapters.base import JSON, error_for_status, parse_duration
from core.errors import (
    AuthExpired,
    InvalidRequest,
    PlatformError,
    PlatformNotFound,
    PlatformPermissionDenied,
    PlatformUnavailable,
    RateLimited,
)

_RETRYABLE_STATUS = {"UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED", "ABORTED"}
_STATUS_ERRORS: dict[str, type[PlatformError]] = {
    "UNAUTHENTICATED": AuthExpired,
    "PERMISSION_DENIED": PlatformPermissionDenied,
    "NOT_FOUND": PlatformNotFound,
    "INVALID_ARGUMENT": InvalidRequest,
    "FAILED_PRECONDITION": InvalidRequest,
}


def _retry_delay(failure: JSON) -> float | None:
    """The longest retryDelay in a google.rpc.Status (QuotaErrorDetails or RetryInfo)."""
    delays: list[float] = []
    for detail in failure.get("details") or []:
        delay = parse_duration(detail.get("retryDelay"))
        if delay is not None:
            delays.append(delay)
        for error in detail.get("errors") or []:
            quota = (error.get("details") or {}).get("quotaErrorDetails") or {}
            delay = parse_duration(quota.get("retryDelay"))
            if delay is not None:
                delays.append(delay)
    return max(delays) if delays else None


def _first_message(failure: JSON) -> str:
    for detail in failure.get("details") or []:
        for error in detail.get("errors") or []:
            if error.get("message"):
                return str(error["message"])
    return str(failure.get("message") or "Google Ads request failed.")


def status_error(failure: JSON, http_status: int) -> PlatformError:
    """Map a google.rpc.Status body to the neutral error."""
    status = str(failure.get("status") or "")
    message = f"Google Ads: {_first_message(failure)}"
    if status == "RESOURCE_EXHAUSTED" or http_status == 429:
        return RateLimited(message, retry_after=_retry_delay(failure) or 60.0)
    if status in _RETRYABLE_STATUS:
        return PlatformUnavailable(message, retry_after=_retry_delay(failure))
    if status in _STATUS_ERRORS:
        return _STATUS_ERRORS[status](message)
    return error_for_status(http_status, message)


def oauth_error(body: JSON, http_status: int) -> PlatformError:
    code = str(body.get("error"))
    message = f"Google OAuth: {code}: {body.get('error_description', '')}".strip()
    if code == "invalid_grant":
        return AuthExpired(message)
    return error_for_status(http_status, message)
