"""The terminal channel: renders Replies with rich and asks [a]pprove/[r]eject/[s]kip at a card."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Literal, Protocol

from rich import box
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table as RichTable
from rich.text import Text

from bot.replies import ApprovalCard, Chart, FileAttachment, Reply, Table

Decision = Literal["approve", "reject", "skip"]
DECISIONS: tuple[Decision, ...] = ("approve", "reject", "skip")
EXIT_WORDS = frozenset({"exit", "quit", ":q"})

_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_NUMERIC = re.compile(r"^[\s$€£¥+\-−]*[\d.,]+\s*[%x×]?[A-Z]{0,3}$|^[-—–]$|^n/a$")

_CARD_STYLE = {
    "pending": "yellow",
    "approved": "green",
    "executed": "green",
    "rejected": "red",
    "failed": "red",
    "expired": "bright_black",
}


def to_markup(text: str) -> str:
    """The bot's light markup (*bold*, _italic_, `code`) as rich markup, everything else escaped."""
    out: list[str] = []
    position = 0
    for match in _CODE.finditer(text):
        out.append(_inline(text[position : match.start()]))
        out.append(f"[bold cyan]{escape(match.group(1))}[/bold cyan]")
        position = match.end()
    out.append(_inline(text[position:]))
    return "".join(out)


def _inline(segment: str) -> str:
    segment = escape(segment)
    segment = _BOLD.sub(r"[bold]\1[/bold]", segment)
    return _ITALIC.sub(r"[italic]\1[/italic]", segment)


def render_table(table: Table) -> RichTable:
    """A rich table; columns whose cells all look numeric are right-aligned."""
    rich_table = RichTable(title=table.title, box=box.SIMPLE_HEAVY, title_justify="left")
    for index, column in enumerate(table.columns):
        cells = [row[index] for row in table.rows if index < len(row)]
        numeric = bool(cells) and all(_NUMERIC.match(cell.strip()) for cell in cells)
        rich_table.add_column(column, justify="right" if numeric else "left")
    for row in table.rows:
        rich_table.add_row(*(escape(cell) for cell in row))
    return rich_table


def chart_directory() -> Path:
    """Where chart PNGs go: $XDG_CACHE_HOME/adpilot/charts, else the temp directory."""
    cache = os.environ.get("XDG_CACHE_HOME")
    base = Path(cache) / "adpilot" if cache else Path(tempfile.gettempdir()) / "adpilot"
    return base / "charts"


def save_chart(chart: Chart, directory: Path) -> Path:
    """Write the PNG under a content-derived name (the same chart is written once)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"chart-{hashlib.sha256(chart.png).hexdigest()[:16]}.png"
    if not path.exists():
        path.write_bytes(chart.png)
    return path


def save_file(attached: FileAttachment, directory: Path) -> Path:
    """Write an attached file under its own name (a bare name: never a path from elsewhere)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / Path(attached.filename).name
    path.write_bytes(attached.data)
    return path


def card_panel(card: ApprovalCard) -> Panel:
    """An approval card as a bordered panel coloured by its status."""
    lines: list[RenderableType] = [Text.from_markup(f"[bold]{to_markup(card.summary)}[/bold]")]
    lines += [Text.from_markup(f"  • {to_markup(detail)}") for detail in card.details]
    lines.append(Text(f"Who may approve: {card.approvers}"))
    lines.append(Text(f"Expires: {card.expires_at:%Y-%m-%d %H:%M} UTC"))
    if card.status == "pending":
        decide = f"Reply `{card.approve_command}` or `{card.reject_command}`"
        lines.append(Text.from_markup(to_markup(decide)))
    else:
        lines.append(Text(card.status_line or card.status.capitalize(), style="bold"))
    title = (
        f"Approval needed · {card.short_code}"
        if card.status == "pending"
        else f"Action {card.short_code} · {card.status}"
    )
    return Panel(
        Group(*lines),
        title=title,
        title_align="left",
        border_style=_CARD_STYLE.get(card.status, "white"),
        expand=False,
    )


