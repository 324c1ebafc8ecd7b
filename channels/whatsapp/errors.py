"""Graph API refusals as typed ChannelErrors, each saying what the caller can do about it.

Graph answers `{"error": {"message", "type", "code", "error_data", "fbtrace_id"}}`. Only the
code, the HTTP status and the trace id go into our messages: Graph's own text can echo input.
"""

from __future__ import annotations

import math

import httpx

from channels.base import ChannelError, Failure

TOKEN_INVALID = 190
RE_ENGAGEMENT = 131047
PAIR_RATE_LIMIT = 131056
# 4: app calls, 80007: the business account, 130429: messages per second of the number.
RATE_LIMIT_CODES = frozenset({4, 80007, 130429, PAIR_RATE_LIMIT})
# Undeliverable, and the per-user spam and marketing limits: retrying soon does not help.
UNDELIVERABLE_CODES = frozenset({131026, 131048, 131049})
# Without a Retry-After: Meta's guidance is one message per 6 s to the same person.
DEFAULT_WAIT_SECONDS = {PAIR_RATE_LIMIT: 6.0}
DEFAULT_WAIT = 1.0


class WhatsAppError(ChannelError):
    """Graph refused or failed a call; `code` is Graph's error code when it gave one."""

    def __init__(
        self, message: str, *, code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.code = code


class AccessTokenInvalid(WhatsAppError):
    """190: the access token expired or was revoked; nothing goes out until it is replaced."""

    default_failure = Failure.TOKEN_REVOKED


class RateLimited(WhatsAppError):
    """HTTP 429 or a rate-limit code: wait `retry_after` seconds, then the same call may pass."""

    default_failure = Failure.RATE_LIMITED


class OutsideServiceWindow(WhatsAppError):
    """131047: the person has not written for 24 hours, so only a template message may go."""

    default_failure = Failure.OUTSIDE_WINDOW


class Undeliverable(WhatsAppError):
    """131026 and the per-user limits: the number cannot get it now; do not hot-retry."""

    default_failure = Failure.CHAT_NOT_FOUND


class TemplateRejected(WhatsAppError):
    """132xxx, or our own settings: no approved template matches the name, language or values."""

    default_failure = Failure.REFUSED


class GraphUnavailable(WhatsAppError):
    """No usable answer (5xx, a timeout, a broken body): the message may or may not have gone."""

    default_failure = Failure.UNREACHABLE


def retry_after_header(response: httpx.Response) -> float | None:
    """Seconds from a numeric Retry-After; None when absent or given as a date."""
    raw = response.headers.get("Retry-After", "").strip()
    try:
        wait = float(raw)
    except ValueError:
        return None
    return wait if math.isfinite(wait) and wait >= 0 else None


def _graph_error(response: httpx.Response) -> tuple[int | None, str | None]:
    try:
        body = response.json()
    except ValueError:
        return None, None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    code = error.get("code")
    trace = error.get("fbtrace_id")
    return (
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        trace if isinstance(trace, str) else None,
    )


def from_response(response: httpx.Response) -> WhatsAppError:
    """The typed error for a Graph answer that was not a success."""
    code, trace = _graph_error(response)
    where = f"HTTP {response.status_code}, code {code}" + (f", trace {trace}" if trace else "")
    if code == TOKEN_INVALID or response.status_code == 401:
        return AccessTokenInvalid(
            f"the WhatsApp access token has expired or is invalid ({where})", code=code
        )
    if response.status_code == 429 or code in RATE_LIMIT_CODES:
        wait = retry_after_header(response)
        if wait is None:
            wait = DEFAULT_WAIT_SECONDS.get(code or 0, DEFAULT_WAIT)
        return RateLimited(f"WhatsApp asked us to slow down ({where})", code=code, retry_after=wait)
    if code == RE_ENGAGEMENT:
        return OutsideServiceWindow(
            f"more than 24 hours since the person last wrote ({where})", code=code
        )
    if code in UNDELIVERABLE_CODES:
        return Undeliverable(f"WhatsApp could not deliver to this number ({where})", code=code)
    if code is not None and 132000 <= code < 133000:
        return TemplateRejected(f"WhatsApp refused the template message ({where})", code=code)
    if response.status_code >= 500:
        return GraphUnavailable(f"WhatsApp failed the call ({where})", code=code)
    return WhatsAppError(f"WhatsApp refused the call ({where})", code=code)
