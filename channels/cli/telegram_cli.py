"""`adpilot telegram set-webhook`: register the HTTP app's Telegram route with Telegram."""

from __future__ import annotations

import typer

from channels.cli.runtime import console, fail, load_settings, run

telegram_app = typer.Typer(help="Telegram channel set-up.", no_args_is_help=True)


@telegram_app.command("set-webhook")
def set_webhook(
    url: str = typer.Option(
        ..., "--url", help="https://host/telegram/webhook as Telegram sees it."
    ),
) -> None:
    """Tell Telegram where to deliver updates, with the secret token it must send back."""
    settings = load_settings()
    from channels.base import ChannelError
    from channels.telegram import setup

    async def body() -> None:
        try:
            await setup.set_webhook(settings, url)
        except ChannelError as exc:
            fail(f"Telegram refused the webhook: {exc}")

    run(body)
    console.print(f"Telegram now delivers updates to {url}")


def register(app: typer.Typer) -> None:
    app.add_typer(telegram_app, name="telegram")
