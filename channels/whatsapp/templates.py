"""Which approved template carries a message outside the 24-hour window: per org, validated.

An org picks its template in its settings (`whatsapp_template_name`,
`whatsapp_template_language`); the defaults name the template README asks operators to create:
`adpilot_notification`, English (US), one body variable that receives the whole message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.errors import ValidationFailed

NAME_KEY = "whatsapp_template_name"
LANGUAGE_KEY = "whatsapp_template_language"
DEFAULT_NAME = "adpilot_notification"
DEFAULT_LANGUAGE = "en_US"
# Meta's rules for template names: lowercase letters, digits and underscores, up to 512.
_NAME = re.compile(r"[a-z0-9_]{1,512}")
# Meta's language codes: "en", "en_US", "pt_BR", "zh_HK", "fil".
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:_[A-Z]{2,4})?")


@dataclass(frozen=True)
class Template:
    name: str
    language: str


def _setting(org_settings: dict[str, Any], key: str, default: str, shape: re.Pattern[str]) -> str:
    raw = org_settings.get(key)
    if raw is None:
        return default
    if not isinstance(raw, str) or not shape.fullmatch(raw):
        raise ValidationFailed(
            f"Organization setting {key} is not a WhatsApp template "
            + ("name (a-z, 0-9 and _)." if key == NAME_KEY else "language code like en_US."),
            field=key,
        )
    return raw


def template_for(org_settings: dict[str, Any] | None) -> Template:
    """The org's template, or the default one; ValidationFailed names a malformed setting."""
    chosen = org_settings or {}
    return Template(
        name=_setting(chosen, NAME_KEY, DEFAULT_NAME, _NAME),
        language=_setting(chosen, LANGUAGE_KEY, DEFAULT_LANGUAGE, _LANGUAGE),
    )
