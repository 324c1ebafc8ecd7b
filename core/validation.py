"""Pydantic validation errors as one plain sentence that names the field and the limit.

Pydantic's own text ("String should have at most 200 characters") names neither the field
nor what was given; people in a chat need "A rule name can be at most 200 characters (you
gave 250)." Callers pass labels for their fields; anything unlabelled is named by its dotted path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

_BOUNDS = {
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "below"),
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "above"),
}
_NOT_A_NUMBER = {
    "decimal_parsing",
    "decimal_type",
    "decimal_max_digits",
    "decimal_max_places",
    "decimal_whole_digits",
    "finite_number",
    "int_parsing",
    "int_type",
    "float_parsing",
}
# Pydantic prefixes our own validators' messages with this.
_VALUE_ERROR_PREFIX = "Value error, "
# An echoed input is for recognising it, not for reprinting a 4,000-character paste.
_MAX_ECHO_CHARS = 40


@dataclass(frozen=True)
class Label:
    """How a field is named in a sentence: 'A rule name', or 'A rule' with items 'conditions'."""

    name: str
    items: str = "items"
    unit: str = ""


def field_path(error: ErrorDetails) -> str:
    """The dotted location, without pydantic's internal union/validator tags."""
    parts = [str(part) for part in error["loc"]]
    parts = [part for part in parts if not part.startswith(("function-", "tagged-"))]
    return ".".join(p for p in parts if p not in {"condition", "group", "_ConditionNode"})


def _echo(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _MAX_ECHO_CHARS else text[:_MAX_ECHO_CHARS] + "…"


def _sized(error: ErrorDetails, label: Label, context: Mapping[str, Any]) -> str | None:
    kind, given = error["type"], error.get("input")
    if kind == "string_too_long":
        length = f" (you gave {len(given):,})" if isinstance(given, str) else ""
        return f"{label.name} can be at most {context['max_length']:,} characters{length}."
    if kind == "string_too_short":
        return f"{label.name} cannot be empty."
    if kind == "too_long":
        actual = context.get("actual_length")
        gave = f" (you gave {actual})" if actual is not None else ""
        return f"{label.name} can have at most {context['max_length']} {label.items}{gave}."
    if kind == "too_short":
        return f"{label.name} needs at least {context['min_length']} {label.items}."
    return None


def friendly(error: ErrorDetails, labels: Mapping[str, Label] | None = None) -> str:
    """One sentence for one pydantic error, naming the field, the limit and what was given."""
    path = field_path(error)
    label = (labels or {}).get(path) or Label(path or "The input")
    context: Mapping[str, Any] = error.get("ctx") or {}
    kind = error["type"]
    sized = _sized(error, label, context)
    if sized is not None:
        return sized
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        limit, given = f"{context[key]}{label.unit}", f"{_echo(error.get('input'))}{label.unit}"
        return f"{label.name} must be {words} {limit} (you gave {given})."
    if kind in _NOT_A_NUMBER:
        return f"{label.name} is not a valid number."
    if kind == "literal_error":
        return f"{label.name} must be one of {context.get('expected', 'the listed values')}."
    message = str(error["msg"]).removeprefix(_VALUE_ERROR_PREFIX)
    return f"{label.name}: {message}" if path or label.name != "The input" else message


def first_friendly(exc: ValidationError, labels: Mapping[str, Label] | None = None) -> str:
    """The first error of `exc` as one sentence (one line answers better than a list)."""
    return friendly(exc.errors()[0], labels)
