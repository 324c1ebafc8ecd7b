"""Secret shapes and how to blank them out of text and payloads before they reach a log or a row.

Two kinds of pattern: a value named by its key (`client_secret=...`, `"access_token": "..."`,
`Access-Token: ...`), and a value recognisable by its own shape (a Slack `xoxb-` token, a
Telegram bot token, a Stripe key, a Fernet key, a Google `ya29.` token, a Meta `EAA` token, a
JWT). The shapes are narrow on purpose: ordinary words ("the token expired", "secret sauce",
a UUID, a request id) pass through unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"

# Names whose value is a secret wherever they appear (query, form, JSON, header, repr).
_KEY_NAMES = (
    r"access[_-]?token|refresh[_-]?token|id[_-]?token|fb_exchange_token|auth_code"
    r"|client[_-]?secret|app[_-]?secret|appsecret_proof|api[_-]?key|developer[_-]?token"
    r"|signing[_-]?secret|webhook[_-]?secret|bot[_-]?token|password|passwd|authorization"
)
_KEYED = re.compile(
    rf"(?i)(?P<key>(?<![A-Za-z0-9])(?:{_KEY_NAMES})(?![A-Za-z0-9]))"
    r"(?P<sep>[\"']?\s*[:=]\s*[\"']?(?:(?:Bearer|Basic|Token)\s+)?)"
    r"(?P<value>[^\s\"'&,;)}\]]+)"
)
# Generic names only count as `name=value` or as a quoted key (`"secret": "..."`): in prose
# "secret" and "token" are ordinary words. `code` and `sig` only count in a query or form.
_BARE_KEYED = re.compile(
    r"(?i)(?P<key>(?<![A-Za-z0-9_.-])(?:secret|token)|[\"'](?:secret|token)[\"'])"
    r"(?P<sep>=|\s*:\s*[\"'])(?P<value>[^\s&\"',;)}\]]+)"
)
_QUERY_KEYED = re.compile(
    r"(?i)(?P<key>(?<=[?&])(?:code|sig|signature))(?P<sep>=)(?P<value>[^\s&\"'#]+)"
)
_SHAPES = [
    re.compile(r"(?i)(?<![A-Za-z0-9])Bearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}"),  # Slack
    re.compile(r"(?<![A-Za-z0-9])xapp-[A-Za-z0-9-]{10,}"),  # Slack app-level
    # A Slack incoming-webhook URL's path: the URL is the credential.
    re.compile(r"(?<=/services/)T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+"),
    # Telegram bot token, also inside its URL (`/bot123456:AA.../getMe`).
    re.compile(r"(?<![0-9:])\d{5,12}:[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])"),
    re.compile(r"(?<![A-Za-z0-9])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{8,}"),  # Stripe keys
    re.compile(r"(?<![A-Za-z0-9])whsec_[A-Za-z0-9+/=]{8,}"),  # Stripe webhook secret
    re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}=(?![A-Za-z0-9_=-])"),  # Fernet key
    re.compile(r"(?<![A-Za-z0-9])gAAAAA[A-Za-z0-9_-]{40,}={0,2}"),  # Fernet token (ciphertext)
    re.compile(r"(?<![A-Za-z0-9])ya29\.[A-Za-z0-9._-]{10,}"),  # Google access token
    re.compile(r"(?<![A-Za-z0-9])1//[A-Za-z0-9_-]{20,}"),  # Google refresh token
    re.compile(r"(?<![A-Za-z0-9])GOCSPX-[A-Za-z0-9_-]{10,}"),  # Google client secret
    re.compile(r"(?<![A-Za-z0-9])EAA[A-Za-z0-9]{20,}"),  # Meta access token
    re.compile(r"(?<![A-Za-z0-9])sk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}"),  # OpenAI / Anthropic
    re.compile(
        r"(?<![A-Za-z0-9])eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    ),  # JWT
]
_SECRET_KEY_NAME = re.compile(
    rf"(?i)^(?:{_KEY_NAMES}|secret|token|code|auth|signature|sig|x-api-key|access-token)$"
)


def _keep_key(match: re.Match[str]) -> str:
    return f"{match.group('key')}{match.group('sep')}{REDACTED}"


def redact(text: str) -> str:
    """`text` with every secret shape replaced by [REDACTED]; other text is left as it was."""
    text = _KEYED.sub(_keep_key, text)
    text = _BARE_KEYED.sub(_keep_key, text)
    text = _QUERY_KEYED.sub(_keep_key, text)
    for shape in _SHAPES:
        text = shape.sub(REDACTED, text)
    return text


def redact_payload(payload: Any) -> Any:
    """A copy of a JSON-like payload with secret-named fields blanked and secret shapes redacted."""
    if isinstance(payload, Mapping):
        return {
            key: REDACTED
            if isinstance(key, str) and _SECRET_KEY_NAME.match(key)
            else redact_payload(value)
            for key, value in payload.items()
        }
    if isinstance(payload, list | tuple):
        return [redact_payload(item) for item in payload]
    if isinstance(payload, str):
        return redact(payload)
    return payload
