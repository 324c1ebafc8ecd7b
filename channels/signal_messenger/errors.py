"""signal-cli-rest-api's send failures as typed ChannelErrors, mapped in this one place.

The API answers every refusal with 400 and signal-cli's own sentence (`{"error": "..."}`), a
rate limit with 429 and captcha challenge tokens, and Signal's servers themselves use 413 for
"slow down". The sentences name the recipient's number, so no error here ever repeats them.
"""

from __future__ import annotations

import json
import re

import httpx

from channels.base import ChannelError, Failure

# Without a hint from the API, a rate-limited account waits this long before its next try.
DEFAULT_RATE_LIMIT_WAIT_SECONDS = 60.0
_RETRY_IN_TEXT = re.compile(r"(?:retry after|wait)\s*\"?(\d{1,6})\"?\s*seconds", re.IGNORECASE)
_UNREGISTERED = re.compile(r"is not registered|unregistered", re.IGNORECASE)
_UNTRUSTED = re.compile(r"untrusted", re.IGNORECASE)


class SignalError(ChannelError):
    """signal-cli-rest-api refused the message; `status` labels the outbound metric."""

    status = "refused"


class SignalUnregistered(SignalError):
    """The recipient's number has no Signal account (or deleted it)."""

    status = "unregistered"
    default_failure = Failure.CHAT_NOT_FOUND


class SignalRateLimited(SignalError):
    """Signal throttles the bot's account; `retry_after` says when to try again."""

    status = "rate_limited"
    default_failure = Failure.RATE_LIMITED


class SignalUnavailable(SignalError):
    """signal-cli-rest-api did not answer usefully: down, timed out or failing."""

    status = "unavailable"
    default_failure = Failure.UNREACHABLE


def _error_text(response: httpx.Response) -> str:
    try:
        body = json.loads(response.content)
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) else ""


def _retry_after(response: httpx.Response, text: str) -> float:
    header = response.headers.get("Retry-After", "")
    if header.isdigit():
        return float(header)
    match = _RETRY_IN_TEXT.search(text)
    return float(match.group(1)) if match else DEFAULT_RATE_LIMIT_WAIT_SECONDS


def error_for(response: httpx.Response) -> SignalError:
    """The typed error of a failed /v2/send answer (any status outside 2xx)."""
    text = _error_text(response)
    if response.status_code in (413, 429):
        wait = _retry_after(response, text)
        # A 429 from the API carries captcha challenge tokens: a person can lift the limit
        # early through /v1/accounts/{number}/rate-limit-challenge (see the README).
        return SignalRateLimited("Signal rate-limits the bot's account", retry_after=wait)
    if response.status_code >= 500:
        return SignalUnavailable(f"signal-cli-rest-api failed with HTTP {response.status_code}")
    if _UNREGISTERED.search(text):
        return SignalUnregistered("the recipient's number is not registered on Signal")
    if _UNTRUSTED.search(text):
        return SignalError(
            "the recipient's safety number changed and is not trusted yet "
            "(trust it in signal-cli, or set JSON_RPC_TRUST_NEW_IDENTITIES)"
        )
    return SignalError(f"signal-cli-rest-api refused the message (HTTP {response.status_code})")


def transport_error(exc: httpx.TransportError) -> SignalUnavailable:
    """A send that never got an HTTP answer; its message names no URL (the number is in it)."""
    if isinstance(exc, httpx.TimeoutException):
        # The message may have gone out: signal-cli was still sending when we gave up.
        return SignalUnavailable("signal-cli-rest-api timed out")
    return SignalUnavailable(f"signal-cli-rest-api unreachable ({type(exc).__name__})")
