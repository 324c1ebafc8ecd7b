"""Resend's send-email call over httpx, its errors as typed ChannelErrors.

POST {base}/emails with `Authorization: Bearer re_...`, a JSON body (from, to, subject, html,
text) and an `Idempotency-Key` (Resend remembers it 24 h: a repeat sends nothing and answers
the same id). Errors come back as {"statusCode", "name", "message"}.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from channels.base import ChannelError, Failure

# Resend's limit for the key; a longer one is refused with 400 invalid_idempotency_key.
MAX_IDEMPOTENCY_KEY = 256
# Quota 429s will not clear by waiting a few seconds: back off for an hour.
QUOTA_WAIT_SECONDS = 3600.0


class EmailError(ChannelError):
    """Resend refused or failed a send; `name` is Resend's error name when it gave one."""

    def __init__(
        self,
        message: str,
        *,
        name: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        failure: Failure | None = None,
    ) -> None:
        super().__init__(message, retry_after=retry_after, failure=failure)
        self.name = name
        self.status = status


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    html: str
    text: str


def _retry_after(response: httpx.Response) -> float | None:
    for header in ("retry-after", "ratelimit-reset"):
        value = response.headers.get(header)
        if value is not None:
            try:
                return max(float(value), 0.0)
            except ValueError:
                continue
    return None


def _error(response: httpx.Response) -> EmailError:
    """A Resend error body as a typed error; never the request (it holds the address)."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    name = body.get("name") if isinstance(body, dict) else None
    detail = body.get("message") if isinstance(body, dict) else None
    message = f"Resend refused the email ({response.status_code} {name or 'error'})"
    if isinstance(detail, str) and detail:
        message = f"{message}: {detail[:200]}"
    status = response.status_code
    if status == 429:
        quota = name in {"daily_quota_exceeded", "monthly_quota_exceeded"}
        wait = QUOTA_WAIT_SECONDS if quota else (_retry_after(response) or 1.0)
        return EmailError(message, name=name, status=status, retry_after=wait)
    if status in {401, 403}:
        return EmailError(message, name=name, status=status, failure=Failure.TOKEN_REVOKED)
    if status >= 500:
        return EmailError(message, name=name, status=status, failure=Failure.UNREACHABLE)
    return EmailError(message, name=name, status=status, failure=Failure.REFUSED)


class ResendClient:
    """One sender (`from`) and API key; the httpx client is the caller's to close."""

    def __init__(self, http: httpx.AsyncClient, *, api_key: str, sender: str) -> None:
        self.http = http
        self._api_key = api_key
        self.sender = sender

    def __repr__(self) -> str:
        return f"ResendClient(sender={self.sender!r})"  # never the key

    async def send(self, email: Email, *, idempotency_key: str) -> str:
        """Send one email; Resend's id for it. A repeat of the key sends nothing again."""
        if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            raise EmailError("idempotency key must be 1-256 characters", failure=Failure.REFUSED)
        body = {
            "from": self.sender,
            "to": [email.to],
            "subject": email.subject,
            "html": email.html,
            "text": email.text,
        }
        try:
            response = await self.http.post(
                "emails",
                json=body,
                headers={
                    "Authorization": f"Bearer {self._api_key}",
                    "Idempotency-Key": idempotency_key,
                },
            )
        except httpx.HTTPError as exc:
            raise EmailError(
                f"Resend unreachable: {type(exc).__name__}", failure=Failure.UNREACHABLE
            ) from exc
        if response.status_code != 200:
            raise _error(response)
        try:
            email_id = response.json()["id"]
        except (ValueError, KeyError, TypeError) as exc:
            raise EmailError("Resend answered without an email id") from exc
        return str(email_id)


def resend_http(base_url: str, timeout: float) -> httpx.AsyncClient:
    """An httpx client for Resend (it sends a User-Agent, which Resend requires)."""
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/") + "/", timeout=httpx.Timeout(timeout, connect=10.0)
    )
