"""Where a redirect may send the browser: only a path on this site, never an open redirect."""

from __future__ import annotations

from urllib.parse import urlsplit

HOME = "/settings"


def safe_next(value: str | None) -> str:
    """`value` when it is a path on this site, else the home page: never an open redirect."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return HOME
    if any(character in value for character in "\\\r\n\t") or not value.isprintable():
        return HOME
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return HOME
    return value


def same_origin_path(referer: str | None, origins: set[tuple[str, str]]) -> str:
    """The path (and query) of `referer` when it is a page of one of `origins` (scheme, host),
    else the home page."""
    if not referer:
        return HOME
    try:
        parts = urlsplit(referer)
    except ValueError:
        return HOME
    if (parts.scheme.lower(), parts.netloc.lower()) not in origins:
        return HOME
    return safe_next(parts.path + (f"?{parts.query}" if parts.query else ""))
