"""The rule cycle: evaluate every enabled rule of every org set-based, then apply per org.

evaluate() issues a fixed number of statements (rules, campaigns, cooldowns) plus one per
distinct window, whatever the number of rules, campaigns, orgs or timezones.
apply_firings() writes alerts and, per mode, a PendingAction (approve) or an executed
action within guardrails (auto), all in the caller's one org transaction.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals import flows as approval_flows
from core.approvals import service as approvals
from core.approvals.models import PendingAction
from core.base import utcnow
from core.db import Database, set_tenant
from core.errors import CoreError, PermissionDenied, ValidationFailed
from core.gc_tuning import relaxed_gc
from core.notify.flows import queue_alerts
from core.ports import PlatformRegistry
from core.rules.aggregate import fill_totals, last_firings, load_campaigns
from core.rules.engine import (
    CampaignFacts,
    CompiledRule,
    Firing,
    eligible_status,
    judge,
    needed_figures,
)
from core.rules.models import Alert, Rule
from core.rules.schemas import RuleSpec, WindowKey, parse_spec

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """What one evaluation saw and decided."""

    now: datetime
    firings: list[Firing] = field(default_factory=list)
    rule_ids: list[uuid.UUID] = field(default_factory=list)
    rules: int = 0
    campaigns: int = 0
    windows: int = 0
    statements: int = 0
    # Seconds since the start at the end of each phase (for benchmarks and logs).
    phases: dict[str, float] = field(default_factory=dict)


@dataclass
class CycleReport:
    evaluation: Evaluation
    alerts: int = 0
    proposed: int = 0
    executed: int = 0
    failed_orgs: list[uuid.UUID] = field(default_factory=list)


# Parsed specs by their canonical JSON: the worker re-reads the same rules every cycle, and
# validating 10,000 specs costs more than the whole SQL side of a cycle.
_SPECS: dict[str, RuleSpec] = {}
_SPECS_MAX = 200_000


def cached_spec(data: dict[str, Any]) -> RuleSpec:
    key = json.dumps(data, sort_keys=True, separators=(",", ":"))
    spec = _SPECS.get(key)
    if spec is None:
        if len(_SPECS) >= _SPECS_MAX:
            _SPECS.clear()
        spec = _SPECS[key] = parse_spec(data)
    return spec


def compile_rule(rule: Rule) -> CompiledRule:
    return CompiledRule(
        id=rule.id, org_id=rule.org_id, name=rule.name, mode=rule.mode, spec=cached_spec(rule.spec)
    )


async def load_rules(
    session: AsyncSession,
    *,
    org_id: uuid.UUID | None = None,
    rule_ids: Sequence[uuid.UUID] | None = None,
) -> list[CompiledRule]:
    """Enabled rules (all orgs unless one is given), or exactly `rule_ids`."""
    query = select(Rule.id, Rule.org_id, Rule.name, Rule.mode, Rule.spec)
    if rule_ids is not None:
        query = query.where(Rule.id.in_(list(rule_ids)))
    else:
        query = query.where(Rule.enabled.is_(True))
    if org_id is not None:
        query = query.where(Rule.org_id == org_id)
    rows = await session.execute(query)
    return [
        CompiledRule(id=r[0], org_id=r[1], name=r[2], mode=r[3], spec=cached_spec(r[4]))
        for r in rows
    ]


def by_org(campaigns: Iterable[CampaignFacts]) -> dict[uuid.UUID, list[CampaignFacts]]:
    grouped: dict[uuid.UUID, list[CampaignFacts]] = defaultdict(list)
    for campaign in campaigns:
        grouped[campaign.org_id].append(campaign)
    return grouped


async def evaluate(
    *,
    session: AsyncSession,
    now: datetime | None = None,
    org_id: uuid.UUID | None = None,
    rule_ids: Sequence[uuid.UUID] | None = None,
) -> Evaluation:
    """Judge every enabled rule (of all orgs by default) against fresh window aggregates."""
    with relaxed_gc():
        return await _evaluate(session=session, now=now, org_id=org_id, rule_ids=rule_ids)


async def _evaluate(
    *,
    session: AsyncSession,
    now: datetime | None,
    org_id: uuid.UUID | None,
    rule_ids: Sequence[uuid.UUID] | None,
) -> Evaluation:
    now = now or utcnow()
    started = time.perf_counter()
    rules = await load_rules(session, org_id=org_id, rule_ids=rule_ids)
    result = Evaluation(now=now, rules=len(rules), statements=1, rule_ids=[r.id for r in rules])
    if not rules:
        return result
    org_filter = (
        [org_id]
        if org_id is not None
        else select(Rule.org_id).where(Rule.enabled.is_(True)).distinct()
    )
    if rule_ids is not None:
        org_filter = sorted({rule.org_id for rule in rules})
    statuses = set().union(*(eligible_status(rule.spec) for rule in rules))
    campaigns = await load_campaigns(session, org_filter=org_filter, statuses=statuses)
    result.phases["rules_and_campaigns"] = time.perf_counter() - started
    needs: dict[WindowKey, set[int]] = defaultdict(set)
    for rule in rules:
        for key, figures in needed_figures(rule.spec).items():
            needs[key] |= figures
    windows = set(needs)
    issued = await fill_totals(
        session, campaigns, windows=windows, now=now, org_filter=org_filter, needs=needs
    )
    longest = max(rule.spec.limits.cooldown_hours for rule in rules)
    fired = await last_firings(session, since=now - timedelta(hours=longest), org_id=org_id)
    result.phases["aggregate"] = time.perf_counter() - started
    grouped = by_org(campaigns.values())
    for rule in rules:
        result.firings.extend(judge(rule, grouped.get(rule.org_id, ()), now=now, last_fired=fired))
    result.phases["judge"] = time.perf_counter() - started
    result.campaigns = len(campaigns)
    result.windows = len(windows)
    result.statements += 2 + issued
    return result


def _alert(firing: Firing) -> Alert:
    return Alert(
        org_id=firing.org_id,
        rule_id=firing.rule_id,
        campaign_id=firing.campaign_id,
        scope_key=firing.scope_key,
        severity="warning" if firing.action is None else "action",
        message=firing.message,
        observed=dict(firing.observed),
        action_taken="notified",
        created_at=firing.at,
    )


def _grant(firing: Firing) -> dict[str, Any]:
    """What a firing asks core to do, as the keywords propose/execute_system_action take."""
    action = firing.action
    assert action is not None
    return {
        "org_id": firing.org_id,
        "kind": action.kind,
        "arguments": dict(action.arguments),
        "summary": f"{action.summary} (rule '{firing.rule_name}')",
        "rule_id": firing.rule_id,
        "campaign_id": firing.campaign_id,
        "before_state": dict(action.before_state),
    }


async def _propose(
    session: AsyncSession, firing: Firing, author: uuid.UUID | None
) -> PendingAction:
    # The rule's last editor (else its creator) asked for this card: the two-person rule
    # cannot be stepped round by writing a rule and approving what it raises.
    return await approvals.propose(
        session=session, origin_channel="rule", requested_by=author, **_grant(firing)
    )


async def _rule_authors(
    session: AsyncSession, rule_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID | None]:
    """Rule id -> who last changed it (its creator when nobody has since)."""
    ids = list(set(rule_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(Rule.id, Rule.updated_by, Rule.created_by).where(Rule.id.in_(ids))
    )
    return {rule_id: updated_by or created_by for rule_id, updated_by, created_by in rows}


async def _execute_auto(
    session: AsyncSession, alert: Alert, firing: Firing, registry: PlatformRegistry
) -> None:
    """Run an auto-mode action as its own fresh, atomically claimed grant (never a reused one)."""
    # No savepoint around this: the executor commits mid-way (it never holds a transaction
    # across the platform call), and its refusals are validated before anything is written.
    try:
        result = await approval_flows.execute_system_action(
            session=session, registry=registry, **_grant(firing)
        )
    except (ValidationFailed, PermissionDenied) as exc:
        # A guardrail said no: before anything was claimed, or at execution after the executor
        # committed its refusal, which ends the org binding; bind again either way.
        await set_tenant(session, firing.org_id)
        alert.action_taken = "refused"
        alert.message = f"{alert.message} Not acted on: {exc.message}"
    except CoreError as exc:
        # The executor may have committed its refusal; the org binding ends with that.
        await set_tenant(session, firing.org_id)
        alert.action_taken = "auto_failed"
        alert.message = f"{alert.message} Not executed: {exc.message}"
    else:
        alert.pending_action_id = result.action.id
        alert.action_taken = "auto_executed"
    await session.flush()


async def _propose_or_refuse(
    session: AsyncSession, firing: Firing, alert: Alert, author: uuid.UUID | None
) -> PendingAction | None:
    message = alert.message
    try:
        async with session.begin_nested():
            pending = await _propose(session, firing, author)
    except CoreError as exc:
        alert.action_taken = "refused"
        alert.message = f"{message} Not acted on: {exc.message}"
        return None
    alert.pending_action_id = pending.id
    alert.action_taken = "approval_requested"
    return pending


async def apply_firings(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    firings: Iterable[Firing],
    registry: PlatformRegistry | None = None,
) -> list[Alert]:
    """Write one org's firings: an alert each, plus a pending or executed action per mode."""
    alerts: list[Alert] = []
    autos: list[tuple[Alert, Firing]] = []
    mine = [firing for firing in firings if firing.org_id == org_id]
    authors = await _rule_authors(
        session, (f.rule_id for f in mine if f.action is not None and f.mode == "approve")
    )
    for firing in mine:
        alert = _alert(firing)
        session.add(alert)
        alerts.append(alert)
        if firing.action is None or firing.mode == "notify":
            continue
        if firing.mode == "auto":
            if registry is None:
                # No platforms wired in (e.g. a CLI run): record the intent, change nothing.
                alert.action_taken = "auto_pending"
            else:
                autos.append((alert, firing))
            continue
        await _propose_or_refuse(session, firing, alert, authors.get(firing.rule_id))
    await session.flush()
    for alert, firing in autos:
        assert registry is not None
        await _execute_auto(session, alert, firing, registry)
    # Their notifications commit with the alerts, or neither does (the outbox).
    await queue_alerts(session=session, org_id=org_id, alerts=alerts)
    return alerts


