"""`adpilot operator grant|revoke EMAIL`: who runs this installation (the /admin pages).

Not an org role: operators see across orgs, so the flag is set from the terminal by whoever
holds the database, never from the web. Each change is audit-logged in the user's org.
"""

from __future__ import annotations

import typer

from channels.cli.runtime import console, load_settings, owner_session, run

operator_app = typer.Typer(help="Grant or revoke the installation operator flag.")


def _set(email: str, operator: bool) -> str:
    import core.models  # noqa: F401  (every table: the audit row's foreign keys resolve)
    from core.auth.operators import set_operator

    settings = load_settings()

    async def body() -> str:
        async with owner_session(settings) as session:
            user = await set_operator(session=session, email=email, operator=operator)
            return user.email

    return run(body)


@operator_app.command()
def grant(email: str = typer.Argument(..., help="The user's sign-in email.")) -> None:
    """Make a user an operator; the /admin pages also need their two-factor sign-in."""
    who = _set(email, True)
    console.print(f"[green]{who} is an operator.[/] The /admin pages need two-factor sign-in.")


@operator_app.command()
def revoke(email: str = typer.Argument(..., help="The user's sign-in email.")) -> None:
    """Take the operator flag away."""
    who = _set(email, False)
    console.print(f"{who} is no longer an operator.")


def register(app: typer.Typer) -> None:
    app.add_typer(operator_app, name="operator")
