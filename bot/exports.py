"""`report export 30d`: a CSV per campaign per day and a spend chart, stored, then attached.

The files go to the configured FileStore; the reply carries them for channels that upload
files, and a signed, expiring link to each (served by the web app) for those that do not.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot import charts
from bot.calls import call_tool
from bot.deps import BotDeps
from bot.replies import FileAttachment, Reply
from core.config import Settings
from core.errors import ValidationFailed
from core.exports import links
from core.exports.files import FileStore, StoredFile
from core.exports.service import ExportData, campaign_days, check_days, to_csv
from core.rbac import Permission, require
from core.users.models import User

# Larger files are not put in the reply itself: the download link carries them.
MAX_ATTACHED_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class ExportResult:
    data: ExportData
    csv: StoredFile
    chart: StoredFile
    csv_bytes: bytes
    png: bytes


def export_chart(data: ExportData) -> bytes:
    spend = data.spend_by_day()
    return charts.labelled_line_chart_png(
        [float(value) for _day, value in spend],
        title=f"Daily spend ({data.currency})",
        first_label=f"{data.first_day:%d %b}",
        last_label=f"{data.last_day:%d %b}",
        value_label=lambda value: f"{value:,.0f}",
    )


async def write_export(
    *,
    session: AsyncSession,
    store: FileStore,
    org_id: uuid.UUID,
    days: int,
    now: datetime | None = None,
) -> ExportResult:
    """Query, render and store the CSV and the chart; returns where they went."""
    data = await campaign_days(session=session, org_id=org_id, days=days, now=now)
    csv_bytes, png = to_csv(data), export_chart(data)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    # A random tail: two exports in the same second never overwrite each other.
    base = f"report-{data.org_slug}-{data.first_day}-{data.last_day}-{stamp}-{secrets.token_hex(4)}"
    csv_file = await store.put(
        links.export_key(org_id, f"{base}.csv"), csv_bytes, content_type="text/csv"
    )
    chart_file = await store.put(
        links.export_key(org_id, f"{base}.png"), png, content_type="image/png"
    )
    return ExportResult(data=data, csv=csv_file, chart=chart_file, csv_bytes=csv_bytes, png=png)


def _attachment(settings: Settings, stored: StoredFile, data: bytes) -> FileAttachment:
    return FileAttachment(
        filename=stored.key.rsplit("/", 1)[-1],
        content_type=stored.content_type,
        data=data if len(data) <= MAX_ATTACHED_BYTES else b"",
        link=links.signed_url(settings, stored.key),
    )


def export_reply(settings: Settings, result: ExportResult) -> Reply:
    data = result.data
    text = (
        f"Exported {len(data.rows)} row(s), one per campaign per day, "
        f"{data.first_day} to {data.last_day}. Download links expire in "
        f"{settings.download_link_ttl_seconds // 3600} h."
    )
    files = (
        _attachment(settings, result.csv, result.csv_bytes),
        _attachment(settings, result.chart, result.png),
    )
    return Reply(text=text, files=files)


async def export_report(deps: BotDeps, *, days: int = 30) -> Reply:
    """Export the last N days as a CSV (per campaign per day) and a chart, with download links."""
    store = deps.file_store
    if store is None:
        raise ValidationFailed("Exports are not available here: no file storage is configured.")
    check_days(days)

    async def work(session: AsyncSession, user: User) -> Reply:
        require(user, Permission.VIEW)
        result = await write_export(session=session, store=store, org_id=deps.org_id, days=days)
        return export_reply(deps.settings, result)

    return await call_tool(deps, "export_report", {"days": days}, work)