async def mark_evaluated(session: AsyncSession, rules: Iterable[uuid.UUID], now: datetime) -> None:
    ids = list(rules)
    for start in range(0, len(ids), 5000):
        await session.execute(
            update(Rule).where(Rule.id.in_(ids[start : start + 5000])).values(last_evaluated_at=now)
        )


async def run_cycle(
    *, database: Database, now: datetime | None = None, registry: PlatformRegistry | None = None
) -> CycleReport:
    """The worker's job: evaluate across orgs, then apply each org in its own transaction."""
    async with database.system() as session:
        evaluation = await evaluate(session=session, now=now)
        await mark_evaluated(session, evaluation.rule_ids, evaluation.now)
    report = CycleReport(evaluation=evaluation)
    per_org: dict[uuid.UUID, list[Firing]] = defaultdict(list)
    for firing in evaluation.firings:
        per_org[firing.org_id].append(firing)
    for org_id, firings in per_org.items():
        try:
            async with database.tenant(org_id) as session:
                alerts = await apply_firings(
                    session=session, org_id=org_id, firings=firings, registry=registry
                )
        except Exception:
            # One org's failure (a platform outage, a bad row) must not starve the others.
            log.exception("applying rule firings failed for org %s", org_id)
            report.failed_orgs.append(org_id)
            continue
        report.alerts += len(alerts)
        report.proposed += sum(1 for a in alerts if a.action_taken == "approval_requested")
        report.executed += sum(1 for a in alerts if a.action_taken == "auto_executed")
    return report
