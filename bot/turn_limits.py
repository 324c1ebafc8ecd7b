"""Which action limit a chat command counts against (core.action_limits holds the table)."""

from __future__ import annotations

from bot import commands as c
from core.action_limits import ActionKind

_KINDS: tuple[tuple[tuple[type, ...], ActionKind], ...] = (
    ((c.Pause, c.Resume, c.Budget, c.Decide, c.Undo, c.RuleAdd), ActionKind.CAMPAIGN_CHANGE),
    (
        (c.ListCampaigns, c.Report, c.ReportExport, c.ListRules, c.ListApprovals),
        ActionKind.ANALYTICS,
    ),
    ((c.Copy,), ActionKind.AI),
)


def kind_of(command: c.Command) -> ActionKind | None:
    """The limit `command` counts against; None for help, linking and refusals (free)."""
    for classes, kind in _KINDS:
        if isinstance(command, classes):
            return kind
    # Free text counts as AI only when the agent runs (engine._agent_turn).
    return None
