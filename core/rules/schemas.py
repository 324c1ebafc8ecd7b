"""The rule format: scope, nested conditions, data-maturity guards, action, limits, mode.

A rule is stored as `RuleSpec` JSON in `rules.spec`. Conditions may also be written in a
compact text form that a person or the LLM can read back: "cpa last_7d > 50",
"spend today > 2 x daily_budget".
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from core.errors import ValidationFailed
from core.metrics.kpis import ALL_METRICS
from core.metrics.windows import ALIASES
from core.validation import Label, field_path, friendly

ATTRIBUTE_METRICS = ("daily_budget",)
METRICS: tuple[str, ...] = ALL_METRICS + ATTRIBUTE_METRICS
RULE_WINDOWS = ("today", "yesterday", "last_3d", "last_7d", "last_14d", "last_30d", "lifetime")
OPERATORS = (">", ">=", "<", "<=", "==", "!=")
OPERATOR_ALIASES = {
    "gt": ">",
    "gte": ">=",
    "ge": ">=",
    "lt": "<",
    "lte": "<=",
    "le": "<=",
    "eq": "==",
    "=": "==",
    "ne": "!=",
    "<>": "!=",
}
MODES = ("notify", "approve", "auto")
ACTIONS = ("notify", "pause", "resume", "change_budget", "set_budget")
PERCENT_MIN, PERCENT_MAX = Decimal(-90), Decimal(200)
MAX_DEPTH = 4

Operator = Literal[">", ">=", "<", "<=", "==", "!="]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _number(value: Any) -> Any:
    # Pydantic would coerce True to 1; a boolean threshold is always a mistake.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, str) and value.strip():
        try:
            Decimal(value.strip())
        except ArithmeticError:
            raise ValueError(f"must be a number (got {value!r})") from None
    return value


def _metric(value: Any) -> Any:
    if isinstance(value, str):
        name = value.strip().lower()
        if name not in METRICS:
            raise ValueError(f"unknown metric {value!r}; valid metrics: {', '.join(METRICS)}")
        return name
    return value


def _window(value: Any) -> Any:
    if isinstance(value, str):
        name = ALIASES.get(value.strip().lower(), value.strip().lower())
        if name not in RULE_WINDOWS:
            raise ValueError(f"unknown window {value!r}; valid windows: {', '.join(RULE_WINDOWS)}")
        return name
    return value


class MetricRef(_Strict):
    """The right-hand side of a metric-vs-metric condition: factor x metric."""

    metric: str
    factor: Decimal = Decimal(1)
    # None: the same window as the condition.
    window: str | None = None

    _check_metric = field_validator("metric", mode="before")(_metric)
    _check_window = field_validator("window", mode="before")(_window)
    _check_factor = field_validator("factor", mode="before")(_number)


class Condition(_Strict):
    """`metric` over `window` compared with a threshold or with another metric."""

    metric: str
    op: Operator
    window: str = "last_7d"
    threshold: Decimal | None = None
    compare_to: MetricRef | None = None

    _check_metric = field_validator("metric", mode="before")(_metric)
    _check_window = field_validator("window", mode="before")(_window)
    _check_threshold = field_validator("threshold", mode="before")(_number)

    @field_validator("op", mode="before")
    @classmethod
    def _operator(cls, value: Any) -> Any:
        if isinstance(value, str):
            op = OPERATOR_ALIASES.get(value.strip().lower(), value.strip())
            if op not in OPERATORS:
                raise ValueError(f"unknown operator {value!r}; use one of {' '.join(OPERATORS)}")
            return op
        return value

    @model_validator(mode="after")
    def _one_right_side(self) -> Condition:
        if (self.threshold is None) == (self.compare_to is None):
            raise ValueError("give exactly one of threshold or compare_to")
        return self

    def text(self) -> str:
        """The compact form, e.g. 'cpa last_7d > 50'."""
        if self.compare_to is not None:
            ref = self.compare_to
            right = f"{ref.factor} x {ref.metric}" + (f" {ref.window}" if ref.window else "")
        else:
            right = str(self.threshold)
        return f"{self.metric} {self.window} {self.op} {right}"


_CONDITION_RE = re.compile(
    r"^\s*(?P<metric>[a-z_]+)\s+(?:(?P<window>[a-z0-9_]+)\s+)?(?P<op>>=|<=|==|!=|<>|=|>|<|\b(?:gte|gt|lte|lt|ge|le|eq|ne)\b)\s*"
    r"(?:(?P<factor>[-+]?\d+(?:\.\d+)?)\s*[x*]\s*(?P<ref>[a-z_]+)(?:\s+(?P<refwin>[a-z0-9_]+))?"
    r"|(?P<threshold>\S+))\s*$",
    re.IGNORECASE,
)


def parse_condition(text: str) -> dict[str, Any]:
    """'cpa last_7d > 50' or 'spend today > 2 x daily_budget' -> Condition fields."""
    match = _CONDITION_RE.match(text)
    if match is None:
        raise ValueError(
            f"cannot read condition {text!r}; write e.g. 'cpa last_7d > 50' "
            "or 'spend today > 2 x daily_budget'"
        )
    parts = match.groupdict()
    fields: dict[str, Any] = {"metric": parts["metric"], "op": parts["op"]}
    if parts["window"]:
        fields["window"] = parts["window"]
    if parts["ref"]:
        ref: dict[str, Any] = {"metric": parts["ref"], "factor": parts["factor"]}
        if parts["refwin"]:
            ref["window"] = parts["refwin"]
        fields["compare_to"] = ref
    else:
        fields["threshold"] = parts["threshold"]
    return fields


def _node_tag(value: Any) -> str:
    if isinstance(value, str):
        return "condition"
    if isinstance(value, dict):
        return "group" if ("all" in value or "any" in value) else "condition"
    return "group" if isinstance(value, Group) else "condition"


def _condition_input(value: Any) -> Any:
    return parse_condition(value) if isinstance(value, str) else value


class Group(_Strict):
    """All or any of the children hold; children are conditions or groups."""

    all: list[Node] | None = None
    any: list[Node] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Group:
        if (self.all is None) == (self.any is None):
            raise ValueError("a group has exactly one of 'all' or 'any'")
        if not self.children:
            raise ValueError("a group needs at least one condition")
        return self

    @property
    def combinator(self) -> Literal["all", "any"]:
        return "all" if self.all is not None else "any"

    @property
    def children(self) -> list[Node]:
        return self.all if self.all is not None else (self.any or [])


class _ConditionNode(Condition):
    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        return _condition_input(value)


Node = Annotated[
    Annotated[_ConditionNode, Tag("condition")] | Annotated[Group, Tag("group")],
    Discriminator(_node_tag),
]
Group.model_rebuild()


class Scope(_Strict):
    """Which campaigns a rule watches; `blended` sums them into one scope before judging."""

    kind: Literal["all", "platform", "campaigns", "name_contains"] = "all"
    platforms: list[str] = Field(default_factory=list)
    campaigns: list[str] = Field(default_factory=list)
    contains: str | None = None
    blended: bool = False
    # The scope key a blended firing is recorded under (default derived from the rule).
    label: str | None = None

    @field_validator("platforms", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return [str(item).strip().lower() for item in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _complete(self) -> Scope:
        if self.kind == "platform" and not self.platforms:
            raise ValueError("a platform scope needs platforms, e.g. ['meta']")
        if self.kind == "campaigns" and not self.campaigns:
            raise ValueError("a campaigns scope needs campaign names or ids")
        if self.kind == "name_contains" and not (self.contains and self.contains.strip()):
            raise ValueError("a name_contains scope needs the text to look for")
        return self


class Guards(_Strict):
    """Data-maturity guards: judge only on enough, settled data."""

    min_spend: Decimal | None = Field(default=None, ge=0)
    min_conversions: Decimal | None = Field(default=None, ge=0)
    exclude_today: bool = False
    # Only days that ended at least this long ago count (late attribution).
    lag_hours: int = Field(default=0, ge=0, le=168)
    # The window min_spend/min_conversions are measured over; default: the widest condition's.
    window: str | None = None

    _check_window = field_validator("window", mode="before")(_window)
    _check_numbers = field_validator("min_spend", "min_conversions", mode="before")(_number)


class Action(_Strict):
    type: Literal["notify", "pause", "resume", "change_budget", "set_budget"] = "notify"
    percent: Decimal | None = None
    amount: Decimal | None = Field(default=None, gt=0)
    floor: Decimal | None = Field(default=None, ge=0)
    ceiling: Decimal | None = Field(default=None, gt=0)

    _check_numbers = field_validator("percent", "amount", "floor", "ceiling", mode="before")(
        _number
    )

    @field_validator("percent")
    @classmethod
    def _percent_range(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and not (PERCENT_MIN <= value <= PERCENT_MAX and value != 0):
            raise ValueError(
                f"percent must be between {PERCENT_MIN} and {PERCENT_MAX} and not 0 (got {value})"
            )
        return value

    @model_validator(mode="after")
    def _complete(self) -> Action:
        if self.type == "change_budget" and self.percent is None:
            raise ValueError("change_budget needs percent, e.g. 20 or -15")
        if self.type == "set_budget" and self.amount is None:
            raise ValueError("set_budget needs amount")
        if self.floor is not None and self.ceiling is not None and self.floor > self.ceiling:
            raise ValueError("floor is above ceiling")
        return self


AUTO_BUDGET_MIN_COOLDOWN_HOURS = 24


class Limits(_Strict):
    """Per-scope cooldown and the cumulative cap on budget growth."""

    cooldown_hours: int = Field(default=24, ge=0, le=24 * 90)
    # Budget never above this multiple of campaigns.baseline_daily_budget.
    max_budget_multiple: Decimal | None = Field(default=None, gt=0, le=100)


class RuleSpec(_Strict):
    scope: Scope = Field(default_factory=Scope)
    conditions: Group
    guards: Guards = Field(default_factory=Guards)
    action: Action = Field(default_factory=Action)
    limits: Limits = Field(default_factory=Limits)

    @field_validator("conditions", mode="before")
    @classmethod
    def _list_means_all(cls, value: Any) -> Any:
        if isinstance(value, list | str):
            return {"all": value if isinstance(value, list) else [value]}
        return value

    @model_validator(mode="after")
    def _coherent(self) -> RuleSpec:
        if self.scope.blended and self.action.type != "notify":
            raise ValueError("blended scopes sum several campaigns; their action must be notify")
        settled_only = self.guards.exclude_today or self.guards.lag_hours > 0
        if settled_only and any(c.window == "today" for c in iter_conditions(self.conditions)):
            raise ValueError("a 'today' window contradicts exclude_today / lag_hours")
        if depth(self.conditions) > MAX_DEPTH:
            raise ValueError(f"conditions nest deeper than {MAX_DEPTH} levels")
        return self


class RuleCreate(_Strict):
    """What create_rule accepts: a name, the spec and how it acts."""

    name: str = Field(min_length=1, max_length=200)
    spec: RuleSpec
    mode: Literal["notify", "approve", "auto"] = "notify"
    enabled: bool = True

    @model_validator(mode="before")
    @classmethod
    def _flat_spec(cls, value: Any) -> Any:
        # The compact form puts scope/conditions/... next to name and mode.
        if isinstance(value, dict) and "spec" not in value:
            spec_keys = set(RuleSpec.model_fields)
            flat = dict(value)
            spec = {key: flat.pop(key) for key in list(flat) if key in spec_keys}
            return {**flat, "spec": spec}
        return value

    @model_validator(mode="after")
    def _notify_mode(self) -> RuleCreate:
        # A notify action has nothing to approve or execute: the mode follows it.
        if self.spec.action.type == "notify" and self.mode != "notify":
            return self.model_copy(update={"mode": "notify"})
        return self

    @model_validator(mode="after")
    def _auto_budget_guardrails(self) -> RuleCreate:
        # Auto mode moves money with no human: budget rules must be rate-limited to one change
        # a day, and rules that can raise a budget capped against the baseline, or they
        # could compound every cycle.
        action = self.spec.action
        if self.mode != "auto" or action.type not in {"change_budget", "set_budget"}:
            return self
        if self.spec.limits.cooldown_hours < AUTO_BUDGET_MIN_COOLDOWN_HOURS:
            raise ValueError(
                f"auto budget rules need limits.cooldown_hours >= "
                f"{AUTO_BUDGET_MIN_COOLDOWN_HOURS} (at most one change a day)"
            )
        can_raise = action.type == "set_budget" or (action.percent or 0) > 0
        if can_raise and self.spec.limits.max_budget_multiple is None:
            raise ValueError(
                "auto rules that raise budgets need limits.max_budget_multiple "
                "(e.g. 2 = never above twice the baseline budget)"
            )
        return self


def iter_conditions(node: Group | Condition) -> list[Condition]:
    if isinstance(node, Condition):
        return [node]
    return [leaf for child in node.children for leaf in iter_conditions(child)]


def depth(node: Group | Condition) -> int:
    if isinstance(node, Condition):
        return 0
    return 1 + max(depth(child) for child in node.children)


class WindowKey(NamedTuple):
    """A window as a rule needs it: the name plus the rule's maturity settings.

    A NamedTuple, not a dataclass: it is a dict key hashed hundreds of thousands of times.
    """

    name: str
    exclude_today: bool = False
    lag_hours: int = 0

    @property
    def label(self) -> str:
        suffix = " excl. today" if self.exclude_today and not self.lag_hours else ""
        lag = f" (lag {self.lag_hours}h)" if self.lag_hours else ""
        return f"{self.name}{suffix}{lag}"


def window_key(spec: RuleSpec, name: str) -> WindowKey:
    guards = spec.guards
    return _window_key(name, guards.exclude_today or guards.lag_hours > 0, guards.lag_hours)


@functools.lru_cache(maxsize=1024)
def _window_key(name: str, exclude_today: bool, lag_hours: int) -> WindowKey:
    # Interned: the same few keys are asked for hundreds of thousands of times a cycle.
    return WindowKey(name, exclude_today, lag_hours)


def guard_window(spec: RuleSpec) -> str:
    if spec.guards.window:
        return spec.guards.window
    names = {c.window for c in iter_conditions(spec.conditions)}
    return max(names, key=RULE_WINDOWS.index)


def rule_windows(spec: RuleSpec) -> set[WindowKey]:
    """Every window the rule reads, guards included."""
    names = {guard_window(spec)}
    for condition in iter_conditions(spec.conditions):
        names.add(condition.window)
        if condition.compare_to is not None and condition.compare_to.window:
            names.add(condition.compare_to.window)
    return {window_key(spec, name) for name in names}


# How a person reads these fields in a sentence; the rest are named by their path.
RULE_LABELS = {
    "name": Label("A rule name"),
    "spec.conditions": Label("A rule", items="conditions"),
    "spec.conditions.all": Label("A rule", items="conditions"),
    "spec.conditions.any": Label("A rule", items="conditions"),
    "spec.action.percent": Label("A rule's budget change", unit="%"),
    "spec.action.amount": Label("A rule's budget amount"),
}


def validation_failed(exc: ValidationError) -> ValidationFailed:
    """The first pydantic error as a ValidationFailed naming the field and the limit."""
    error = exc.errors()[0]
    field = field_path(error)
    return ValidationFailed(friendly(error, RULE_LABELS), field=field or None)


def parse_rule(data: dict[str, Any] | RuleCreate) -> RuleCreate:
    """Validate a rule (full or compact form); errors are ValidationFailed with the field."""
    if isinstance(data, RuleCreate):
        return data
    try:
        return RuleCreate.model_validate(data)
    except ValidationError as exc:
        raise validation_failed(exc) from exc


def parse_spec(data: dict[str, Any]) -> RuleSpec:
    try:
        return RuleSpec.model_validate(data)
    except ValidationError as exc:
        raise validation_failed(exc) from exc
