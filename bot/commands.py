"""The deterministic command grammar: text in, a typed Command out. No LLM, no I/O, never raises."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from rapidfuzz import fuzz, process

COMMAND_WORDS = (
    "help",
    "campaigns",
    "report",
    "pause",
    "resume",
    "budget",
    "rules",
    "rule",
    "approvals",
    "approve",
    "reject",
    "yes",
    "no",
    "undo",
    "copy",
    "link",
)
PLATFORMS = ("google", "meta", "tiktok", "sandbox")
PLATFORM_ALIASES = {"facebook": "meta", "fb": "meta", "instagram": "meta", "google_ads": "google"}
WINDOW_WORDS = ("today", "yesterday", "3d", "7d", "14d", "30d", "week", "lifetime")
WINDOW_WORDS_LONG = ("last_3d", "last_7d", "last_14d", "last_30d")
RULE_METRICS = (
    "impressions",
    "clicks",
    "spend",
    "conversions",
    "conversion_value",
    "ctr",
    "cpc",
    "cpm",
    "cpa",
    "roas",
    "conversion_rate",
)
OPERATORS = (">=", "<=", ">", "<", "==")
# A first word this close to a command is a typo, not free text for the agent.
SUGGEST_SCORE = 75.0


@dataclass(frozen=True)
class Help:
    topic: str | None = None


@dataclass(frozen=True)
class ListCampaigns:
    platform: str | None = None


@dataclass(frozen=True)
class Report:
    window: str = "7d"
    campaign: str | None = None


@dataclass(frozen=True)
class ReportExport:
    """`report export 30d`: a CSV and a chart of the last `days` days."""

    days: int = 30


@dataclass(frozen=True)
class Pause:
    name: str


@dataclass(frozen=True)
class Resume:
    name: str


@dataclass(frozen=True)
class Budget:
    """Either an absolute daily `amount` or a relative `percent` (+20 / -10)."""

    name: str
    amount: Decimal | None = None
    percent: Decimal | None = None


@dataclass(frozen=True)
class ListRules:
    pass


@dataclass(frozen=True)
class Condition:
    metric: str
    operator: str
    value: Decimal
    window: str


RuleVerb = Literal["pause", "resume", "notify", "budget"]


@dataclass(frozen=True)
class RuleAdd:
    name: str
    conditions: tuple[Condition, ...]
    action: RuleVerb
    percent: Decimal | None = None
    mode: Literal["notify", "approve", "auto"] | None = None


@dataclass(frozen=True)
class ListApprovals:
    pass


@dataclass(frozen=True)
class Decide:
    code: str
    approve: bool


@dataclass(frozen=True)
class Undo:
    code: str


@dataclass(frozen=True)
class Copy:
    product: str
    platform: str = "google"
    tone: str | None = None
    count: int = 3


@dataclass(frozen=True)
class Link:
    code: str


@dataclass(frozen=True)
class Unknown:
    """A misspelt command: `suggestion` is the closest real one."""

    word: str
    suggestion: str


@dataclass(frozen=True)
class Invalid:
    """A known command used wrongly; `usage` shows the right form."""

    message: str
    usage: str = ""


@dataclass(frozen=True)
class FreeText:
    """Not a command: the agent's turn."""

    text: str


Command = (
    Help
    | ListCampaigns
    | Report
    | ReportExport
    | Pause
    | Resume
    | Budget
    | ListRules
    | RuleAdd
    | ListApprovals
    | Decide
    | Undo
    | Copy
    | Link
    | Unknown
    | Invalid
    | FreeText
)

_Parser = Callable[[list[str]], Command]

USAGE = {
    "help": "help",
    "campaigns": "campaigns [google|meta|tiktok]",
    "report": "report [today|yesterday|7d|14d|30d] [campaign name]",
    "report export": "report export [7d|30d|90d]",
    "pause": 'pause "Campaign name"',
    "resume": 'resume "Campaign name"',
    "budget": 'budget "Campaign name" 120 | +20% | -10%',
    "rules": "rules",
    "rule": 'rule add "High CPA" when cpa > 50 over 3d then pause [mode approve]',
    "approvals": "approvals",
    "approve": "approve CODE",
    "reject": "reject CODE",
    "undo": "undo CODE",
    "copy": 'copy "Product" [--platform google|meta|tiktok] [--tone playful] [--count 3]',
    "link": "link CODE",
}


