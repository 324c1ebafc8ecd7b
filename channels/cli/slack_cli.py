"""`adpilot slack email-linking`: let an org's people in one Slack workspace link by email."""

from __future__ import annotations

import re

import typer

from channels.cli.runtime import console, fail, load_settings, owner_session, run

slack_app = typer.Typer(help="Slack channel set-up.", no_args_is_help=True)
_TEAM_ID = re.compile(r"[TE][A-Z0-9]{2,31}")


@slack_app.command("email-linking")
def email_linking(
    org: str = typer.Option(..., "--org", help="The organization's slug."),
    team: str = typer.Option(..., "--team", help="The Slack workspace id, e.g. T024BE7LD."),
    off: bool = typer.Option(False, "--off", help="Stop linking by email in that workspace."),
) -> None:
    """Link people of this workspace by their Slack-confirmed email, at their first message.

    Only for a workspace the org controls: whoever administers it decides which email a
    member shows. Everyone else keeps linking with a one-time code.
    """
    if not _TEAM_ID.fullmatch(team):
        fail(f"{team!r} is not a Slack workspace id (it looks like T024BE7LD).")
    settings = load_settings()
    from core.audit.service import Actor
    from core.orgs import service as orgs
    from core.users import identity

    async def body() -> list[str]:
        async with owner_session(settings) as session:
            organization = await orgs.get_by_slug(session=session, slug=org)
            return await identity.set_email_link_team(
                session=session,
                org_id=organization.id,
                team=team,
                enabled=not off,
                actor=Actor(org_id=organization.id, user_id=None, channel="cli"),
            )

    teams = run(body)
    state = "off" if off else "on"
    console.print(f"Linking by verified email is {state} for {team} in {org}.")
    console.print(f"Workspaces that link by email: {', '.join(teams) or 'none'}")


def register(app: typer.Typer) -> None:
    app.add_typer(slack_app, name="slack")
