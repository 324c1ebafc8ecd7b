"""The bot's one error map: core errors become a friendly chat line, never a traceback."""

from __future__ import annotations

from pydantic import ValidationError

from bot.replies import Reply
from core import errors
from core.validation import Label, first_friendly

_HINTS: dict[type[errors.CoreError], str] = {
    errors.PermissionDenied: "Ask an admin if you need this.",
    errors.QuotaExceeded: "Upgrade the plan in the web settings for a higher limit.",
    errors.StaleApproval: "Ask for the change again to get a fresh card.",
    errors.Expired: "Ask for the change again to get a fresh card.",
    errors.AuthExpired: "Reconnect the ad account from the web settings page.",
    errors.RateLimited: "The platform is busy; try again in a minute.",
    errors.PlatformUnavailable: "The platform is not answering; try again shortly.",
}


def to_text(exc: errors.CoreError) -> str:
    """One friendly line (two with a hint) for any core error."""
    if isinstance(exc, errors.AmbiguousMatch):
        # The list is the answer; core's one-line message would repeat it.
        options = "\n".join(f"  • {candidate}" for candidate in exc.candidates[:10])
        more = len(exc.candidates) - 10
        tail = f"\n  … and {more} more" if more > 0 else ""
        return (
            f"{len(exc.candidates)} campaigns match. Which one did you mean? "
            f"Put its name in quotes:\n{options}{tail}"
        )
    if isinstance(exc, errors.QuotaExceeded):
        return (
            f"You've used all {exc.limit} AI generations this month; "
            f"the quota resets on {exc.resets_at:%Y-%m-%d}. {_HINTS[errors.QuotaExceeded]}"
        )
    hint = next((text for kind, text in _HINTS.items() if isinstance(exc, kind)), "")
    return f"{exc.message} {hint}".strip()


def to_reply(exc: errors.CoreError) -> Reply:
    return Reply(text=to_text(exc), is_error=True)


# The fields of what the bot validates itself (the rule draft of `rule add`, tool arguments).
FIELD_LABELS = {
    "name": Label("A rule name"),
    "conditions": Label("A rule", items="conditions"),
    "percent": Label("A budget change", unit="%"),
    "amount": Label("That budget"),
    "product": Label("The product description"),
    "tone": Label("The tone"),
    "count": Label("The number of variants"),
}

NOT_A_NUMBER = Reply(
    text="That number is not valid here (too many digits, or not a number at all).",
    is_error=True,
)


def invalid_input_reply(exc: ValidationError) -> Reply:
    """A validation failure the grammar let through: one line with the field and the limit."""
    return Reply(text=first_friendly(exc, FIELD_LABELS), is_error=True)


UNEXPECTED = Reply(
    text="Sorry, something went wrong on my side. It has been logged; please try again.",
    is_error=True,
)
