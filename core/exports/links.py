"""Signed, expiring download links: HMAC over the file key and the expiry, checked in constant time.

The key is derived from ADPILOT_SECRET_KEY under its own label, so a download signature can
never stand in for another of the app's signatures. A file key names its org
(`exports/<org id>/…`) and the signature covers the key, so a link opens one org's file only.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

from core.config import Settings
from core.errors import Expired, PermissionDenied

_LABEL = b"adpilot/download-link/v1"
_DEVELOPMENT_SECRET = b"adpilot-development-secret-never-for-production"
EXPORTS_PREFIX = "exports"


class LinkInvalid(PermissionDenied):
    """The signature does not match (tampered, truncated or foreign)."""


class LinkExpired(Expired):
    """A genuine link past its expiry."""


def export_key(org_id: uuid.UUID, name: str) -> str:
    return f"{EXPORTS_PREFIX}/{org_id}/{name}"


def _signing_key(settings: Settings) -> bytes:
    secret = settings.secret_key.get_secret_value().encode() if settings.secret_key else b""
    return hmac.new(secret or _DEVELOPMENT_SECRET, _LABEL, hashlib.sha256).digest()


def signature(settings: Settings, key: str, expires: int) -> str:
    message = f"{key}\n{expires}".encode()
    return hmac.new(_signing_key(settings), message, hashlib.sha256).hexdigest()


def signed_url(settings: Settings, key: str, *, now: datetime | None = None) -> str:
    """The public download URL of `key`, valid for the configured time from `now`."""
    moment = now or datetime.now(UTC)
    expires = int((moment + timedelta(seconds=settings.download_link_ttl_seconds)).timestamp())
    query = urlencode({"expires": expires, "sig": signature(settings, key, expires)})
    base = settings.public_url.rstrip("/")
    return f"{base}/downloads/{quote(key)}?{query}"


def verify(
    settings: Settings, key: str, expires: str, sig: str, *, now: datetime | None = None
) -> str:
    """`key` when the link is genuine and current; LinkInvalid / LinkExpired otherwise."""
    if not expires.isdigit() or len(expires) > 12 or not key.startswith(f"{EXPORTS_PREFIX}/"):
        raise LinkInvalid("This download link is not valid.")
    expected = signature(settings, key, int(expires))
    # Constant time: the comparison must not tell a forger how many characters were right.
    if not hmac.compare_digest(expected.encode(), sig.encode()):
        raise LinkInvalid("This download link is not valid.")
    if int(expires) <= (now or datetime.now(UTC)).timestamp():
        raise LinkExpired("This download link has expired; ask for a new export.")
    return key
