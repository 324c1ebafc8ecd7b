"""Chat text as it enters the bot: cleaned once here, so no channel can smuggle bytes past it.

PostgreSQL refuses NUL in text and jsonb, and a lone surrogate cannot be encoded as UTF-8, so
either one used to abort the whole transaction (and the audit row with it). Control characters
carry no meaning in a chat message; NFC makes "é" typed two ways the same campaign name.
"""

from __future__ import annotations

import re
import unicodedata

from core.errors import ValidationFailed

MAX_MESSAGE_CHARS = 4_000

# C0 controls and DEL, except tab and newline (they shape a multi-line rule or a table paste).
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class MessageTooLong(ValidationFailed):
    """A message over the limit: refused whole, since a cut command could mean something else."""

    def __init__(self, length: int, limit: int = MAX_MESSAGE_CHARS) -> None:
        super().__init__(
            f"That message is too long ({length:,} characters; the limit is {limit:,}). "
            "Please shorten it.",
            field="text",
        )
        self.length = length
        self.limit = limit


def clean(text: str) -> str:
    """`text` without control characters or lone surrogates, NFC-normalised. Never raises."""
    # A valid pair (from a UTF-16 source) becomes its character; a lone half is dropped.
    text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "ignore")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", _CONTROL_CHARS.sub("", text))


def message_text(text: str, *, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A chat message ready for the bot; MessageTooLong when it is over `limit` once cleaned."""
    cleaned = clean(text)
    if len(cleaned) > limit:
        raise MessageTooLong(len(cleaned), limit)
    return cleaned
