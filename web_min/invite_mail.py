"""The invitation email: the link for a new address, how to go on for one with an account."""

from __future__ import annotations

import logging
import uuid
from html import escape

from channels.base import ChannelError
from channels.email.transactional import email_ready, send_transactional
from core.config import Settings
from web_min.link_mail import send_link

log = logging.getLogger(__name__)

INVITE_SUBJECT = "Your invitation to AdPilot"
INVITE_INTRO = (
    "You have been invited to AdPilot. Open this link within 7 days to choose a password:"
)
# For an address with an account in another org: no link, since redeeming would be refused.
TAKEN_INTRO = (
    "You have been invited to AdPilot, but this address already has an AdPilot account, and an "
    "account belongs to one organization."
)
TAKEN_NEXT = (
    "To keep using your account, sign in as usual: {login}. To join the organization that "
    "invited you, ask them to invite a different address. If you did not expect this, ignore "
    "this email."
)


def _invite_email(settings: Settings, *, link: str, taken: bool) -> tuple[str, str]:
    """The invitation email as (text, html): the link, or for an address that has an account
    already, how to go on (no link: redeeming would be refused)."""
    if taken:
        login = f"{settings.public_url.rstrip('/')}/login"
        follow = TAKEN_NEXT.format(login=login)
        text = f"{TAKEN_INTRO}\n\n{follow}"
        html = (
            f"<!doctype html><html><body><p>{escape(TAKEN_INTRO)}</p>"
            f"<p>{escape(follow)}</p></body></html>"
        )
        return text, html
    text = f"{INVITE_INTRO}\n\n{link}\n\nIf you did not expect this, ignore this email."
    html = (
        f"<!doctype html><html><body><p>{escape(INVITE_INTRO)}</p>"
        f'<p><a href="{escape(link)}">{escape(link)}</a></p>'
        "<p>If you did not expect this, ignore this email.</p></body></html>"
    )
    return text, html


async def send_invite(
    settings: Settings, *, to: str, link: str, invite_id: uuid.UUID, taken: bool
) -> bool:
    """Email the invitation; False when email is off or failed (the page then shows the link).

    `taken` (the address has an account in another org) changes only the email's text: what
    the admin sees, link included when email is off or failed, is the same either way.
    """
    if not email_ready(settings):
        # The password-reset path's own fallback: printed on the embedded server's console,
        # never logged (log shipping would copy a working credential). The same as for a fresh
        # address, since the admin may be the one reading that console.
        await send_link(
            settings,
            to=to,
            subject=INVITE_SUBJECT,
            intro=INVITE_INTRO,
            link=link,
            idempotency_key=f"invite/{invite_id}",
        )
        return False
    # Sent here rather than through send_link, which swallows failures: the admin must learn
    # that the email did not go, and gets the link to pass on instead.
    text, html = _invite_email(settings, link=link, taken=taken)
    try:
        await send_transactional(
            settings,
            to=to,
            subject=INVITE_SUBJECT,
            html=html,
            text=text,
            idempotency_key=f"invite/{invite_id}",
        )
    except ChannelError as exc:
        log.warning("invitation email failed: %s", exc)
        return False
    return True
