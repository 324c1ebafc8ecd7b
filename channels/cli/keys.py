"""CLI commands for encryption keys: generate-key and rotate-keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from channels.cli.runtime import console, fail, load_settings, run

if TYPE_CHECKING:
    from core.security.rotation import ColumnReport, RotationReport


def generate_key_command() -> None:
    """Print a new encryption key to prepend to ADPILOT_ENCRYPTION_KEYS."""
    from core.security.crypto import generate_key

    console.print(generate_key(), highlight=False, soft_wrap=True)


def _print_progress(report: ColumnReport) -> None:
    console.print(
        f"  {report.label}: {report.scanned} scanned, {report.rotated} re-encrypted",
        highlight=False,
    )


def rotate_keys(
    batch_size: int = typer.Option(500, min=1, max=10_000, help="Rows per transaction."),
) -> None:
    """Re-encrypt every stored secret under the newest key (the first in ADPILOT_ENCRYPTION_KEYS).

    Safe while AdPilot runs: older keys keep decrypting until you remove them, and a second
    run finds nothing to do.
    """
    from core.db import Database
    from core.security.crypto import get_cipher
    from core.security.rotation import rotate_all

    settings = load_settings()

    async def body() -> RotationReport:
        cipher = get_cipher(settings)
        console.print(f"Re-encrypting stored secrets under the newest of {cipher.key_count} key(s)")
        database = Database(settings)
        try:
            # The worker engine: rotation crosses every organization.
            return await rotate_all(
                sessions=database.system,
                cipher=cipher,
                batch_size=batch_size,
                progress=_print_progress,
            )
        finally:
            await database.dispose()

    report = run(body)
    table = Table(title="rotate-keys")
    table.add_column("column", no_wrap=True)
    for heading in ("seen", "rotated", "current", "unreadable"):
        table.add_column(heading, justify="right")
    for column in report.columns:
        table.add_row(
            column.label,
            str(column.scanned),
            str(column.rotated),
            str(column.current),
            str(len(column.unreadable)),
        )
    console.print(table)
    if report.unreadable:
        fail(
            f"{report.unreadable} secret(s) could not be decrypted with any configured key; "
            "keep the old keys until this is resolved."
        )
    summary = f"[green]Done:[/] {report.rotated} re-encrypted, {report.current} already current."
    if report.changed_meanwhile:
        # Those rows were rewritten by the app during the run, possibly by a process that
        # still had only the old keys: removing them now could strand those secrets.
        console.print(
            f"{summary} {report.changed_meanwhile} secret(s) changed during the run; run "
            "rotate-keys again before removing older keys."
        )
        return
    console.print(f"{summary} Older keys can now be removed from ADPILOT_ENCRYPTION_KEYS.")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("generate-key")(generate_key_command)
    app.command("rotate-keys")(rotate_keys)
