"""What every platform's row models share: typed figures, ids, currencies, and one way to fail.

A platform row is validated into a model before any field is read, so a missing or malformed
field is a `PlatformSchemaError` naming the field (and keeping the row for the dead letter),
never a `KeyError`, a `"None"` id or a silently assumed currency.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, ValidationError

from core.errors import PlatformSchemaError

M = TypeVar("M", bound=BaseModel)


class PlatformRow(BaseModel):
    """Base of the row models: unknown fields are ignored, known ones are checked."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


def parse_figure(value: object) -> Decimal:
    # bool is an int subclass; a float would bring binary noise (JSON numbers arrive as float).
    if value is None or isinstance(value, bool):
        raise ValueError("expected a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a number: {str(value)[:40]!r}") from None
    if not number.is_finite():
        raise ValueError("not a finite number")
    return number


def parse_count(value: object) -> int:
    number = parse_figure(value)
    if number != number.to_integral_value() or number < 0:
        raise ValueError("expected a whole number of at least 0")
    return int(number)


def _platform_id(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip().isdigit():
        return value.strip()
    raise ValueError("expected a numeric id")


# A decimal figure sent as a JSON string or number, parsed through str (never through float).
Figure = Annotated[Decimal, BeforeValidator(parse_figure)]
# A count (impressions, clicks) that may come as "900", 900 or "900.0".
Count = Annotated[int, BeforeValidator(parse_count)]
# A numeric platform id (Google int64-as-string, Meta and TikTok numeric strings or numbers).
PlatformId = Annotated[str, BeforeValidator(_platform_id)]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
NonEmpty = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]


def _problems(exc: ValidationError) -> str:
    # Field paths and reasons only: the input values stay in the payload, not in the message.
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "(whole item)"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def validated(model: type[M], item: Any, *, what: str) -> M:
    """`item` as `model`, or PlatformSchemaError("<what> ...: field: reason", payload=item)."""
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        raise PlatformSchemaError(
            f"{what} does not have the expected shape ({_problems(exc)}).", payload=item
        ) from exc
