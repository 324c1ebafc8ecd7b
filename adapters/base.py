"""What the HTTP adapters share: one httpx client each, error mapping, retry and token refresh.

Retry policy (`retrying`): exponential backoff with full jitter, bounded by
`settings.http_max_attempts`; only retryable PlatformErrors (RateLimited, PlatformUnavailable)
are retried, and a platform's own wait (Retry-After, Google retryDelay, Meta
estimated_time_to_regain_access) replaces the backoff. A wait longer than
`settings.http_max_inline_wait_seconds` is not slept in-process: the error goes up with its
`retry_after` so the worker can defer the job instead of holding a connection for an hour.

Refreshing tokens is the caller's move, because only the caller can store the new token:
`await call_with_refresh(lambda token: adapter.list_accounts(access_token=token),
adapter=adapter, tokens=tokens, on_refresh=save)`.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Self, TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt
from tenacity.wait import wait_random_exponential

from core.config import Settings
from core.errors import (
    AuthExpired,
    InvalidRequest,
    PlatformError,
    PlatformNotFound,
    PlatformPermissionDenied,
    PlatformUnavailable,
    RateLimited,
)
from core.ports import AdPlatform, TokenSet

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
JSON = dict[str, Any]

# A platform that says "wait" without saying how long.
DEFAULT_RATE_LIMIT_WAIT = 60.0


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else time.time()
    return max(0.0, when.timestamp() - current)


def parse_duration(value: object) -> float | None:
    """A protobuf Duration as JSON ("30s", "1.5s") in seconds."""
    if not isinstance(value, str) or not value.endswith("s"):
        return None
    try:
        return float(value[:-1])
    except ValueError:
        return None


def error_for_status(
    status: int, message: str, *, retry_after: float | None = None
) -> PlatformError:
    """The neutral error for a bare HTTP status, for bodies a platform did not explain."""
    if status == 429:
        return RateLimited(message, retry_after=retry_after or DEFAULT_RATE_LIMIT_WAIT)
    if status == 401:
        return AuthExpired(message)
    if status == 403:
        return PlatformPermissionDenied(message)
    if status == 404:
        return PlatformNotFound(message)
    if status >= 500 or status == 408:
        return PlatformUnavailable(message, retry_after=retry_after)
    return InvalidRequest(message)


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, PlatformError) and exc.retryable


def _only_rate_limits(exc: BaseException) -> bool:
    # A rejected-by-quota request was never executed, so even a create may be sent again.
    return isinstance(exc, RateLimited)


def retrying(
    settings: Settings, *, sleep: Sleep = _sleep, idempotent: bool = True
) -> AsyncRetrying:
    """The shared tenacity policy: `async for attempt in retrying(...): with attempt: ...`."""
    backoff = wait_random_exponential(multiplier=0.5, max=30)
    max_inline = settings.http_max_inline_wait_seconds

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, PlatformError) and exc.retry_after is not None:
            return float(exc.retry_after)
        return float(backoff(state))

    def should_retry(state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if exc is None:
            return False
        allowed = _is_retryable(exc) if idempotent else _only_rate_limits(exc)
        if not allowed:
            return False
        retry_after = getattr(exc, "retry_after", None)
        return retry_after is None or retry_after <= max_inline

    return AsyncRetrying(
        sleep=sleep,
        stop=stop_after_attempt(settings.http_max_attempts),
        wait=wait,
        retry=should_retry,
        reraise=True,
    )


class HttpAdapter:
    """Base of the REST adapters: one AsyncClient per instance, closed by `aclose()`."""

    name = "http"

    def __init__(
        self,
        settings: Settings,
        *,
        client: httpx.AsyncClient | None = None,
        sleep: Sleep = _sleep,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(settings.http_timeout_seconds),
            headers={"User-Agent": "adpilot/0.1"},
        )

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    def raise_for_response(self, response: httpx.Response) -> None:
        """Raise the neutral PlatformError a response stands for; subclasses read the body."""
        if response.is_success:
            return
        raise error_for_status(
            response.status_code,
            f"{self.name} answered HTTP {response.status_code}.",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    async def request_json(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool = True,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send with the shared retry policy and return the decoded JSON body."""
        async for attempt in retrying(self.settings, sleep=self._sleep, idempotent=idempotent):
            with attempt:
                return await self._send_once(
                    method, url, headers=headers, params=params, json=json, data=data
                )
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def send_unretried(
        self,
        method: str,
        url: str,
        *,
        wait_seconds: float,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """One attempt with its own timeout, the response uninterpreted (best-effort calls)."""
        try:
            response = await self._client.request(
                method, url, headers=headers, data=data, timeout=wait_seconds
            )
        except httpx.TimeoutException as exc:
            raise PlatformUnavailable(f"{self.name} timed out.") from exc
        except httpx.TransportError as exc:
            raise PlatformUnavailable(f"{self.name} could not be reached.") from exc
        # The path only, as in `_send_once`: a query string could carry a token.
        log.debug(
            "%s %s %s -> %s", self.name, method, response.request.url.path, response.status_code
        )
        return response

    async def _send_once(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Mapping[str, Any] | None,
    ) -> Any:
        try:
            response = await self._client.request(
                method, url, headers=headers, params=params, json=json, data=data
            )
        except httpx.TimeoutException as exc:
            raise PlatformUnavailable(f"{self.name} timed out.") from exc
        except httpx.TransportError as exc:
            raise PlatformUnavailable(f"{self.name} could not be reached.") from exc
        request_id = response.headers.get("request-id") or response.headers.get("x-fb-trace-id")
        # Log the URL path only: query strings can carry access tokens and app secrets.
        log.debug(
            "%s %s %s -> %s (request-id %s)",
            self.name,
            method,
            response.request.url.path,
            response.status_code,
            request_id,
        )
        self.raise_for_response(response)
        try:
            return response.json()
        except ValueError as exc:
            raise PlatformUnavailable(f"{self.name} sent a body that is not JSON.") from exc


async def call_with_refresh(
    call: Callable[[str], Awaitable[T]],
    *,
    adapter: AdPlatform,
    tokens: TokenSet,
    on_refresh: Callable[[TokenSet], Awaitable[None]] | None = None,
) -> T:
    """Run `call(access_token)`; on AuthExpired refresh once, store via `on_refresh`, run again.

    Without a refresh token (TikTok advertisers, Meta) the AuthExpired goes up: the user has
    to reconnect the account.
    """
    try:
        return await call(tokens.access_token)
    except AuthExpired:
        if not tokens.refresh_token:
            raise
    fresh = await adapter.refresh_token(refresh_token=tokens.refresh_token)
    if fresh.refresh_token is None:
        # Google does not repeat the refresh token on refresh; keep the one we have.
        fresh = fresh.model_copy(update={"refresh_token": tokens.refresh_token})
    if on_refresh is not None:
        await on_refresh(fresh)
    return await call(fresh.access_token)


def expires_at(expires_in: object, *, now: datetime | None = None) -> datetime | None:
    """An absolute expiry from an OAuth `expires_in` (seconds)."""
    if expires_in is None:
        return None
    try:
        seconds = float(str(expires_in))
    except ValueError:
        return None
    current = now or datetime.now(UTC)
    return datetime.fromtimestamp(current.timestamp() + seconds, tz=UTC)
