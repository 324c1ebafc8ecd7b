"""CLI commands: `adpilot rules list` and `adpilot rules backtest`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from channels.cli.runtime import console, load_settings, owner_session, run

if TYPE_CHECKING:
    from core.rules.backtest import BacktestResult
    from core.rules.models import Rule

rules_app = typer.Typer(help="Automation rules: list them, replay them over history.")


def list_rules(
    org: str = typer.Option(..., "--org", help="The organization's slug."),
) -> None:
    """List an organization's rules with scope, conditions, action and mode."""
    from core.orgs import service as orgs
    from core.rules import service as rules_service

    settings = load_settings()

    async def body() -> list[tuple[Rule, str]]:
        async with owner_session(settings) as session:
            organization = await orgs.get_by_slug(session=session, slug=org)
            found = await rules_service.list_rules(session=session, org_id=organization.id)
            return [(rule, rules_service.describe(rule)) for rule in found]

    found = run(body)
    if not found:
        console.print(f"No rules in {org} yet.")
        return
    table = Table(title=f"Rules of {org}")
    for column in ("name", "on", "rule", "id"):
        table.add_column(column, overflow="fold")
    for rule, description in found:
        state = "[green]on[/]" if rule.enabled else "[dim]off[/]"
        table.add_row(rule.name, state, description, str(rule.id))
    console.print(table)


def backtest_rule(
    rule: str = typer.Argument(..., help="The rule's name or id."),
    org: str = typer.Option(..., "--org", help="The organization's slug."),
    days: int = typer.Option(30, "--days", min=1, max=365, help="How many past days to replay."),
) -> None:
    """Replay a rule over past days and list the days and campaigns it would have fired on."""
    from core.orgs import service as orgs
    from core.rules.backtest import backtest

    settings = load_settings()

    async def body() -> BacktestResult:
        async with owner_session(settings) as session:
            organization = await orgs.get_by_slug(session=session, slug=org)
            return await backtest(session=session, org_id=organization.id, rule_ref=rule, days=days)

    result = run(body)
    span = f"{result.first_day} .. {result.last_day}"
    if not result.hits:
        console.print(
            f"Rule '{result.rule_name}' would not have fired from {span} "
            f"({result.campaigns} campaigns checked)."
        )
        return
    table = Table(title=f"Backtest of '{result.rule_name}', {span}")
    for column in ("day", "campaign", "why", "would do"):
        table.add_column(column, overflow="fold")
    for hit in result.hits:
        why = ", ".join(f"{key} = {value}" for key, value in hit.observed.items())
        table.add_row(str(hit.day), hit.campaign, why, hit.action or "notify")
    console.print(table)
    console.print(
        f"{len(result.hits)} firings on {len(result.days_fired)} of {days} days "
        f"({result.campaigns} campaigns checked)."
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    rules_app.command("list")(list_rules)
    rules_app.command("backtest")(backtest_rule)
    app.add_typer(rules_app, name="rules")
