"""CLI command: `adpilot report export --org SLUG --days 30` (CSV and chart to file storage)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from channels.cli.runtime import console, load_settings, owner_session, run

if TYPE_CHECKING:
    from bot.exports import ExportResult

report_app = typer.Typer(help="Reports: export them as files.")


def export_report(
    org: str = typer.Option(..., "--org", help="The organization's slug."),
    days: int = typer.Option(30, "--days", min=1, max=366, help="How many days, up to today."),
) -> None:
    """Write a CSV (per campaign per day) and a spend chart to file storage; print signed links."""
    from adapters.file_stores import build_file_store
    from bot.exports import write_export
    from core.exports import links
    from core.orgs import service as orgs

    settings = load_settings()

    async def body() -> ExportResult:
        store = build_file_store(settings)
        async with owner_session(settings) as session:
            organization = await orgs.get_by_slug(session=session, slug=org)
            return await write_export(
                session=session, store=store, org_id=organization.id, days=days
            )

    result = run(body)
    data = result.data
    console.print(
        f"Exported {len(data.rows)} row(s) of {org}, {data.first_day} to {data.last_day}:"
    )
    for stored in (result.csv, result.chart):
        console.print(f"  {stored.location} ({stored.size:,} bytes)")
        console.print(f"    link: {links.signed_url(settings, stored.key)}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    report_app.command("export")(export_report)
    app.add_typer(report_app, name="report")
