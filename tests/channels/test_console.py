"""The console channel: rendering of every Reply part, line reading, and the decision prompt."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from bot.replies import ApprovalCard, Chart, Reply, Table
from channels.base import Channel
from channels.console import (
    ConsoleChannel,
    answer_once,
    converse,
    render_table,
    to_markup,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
EXPIRES = datetime(2026, 7, 1, 18, 30, tzinfo=UTC)


def make_card(**changes: object) -> ApprovalCard:
    fields: dict[str, object] = {
        "action_id": "7f1c0000-0000-0000-0000-000000000001",
        "short_code": "4F2K",
        "summary": "Pause *Summer Sale 2026 – TikTok*",
        "details": ["Status: active → paused", "Spend last 7d: $812.40"],
        "approvers": "a manager or admin",
        "expires_at": EXPIRES,
    }
    fields.update(changes)
    return ApprovalCard.model_validate(fields)


def capture(reply: Reply, tmp_path: Path, *, width: int = 100) -> str:
    buffer = io.StringIO()
    channel = ConsoleChannel(
        Console(file=buffer, width=width, color_system=None), chart_dir=tmp_path / "charts"
    )
    channel.show(reply)
    return buffer.getvalue()


def lines(*answers: str | type[BaseException]) -> Callable[[str], str]:
    """A read_line that returns the given answers in turn (or raises the given exception)."""
    queue: Iterator[str | type[BaseException]] = iter(answers)

    def read_line(prompt: str) -> str:
        answer = next(queue, EOFError)
        if isinstance(answer, str):
            return answer
        raise answer

    return read_line


def test_light_markup_becomes_rich_markup_and_brackets_stay_literal() -> None:
    assert to_markup("*Spend* is _up_") == "[bold]Spend[/bold] is [italic]up[/italic]"
    assert to_markup("run `report 7d` now") == "run [bold cyan]report 7d[/bold cyan] now"
    # Identifiers with underscores and rich-looking brackets are left as they are.
    assert to_markup("window last_3d") == "window last_3d"
    assert to_markup("[red]x[/red]") == "\\[red]x\\[/red]"
    assert to_markup("`*not bold*`") == "[bold cyan]*not bold*[/bold cyan]"


def test_text_is_printed_without_markup_characters(tmp_path: Path) -> None:
    out = capture(Reply(text="*Meta* spent _more_ than `google` [note]"), tmp_path)
    assert out.strip() == "Meta spent more than google [note]"


def test_table_shows_title_columns_and_rows(tmp_path: Path) -> None:
    table = Table(
        title="Last 7 days",
        columns=["Campaign", "Spend", "CPA"],
        rows=[["Summer Sale 2026 – TikTok", "$812.40", "$71.20"], ["Brand [US]", "$90.00", "—"]],
    )
    out = capture(Reply(text="Report", table=table), tmp_path)
    assert "Last 7 days" in out
    for cell in ("Campaign", "Spend", "CPA", "Summer Sale 2026 – TikTok", "$812.40", "Brand [US]"):
        assert cell in out
    rich_table = render_table(table)
    assert [column.justify for column in rich_table.columns] == ["left", "right", "right"]


def test_chart_is_written_to_a_png_file_and_named(tmp_path: Path) -> None:
    out = capture(Reply(text="Trend", chart=Chart(png=PNG, alt_text="spend by day")), tmp_path)
    written = list((tmp_path / "charts").glob("chart-*.png"))
    assert len(written) == 1
    assert written[0].read_bytes() == PNG
    assert f"[chart saved to {written[0]}]" in out.replace("\n", "")
    assert "spend by day" in out


def test_chart_falls_back_to_alt_text_when_the_cache_is_unwritable(tmp_path: Path) -> None:
    blocker = tmp_path / "charts"
    blocker.write_text("a file where the directory should be")
    out = capture(Reply(text="Trend", chart=Chart(png=PNG, alt_text="spend by day")), tmp_path)
    assert "[chart: spend by day]" in out


def test_pending_card_shows_everything_and_the_deciding_replies(tmp_path: Path) -> None:
    out = capture(Reply(text="I need an approval.", card=make_card()), tmp_path)
    assert "Approval needed · 4F2K" in out
    assert "Pause Summer Sale 2026 – TikTok" in out
    assert "Status: active → paused" in out
    assert "Spend last 7d: $812.40" in out
    assert "Who may approve: a manager or admin" in out
    assert "Expires: 2026-07-01 18:30 UTC" in out
    assert "Reply approve 4F2K or reject 4F2K" in out


def test_decided_card_shows_its_status_line_instead_of_commands(tmp_path: Path) -> None:
    card = make_card(status="executed", status_line="Paused by demo-admin at 14:02")
    out = capture(Reply(text="Done.", card=card), tmp_path)
    assert "Paused by demo-admin at 14:02" in out
    assert "Action 4F2K · executed" in out
    assert "approve 4F2K" not in out


def test_error_reply_is_red(tmp_path: Path) -> None:
    buffer = io.StringIO()
    channel = ConsoleChannel(Console(file=buffer, width=80, force_terminal=True))
    channel.show(Reply(text="No campaign matches 'x'.", is_error=True))
    assert "\x1b[31m" in buffer.getvalue()


def test_read_skips_blank_lines_and_stops_on_exit_words_and_eof() -> None:
    channel = ConsoleChannel(Console(file=io.StringIO()), read_line=lines("  ", "report 7d"))
    assert channel.read() == "report 7d"
    assert channel.read() is None  # EOF (Ctrl-D)
    for word in ("exit", "QUIT"):
        assert ConsoleChannel(Console(file=io.StringIO()), read_line=lines(word)).read() is None


def test_ctrl_c_at_the_prompt_clears_the_line_instead_of_leaving() -> None:
    channel = ConsoleChannel(
        Console(file=io.StringIO()), read_line=lines(KeyboardInterrupt, "campaigns")
    )
    assert channel.read() == "campaigns"


def test_decision_prompt_accepts_prefixes_and_repeats_on_nonsense() -> None:
    buffer = io.StringIO()
    channel = ConsoleChannel(Console(file=buffer), read_line=lines("maybe", "A"))
    assert channel.ask_decision(make_card()) == "approve"
    assert "Type a, r or s." in buffer.getvalue()
    assert ConsoleChannel(read_line=lines("reject")).ask_decision(make_card()) == "reject"
    assert ConsoleChannel(read_line=lines("s")).ask_decision(make_card()) == "skip"
    assert ConsoleChannel(read_line=lines()).ask_decision(make_card()) == "skip"


def test_console_channel_satisfies_the_channel_protocol() -> None:
    channel = ConsoleChannel(Console(file=io.StringIO()), read_line=lines("hello"))
    assert isinstance(channel, Channel)
    assert asyncio.run(channel.receive()) == "hello"


class FakeTurns:
    """Answers `pause X` with a pending card and a decision with the decided card."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.decisions: list[tuple[str, bool]] = []

    async def text(self, text: str) -> Reply:
        self.texts.append(text)
        if text.startswith("pause"):
            return Reply(text="Needs approval.", card=make_card())
        return Reply(text=f"echo {text}")

    async def decide(self, action_ref: str, approve: bool) -> Reply:
        self.decisions.append((action_ref, approve))
        status = "executed" if approve else "rejected"
        return Reply(text=status, card=make_card(status=status, status_line=f"{status} by you"))


