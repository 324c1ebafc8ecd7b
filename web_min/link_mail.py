"""One-time links by email (password resets): through Resend when configured, else printed.

Without email settings outside production (the embedded mode) the link is printed to the
server's console (stderr) for the person running `adpilot serve`, and deliberately not
logged: log records are shipped and kept, a reset link is a password for 30 minutes. In
production without email nothing is printed and a warning (without the link) is logged.
"""

from __future__ import annotations

import logging
import sys
from html import escape

from channels.base import ChannelError
from channels.email.transactional import email_ready, send_transactional
from core.config import Settings

log = logging.getLogger(__name__)


async def send_link(
    settings: Settings, *, to: str, subject: str, intro: str, link: str, idempotency_key: str
) -> None:
    """Mail `link` to `to` (a background task: failures are logged, never raised)."""
    text = f"{intro}\n\n{link}\n\nIf you did not ask for this, ignore this email."
    if email_ready(settings):
        html = (
            f"<!doctype html><html><body><p>{escape(intro)}</p>"
            f'<p><a href="{escape(link)}">{escape(link)}</a></p>'
            "<p>If you did not ask for this, ignore this email.</p></body></html>"
        )
        try:
            await send_transactional(
                settings,
                to=to,
                subject=subject,
                html=html,
                text=text,
                idempotency_key=idempotency_key,
            )
        except ChannelError as exc:
            log.warning("could not email a %s link: %s", subject, exc)
        return
    if settings.is_production:
        log.warning("email is not configured; a %r email could not be sent", subject)
        return
    # print(), not logging: the link must not reach structured logs (see the module docstring).
    print(f"\n[adpilot] email to {to}: {subject}\n{text}\n", file=sys.stderr, flush=True)
