"""The one error tree: core raises these, each edge maps them in exactly one place."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core.redaction import redact_payload


class CoreError(Exception):
    """Base of every expected failure; `message` is safe to show to a user."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(CoreError):
    """Nothing matched; `suggestions` names the closest things when a lookup had some."""

    code = "not_found"

    def __init__(self, message: str, *, suggestions: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.suggestions = list(suggestions)


class PermissionDenied(CoreError):
    code = "permission_denied"


class Conflict(CoreError):
    code = "conflict"


class ValidationFailed(CoreError):
    """Input that breaks a rule of the domain; `field` points at the culprit when known."""

    code = "validation_failed"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AmbiguousMatch(CoreError):
    """A name matched several things; `candidates` lists them so the user can pick."""

    code = "ambiguous"

    def __init__(self, message: str, *, candidates: Sequence[str]) -> None:
        super().__init__(message)
        self.candidates = list(candidates)


class IllegalTransition(CoreError):
    code = "illegal_transition"

    def __init__(self, *, current: str, target: str) -> None:
        super().__init__(f"Cannot move from {current} to {target}.")
        self.current = current
        self.target = target


class QuotaExceeded(CoreError):
    code = "quota_exceeded"

    def __init__(self, *, limit: int, resets_at: datetime, what: str = "AI generations") -> None:
        super().__init__(
            f"Monthly limit of {limit} {what} reached; it resets on {resets_at:%Y-%m-%d}."
        )
        self.limit = limit
        self.resets_at = resets_at


class TooManyOpen(CoreError):
    """A cap on live one-time items (link codes) reached; `retry_after` whole seconds until one
    lapses."""

    code = "too_many_open"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StaleApproval(CoreError):
    """The state shown on the approval card moved before execution."""

    code = "stale_approval"


class AlreadyDecided(CoreError):
    code = "already_decided"


class Expired(CoreError):
    code = "expired"


class PlatformError(CoreError):
    """An ad platform failed; `retryable` tells the worker whether to try again."""

    code = "platform_error"
    retryable = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(PlatformError):
    code = "rate_limited"
    retryable = True


class PlatformUnavailable(PlatformError):
    code = "platform_unavailable"
    retryable = True


class AuthExpired(PlatformError):
    code = "auth_expired"


class PlatformPermissionDenied(PlatformError):
    code = "platform_permission_denied"


class PlatformNotFound(PlatformError):
    code = "platform_not_found"


class InvalidRequest(PlatformError):
    code = "invalid_request"


class PlatformSchemaError(PlatformError):
    """A platform answer without the shape we rely on (a field missing or malformed).

    Not retryable: asking again returns the same shape. `payload` is the offending item only
    (one row, never the whole response, which can carry paging URLs with tokens), scrubbed of
    secret shapes, so the dead letter shows what arrived.
    """

    code = "platform_schema"

    def __init__(self, message: str, *, payload: Any = None) -> None:
        super().__init__(message)
        self.payload = redact_payload(payload)
