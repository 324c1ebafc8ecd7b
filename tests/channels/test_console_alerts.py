"""The terminal as a destination: it prints what is addressed to the person at it, only that."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from rich.console import Console

from bot.replies import ApprovalCard, Reply
from channels.base import ChannelAddress, ChannelError, Failure
from channels.console import ConsoleChannel
from channels.console_alerts import ConsoleAlerts


def _terminal() -> tuple[ConsoleChannel, io.StringIO]:
    out = io.StringIO()
    return ConsoleChannel(Console(file=out, width=100), interactive=True), out


def _card(status: str = "pending") -> ApprovalCard:
    return ApprovalCard(
        action_id="00000000-0000-0000-0000-000000000001",
        short_code="4F2K",
        summary="Pause Summer Sale",
        details=["Now: active, daily budget 90"],
        approvers="a manager or an admin",
        expires_at=datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
        status=status,
    )


async def test_an_alert_for_this_terminal_is_printed_with_its_card() -> None:
    terminal, out = _terminal()
    alerts = ConsoleAlerts(terminal, "console:dana@acme.test")
    address = ChannelAddress("console", "local", "console:dana@acme.test")
    posted = await alerts.post(address, Reply(text="Rule 'High CPA' fired", card=_card()))
    shown = out.getvalue()
    assert "pushed by your rules" in shown
    assert "Rule 'High CPA' fired" in shown
    assert "Approval needed · 4F2K" in shown
    assert shown.rstrip().endswith("you>")  # the prompt is shown again below
    assert len(posted) == 1
    assert posted[0].shows_card


async def test_someone_elses_alert_is_refused_as_unreachable_and_not_printed() -> None:
    terminal, out = _terminal()
    alerts = ConsoleAlerts(terminal, "console:dana@acme.test")
    elsewhere = ChannelAddress("console", "local", "console:sam@acme.test")
    with pytest.raises(ChannelError) as refused:
        await alerts.post(elsewhere, Reply(text="not for dana"))
    assert refused.value.failure is Failure.UNREACHABLE
    with pytest.raises(ChannelError):
        await alerts.edit_card(elsewhere, "console-1", _card("expired"))
    assert out.getvalue() == ""


async def test_a_decided_card_is_a_new_line_since_a_terminal_cannot_redraw() -> None:
    terminal, out = _terminal()
    alerts = ConsoleAlerts(terminal, "console:dana@acme.test")
    address = ChannelAddress("console", "local", "console:dana@acme.test")
    await alerts.edit_card(address, "console-1", _card("expired"))
    assert "Action 4F2K · Expired" in out.getvalue()