def _split(text: str) -> list[str]:
    """Shell-like split that honours quotes but never fails on an unbalanced one."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.replace('"', " ").replace("'", " ").split()


def _strip_prefix(text: str) -> str:
    text = text.strip()
    text = re.sub(r"^/?adpilot\b\s*", "", text, flags=re.IGNORECASE)
    return text.removeprefix("/").strip()


def parse(text: str) -> Command:
    """Parse one message. Unknown first words become FreeText unless they look like a typo."""
    body = _strip_prefix(text)
    words = _split(body)
    if not words:
        return Help()
    head = words[0].lower()
    args = words[1:]
    handler = _HANDLERS.get(head)
    if handler is not None:
        return handler(args)
    return _unknown_or_free(head, text, body, len(words))


def _unknown_or_free(head: str, text: str, body: str, word_count: int) -> Command:
    match = process.extractOne(head, COMMAND_WORDS, scorer=fuzz.ratio)
    # Only short messages starting with a near-command are typos; sentences go to the agent.
    if match is not None and match[1] >= SUGGEST_SCORE and len(head) >= 3 and word_count <= 4:
        return Unknown(word=head, suggestion=str(match[0]))
    return FreeText(text=text.strip())


def _name(args: list[str]) -> str:
    return " ".join(args).strip()


def _parse_help(args: list[str]) -> Command:
    return Help(topic=args[0].lower() if args else None)


def _parse_campaigns(args: list[str]) -> Command:
    if not args:
        return ListCampaigns()
    platform = PLATFORM_ALIASES.get(args[0].lower(), args[0].lower())
    if platform not in PLATFORMS or len(args) > 1:
        return Invalid(f"Unknown platform {args[0]!r}.", USAGE["campaigns"])
    return ListCampaigns(platform=platform)


_EXPORT_DAYS = re.compile(r"(?:last_)?(\d{1,3})d?")


def _parse_export(args: list[str]) -> Command:
    if not args:
        return ReportExport()
    if len(args) == 1:
        word = args[0].lower()
        match = _EXPORT_DAYS.fullmatch(word)
        days = 7 if word == "week" else int(match.group(1)) if match else 0
        if 1 <= days <= 366:
            return ReportExport(days=days)
    return Invalid("Export how many days (1 to 366)?", USAGE["report export"])


def _parse_report(args: list[str]) -> Command:
    if args and args[0].lower() == "export":
        return _parse_export(args[1:])
    window = "7d"
    rest = list(args)
    if rest and rest[0].lower() in WINDOW_WORDS + WINDOW_WORDS_LONG:
        window = rest.pop(0).lower()
    elif rest and rest[-1].lower() in WINDOW_WORDS + WINDOW_WORDS_LONG:
        window = rest.pop().lower()
    return Report(window=window, campaign=_name(rest) or None)


def _parse_pause(args: list[str]) -> Command:
    if not args:
        return Invalid("Which campaign?", USAGE["pause"])
    return Pause(name=_name(args))


def _parse_resume(args: list[str]) -> Command:
    if not args:
        return Invalid("Which campaign?", USAGE["resume"])
    return Resume(name=_name(args))


_AMOUNT_RE = re.compile(r"^(?P<sign>[+-])?(?P<number>\d+(?:\.\d+)?)(?P<pct>%)?$")


def _parse_budget(args: list[str]) -> Command:
    if len(args) < 2:
        return Invalid("Which campaign, and what budget?", USAGE["budget"])
    match = _AMOUNT_RE.match(args[-1].replace(",", "").lstrip("$€£"))
    if match is None:
        return Invalid(f"{args[-1]!r} is not an amount or a percentage.", USAGE["budget"])
    try:
        number = Decimal(match["number"])
    except InvalidOperation:
        return Invalid(f"{args[-1]!r} is not a number.", USAGE["budget"])
    name = _name(args[:-1])
    if match["pct"]:
        if match["sign"] is None:
            return Invalid("Say +N% or -N% for a relative change.", USAGE["budget"])
        return Budget(name=name, percent=-number if match["sign"] == "-" else number)
    if match["sign"] == "-":
        return Invalid("A budget cannot be negative.", USAGE["budget"])
    return Budget(name=name, amount=number)


def _parse_rules(args: list[str]) -> Command:
    if args and args[0].lower() == "add":
        return _parse_rule(args)
    return ListRules()


def _parse_rule(args: list[str]) -> Command:
    if not args or args[0].lower() != "add":
        return Invalid(
            "Say `rule add ...` to create a rule, or `rules` to list them.", USAGE["rule"]
        )
    return parse_rule_add(args[1:])


def _parse_id(kind: str, approve: bool | None = None) -> _Parser:
    def parser(args: list[str]) -> Command:
        if len(args) != 1 or not re.fullmatch(r"[A-Za-z0-9-]{2,40}", args[0]):
            return Invalid("Which one? Give its code.", USAGE.get(kind, f"{kind} CODE"))
        code = args[0].upper()
        if kind == "undo":
            return Undo(code=code)
        if kind == "link":
            return Link(code=args[0])
        return Decide(code=code, approve=bool(approve))

    return parser


def _parse_copy(args: list[str]) -> Command:
    platform, tone, count = "google", None, 3
    product: list[str] = []
    index = 0
    while index < len(args):
        word = args[index]
        if word.startswith("--") and index + 1 < len(args):
            option, value = word[2:].lower(), args[index + 1]
            index += 2
            if option == "platform":
                platform = PLATFORM_ALIASES.get(value.lower(), value.lower())
            elif option == "tone":
                tone = value
            elif option == "count" and value.isdigit():
                count = int(value)
            else:
                return Invalid(f"Unknown option --{option}.", USAGE["copy"])
            continue
        product.append(word)
        index += 1
    if not product:
        return Invalid("What product should the ads be about?", USAGE["copy"])
    if platform not in ("google", "meta", "tiktok"):
        return Invalid(f"Copy is written for google, meta or tiktok, not {platform!r}.")
    if not 1 <= count <= 10:
        return Invalid("Ask for between 1 and 10 variants.", USAGE["copy"])
    return Copy(product=_name(product), platform=platform, tone=tone, count=count)


def _no_args(command: Command) -> _Parser:
    def parser(args: list[str]) -> Command:
        return command

    return parser


_VERBS: dict[str, RuleVerb] = {
    "pause": "pause",
    "resume": "resume",
    "notify": "notify",
    "alert": "notify",
    "budget": "budget",
}

_COND_RE = re.compile(
    r"^(?P<metric>[a-z_]+)\s*(?P<op>>=|<=|==|>|<)\s*(?P<value>-?\d+(?:\.\d+)?)"
    r"(?:\s+(?:over|in|for)\s+(?P<window>\w+))?$"
)
_THEN_RE = re.compile(
    r"^(?P<action>pause|resume|notify|alert|budget)(?:\s+(?P<pct>[+-]\d+(?:\.\d+)?)%)?$"
)


def parse_rule_add(args: list[str]) -> Command:
    """`"Name" when METRIC OP VALUE [over WINDOW] [and ...] then ACTION [mode MODE]`."""
    lowered = [word.lower() for word in args]
    if "when" not in lowered or "then" not in lowered:
        return Invalid("A rule needs `when ...` and `then ...`.", USAGE["rule"])
    when, then = lowered.index("when"), lowered.index("then")
    name = _name(args[:when])
    if not name or then < when:
        return Invalid("Give the rule a name, then `when ... then ...`.", USAGE["rule"])
    conditions: list[Condition] = []
    for chunk in re.split(r"\s+and\s+", " ".join(lowered[when + 1 : then])):
        match = _COND_RE.match(chunk.strip())
        if match is None or match["metric"] not in RULE_METRICS:
            return Invalid(f"I can't read the condition {chunk.strip()!r}.", USAGE["rule"])
        window = match["window"] or "3d"
        if window not in WINDOW_WORDS + WINDOW_WORDS_LONG:
            return Invalid(f"Unknown window {window!r}.", USAGE["rule"])
        conditions.append(Condition(match["metric"], match["op"], Decimal(match["value"]), window))
    tail = lowered[then + 1 :]
    mode: Literal["notify", "approve", "auto"] | None = None
    if len(tail) >= 2 and tail[-2] == "mode":
        if tail[-1] not in ("notify", "approve", "auto"):
            return Invalid(f"Unknown mode {tail[-1]!r}; use notify, approve or auto.")
        mode = tail[-1]  # type: ignore[assignment]
        tail = tail[:-2]
    action = _THEN_RE.match(" ".join(tail))
    if action is None:
        return Invalid("After `then` say pause, resume, notify or budget -20%.", USAGE["rule"])
    verb = _VERBS[action["action"]]
    if verb == "budget" and action["pct"] is None:
        return Invalid("Say how much: `then budget -20%`.", USAGE["rule"])
    percent = Decimal(action["pct"]) if action["pct"] else None
    return RuleAdd(name=name, conditions=tuple(conditions), action=verb, percent=percent, mode=mode)


_HANDLERS = {
    "help": _parse_help,
    "?": _parse_help,
    "campaigns": _parse_campaigns,
    "report": _parse_report,
    "pause": _parse_pause,
    "resume": _parse_resume,
    "budget": _parse_budget,
    "rules": _parse_rules,
    "rule": _parse_rule,
    "approvals": _no_args(ListApprovals()),
    "pending": _no_args(ListApprovals()),
    "approve": _parse_id("approve", approve=True),
    "yes": _parse_id("approve", approve=True),
    "reject": _parse_id("reject", approve=False),
    "no": _parse_id("reject", approve=False),
    "undo": _parse_id("undo"),
    "copy": _parse_copy,
    "link": _parse_id("link"),
}