@pytest.mark.parametrize(("answer", "expected"), [("a", True), ("r", False)])
def test_interactive_conversation_decides_a_card_through_the_bot(
    answer: str, expected: bool
) -> None:
    buffer = io.StringIO()
    turns = FakeTurns()
    channel = ConsoleChannel(
        Console(file=buffer, width=100), read_line=lines("pause Summer", answer, "quit")
    )
    converse(channel, turns, asyncio.run)
    assert turns.texts == ["pause Summer"]
    assert turns.decisions == [("4F2K", expected)]
    assert ("executed by you" if expected else "rejected by you") in buffer.getvalue()


def test_skip_leaves_the_card_pending_and_says_how_to_decide_later() -> None:
    buffer = io.StringIO()
    turns = FakeTurns()
    channel = ConsoleChannel(Console(file=buffer, width=100), read_line=lines("pause x", "s"))
    converse(channel, turns, asyncio.run)
    assert turns.decisions == []
    assert "Left pending; later: approve 4F2K / reject 4F2K" in buffer.getvalue()


def test_non_interactive_answer_never_prompts() -> None:
    buffer = io.StringIO()
    turns = FakeTurns()
    prompts: list[str] = []

    def read_line(prompt: str) -> str:
        prompts.append(prompt)
        return "a"

    channel = ConsoleChannel(
        Console(file=buffer, width=100), interactive=False, read_line=read_line
    )
    reply = answer_once(channel, turns, asyncio.run, "pause Summer")
    assert reply.card is not None
    assert prompts == []
    assert turns.decisions == []
    assert "Reply approve 4F2K or reject 4F2K" in buffer.getvalue()
