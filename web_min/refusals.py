"""Core refusals on the settings pages: the status from web_min/errors.py's table, as a page."""

from __future__ import annotations

import uuid

from core.errors import CoreError
from web_min.auth.deps import PageError
from web_min.errors import STATUS_FOR

_TITLES = {403: "Not allowed", 404: "Not found"}


def status_of(exc: CoreError) -> int:
    """The HTTP status the edge gives a core error (the one table in web_min/errors.py)."""
    return next((status for kind, status, _ in STATUS_FOR if isinstance(exc, kind)), 500)


def refuse(exc: CoreError) -> PageError:
    """A refusal as a page: another org's id is a 404, a role's limit a 403, with core's reason."""
    status = status_of(exc)
    return PageError(status, _TITLES.get(status, "That did not work"), exc.message)


def parse_id(raw: str) -> uuid.UUID:
    """An id from the URL; anything else is as absent as another org's row."""
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise PageError(404, "Not found", "There is no such item in this organization.") from exc
