"""`report export 30d` in chat: files stored, attached with signed links, shown in the terminal."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from urllib.parse import unquote, urlsplit

from rich.console import Console

from bot.engine import Bot
from channels.console import ConsoleChannel
from core.config import Settings
from core.db import Database
from core.exports.files import LocalFileStore
from core.ports import PlatformRegistry
from tests.bot.conftest import World


async def test_report_export_writes_a_csv_and_a_chart_and_links_them(
    world: World,
    database: Database,
    registry: PlatformRegistry,
    settings: Settings,
    tmp_path: Path,
) -> None:
    store = LocalFileStore(tmp_path / "store")
    bot = Bot(database=database, registry=registry, settings=settings, file_store=store)

    reply = await bot.handle_text(world.ctx("user"), "report export 30d")

    assert not reply.is_error, reply.text
    # 3 campaigns × 30 days: the 16 days before their figures start are rows of zeros.
    assert "Exported 90 row(s)" in reply.text
    csv_file, chart = reply.files
    assert csv_file.filename.endswith(".csv")
    assert chart.filename.endswith(".png")
    rows = list(csv.reader(io.StringIO(csv_file.data.decode())))
    assert {row[2] for row in rows[1:]} == {"Summer Sale", "Summer Shoes", "Winter Boots"}
    assert chart.data.startswith(b"\x89PNG")
    # Stored under the org's own prefix, and the link names exactly that file.
    assert csv_file.link is not None
    key = unquote(urlsplit(csv_file.link).path.removeprefix("/downloads/"))
    assert key == f"exports/{world.org_id}/{csv_file.filename}"
    assert await store.get(key) == csv_file.data
    assert f"[file: {csv_file.filename}] http" in reply.as_plain_text()

    terminal = ConsoleChannel(Console(record=True, width=200), chart_dir=tmp_path / "charts")
    terminal.show(reply)
    shown = terminal.console.export_text()
    saved = tmp_path / "files" / csv_file.filename
    assert f"[file saved to {saved}]" in shown.replace("\n", "")
    assert saved.read_bytes() == csv_file.data


async def test_export_without_storage_is_a_friendly_line(world: World, bot: Bot) -> None:
    reply = await bot.handle_text(world.ctx(), "report export 30d")
    assert reply.is_error
    assert "no file storage is configured" in reply.text


async def test_export_days_are_checked_in_the_grammar(world: World, bot: Bot) -> None:
    reply = await bot.handle_text(world.ctx(), "report export forever")
    assert reply.is_error
    assert "report export [7d|30d|90d]" in reply.text