class ConsoleChannel:
    """A terminal chat: `show` renders a Reply, `read` returns a line (None on exit/EOF)."""

    name = "console"

    def __init__(
        self,
        console: Console | None = None,
        *,
        interactive: bool = True,
        chart_dir: Path | None = None,
        read_line: Callable[[str], str] = input,
        prompt: str = "you> ",
    ) -> None:
        self.console = console or Console()
        self.interactive = interactive
        self.chart_dir = chart_dir or chart_directory()
        self.read_line = read_line
        self.prompt = prompt

    def renderables(self, reply: Reply) -> list[RenderableType]:
        """What `show` prints, in order; separate so tests can inspect it."""
        style = "red" if reply.is_error else ""
        parts: list[RenderableType] = []
        if reply.text:
            parts.append(Text.from_markup(to_markup(reply.text), style=style))
        if reply.table is not None:
            parts.append(render_table(reply.table))
        if reply.chart is not None:
            parts.append(self._chart_line(reply.chart))
        parts += [self._file_line(attached) for attached in reply.files]
        if reply.card is not None:
            parts.append(card_panel(reply.card))
        return parts

    def _file_line(self, attached: FileAttachment) -> Text:
        """The terminal takes files: each is saved beside the charts, and its path shown."""
        try:
            path = save_file(attached, self.chart_dir.parent / "files")
        except OSError:
            where = attached.link or "not saved"
            return Text(f"[file: {attached.filename}] {where}", style="dim")
        return Text(f"[file saved to {path}]", style="dim")

    def _chart_line(self, chart: Chart) -> Text:
        try:
            path = save_chart(chart, self.chart_dir)
        except OSError:
            # A read-only cache is no reason to lose the answer: fall back to the text version.
            return Text(f"[chart: {chart.alt_text}]", style="dim")
        return Text(f"[chart saved to {path}] {chart.alt_text}", style="dim")

    def show(self, reply: Reply) -> None:
        for part in self.renderables(reply):
            self.console.print(part)

    def read(self) -> str | None:
        """The next non-empty line; None on Ctrl-D, `exit` or `quit`. Ctrl-C clears the line."""
        while True:
            try:
                line = self.read_line(self.prompt).strip()
            except EOFError:
                self.console.print()
                return None
            except KeyboardInterrupt:
                self.console.print()
                continue
            if line.lower() in EXIT_WORDS:
                return None
            if line:
                return line

    def ask_decision(self, card: ApprovalCard) -> Decision:
        """Ask [a]pprove / [r]eject / [s]kip until one is chosen; EOF or Ctrl-C skips."""
        question = f"[a]pprove / [r]eject / [s]kip {card.short_code}? "
        while True:
            try:
                answer = self.read_line(question).strip().lower()
            except (EOFError, KeyboardInterrupt):
                self.console.print()
                return "skip"
            for decision in DECISIONS:
                if answer and decision.startswith(answer):
                    return decision
            self.console.print("Type a, r or s.", style="dim")

    async def send(self, reply: Reply) -> None:
        self.show(reply)

    async def receive(self) -> str | None:
        return self.read()


class Turns(Protocol):
    """The bot as one person's conversation sees it (the composition root binds the context)."""

    async def text(self, text: str) -> Reply: ...

    async def decide(self, action_ref: str, approve: bool) -> Reply: ...


Runner = Callable[[Coroutine[Any, Any, Reply]], Reply]


def converse(channel: ConsoleChannel, turns: Turns, run: Runner) -> None:
    """The REPL: read a line, answer it, and at a pending card ask for a decision."""
    while (line := channel.read()) is not None:
        try:
            reply = run(turns.text(line))
        except KeyboardInterrupt:
            channel.console.print("(interrupted)", style="dim")
            continue
        channel.show(reply)
        if channel.interactive:
            decide_cards(channel, turns, run, reply)


def decide_cards(channel: ConsoleChannel, turns: Turns, run: Runner, reply: Reply) -> None:
    """Prompt at each new pending card; a card answered once is not asked again."""
    asked: set[str] = set()
    while reply.card is not None and reply.card.status == "pending":
        card = reply.card
        if card.short_code in asked:
            return
        asked.add(card.short_code)
        decision = channel.ask_decision(card)
        if decision == "skip":
            channel.console.print(
                f"Left pending; later: {card.approve_command} / {card.reject_command}",
                style="dim",
            )
            return
        reply = run(turns.decide(card.short_code, decision == "approve"))
        channel.show(reply)


def answer_once(channel: ConsoleChannel, turns: Turns, run: Runner, text: str) -> Reply:
    """One command, one printed answer (`adpilot chat -c`); never prompts."""
    reply = run(turns.text(text))
    channel.show(reply)
    return reply
