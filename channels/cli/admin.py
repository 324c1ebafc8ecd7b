"""Admin commands: migrate, create-org, create-user, doctor."""

from __future__ import annotations

import enum

import typer
from rich.table import Table

from channels.cli.runtime import console, fail, load_settings, owner_session, run


# Core's PlanTier and Role, repeated so that `--help` need not import the ORM models they live
# in (SQLAlchemy alone costs more than the whole help); tests/cli/test_startup.py keeps them equal.
class PlanChoice(enum.StrEnum):
    FREE = "free"
    STARTER = "starter"
    PRO = "pro"
    AGENCY = "agency"


class RoleChoice(enum.StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    USER = "user"


def migrate(
    revision: str = typer.Argument("head", help="Target revision; 'head' is the newest."),
) -> None:
    """Create or upgrade the database schema (safe to run again)."""
    from core import schema

    settings = load_settings()
    console.print(f"Migrating {_redacted(settings.database_url)} to {revision} ...")
    try:
        schema.upgrade(settings.database_url, revision)
    except Exception as exc:
        fail(f"migration failed: {exc}")
    console.print("[green]Database is up to date.[/]")


def create_org(
    name: str = typer.Argument(..., help="The organization's display name."),
    slug: str | None = typer.Option(None, help="Short id used on the command line."),
    plan: PlanChoice = typer.Option(PlanChoice.FREE, help="Plan tier."),
    timezone: str = typer.Option("UTC", help="IANA timezone for reports, e.g. Europe/Berlin."),
    currency: str = typer.Option("USD", help="ISO currency code."),
) -> None:
    """Create an organization (a tenant)."""
    from core.orgs import service as orgs
    from core.orgs.models import PlanTier

    settings = load_settings()

    async def body() -> str:
        async with owner_session(settings) as session:
            org = await orgs.create(
                session=session,
                name=name,
                slug=slug,
                plan=PlanTier(plan.value),
                timezone=timezone,
                currency=currency,
            )
            return org.slug

    created = run(body)
    console.print(f"[green]Created organization[/] {name} (slug: [bold]{created}[/])")


def create_user(
    org: str = typer.Option(..., "--org", help="The organization's slug."),
    email: str = typer.Option(..., "--email", help="Sign-in email."),
    role: RoleChoice = typer.Option(RoleChoice.USER, "--role", help="admin, manager or user."),
    name: str | None = typer.Option(None, "--name", help="Display name."),
    password: str = typer.Option(
        ...,
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar="ADPILOT_NEW_USER_PASSWORD",
        help="Prompted without echo; ADPILOT_NEW_USER_PASSWORD for scripts.",
    ),
) -> None:
    """Create a user in an organization."""
    from core.orgs import service as orgs
    from core.users import service as users
    from core.users.models import Role

    settings = load_settings()

    async def body() -> None:
        async with owner_session(settings) as session:
            organization = await orgs.get_by_slug(session=session, slug=org)
            await users.create(
                session=session,
                org_id=organization.id,
                email=email,
                role=Role(role.value),
                password=password,
                name=name,
            )

    run(body)
    console.print(f"[green]Created[/] {role.value} {email.strip().lower()} in {org}")


def link_code(
    org: str = typer.Option(..., "--org", help="The organization's slug."),
    email: str = typer.Option(..., "--email", help="The user the chat account will act as."),
) -> None:
    """Issue a one-time code; send `link CODE` from a chat app to link that account."""
    from core.orgs import service as orgs
    from core.users import identity
    from core.users import service as users

    settings = load_settings()

    async def body() -> str:
        async with owner_session(settings) as session:
            organization = await orgs.get_by_slug(session=session, slug=org)
            user = await users.get_by_email(session=session, org_id=organization.id, email=email)
            return await identity.create_link_code(
                session=session, org_id=organization.id, user_id=user.id
            )

    code = run(body)
    minutes = int(identity.CODE_TTL.total_seconds() // 60)
    console.print(f"Link code: [bold]{code}[/] (valid {minutes} minutes, single use)")
    console.print(f"In Slack, Telegram, WhatsApp or Signal, send: [bold]link {code}[/]")


def doctor() -> None:
    """Check database, Redis, channels, platforms and LLM; exit 1 if a required part is down."""
    from channels.cli import doctor as doctor_checks

    settings = load_settings()
    results = run(lambda: doctor_checks.run_checks(settings))
    table = Table(title="AdPilot doctor", show_lines=False)
    table.add_column("part")
    table.add_column("state")
    table.add_column("detail")
    for result in results:
        style = {"ok": "green", "missing": "yellow", "down": "red", "off": "dim"}[result.state]
        table.add_row(result.part, f"[{style}]{result.state}[/]", result.detail)
    console.print(table)
    failing = [r for r in results if r.required and r.state in {"down", "missing"}]
    if failing:
        fail("required part(s) not ready: " + ", ".join(r.part for r in failing))
    console.print("[green]Everything required is ready.[/]")


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def register(app: typer.Typer) -> None:
    app.command()(migrate)
    app.command("create-org")(create_org)
    app.command("create-user")(create_user)
    app.command("link-code")(link_code)
    app.command()(doctor)
