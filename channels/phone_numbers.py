"""Phone numbers as chat identities: WhatsApp and Signal name people by number, stored in E.164.

WhatsApp's webhooks give `wa_id` without the plus ("16315551181"), Signal gives "+16315551181",
and people type "+1 (631) 555-1181" or "0049 151 …". One normal form keeps a linked identity
matching whichever way the number arrives.
"""

from __future__ import annotations

import re

_E164 = re.compile(r"\+[1-9]\d{6,14}")
_SEPARATORS = re.compile(r"[\s().\-/]")


class InvalidPhoneNumber(ValueError):
    """Not a number in international form; the message says what a valid one looks like."""


def to_e164(raw: str, *, assume_plus: bool = False) -> str:
    """`+` and 7–15 digits. `assume_plus` for platforms that drop the plus (WhatsApp's wa_id).

    Numbers without a country code cannot be normalised without guessing a country, so they
    are refused rather than guessed.
    """
    text = _SEPARATORS.sub("", raw.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    elif assume_plus and text.isdigit():
        text = "+" + text
    if not _E164.fullmatch(text):
        raise InvalidPhoneNumber(
            "a phone number in international form, e.g. +4915112345678, was expected"
        )
    return text


def is_e164(value: str) -> bool:
    return bool(_E164.fullmatch(value))
