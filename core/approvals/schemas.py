"""Approval kinds, their validated arguments, the grant hash and the decision result."""

from __future__ import annotations

import enum
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from core.approvals.models import ActionStatus, PendingAction
from core.errors import StaleApproval, ValidationFailed


class ActionKind(enum.StrEnum):
    PAUSE_CAMPAIGN = "pause_campaign"
    RESUME_CAMPAIGN = "resume_campaign"
    SET_BUDGET = "set_budget"
    LAUNCH_CAMPAIGN = "launch_campaign"


# The largest daily budget a card may set: far above any real campaign, and within what every
# money column stores, so a card the platform executed can always be recorded.
MAX_DAILY_BUDGET = Decimal(10_000_000)


class CampaignArgs(BaseModel):
    """Arguments of pause/resume/launch: which campaign."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    campaign_id: uuid.UUID


class SetBudgetArgs(CampaignArgs):
    """Arguments of set_budget: the new daily budget in the account currency's major unit."""

    daily_budget: Decimal

    @field_validator("daily_budget", mode="before")
    @classmethod
    def _no_float(cls, value: object) -> object:
        # Floats cannot say 0.1 exactly; money arrives as a decimal string.
        if isinstance(value, float):
            raise ValueError("give the budget as a decimal string, not a float")
        return value

    @field_validator("daily_budget")
    @classmethod
    def _positive_micros(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or value <= 0:
            raise ValueError("the daily budget must be a positive amount")
        if value > MAX_DAILY_BUDGET:
            raise ValueError(f"the daily budget is at most {MAX_DAILY_BUDGET:,}")
        if value != value.quantize(Decimal("0.000001")):
            raise ValueError("the daily budget has more than six decimal places")
        return value


ARGUMENT_MODELS: dict[ActionKind, type[CampaignArgs]] = {
    ActionKind.PAUSE_CAMPAIGN: CampaignArgs,
    ActionKind.RESUME_CAMPAIGN: CampaignArgs,
    ActionKind.LAUNCH_CAMPAIGN: CampaignArgs,
    ActionKind.SET_BUDGET: SetBudgetArgs,
}


def decimal_text(value: Decimal) -> str:
    """A Decimal as plain text without exponent or trailing zeros ("80", "12.5")."""
    return format(value.normalize(), "f")


def parse_kind(kind: str) -> ActionKind:
    try:
        return ActionKind(kind)
    except ValueError:
        known = ", ".join(member.value for member in ActionKind)
        raise ValidationFailed(f"Unknown action kind {kind!r} (known: {known}).") from None


def validate_arguments(kind: ActionKind, arguments: dict[str, Any]) -> CampaignArgs:
    """Parse `arguments` for `kind`; any problem is a ValidationFailed naming the field."""
    try:
        return ARGUMENT_MODELS[kind].model_validate(arguments)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or None
        message = str(first["msg"]).removeprefix("Value error, ")
        prefix = f"{name}: " if name else ""
        raise ValidationFailed(
            f"Invalid {kind.value} arguments: {prefix}{message}", field=name
        ) from None


def canonical_arguments(parsed: CampaignArgs) -> dict[str, Any]:
    """The stored, hashed form: strings only, so JSON round-trips exactly."""
    stored: dict[str, Any] = {"campaign_id": str(parsed.campaign_id)}
    if isinstance(parsed, SetBudgetArgs):
        stored["daily_budget"] = decimal_text(parsed.daily_budget)
    return stored


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def grant_hash(
    *, org_id: uuid.UUID, kind: str, arguments: dict[str, Any], before_state: dict[str, Any]
) -> str:
    """SHA-256 over the whole grant: org, kind, exact arguments and the state shown."""
    payload = {
        "org_id": str(org_id),
        "kind": kind,
        "arguments": arguments,
        "before_state": before_state,
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def state_of(status: str, daily_budget: Decimal | None) -> dict[str, Any]:
    """A campaign's approval-relevant state as stored in before_state."""
    return {
        "status": status,
        "daily_budget": decimal_text(daily_budget) if daily_budget is not None else None,
    }


def budget_of(state: dict[str, Any]) -> Decimal | None:
    raw = state.get("daily_budget")
    return None if raw is None else Decimal(str(raw))


def same_state(left: dict[str, Any], right: dict[str, Any]) -> bool:
    """Equal status and equal budget amount ("50" equals "50.00")."""
    return left.get("status") == right.get("status") and budget_of(left) == budget_of(right)


@dataclass(frozen=True)
class Reproposal:
    """What the caller needs to offer a fresh card after a stale refusal."""

    kind: str
    arguments: dict[str, Any]
    summary: str
    campaign_id: uuid.UUID | None
    before_state: dict[str, Any]

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `service.propose` (add session, org_id and requester)."""
        return {
            "kind": self.kind,
            "arguments": dict(self.arguments),
            "summary": self.summary,
            "campaign_id": self.campaign_id,
            "before_state": dict(self.before_state),
        }


class StaleAction(StaleApproval):
    """The campaign moved since the card was shown; `reproposal` offers a fresh card."""

    def __init__(
        self,
        message: str,
        *,
        action_id: uuid.UUID,
        current_state: dict[str, Any] | None,
        reproposal: Reproposal | None,
    ) -> None:
        super().__init__(message)
        self.action_id = action_id
        self.current_state = current_state
        self.reproposal = reproposal


@dataclass(frozen=True)
class DecisionResult:
    """The outcome of a decision that went through: rejected, or approved and executed."""

    action: PendingAction
    status: ActionStatus
    message: str
    platform_result: dict[str, Any] | None = None
    inverse: dict[str, Any] | None = field(default=None)

    @property
    def approved(self) -> bool:
        return self.status in (ActionStatus.APPROVED, ActionStatus.EXECUTED)

    @property
    def executed(self) -> bool:
        return self.status is ActionStatus.EXECUTED
