"""Transactional mail (invites, password resets) through the same Resend call as alerts."""

from __future__ import annotations

from channels.base import Failure
from channels.email.resend import Email, EmailError, ResendClient, resend_http
from core.config import Settings


def email_ready(settings: Settings) -> bool:
    return settings.resend_api_key is not None and bool(settings.email_from)


async def send_transactional(
    settings: Settings,
    *,
    to: str,
    subject: str,
    html: str,
    text: str,
    idempotency_key: str,
) -> str:
    """Send one email; Resend's id. `idempotency_key` names the logical email, e.g.
    `invite/<invite id>`: a retry with the same key never sends it twice."""
    if settings.resend_api_key is None or not settings.email_from:
        raise EmailError(
            "email is not configured (ADPILOT_RESEND_API_KEY, ADPILOT_EMAIL_FROM)",
            failure=Failure.REFUSED,
        )
    async with resend_http(settings.resend_api_url, settings.http_timeout_seconds) as http:
        client = ResendClient(
            http, api_key=settings.resend_api_key.get_secret_value(), sender=settings.email_from
        )
        return await client.send(
            Email(to=to, subject=subject, html=html, text=text), idempotency_key=idempotency_key
        )
