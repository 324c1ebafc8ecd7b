"""Rule evaluation every 5 minutes: core's set-based cycle across orgs, on the worker login."""

from __future__ import annotations

import logging
from typing import Any

from core.rules.flows import run_cycle

log = logging.getLogger(__name__)


async def evaluate_rules(ctx: dict[str, Any]) -> dict[str, int]:
    """Each org's firings are applied in their own transaction (alerts, approvals, auto mode);
    one org's failure is logged and never starves the others."""
    report = await run_cycle(database=ctx["database"], registry=ctx["registry"])
    figures = {
        "alerts": report.alerts,
        "proposed": report.proposed,
        "executed": report.executed,
        "failed_orgs": len(report.failed_orgs),
    }
    if report.alerts or report.failed_orgs:
        log.info("rule cycle: %s", figures)
    return figures
