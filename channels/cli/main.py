"""The `adpilot` command: the terminal's composition root."""

from __future__ import annotations

import typer

from channels.cli import (
    admin,
    chat,
    dead_letters_cli,
    keys,
    operator_cli,
    report_cli,
    rules,
    serve,
    slack_cli,
    sync_cli,
    telegram_cli,
    worker_cli,
)
from core.logging_setup import configure_logging

app = typer.Typer(
    name="adpilot",
    help="AdPilot: run Google, Meta and TikTok ads from chat. Start with `adpilot demo`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (admin, keys, rules, report_cli, chat, serve, slack_cli, telegram_cli, worker_cli):
    module.register(app)
for module in (sync_cli, dead_letters_cli, operator_cli):
    module.register(app)


def main() -> None:
    # A terminal tool: warnings and errors only, scrubbed of secrets, HTTP clients quiet.
    configure_logging("WARNING")
    app()
